"""The simulator: a deterministic evolving world served over real HTTP exactly as the API says."""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from attent_assets.simulator import Faults, SimulatorServer, World
from attent_assets.simulator.faults import FaultDecision
from attent_assets.simulator.ratelimit import TokenBucket

KEY = "test-key"
START = datetime(2026, 3, 1, tzinfo=UTC)
EVER = "2000-01-01T00:00:00.000Z"
DOCUMENTED = {"MESSAGE", "CALL", "EMAIL", "TOOL_CALL", "CUSTOM", "COMPLIANCE_BLOCKED"}


@pytest.fixture
def client(simulator):
    with httpx.Client(base_url=simulator.url, headers={"x-api-key": KEY}, timeout=5) as http:
        yield http


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def events_path(lead_id: str) -> str:
    """One path segment, dots encoded too so no client or server treats ".." as a dot-segment."""
    return "/leads/" + quote(lead_id, safe="").replace(".", "%2E") + "/events"


def pages(client: httpx.Client, path: str, params: Mapping[str, Any], between=None):
    """Follow nextToken to the end; returns (records, token) per page. ``between`` runs after
    each page (to change the world mid-crawl)."""
    name = "leads" if path == "/leads" else "events"
    query = dict(params)
    result = []
    while True:
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        result.append((body[name], body["nextToken"]))
        if body["nextToken"] is None:
            return result
        query["nextToken"] = body["nextToken"]
        if between is not None:
            between()


def records(page_list) -> list[dict[str, Any]]:
    return [record for page, _ in page_list for record in page]


def crafted_lead(lead_id: str, updated_at: object = "2026-03-05T00:00:00.000Z") -> dict[str, Any]:
    return {"id": lead_id, "createdAt": "2026-03-05T00:00:00.000Z", "updatedAt": updated_at}


def crafted_event(event_id: str, event_type: str, updated_at: str) -> dict[str, Any]:
    return {"id": event_id, "type": event_type, "timestamp": updated_at, "updatedAt": updated_at}


# --- the world -------------------------------------------------------------------------------


def test_same_seed_and_calls_give_identical_worlds():
    first, second = (World(seed=3, leads=15, events_per_lead=5, start=START) for _ in range(2))
    assert first.truth_leads() == second.truth_leads()
    assert first.truth_events() == second.truth_events()
    first.advance(60)
    second.advance(60)
    assert first.truth_leads() == second.truth_leads()
    assert first.truth_events() == second.truth_events()
    assert first.now() == second.now()
    other = World(seed=4, leads=15, events_per_lead=5, start=START)
    assert other.truth_leads() != first.truth_leads()


def test_default_world_has_the_documented_shape_and_variety():
    world = World(seed=1, start=START)
    leads, events = world.truth_leads(), world.truth_events()
    assert len(leads) == 100
    assert Counter(event["roomId"] for event in events) == {lead["id"]: 20 for lead in leads}
    hard = [lead["id"] for lead in leads if not lead["id"].startswith("room_")]
    assert len(hard) >= 3
    assert set("/?#%+ .") <= set("".join(hard))
    assert any(not lead_id.isascii() for lead_id in hard)
    types = {event["type"] for event in events}
    assert types > DOCUMENTED
    assert types - DOCUMENTED
    types_by_id = defaultdict(set)
    for event in events:
        types_by_id[event["id"]].add(event["type"])
    assert any(len(shared) > 1 for shared in types_by_id.values())
    stamps = [event["updatedAt"] for event in events] + [lead["updatedAt"] for lead in leads]
    assert any("." not in stamp and stamp.endswith("Z") for stamp in stamps)
    assert any(stamp.endswith(("+02:00", "-05:00", "+05:30")) for stamp in stamps)
    assert any("sentiment" in event["data"] for event in events)
    assert any("externalLeadId" not in lead for lead in leads)
    assert sum(lead["deleted"] for lead in leads) == 2
    assert all(lead["deletedAt"] for lead in leads if lead["deleted"])
    calls = [event["data"] for event in events if event["type"] == "CALL"]
    assert {"IN_PROGRESS", "COMPLETE"} <= {call["callStatus"] for call in calls}
    assert all("summary" in call for call in calls if call["callStatus"] == "COMPLETE")
    days = {instant(event["updatedAt"]).date() for event in events}
    assert len(days) >= 10
    assert min(days) >= START.date()
    assert all(instant(stamp) <= datetime.now(UTC) for stamp in stamps)


def test_truth_is_consistent_lead_activity_and_ordering(world):
    world.advance(50)
    events = world.truth_events()
    newest: dict[str, datetime] = {}
    for event in events:
        moment = instant(event["updatedAt"])
        newest[event["roomId"]] = max(newest.get(event["roomId"], moment), moment)
    leads = world.truth_leads()
    for lead in leads:
        expected = newest.get(lead["id"])
        last = lead["lastActivityAt"]
        assert (instant(last) if last else None) == expected, lead["id"]
        assert instant(lead["updatedAt"]) >= instant(lead["createdAt"])
    order = [(instant(lead["updatedAt"]), lead["id"]) for lead in leads]
    assert order == sorted(order)
    assert world.lead_ids() == [lead["id"] for lead in leads]


def test_advance_applies_every_kind_of_change():
    world = World(seed=5, leads=20, events_per_lead=3, start=START)
    before_leads = {lead["id"]: lead for lead in world.truth_leads()}
    before_events = {(e["type"], e["id"]): e for e in world.truth_events()}
    clock = world.now()
    world.advance(400)
    leads, events = world.truth_leads(), world.truth_events()
    assert world.now() > clock
    assert len(leads) > len(before_leads)
    assert max(Counter(event["roomId"] for event in events).values()) >= 50  # an import
    assert sum(lead["deleted"] for lead in leads) > sum(v["deleted"] for v in before_leads.values())
    completed = [
        e
        for e in events
        if (e["type"], e["id"]) in before_events
        and before_events[(e["type"], e["id"])]["data"].get("callStatus") == "IN_PROGRESS"
        and e["data"]["callStatus"] != "IN_PROGRESS"
    ]
    assert completed
    assert all(instant(e["updatedAt"]) > instant(e["timestamp"]) for e in completed)
    same_ms = Counter(instant(lead["updatedAt"]) for lead in leads)
    assert max(same_ms.values()) >= 3  # a burst
    changed = [
        lead for lead in leads if lead["id"] in before_leads and lead != before_leads[lead["id"]]
    ]
    assert changed


def test_clock_never_runs_ahead_of_real_time():
    recent = datetime.now(UTC) - timedelta(hours=1)
    world = World(seed=2, leads=30, events_per_lead=10, start=recent)
    world.advance(300)
    world.tick(10**9)
    assert world.now() <= datetime.now(UTC)
    assert all(instant(lead["updatedAt"]) <= datetime.now(UTC) for lead in world.truth_leads())


def test_live_world_keeps_up_with_real_time():
    world = World(seed=2, leads=10, events_per_lead=5, live=True)
    history = [instant(event["updatedAt"]) for event in world.truth_events()]
    assert min(history) < datetime.now(UTC) - timedelta(days=10)
    before = datetime.now(UTC)
    world.advance(5)
    assert (
        before - timedelta(milliseconds=1)
        <= world.now()
        <= datetime.now(UTC) + timedelta(seconds=1)
    )


def organisation(seed: int = 5, *, days: int = 90, leads: int = 400) -> World:
    """A real organisation's world over ``days`` whole days, as the long-life benchmark uses."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight - timedelta(days=days)
    return World(seed=seed, leads=leads, events_per_lead=30, start=start, profile="organisation")


def test_organisation_world_is_skewed():
    world = organisation()
    leads, events = world.truth_leads(), world.truth_events()
    per_lead = Counter(event["roomId"] for event in events)
    counts = sorted(per_lead[lead["id"]] for lead in leads)
    assert len(leads) == 400
    assert len(events) == 400 * 30
    silent = [lead for lead in leads if not per_lead[lead["id"]]]
    assert len(silent) >= 10
    assert all(lead["lastActivityAt"] is None for lead in silent)
    assert sum(count <= 3 for count in counts) > len(counts) / 2
    assert counts[len(counts) // 2] <= 3
    assert counts[-1] >= 1000  # a few leads with thousands of events


def test_organisation_history_fills_the_days_with_updates_and_deletes():
    world = organisation(days=90)
    leads, events = world.truth_leads(), world.truth_events()
    today = datetime.now(UTC).date()
    days = {instant(event["updatedAt"]).astimezone(UTC).date() for event in events}
    assert min(days) == today - timedelta(days=90)
    assert max(days) >= today - timedelta(days=1)
    assert len(days) >= 85
    ended = [event for event in events if event["updatedAt"] != event["timestamp"]]
    ended_calls = [e for e in ended if e["type"] == "CALL"]
    finished_tools = [e for e in ended if e["type"] == "TOOL_CALL"]
    assert ended_calls
    assert all(e["data"]["callStatus"] != "IN_PROGRESS" for e in ended_calls)
    assert finished_tools
    assert all(e["data"]["status"] in {"SUCCESS", "ERROR"} for e in finished_tools)
    assert any(e["type"] == "TOOL_CALL" and e["data"]["status"] == "RUNNING" for e in events)
    deleted = sorted(instant(lead["deletedAt"]) for lead in leads if lead["deleted"])
    assert len(deleted) >= 5
    assert deleted[0] < datetime.now(UTC) - timedelta(days=30)  # along the way, not at the end


def test_organisation_world_is_deterministic_by_seed():
    first, second = organisation(seed=8, leads=150), organisation(seed=8, leads=150)
    assert first.truth_leads() == second.truth_leads()
    assert first.truth_events() == second.truth_events()
    assert organisation(seed=9, leads=150).truth_events() != first.truth_events()


def test_crafting_hooks_change_what_is_served(world):
    lead_id = world.lead_ids()[0]
    lead = next(lead for lead in world.truth_leads() if lead["id"] == lead_id)
    world.put_event(lead_id, crafted_event("x1", "MESSAGE", "2026-03-02T00:00:00.000Z"))
    touched = next(lead for lead in world.truth_leads() if lead["id"] == lead_id)
    assert instant(touched["updatedAt"]) > instant(lead["updatedAt"])
    assert {"type": "MESSAGE", "id": "x1"}.items() <= next(
        e for e in world.truth_events() if e["id"] == "x1"
    ).items()

    world.put_event(
        lead_id, crafted_event("x2", "CALL", "2026-03-02T00:00:00.000Z"), touch_lead=False
    )
    assert next(lead for lead in world.truth_leads() if lead["id"] == lead_id) == touched

    world.soft_delete(lead_id)
    deleted = next(lead for lead in world.truth_leads() if lead["id"] == lead_id)
    assert deleted["deleted"] is True
    assert deleted["deletedAt"] == deleted["updatedAt"]
    assert any(event.get("roomId") == lead_id for event in world.truth_events())

    world.remove_lead(lead_id)
    assert lead_id not in world.lead_ids()
    assert all(event["roomId"] != lead_id for event in world.truth_events())


# --- pagination ------------------------------------------------------------------------------


def test_crawling_leads_in_small_pages_returns_truth_exactly_once(world, client):
    crawl = pages(client, "/leads", {"updatedSince": EVER, "limit": 3})
    assert records(crawl) == world.truth_leads()
    assert len(crawl) == math.ceil(20 / 3)
    assert all(token is not None for _, token in crawl[:-1])


def test_crawling_leads_by_creation_orders_by_created_at(world, client):
    served = records(pages(client, "/leads", {"createdSince": EVER, "limit": 7}))
    assert sorted(map(orjson.dumps, served)) == sorted(map(orjson.dumps, world.truth_leads()))
    order = [(instant(lead["createdAt"]), lead["id"]) for lead in served]
    assert order == sorted(order)


def test_both_filters_order_by_updated_and_filter_by_created(world, client):
    created = sorted(instant(lead["createdAt"]) for lead in world.truth_leads())[10]
    params = {"updatedSince": EVER, "createdSince": created.isoformat(), "limit": 4}
    served = records(pages(client, "/leads", params))
    expected = [lead for lead in world.truth_leads() if instant(lead["createdAt"]) >= created]
    assert served == expected


def test_crawling_every_leads_events_returns_truth_exactly_once(world, client):
    served = [
        event
        for lead_id in world.lead_ids()
        for event in records(pages(client, events_path(lead_id), {"since": EVER, "limit": 4}))
    ]
    assert served == world.truth_events()


def test_cursors_are_inclusive(world, client):
    leads = world.truth_leads()
    boundary = leads[8]
    served = records(pages(client, "/leads", {"updatedSince": boundary["updatedAt"]}))
    assert boundary in served
    assert all(instant(lead["updatedAt"]) >= instant(boundary["updatedAt"]) for lead in served)
    assert served == [lead for lead in leads if lead["updatedAt"] >= boundary["updatedAt"]]

    lead_id = world.lead_ids()[-1]
    events = [event for event in world.truth_events() if event["roomId"] == lead_id]
    since = events[3]["updatedAt"]
    served_events = records(pages(client, events_path(lead_id), {"since": since}))
    assert events[3] in served_events
    assert served_events == [e for e in events if instant(e["updatedAt"]) >= instant(since)]


def test_records_changed_during_a_crawl_are_never_skipped_nor_repeated_unchanged(world, client):
    crawl = pages(
        client, "/leads", {"updatedSince": EVER, "limit": 4}, between=lambda: world.advance(3)
    )
    served = records(crawl)
    versions = [(lead["id"], lead["updatedAt"]) for lead in served]
    assert len(versions) == len(set(versions))
    final = {(lead["id"], lead["updatedAt"]) for lead in world.truth_leads()}
    assert final <= set(versions)
    assert len(served) > 20


def test_types_filter_scans_limit_events_and_returns_short_or_empty_pages(world, client):
    world.put_lead(crafted_lead("room_types"))
    for index in range(6):
        stamp = f"2026-03-05T00:00:0{index}.000Z"
        world.put_event("room_types", crafted_event(f"m{index}", "MESSAGE", stamp))
    world.put_event("room_types", crafted_event("c1", "CALL", "2026-03-05T00:00:09.000Z"))
    world.put_event("room_types", crafted_event("v1", "VOICEMAIL_DROP", "2026-03-05T00:00:09.500Z"))

    crawl = pages(client, events_path("room_types"), {"since": EVER, "types": "CALL", "limit": 2})
    assert [len(page) for page, _ in crawl] == [0, 0, 0, 1]
    assert all(token is not None for _, token in crawl[:-1])
    assert [event["id"] for event in records(crawl)] == ["c1"]

    params = {"since": EVER, "types": "VOICEMAIL_DROP,CALL", "limit": 100}
    assert [e["id"] for e in records(pages(client, events_path("room_types"), params))] == [
        "c1",
        "v1",
    ]


def test_unparseable_timestamps_are_served_at_the_start_of_every_crawl(world, client):
    world.put_lead(crafted_lead("room_bad_time", updated_at="last tuesday"))
    world.put_lead(crafted_lead("room_no_time", updated_at=None))
    newest = world.truth_leads()[-1]["updatedAt"]
    served = records(pages(client, "/leads", {"updatedSince": newest, "limit": 1}))
    assert [lead["id"] for lead in served[:2]] == ["room_bad_time", "room_no_time"]
    assert served[-1]["updatedAt"] == newest


def test_nonnumeric_ids_are_served_verbatim(world, client):
    world.put_lead({"id": 123, "updatedAt": "2026-03-03T00:00:00.000Z"})
    event = {"id": 9, "type": "MESSAGE", "updatedAt": "2026-03-03T00:00:00.000Z"}
    world.put_event("123", event, touch_lead=False)
    assert {"id": 123, "updatedAt": "2026-03-03T00:00:00.000Z"} in world.truth_leads()
    served = records(pages(client, events_path("123"), {"since": EVER}))
    assert served == [event]


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/leads", {}, "updatedSince or createdSince is required"),
        ("/leads", {"updatedSince": "yesterday"}, "updatedSince must be an ISO 8601 timestamp"),
        ("/leads", {"createdSince": ""}, "createdSince must be an ISO 8601 timestamp"),
        ("/leads", {"updatedSince": EVER, "limit": 0}, "limit must be an integer from 1 to 1000"),
        ("/leads", {"updatedSince": EVER, "limit": 1001}, "limit must be an integer"),
        ("/leads", {"updatedSince": EVER, "limit": "ten"}, "limit must be an integer"),
        ("/leads", {"updatedSince": EVER, "nextToken": "garbage!"}, "nextToken is not valid"),
        ("EVENTS", {}, "since is required"),
        ("EVENTS", {"since": "2026-13-01"}, "since must be an ISO 8601 timestamp"),
        ("EVENTS", {"since": EVER, "limit": -1}, "limit must be an integer"),
        ("EVENTS", {"since": EVER, "nextToken": "e30"}, "nextToken is not valid"),
    ],
)
def test_invalid_requests_are_400_with_a_message(world, client, path, params, message):
    if path == "EVENTS":
        path = events_path(world.lead_ids()[0])
    response = client.get(path, params=params)
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_a_token_is_only_valid_with_the_filters_it_was_issued_for(world, client):
    lead_id = world.lead_ids()[-1]
    token = client.get(events_path(lead_id), params={"since": EVER, "limit": 1}).json()["nextToken"]
    elsewhere = client.get(
        events_path(world.lead_ids()[-2]), params={"since": EVER, "nextToken": token}
    )
    other_since = client.get(
        events_path(lead_id), params={"since": "2026-03-02T00:00:00Z", "nextToken": token}
    )
    as_lead_token = client.get("/leads", params={"updatedSince": EVER, "nextToken": token})
    for response in (elsewhere, other_since, as_lead_token):
        assert response.status_code == 400
    assert "different filters" in other_since.json()["message"]


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong-key-12345"}, {"x-api-key": ""}])
def test_a_missing_or_wrong_key_is_403_and_beats_every_fault(simulator, headers):
    simulator.faults.rate_429 = 1.0
    simulator.faults.fail_first_n = 5
    response = httpx.get(simulator.url + "/leads", params={"updatedSince": EVER}, headers=headers)
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}
    assert "wrong-key" not in response.text
    assert KEY not in response.text
    assert simulator.faults.fail_first_n == 5


def test_unknown_leads_and_paths_are_404(world, client):
    response = client.get(events_path("room_does_not_exist"), params={"since": EVER})
    assert response.status_code == 404
    assert response.json() == {"message": "Lead not found"}
    lead_id = world.lead_ids()[0]
    assert client.get(events_path(lead_id), params={"since": EVER}).status_code == 200
    world.remove_lead(lead_id)
    assert client.get(events_path(lead_id), params={"since": EVER}).status_code == 404
    for path in ("/", "/leads/", "/leads/x", "/leads/x/events/y", "/calls/1"):
        assert client.get(path, params={"since": EVER}).status_code == 404, path


def test_hard_ids_round_trip_as_one_percent_encoded_segment(world, simulator, client):
    for crafted in ("..", ".", "%2E%2E", "a/../b"):
        world.put_lead(crafted_lead(crafted))
        world.put_event(
            crafted, {**crafted_event(f"own {crafted}", "MESSAGE", EVER), "roomId": crafted}
        )
    hard = [lead_id for lead_id in world.lead_ids() if not lead_id.startswith("room_")]
    assert len(hard) >= 7
    truth = world.truth_events()
    for lead_id in hard:
        served = records(pages(client, events_path(lead_id), {"since": EVER}))
        assert served
        assert served == [event for event in truth if event["roomId"] == lead_id], lead_id
        assert simulator.stats.events_requests_for(lead_id) == 1
    raw = socket.create_connection(("127.0.0.1", simulator.port))
    with raw:
        raw.sendall(
            f"GET /v1/leads/%2E%2E/events?since={EVER} HTTP/1.1\r\n"
            f"Host: x\r\nx-api-key: {KEY}\r\nConnection: close\r\n\r\n".encode()
        )
        reply = b""
        while chunk := raw.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200")
    assert b'"id":"own .."' in reply


# --- faults ----------------------------------------------------------------------------------


def leads_request(client: httpx.Client) -> httpx.Response:
    return client.get("/leads", params={"updatedSince": EVER, "limit": 5})


def test_latency_delays_every_answer(simulator, client):
    simulator.faults.latency_ms = 150
    started = time.monotonic()
    assert leads_request(client).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_429_carries_the_configured_retry_after(simulator, client):
    simulator.faults.rate_429 = 1.0
    assert "retry-after" not in leads_request(client).headers
    simulator.faults.retry_after = 2
    response = leads_request(client)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    simulator.faults.retry_after = "http-date"
    simulator.faults.retry_after_seconds = 3
    sent = datetime.now(UTC)
    response = leads_request(client)
    wait = (parsedate_to_datetime(response.headers["retry-after"]) - sent).total_seconds()
    assert 2.9 <= wait <= 4.1


def test_server_errors_are_a_mix_of_5xx(simulator, client):
    simulator.faults.rate_5xx = 1.0
    statuses = {leads_request(client).status_code for _ in range(30)}
    assert len(statuses) > 1
    assert statuses <= {500, 502, 503}


def test_fail_first_n_fails_exactly_the_next_n_requests(simulator, client):
    simulator.faults.fail_first_n = 3
    simulator.faults.fail_status = 503
    assert [leads_request(client).status_code for _ in range(5)] == [503, 503, 503, 200, 200]
    assert simulator.faults.fail_first_n == 0


def test_the_rate_limit_is_a_token_bucket_answering_429_with_the_wait_for_the_next_token():
    bucket = TokenBucket()
    admitted = [bucket.admit(10, 3, None, now=100.0).allowed for _ in range(4)]
    assert admitted == [True, True, True, False]
    refused = bucket.admit(10, 3, None, now=100.04)
    assert not refused.allowed
    assert refused.retry_after == "0.060"
    assert refused.headers == ()
    assert bucket.admit(10, 3, None, now=100.11).allowed
    assert [bucket.admit(10, 3, None, now=101.0).allowed for _ in range(4)] == [True] * 3 + [False]


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (
            "ietf",
            {
                "ratelimit-limit": "50",
                "ratelimit-remaining": "1",
                "ratelimit-reset": "1",
                "ratelimit-policy": "50;w=1",
            },
        ),
        (
            "ietf-structured",
            {"ratelimit": '"default";r=1;t=1', "ratelimit-policy": '"default";q=50;w=1'},
        ),
        (
            "x",
            {
                "x-ratelimit-limit": "50, 50;w=1",
                "x-ratelimit-remaining": "1",
                "x-ratelimit-reset": "1",
            },
        ),
    ],
)
def test_rate_limit_headers_describe_the_bucket_on_every_answer(simulator, client, style, expected):
    simulator.faults.rate_limit = 50
    simulator.faults.rate_limit_burst = 3
    simulator.faults.rate_limit_headers = style
    answers = [leads_request(client) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [200, 200]
    seen = {name: value for name, value in answers[1].headers.items() if "ratelimit" in name}
    assert seen == expected
    while (answer := leads_request(client)).status_code == 200:
        pass
    assert answer.status_code == 429
    assert 0 < float(answer.headers["retry-after"]) <= 0.02
    assert "ratelimit" in " ".join(answer.headers.keys())


def test_the_rate_limit_is_global_and_recorded_when_requests_arrive(simulator, client):
    simulator.faults.rate_limit = 2
    simulator.faults.latency_ms = 50
    started = time.monotonic()
    statuses = [leads_request(client).status_code for _ in range(3)]
    assert statuses == [200, 429, 429]
    records = simulator.stats.recent()
    assert [record.retry_after is not None for record in records] == [False, True, True]
    for record in records:
        assert started <= record.arrived <= record.at - 0.045


def test_slow_answers_outlast_a_read_timeout_and_do_not_delay_stop(world):
    server = SimulatorServer(world, faults=Faults(slow_probability=1.0, slow_seconds=30)).start()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(
            server.url + "/leads",
            params={"updatedSince": EVER},
            headers={"x-api-key": KEY},
            timeout=0.2,
        )
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2


def test_a_dropped_connection_cuts_the_body_short(simulator, client):
    simulator.faults.drop_probability = 1.0
    with pytest.raises(httpx.RemoteProtocolError):
        leads_request(client)


def test_a_truncated_body_is_a_short_valid_http_response_of_invalid_json(simulator, client):
    whole = leads_request(client).content
    simulator.faults.truncate_probability = 1.0
    response = leads_request(client)
    assert response.status_code == 200
    assert whole.startswith(response.content)
    assert len(response.content) < len(whole)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_garbage_is_a_200_html_page(simulator, client):
    simulator.faults.garbage_probability = 1.0
    response = leads_request(client)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_an_empty_page_keeps_the_position(world, simulator, client):
    first = leads_request(client).json()
    simulator.faults.empty_page_probability = 1.0
    empty = leads_request(client).json()
    assert empty["leads"] == []
    assert empty["nextToken"] is not None
    lead_id = world.lead_ids()[0]
    empty_events = client.get(events_path(lead_id), params={"since": EVER}).json()
    assert empty_events["events"] == []
    assert empty_events["nextToken"] is not None
    simulator.faults.empty_page_probability = 0.0
    params = {"updatedSince": EVER, "limit": 5, "nextToken": empty["nextToken"]}
    assert client.get("/leads", params=params).json() == first
    params = {"since": EVER, "nextToken": empty_events["nextToken"]}
    resumed = client.get(events_path(lead_id), params=params).json()
    assert resumed["events"] == [e for e in world.truth_events() if e["roomId"] == lead_id]


def test_faults_are_deterministic_per_seed():
    def draws(seed: int) -> list[FaultDecision]:
        faults = Faults(seed=seed, rate_5xx=0.3, truncate_probability=0.3, latency_jitter_ms=5)
        return [faults.decide() for _ in range(50)]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)


# --- server ----------------------------------------------------------------------------------


def test_stats_count_requests_per_endpoint_and_lead(world, simulator, client):
    lead_id = world.lead_ids()[0]
    leads_request(client)
    client.get(events_path(lead_id), params={"since": EVER})
    client.get(events_path(lead_id), params={"since": EVER})
    client.get("/nowhere")
    stats = simulator.stats
    assert (stats.requests_total, stats.leads, stats.events) == (4, 1, 2)
    assert stats.events_requests_for(lead_id) == 2
    assert [(entry.status, entry.path) for entry in stats.recent()][-1] == (404, "/v1/nowhere")
    assert "updatedSince=" in stats.recent()[0].query
    stats.reset()
    assert (stats.requests_total, stats.events_requests_for(lead_id), stats.recent()) == (0, 0, [])


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com", ""])
def test_only_loopback_hosts_are_accepted(world, host):
    with pytest.raises(ValueError, match="loopback"):
        SimulatorServer(world, host=host)


def test_stop_closes_keep_alive_connections_and_joins_threads(world):
    threads = threading.active_count()
    with SimulatorServer(world, host="localhost") as server:
        port = server.port
        assert "test-key" not in repr(server)
        with httpx.Client(headers={"x-api-key": KEY}) as http:
            for _ in range(3):
                assert http.get(server.url + "/leads", params={"updatedSince": EVER}).is_success
            assert threading.active_count() > threads
            server.stop()
    assert threading.active_count() == threads, [t.name for t in threading.enumerate()]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_cli_serves_live_data_until_sigterm():
    command = [sys.executable, "-m", "attent_assets.simulator", "--port", "0", "--leads", "5"]
    command += ["--events-per-lead", "2", "--api-key", "cli-key", "--live-changes-per-second", "40"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/v1")
        with httpx.Client(base_url=url, headers={"x-api-key": "cli-key"}) as http:
            since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
            time.sleep(0.5)
            recent = http.get("/leads", params={"updatedSince": since}).json()["leads"]
        assert recent, "live changes stamp records with the current time"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()


def test_cli_serves_an_organisation_over_the_given_days():
    command = [sys.executable, "-m", "attent_assets.simulator", "--port", "0", "--leads", "60"]
    command += ["--world", "organisation", "--start-days-ago", "40", "--api-key", "cli-key"]
    command += ["--live-changes-per-second", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        with httpx.Client(base_url=url, headers={"x-api-key": "cli-key"}) as http:
            leads = http.get("/leads", params={"updatedSince": EVER}).json()["leads"]
        assert len(leads) == 60
        assert any(lead["lastActivityAt"] is None for lead in leads)
        first = min(instant(lead["createdAt"]) for lead in leads)
        assert (
            datetime.now(UTC) - timedelta(days=41) < first < datetime.now(UTC) - timedelta(days=30)
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()


def test_advance_endpoint_changes_the_world_for_a_simulator_in_another_process(
    simulator: SimulatorServer,
) -> None:
    before = simulator.world.truth_leads()
    url = simulator.url.removesuffix("/v1") + "/_sim/advance"
    assert httpx.post(url, params={"changes": 25}).status_code == 403
    response = httpx.post(url, params={"changes": 25}, headers={"x-api-key": "test-key"})
    assert response.status_code == 200
    assert response.json()["changes"] == 25
    assert simulator.world.truth_leads() != before
    bad = httpx.post(url, params={"changes": "zero"}, headers={"x-api-key": "test-key"})
    assert bad.status_code == 400


def test_advance_spreads_its_changes_over_the_seconds_asked(
    world: World, simulator: SimulatorServer
) -> None:
    """What a benchmark's run per sensor interval needs: N changes over about that much of the
    world's clock, however dense its history was."""
    url = simulator.url.removesuffix("/v1") + "/_sim/advance"
    for seconds in (60, 600):
        before = world.now()
        reply = httpx.post(
            url, params={"changes": 40, "seconds": seconds}, headers={"x-api-key": KEY}
        )
        elapsed = (datetime.fromisoformat(reply.json()["now"]) - before).total_seconds()
        assert 0.5 * seconds <= elapsed <= 1.5 * seconds + 40  # + whole-second stamps
    bad = httpx.post(url, params={"changes": 5, "seconds": -1}, headers={"x-api-key": KEY})
    assert bad.status_code == 400


def test_stats_endpoint_reports_request_counts_to_another_process(
    world: World, simulator: SimulatorServer, client: httpx.Client
) -> None:
    lead_id = world.lead_ids()[0]
    leads_request(client)
    client.get(events_path(lead_id), params={"since": EVER})
    url = simulator.url.removesuffix("/v1") + "/_sim/stats"
    assert httpx.get(url).status_code == 403
    for _ in range(2):  # reading the counts is not counted
        stats = httpx.get(url, headers={"x-api-key": KEY}).json()
        assert stats == {"requests": 2, "leads": 1, "events": 1, "events_by_lead": {lead_id: 1}}
