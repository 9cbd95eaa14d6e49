"""The Attent client against the real simulator over HTTP: crawls, faults, errors, concurrency."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from attent_assets.api import (
    AttentAuthError,
    AttentBadRequestError,
    AttentClient,
    AttentConfigError,
    AttentInvalidBodyError,
    AttentUnavailableError,
    AttentUnexpectedStatusError,
    ClientSettings,
    Event,
    Lead,
    LeadEvents,
    format_timestamp,
    lead_events_path,
    parse_timestamp,
)
from attent_assets.api.client import environment_proxy
from attent_assets_tests.conftest import SIMULATOR_KEY as KEY
from attent_assets_tests.harness import client_settings

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
HARD_IDS = ["..", ".", "../x", "a/b", "q?x=1", "h#1", "50%", "%2E%2E", "a+b", "sp ace", "ünï😀"]
WORKER_PREFIX = "attent-events"


@pytest.fixture
def make_client(simulator):
    """Build clients for the test's simulator with fast retries; closes them afterwards."""
    clients: list[AttentClient] = []

    def make(**overrides) -> AttentClient:
        options = {
            "base_url": simulator.url,
            "api_key": KEY,
            "page_size": 5,
            "concurrency": 4,
            "connect_timeout": 1.0,
            "read_timeout": 2.0,
            "backoff_initial": 0.01,
            "backoff_max": 0.05,
            "max_seconds": 20.0,
        }
        options.update(overrides)
        client = AttentClient(client_settings(**options))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def crawl_leads(client: AttentClient, since: datetime = EPOCH) -> list[Lead]:
    return [lead for page in client.iter_leads(updated_since=since) for lead in page.leads]


def crawl_events(client: AttentClient, lead_id: str, since: datetime = EPOCH) -> list[Event]:
    return [event for page in client.iter_events(lead_id, since) for event in page.events]


def canonical(records) -> list[bytes]:
    """Records as sorted canonical JSON, to compare crawls with the simulator's truth."""
    return sorted(orjson.dumps(record, option=orjson.OPT_SORT_KEYS) for record in records)


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(WORKER_PREFIX)]


def add_lead(world, lead_id: str, **fields) -> dict[str, Any]:
    """Put a copy of an existing lead under a new id (and changed fields) into the world."""
    record = {**world.truth_leads()[0], "id": lead_id, **fields}
    world.put_lead(record)
    return record


def add_event(
    world, lead_id: str, event_id: str, event_type: str = "MESSAGE", **extra
) -> dict[str, Any]:
    stamp = format_timestamp(world.now())
    world.tick(1)
    record = {
        "id": event_id,
        "roomId": lead_id,
        "orgId": "org_test",
        "type": event_type,
        "timestamp": stamp,
        "updatedAt": stamp,
        "data": {"direction": "INBOUND", "content": {"text": event_id}},
        **extra,
    }
    world.put_event(lead_id, record)
    return record


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"api_key": ""}, "ATTENT_API_KEY"),
        ({"api_key": "   "}, "ATTENT_API_KEY"),
        ({"base_url": "ftp://example.com/v1"}, "base_url"),
        ({"base_url": "https:///v1"}, "base_url"),
        ({"base_url": "https://example.com/v1?x=1"}, "base_url"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 1001}, "page_size"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 65}, "concurrency"),
        ({"read_timeout": 0}, "read_timeout"),
        ({"connect_timeout": -1}, "connect_timeout"),
        ({"types": ("MESSAGE", "call; drop")}, "upper-case names"),
        ({"types": ()}, "types"),
        ({"max_attempts": 0}, "retry.max_attempts"),
        ({"max_seconds": 0}, "retry.max_seconds"),
        ({"max_retry_after": -1}, "retry.max_retry_after"),
        ({"backoff_initial": -0.5}, "retry.backoff_initial"),
        ({"statuses": ["429", "401"]}, "retry.statuses contains ['401']"),
        ({"statuses": ["5xx", "4xx"]}, "retry.statuses contains ['4xx']"),
        ({"statuses": ["200"]}, "retry.statuses"),
    ],
)
def test_invalid_settings_are_refused_naming_the_setting(overrides, named):
    settings = client_settings(**{"api_key": "k", **overrides})
    with pytest.raises(AttentConfigError, match=re.escape(named)):
        AttentClient(settings)


def test_settings_never_show_the_key_or_url_credentials():
    settings = ClientSettings(api_key=KEY, base_url="https://user:hunter2@example.com/v1")
    assert KEY not in repr(settings)
    with pytest.raises(AttentConfigError) as caught:
        settings.validate()
    assert "hunter2" not in str(caught.value)
    assert "credentials" in str(caught.value)


def test_lead_ids_are_encoded_as_one_path_segment_including_dots():
    assert lead_events_path("..") == "/leads/%2E%2E/events"
    assert lead_events_path("a/b?c#d %+é") == "/leads/a%2Fb%3Fc%23d%20%25%2B%C3%A9/events"


# --- crawls ---------------------------------------------------------------------------------


def test_full_crawl_of_leads_equals_truth(world, simulator, make_client):
    client = make_client()
    pages = list(client.iter_leads(updated_since=EPOCH))
    leads = [lead for page in pages for lead in page.leads]
    assert canonical(lead.raw for lead in leads) == canonical(world.truth_leads())
    assert len({lead.id for lead in leads}) == len(leads)
    assert all(lead.problems == () for lead in leads)
    assert [page.next_token is None for page in pages] == [False] * (len(pages) - 1) + [True]
    stats = client.stats.snapshot()
    assert stats["pages"] == len(pages) > 2
    assert stats["records"] == len(leads)
    assert stats["requests"] == simulator.stats.requests_total
    assert stats["bytes_received"] > 0


def test_created_since_lists_leads_by_creation(world, make_client):
    client = make_client()
    leads = [lead for page in client.iter_leads(created_since=EPOCH) for lead in page.leads]
    assert canonical(lead.raw for lead in leads) == canonical(world.truth_leads())
    created = [parse_timestamp(lead.raw["createdAt"]) or EPOCH for lead in leads]
    assert created == sorted(created)


def test_iter_leads_needs_a_bound(make_client):
    with pytest.raises(ValueError, match="updated_since or created_since"):
        make_client().iter_leads()


def test_full_crawl_of_every_leads_events_equals_truth(world, make_client):
    client = make_client()
    events = [event for lead_id in world.lead_ids() for event in crawl_events(client, lead_id)]
    assert canonical(event.raw for event in events) == canonical(world.truth_events())
    assert all(event.problems == () for event in events)


def test_pagination_follows_empty_pages_that_carry_a_token(world, simulator, make_client):
    simulator.faults.empty_page_probability = 0.4
    client = make_client(page_size=2)
    lead_pages = list(client.iter_leads(updated_since=EPOCH))
    event_pages = [page for lead in world.lead_ids() for page in client.iter_events(lead, EPOCH)]
    leads = [lead for page in lead_pages for lead in page.leads]
    events = [event for page in event_pages for event in page.events]
    assert canonical(lead.raw for lead in leads) == canonical(world.truth_leads())
    assert canonical(event.raw for event in events) == canonical(world.truth_events())
    assert any(not page.leads and page.next_token for page in lead_pages)
    assert any(not page.events and page.next_token for page in event_pages)


def test_types_filter_follows_short_and_empty_pages(world, make_client):
    add_lead(world, "room_filtered")
    for index in range(9):
        add_event(world, "room_filtered", f"m{index}")
    call = add_event(world, "room_filtered", "c1", "CALL", data={"callStatus": "COMPLETE"})
    client = make_client(page_size=3, types=("CALL",))
    pages = list(client.iter_events("room_filtered", EPOCH))
    assert pages[0].events == []
    assert pages[0].next_token is not None
    assert [event.raw for page in pages for event in page.events] == [call]


def test_types_filter_matches_truth_for_a_whole_world(world, make_client):
    client = make_client(types=("CALL", "EMAIL"))
    events = [event for lead_id in world.lead_ids() for event in crawl_events(client, lead_id)]
    expected = [e for e in world.truth_events() if e["type"] in ("CALL", "EMAIL")]
    assert canonical(event.raw for event in events) == canonical(expected)


def test_cursors_are_inclusive(world, make_client):
    client = make_client()
    newest = max(crawl_leads(client), key=lambda lead: (lead.updated_at, lead.id))
    assert newest.updated_at is not None
    again = crawl_leads(client, since=newest.updated_at)
    assert newest.id in {lead.id for lead in again}
    lead_id = world.lead_ids()[0]
    events = crawl_events(client, lead_id)
    boundary = events[len(events) // 2]
    assert boundary.updated_at is not None
    later = crawl_events(client, lead_id, since=boundary.updated_at)
    assert boundary.key in {event.key for event in later}
    assert all(e.updated_at is not None and e.updated_at >= boundary.updated_at for e in later)


def test_timestamps_in_every_form_parse_to_the_same_instant(world, make_client):
    forms = ["2026-03-02T10:00:00.000Z", "2026-03-02T10:00:00Z", "2026-03-02T12:00:00.000+02:00"]
    for index, form in enumerate(forms):
        add_lead(world, f"room_form_{index}", updatedAt=form, createdAt=form)
    leads = {lead.id: lead for lead in crawl_leads(make_client())}
    instants = {leads[f"room_form_{index}"].updated_at for index in range(len(forms))}
    assert instants == {datetime(2026, 3, 2, 10, tzinfo=UTC)}


def test_special_character_ids_fetch_their_own_events(world, simulator, make_client):
    for index, lead_id in enumerate(HARD_IDS):
        if not world.has_lead(lead_id):
            add_lead(world, lead_id)
        add_event(world, lead_id, f"own-{index}")
    lead_ids = HARD_IDS + [lead_id for lead_id in world.lead_ids() if lead_id not in HARD_IDS]
    truth = world.truth_events()
    client = make_client()
    for lead_id in lead_ids:
        pages = list(client.iter_events(lead_id, EPOCH))
        events = [event for page in pages for event in page.events]
        expected = [event for event in truth if event["roomId"] == lead_id]
        assert canonical(event.raw for event in events) == canonical(expected), lead_id
        assert simulator.stats.events_requests_for(lead_id) == len(pages), lead_id
    for index, lead_id in enumerate(HARD_IDS):
        assert f"own-{index}" in {e.id for e in crawl_events(client, lead_id)}


def test_unknown_fields_and_undocumented_types_are_kept_raw(world, make_client):
    add_lead(world, "room_new", brandNewLeadField={"nested": [1, 2]})
    reaction = add_event(
        world, "room_new", "r1", "SMS_REACTION", data={"emoji": "👍"}, newEnvelope=True
    )
    client = make_client()
    lead = next(lead for lead in crawl_leads(client) if lead.id == "room_new")
    assert lead.raw["brandNewLeadField"] == {"nested": [1, 2]}
    [event] = crawl_events(client, "room_new")
    assert event.key == ("SMS_REACTION", "r1")
    assert event.raw == reaction


# --- faults, retries and errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "probability", "cause"),
    [
        ("rate_429", 0.2, "429"),
        ("rate_5xx", 0.25, "5xx"),
        ("drop_probability", 0.25, "connection"),
        ("truncate_probability", 0.25, "invalid_body"),
        ("garbage_probability", 0.25, "invalid_body"),
        ("slow_probability", 0.15, "timeout"),
    ],
)
def test_every_fault_kind_is_retried_and_the_crawl_still_equals_truth(
    world, simulator, make_client, fault, probability, cause
):
    simulator.faults.slow_seconds = 0.6
    setattr(simulator.faults, fault, probability)
    client = make_client(read_timeout=0.25)
    leads = crawl_leads(client)
    requests = [(lead_id, EPOCH) for lead_id in world.lead_ids()]
    events = [event for page in client.iter_events_many(requests) for event in page.events]
    assert canonical(lead.raw for lead in leads) == canonical(world.truth_leads())
    assert canonical(event.raw for event in events) == canonical(world.truth_events())
    assert client.stats.retries[cause] > 0


@pytest.mark.parametrize(
    ("retry_after", "hint_low", "hint_high"),
    [(1, 1.0, 1.0), ("http-date", 0.95, 2.05)],  # an HTTP-date is rounded up to a whole second
)
def test_retry_after_is_honoured(simulator, make_client, retry_after, hint_low, hint_high):
    simulator.faults.retry_after = retry_after
    simulator.faults.retry_after_seconds = 1
    simulator.faults.fail_status = 429
    simulator.faults.fail_first_n = 1
    client = make_client()
    started = time.monotonic()
    next(iter(client.iter_leads(updated_since=EPOCH)))
    elapsed = time.monotonic() - started
    waited = client.stats.retry_wait_seconds
    assert hint_low <= waited <= hint_high
    assert waited <= elapsed <= waited + 0.4
    assert client.stats.throttled == 1
    assert simulator.stats.requests_total == 2


def test_a_huge_retry_after_is_clamped_for_every_thread(simulator, make_client):
    simulator.faults.retry_after = 3600
    simulator.faults.fail_status = 429
    simulator.faults.fail_first_n = 1
    client = make_client(max_retry_after=0.3)
    started = time.monotonic()
    pages = list(client.iter_events_many((lead, EPOCH) for lead in ["room_a", "room_b"]))
    assert len(pages) == 2
    assert time.monotonic() - started < 1.5
    assert client.stats.retry_wait_seconds == pytest.approx(0.3)


def test_bad_request_is_not_retried(simulator, make_client):
    simulator.faults.fail_status = 400
    simulator.faults.fail_first_n = 1
    with pytest.raises(AttentBadRequestError, match="/leads") as caught:
        crawl_leads(make_client())
    assert caught.value.path == "/leads"
    assert simulator.stats.requests_total == 1


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_key_is_not_retried_and_never_shown(simulator, make_client, caplog, status):
    caplog.set_level(logging.DEBUG)
    secret = "sk-live-9d8e7f6a5b4c"
    if status == 403:
        client = make_client(api_key=secret)
    else:
        simulator.faults.fail_status = status
        simulator.faults.fail_first_n = 1
        client = make_client(api_key=KEY)
        secret = KEY
    with pytest.raises(AttentAuthError) as caught:
        crawl_leads(client)
    error = caught.value
    assert simulator.stats.requests_total == 1
    assert f"HTTP {status}" in str(error)
    assert "ATTENT_API_KEY" in str(error)
    exposed = [str(error), repr(error), repr(client), repr(client.settings), caplog.text]
    exposed += [repr(link) for link in (error.__cause__, error.__context__) if link is not None]
    assert not [text for text in exposed if secret in text]


def test_removed_lead_yields_no_events_and_a_warning(world, simulator, make_client, caplog):
    lead_id = world.lead_ids()[0]
    world.remove_lead(lead_id)
    client = make_client()
    with caplog.at_level(logging.WARNING):
        assert list(client.iter_events(lead_id, EPOCH)) == []
    assert f"lead {lead_id!r} is gone" in caplog.text
    assert simulator.stats.requests_total == 1


def test_retries_exhausted_raise_unavailable_after_max_attempts(simulator, make_client):
    simulator.faults.rate_5xx = 1.0
    client = make_client(max_attempts=3)
    with pytest.raises(AttentUnavailableError, match="failed 3 times") as caught:
        crawl_leads(client)
    assert simulator.stats.requests_total == 3
    assert "HTTP 5" in caught.value.last_cause
    assert client.stats.retries["5xx"] == 2


def test_retries_stop_within_the_time_budget(simulator, make_client):
    simulator.faults.rate_5xx = 1.0
    client = make_client(max_attempts=100, max_seconds=0.8, backoff_initial=0.2, backoff_max=0.3)
    with pytest.raises(AttentUnavailableError) as caught:
        crawl_leads(client)
    # No wait may end past the budget; only the attempt after the last wait can overrun it.
    assert 1 < caught.value.attempts < 100
    assert caught.value.seconds < 0.8 + 0.5


def test_only_the_declared_statuses_are_retried(simulator, make_client):
    simulator.faults.fail_status = 408
    simulator.faults.fail_first_n = 2
    client = make_client(statuses=["429", "5xx", "408"])
    assert crawl_leads(client)
    assert client.stats.retries["4xx"] == 2
    simulator.faults.fail_status = 503
    simulator.faults.fail_first_n = 1
    requests = simulator.stats.requests_total
    with pytest.raises(AttentUnexpectedStatusError, match="HTTP 503"):
        crawl_leads(make_client(statuses=["429"]))
    assert simulator.stats.requests_total == requests + 1


def test_a_retry_after_is_honoured_on_any_retried_status(simulator, make_client):
    simulator.faults.fail_status = 503
    simulator.faults.retry_after = 0.4
    simulator.faults.fail_first_n = 1
    client = make_client(backoff_max=0.0)
    assert crawl_leads(client)
    assert client.stats.retry_wait_seconds == pytest.approx(0.4)


def test_invalid_bodies_are_raised_at_once_when_the_policy_says_so(simulator, make_client):
    simulator.faults.garbage_probability = 1.0
    with pytest.raises(AttentInvalidBodyError, match="GET /leads with HTTP 200"):
        crawl_leads(make_client(invalid_bodies=False))
    assert simulator.stats.requests_total == 1


def test_network_errors_end_the_request_at_once_when_the_policy_says_so():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = client_settings(
        base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, network_errors=False
    )
    with AttentClient(settings) as client, pytest.raises(AttentUnavailableError) as caught:
        crawl_leads(client)
    assert (caught.value.attempts, client.stats.retries["connection"]) == (1, 0)
    assert "ConnectError" in caught.value.last_cause


def test_refused_connections_are_retried_then_reported():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = client_settings(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=KEY,
        max_attempts=2,
        backoff_initial=0.01,
        backoff_max=0.01,
    )
    with AttentClient(settings) as client, pytest.raises(AttentUnavailableError) as caught:
        crawl_leads(client)
    assert "ConnectError" in caught.value.last_cause
    assert client.stats.retries["connection"] == 1
    assert KEY not in str(caught.value)


# --- many leads concurrently ----------------------------------------------------------------


def test_iter_events_many_returns_every_lead_once_ending_with_last(world, make_client):
    lead_ids = world.lead_ids()
    client = make_client(page_size=2)
    pages_by_lead: dict[str, list[LeadEvents]] = defaultdict(list)
    for page in client.iter_events_many((lead_id, EPOCH) for lead_id in lead_ids):
        pages_by_lead[page.lead_id].append(page)
    assert set(pages_by_lead) == set(lead_ids)
    for pages in pages_by_lead.values():
        assert [page.last for page in pages] == [False] * (len(pages) - 1) + [True]
        assert not any(page.gone for page in pages)
    events = [event for pages in pages_by_lead.values() for p in pages for event in p.events]
    assert canonical(event.raw for event in events) == canonical(world.truth_events())
    assert worker_threads() == []


def test_iter_events_many_reports_empty_and_gone_leads(world, make_client):
    add_lead(world, "room_quiet")
    gone = world.lead_ids()[0]
    world.remove_lead(gone)
    client = make_client()
    pages = list(client.iter_events_many([("room_quiet", EPOCH), (gone, EPOCH)]))
    by_lead = {page.lead_id: page for page in pages}
    assert len(pages) == 2
    assert (by_lead["room_quiet"].events, by_lead["room_quiet"].last) == ([], True)
    assert not by_lead["room_quiet"].gone
    assert (by_lead[gone].events, by_lead[gone].last, by_lead[gone].gone) == ([], True, True)


def test_iter_events_many_reads_requests_lazily(world, simulator, make_client):
    simulator.faults.latency_ms = 5
    lead_ids = world.lead_ids()
    pulled = 0

    def requests() -> Iterator[tuple[str, datetime]]:
        nonlocal pulled
        for index in range(200):
            pulled += 1
            yield lead_ids[index % len(lead_ids)], EPOCH

    client = make_client(concurrency=4)
    stream = client.iter_events_many(requests())
    next(stream)
    time.sleep(0.3)
    assert pulled <= 4 + 2 * 4 + 1  # in progress + queued + the one consumed
    stream.close()
    assert worker_threads() == []


def test_iter_events_many_stops_its_threads_when_the_consumer_breaks(world, simulator, make_client):
    simulator.faults.latency_ms = 20
    client = make_client(page_size=1)
    threads_before = threading.active_count()
    for _page in client.iter_events_many((lead_id, EPOCH) for lead_id in world.lead_ids()):
        break
    assert worker_threads() == []
    assert threading.active_count() <= threads_before + client.settings.concurrency


def test_iter_events_many_raises_the_first_worker_error(simulator, make_client):
    client = make_client(api_key="wrong-key")
    with pytest.raises(AttentAuthError):
        list(client.iter_events_many((f"room_{index}", EPOCH) for index in range(50)))
    assert worker_threads() == []
    assert simulator.stats.requests_total <= client.settings.concurrency


def test_a_failure_interrupts_workers_waiting_to_retry(world, simulator, make_client):
    simulator.faults.rate_429 = 1.0
    simulator.faults.retry_after = 5

    def requests() -> Iterator[tuple[str, datetime]]:
        yield from ((lead_id, EPOCH) for lead_id in world.lead_ids()[:3])
        raise RuntimeError("request source failed")

    client = make_client(concurrency=4)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="request source failed"):
        list(client.iter_events_many(requests()))
    assert time.monotonic() - started < 2
    assert worker_threads() == []


def test_the_proxy_comes_from_the_environment_unless_no_proxy_exempts_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    api = "https://api.attent.app/v1"
    assert environment_proxy(api) is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert environment_proxy(api) == "http://proxy.internal:3128"
    assert environment_proxy("http://127.0.0.1:8765/v1") is None
    monkeypatch.setenv("ALL_PROXY", "http://fallback.internal:3128")
    assert environment_proxy("http://127.0.0.1:8765/v1") == "http://fallback.internal:3128"
    monkeypatch.setenv("NO_PROXY", "attent.app")
    assert environment_proxy(api) is None
