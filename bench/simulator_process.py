"""The simulator in its own process, so a benchmark measures the client's CPU, not the server's.

Its world is changed and its request counts are read over HTTP (`POST /_sim/advance`,
`GET /_sim/stats`), the only way into another process.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import httpx

API_KEY = "bench-key"


@dataclass(frozen=True, slots=True)
class RequestCounts:
    """What the simulator was asked so far: requests per endpoint and events requests per lead."""

    leads: int
    events: int
    events_by_lead: dict[str, int]

    def since(self, before: RequestCounts) -> RequestCounts:
        """The requests made after `before` was read."""
        by_lead = {
            lead: count - before.events_by_lead.get(lead, 0)
            for lead, count in self.events_by_lead.items()
            if count > before.events_by_lead.get(lead, 0)
        }
        return RequestCounts(self.leads - before.leads, self.events - before.events, by_lead)

    @property
    def total(self) -> int:
        return self.leads + self.events


@dataclass(frozen=True, slots=True)
class Simulator:
    """A running simulator process: its API base URL and its control endpoints."""

    url: str

    @property
    def _root(self) -> str:
        return self.url.removesuffix("/v1")

    def advance(self, changes: int, seconds: float | None = None) -> datetime:
        """Apply `changes` random changes to the world (new leads, events, updates, deletes),
        spread over about `seconds` of its clock when given; returns its clock after them."""
        params: dict[str, int | float] = {"changes": changes}
        if seconds is not None:
            params["seconds"] = seconds
        response = httpx.post(
            f"{self._root}/_sim/advance",
            params=params,
            headers={"x-api-key": API_KEY},
            timeout=120,
        )
        return datetime.fromisoformat(response.raise_for_status().json()["now"])

    def advance_tracked(self, changes: int, seconds: float | None = None) -> set[str]:
        """`advance`, returning the leads the changes made new or whose `lastActivityAt` moved:
        those an incremental run must ask for events (read before and after through the API)."""
        before = self.lead_activity()
        self.advance(changes, seconds)
        after = self.lead_activity()
        return {lead for lead, active in after.items() if before.get(lead, "new") != active}

    def lead_activity(self) -> dict[str, str | None]:
        """Every lead's `lastActivityAt`, read through the API (its requests count like any)."""
        activity: dict[str, str | None] = {}
        query: dict[str, str | int] = {"updatedSince": "1970-01-01T00:00:00.000Z", "limit": 1000}
        with httpx.Client(base_url=self.url, headers={"x-api-key": API_KEY}, timeout=60) as http:
            while True:
                body = http.get("/leads", params=query).raise_for_status().json()
                activity.update((lead["id"], lead.get("lastActivityAt")) for lead in body["leads"])
                if not body["nextToken"]:
                    return activity
                query["nextToken"] = body["nextToken"]

    def counts(self) -> RequestCounts:
        response = httpx.get(f"{self._root}/_sim/stats", headers={"x-api-key": API_KEY}, timeout=30)
        response.raise_for_status()
        body = response.json()
        return RequestCounts(body["leads"], body["events"], body["events_by_lead"])


@contextmanager
def simulator(
    *,
    leads: int,
    events_per_lead: int,
    latency_ms: float = 0.0,
    latency_jitter_ms: float = 0.0,
    history_days: int = 30,
    seed: int = 11,
    world: str = "uniform",
    rate_limit: float = 0.0,
    rate_limit_burst: float = 1.0,
    rate_limit_headers: str = "none",
    simulated_clock: bool = False,
) -> Iterator[Simulator]:
    """Start `python -m attent_assets.simulator` on a free port, its history starting
    `history_days` before today (midnight UTC), with no live changes. `world="organisation"`:
    a real organisation's history over all those days, `events_per_lead` its mean. `rate_limit`
    > 0: a token bucket of that many requests per second (see the simulator's `--rate-limit`).
    `simulated_clock`: changes are stamped with the world's clock, which `advance(changes,
    seconds)` moves (see the simulator's `--simulated-clock`)."""
    command = [
        sys.executable,
        "-m",
        "attent_assets.simulator",
        "--port=0",
        f"--seed={seed}",
        f"--leads={leads}",
        f"--events-per-lead={events_per_lead}",
        f"--latency-ms={latency_ms}",
        f"--latency-jitter-ms={latency_jitter_ms}",
        f"--start-days-ago={history_days}",
        f"--world={world}",
        f"--api-key={API_KEY}",
        "--live-changes-per-second=0",
        f"--rate-limit={rate_limit}",
        f"--rate-limit-burst={rate_limit_burst}",
        f"--rate-limit-headers={rate_limit_headers}",
        *(["--simulated-clock"] if simulated_clock else []),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1"):
            raise RuntimeError(f"the simulator did not start: {url!r}")
        yield Simulator(url)
    finally:
        process.terminate()
        process.wait(timeout=30)
