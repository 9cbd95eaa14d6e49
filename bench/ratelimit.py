"""The client against an API that enforces a global rate limit: how close it runs to the limit.

Each scenario crawls a world (every lead, then every lead's events) through `AttentClient`
against a simulator in its own process that enforces a token bucket of R requests per second,
answering 429 with the exact Retry-After over it. The client's own counters are read when the
warm-up ends and at the end, so the figures after the warm-up leave out the seconds spent learning
the limit; the accepted rate can never exceed R by more than the bucket's burst over that span.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass

from attent_assets.api import AttentClient
from attent_assets.sync import EPOCH
from bench.engine_sync import client_settings
from bench.measure import say
from bench.settings import BenchSettings
from bench.simulator_process import simulator


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    burst: float
    headers: str = "none"
    #: The client's max_requests_per_second, as a fraction of R (None: adaptive).
    cap_fraction: float | None = None


SCENARIOS = (
    Scenario("no headers, burst 10", burst=10),
    Scenario("no headers, burst 1", burst=1),
    Scenario("IETF RateLimit headers, burst 10", burst=10, headers="ietf"),
    Scenario("X-RateLimit headers, burst 1", burst=1, headers="x"),
    Scenario("max_requests_per_second = 0.9 R, no headers, burst 10", burst=10, cap_fraction=0.9),
)


@dataclass(frozen=True, slots=True)
class Span:
    """Requests the client sent over `seconds`, and how many of them were answered 429."""

    seconds: float
    requests: int
    throttled: int

    def accepted_per_s(self) -> float:
        return (self.requests - self.throttled) / self.seconds if self.seconds else 0.0

    def throttled_share(self) -> float:
        return self.throttled / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class LimitRun:
    scenario: Scenario
    whole: Span
    converged: Span


@dataclass(frozen=True, slots=True)
class RateLimits:
    settings: BenchSettings
    runs: list[LimitRun]


def _counts(client: AttentClient) -> tuple[float, int, int]:
    snapshot = client.stats.snapshot()
    return time.perf_counter(), int(snapshot["requests"]), int(snapshot["throttled"])


def _crawl(settings: BenchSettings, url: str, scenario: Scenario) -> LimitRun:
    config = client_settings(url, concurrency=settings.concurrency, page_size=settings.page_size)
    if scenario.cap_fraction is not None:
        cap = scenario.cap_fraction * settings.ratelimit_rps
        config = dataclasses.replace(config, max_requests_per_second=cap)
    with AttentClient(config) as client:
        marks = [_counts(client)]
        done = threading.Event()

        def mark_warm_up() -> None:
            if not done.wait(settings.ratelimit_warm_up):
                marks.append(_counts(client))

        marker = threading.Thread(target=mark_warm_up)
        marker.start()
        ids = [
            lead.id
            for page in client.iter_leads(updated_since=EPOCH)
            for lead in page.leads
            if lead.id is not None
        ]
        for _page in client.iter_events_many((lead_id, EPOCH) for lead_id in ids):
            pass
        done.set()
        marker.join()
        end = _counts(client)
    start, warm = marks[0], marks[-1]
    whole = Span(end[0] - start[0], end[1] - start[1], end[2] - start[2])
    converged = Span(end[0] - warm[0], end[1] - warm[1], end[2] - warm[2])
    return LimitRun(scenario, whole, converged)


def run_ratelimit(settings: BenchSettings) -> RateLimits:
    runs = []
    for scenario in SCENARIOS:
        with simulator(
            leads=settings.ratelimit_leads,
            events_per_lead=settings.events_per_lead,
            latency_ms=settings.latency_ms,
            latency_jitter_ms=settings.latency_jitter_ms,
            history_days=settings.history_days,
            seed=settings.seed,
            rate_limit=settings.ratelimit_rps,
            rate_limit_burst=scenario.burst,
            rate_limit_headers=scenario.headers,
        ) as sim:
            run = _crawl(settings, sim.url, scenario)
        say(
            f"rate limit {settings.ratelimit_rps:g}/s, {scenario.name}: "
            f"{run.converged.accepted_per_s() / settings.ratelimit_rps:.2f} R after the warm-up, "
            f"{run.converged.throttled_share():.1%} 429s; {run.whole.seconds:.1f} s wall"
        )
        runs.append(run)
    return RateLimits(settings, runs)
