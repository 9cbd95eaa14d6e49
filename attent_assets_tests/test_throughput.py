"""Pacing against a rate-limited simulator over real HTTP: throughput converges to the limit.

The simulator enforces a global token bucket (R requests per second, burst B) and answers 429 with
the exact Retry-After over it. Every figure is the server's own accounting (arrival times and
statuses of the requests it saw), so a loaded machine slows the client but cannot fake a pass:
the bucket never accepts more than R per second plus its burst, and a limiter that backs off too
far, or keeps hitting the limit, fails the bounds below.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from attent_assets.api import AttentClient
from attent_assets.simulator import RequestRecord, ServerStats, SimulatorServer
from attent_assets_tests.conftest import SIMULATOR_KEY
from attent_assets_tests.harness import client_settings

pytestmark = pytest.mark.paced

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
#: Seconds the client may take to learn the limit before throughput counts.
WARM_UP = 3.0


def crawl_for(client: AttentClient, lead_ids: list[str], seconds: float) -> None:
    """Fetch events of `lead_ids` round and round on the client's threads for `seconds`."""
    deadline = time.monotonic() + seconds

    def requests() -> Iterator[tuple[str, datetime]]:
        for lead_id in itertools.cycle(lead_ids):
            if time.monotonic() >= deadline:
                return
            yield lead_id, EPOCH

    for _page in client.iter_events_many(requests()):
        pass


def window(records: list[RequestRecord], start: float, end: float) -> list[RequestRecord]:
    return [record for record in records if start <= record.arrived < end]


def accepted_rate(records: list[RequestRecord], start: float, end: float) -> float:
    return sum(record.status == 200 for record in window(records, start, end)) / (end - start)


def throttled_share(records: list[RequestRecord], start: float, end: float) -> float:
    seen = window(records, start, end)
    return sum(record.status == 429 for record in seen) / max(1, len(seen))


@pytest.fixture
def limited(simulator: SimulatorServer) -> SimulatorServer:
    """The test's simulator keeping every request's record (a crawl makes thousands)."""
    simulator.stats = ServerStats(recent_limit=1_000_000)
    return simulator


def make_client(simulator: SimulatorServer, **overrides: object) -> AttentClient:
    options: dict[str, object] = {
        "base_url": simulator.url,
        "api_key": SIMULATOR_KEY,
        "concurrency": 16,
        "backoff_initial": 0.05,
        "backoff_max": 1.0,
    }
    options.update(overrides)
    return AttentClient(client_settings(**options))


def measure(
    simulator: SimulatorServer, lead_ids: list[str], seconds: float, warm_up: float, **settings
) -> tuple[float, float]:
    """Crawl for `seconds`; the accepted requests per second and the share of 429s after
    `warm_up`, as the server counted them."""
    started = time.monotonic()
    with make_client(simulator, **settings) as client:
        crawl_for(client, lead_ids, seconds)
    ended = time.monotonic()
    records = simulator.stats.recent()
    begin = started + warm_up
    return accepted_rate(records, begin, ended), throttled_share(records, begin, ended)


#: Against a bucket without burst any jitter in when requests leave draws 429s below the limit;
#: while the rest of the suite loads both cores the client holds 0.83-0.9 R there (the limiter
#: this one replaced: under 0.4 R, or retries exhausted).
@pytest.mark.parametrize(("rate", "burst", "fraction"), [(80, 10, 0.85), (20, 1, 0.8)])
def test_throughput_converges_to_a_limit_learned_from_429s_alone(
    world, limited, rate, burst, fraction
):
    limited.faults.rate_limit = rate
    limited.faults.rate_limit_burst = burst
    achieved, share = measure(limited, world.lead_ids(), WARM_UP + 4, WARM_UP)
    assert achieved >= fraction * rate, (achieved, share)
    assert share < 0.05, (achieved, share)


@pytest.mark.parametrize(
    ("style", "rate", "burst"), [("ietf", 40, 5), ("ietf-structured", 20, 1), ("x", 40, 5)]
)
def test_rate_limit_headers_pace_the_client_before_the_limit_is_hit(
    world, limited, style, rate, burst
):
    limited.faults.rate_limit = rate
    limited.faults.rate_limit_burst = burst
    limited.faults.rate_limit_headers = style
    achieved, share = measure(limited, world.lead_ids(), 4, warm_up=1)
    assert achieved >= 0.85 * rate, (achieved, share)
    # The bound: at 20 requests/s a window holds ~75 requests, so 2 % would be one 429.
    assert share < 0.05, (achieved, share)


def test_retry_after_is_honoured_by_every_thread(world, limited):
    """No request arrives while a Retry-After runs, counted from when the server sent it (the
    client got it later still). Requests already on their way when the 429 left may arrive just
    after it: `IN_FLIGHT` seconds are allowed for those."""
    in_flight = 0.15
    limited.faults.rate_429 = 0.05
    limited.faults.retry_after = 0.5
    with make_client(limited) as client:
        crawl_for(client, world.lead_ids(), 3)
    records = limited.stats.recent()
    hints = [(record.at, float(record.retry_after)) for record in records if record.retry_after]
    assert len(hints) >= 3
    early = [
        (record.arrived - at, hint)
        for at, hint in hints
        for record in records
        if at + in_flight < record.arrived < at + hint
    ]
    assert early == []


def test_after_a_burst_of_429s_throughput_recovers_to_a_lifted_limit(world, limited):
    limited.faults.rate_limit = 40
    limited.faults.rate_limit_burst = 5
    limited.faults.retry_after = 0.1
    storm_end: list[float] = []

    def storm_then_lift() -> None:
        time.sleep(2)
        limited.faults.rate_429 = 1.0
        time.sleep(1)
        limited.faults.rate_limit = 80
        limited.faults.rate_429 = 0.0
        storm_end.append(time.monotonic())

    weather = threading.Thread(target=storm_then_lift)
    weather.start()
    with make_client(limited) as client:
        crawl_for(client, world.lead_ids(), 7.5)
    weather.join()
    records = limited.stats.recent()
    recovered = storm_end[0] + 2.5
    achieved = accepted_rate(records, recovered, recovered + 2)
    assert achieved >= 0.8 * 80, achieved


def test_max_requests_per_second_caps_the_rate(world, limited):
    achieved, share = measure(limited, world.lead_ids(), 3, 0.5, max_requests_per_second=25)
    assert 0.85 * 25 <= achieved <= 1.05 * 25
    assert share == 0


def test_the_leads_listing_and_the_events_fan_out_share_one_limit(world, limited):
    cap = 30
    with make_client(limited, max_requests_per_second=cap, page_size=1) as client:
        deadline = time.monotonic() + 3

        def list_leads() -> None:
            while time.monotonic() < deadline:
                for _page in client.iter_leads(updated_since=EPOCH):
                    pass

        listing = threading.Thread(target=list_leads)
        started = time.monotonic()
        listing.start()
        crawl_for(client, world.lead_ids(), 3)
        listing.join()
        ended = time.monotonic()
    records = window(limited.stats.recent(), started + 0.5, ended)
    leads = sum(record.path.endswith("/leads") for record in records)
    assert leads >= 10
    assert len(records) - leads >= 10
    assert len(records) / (ended - started - 0.5) <= 1.05 * cap
