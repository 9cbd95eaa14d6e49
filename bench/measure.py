"""One measured run: wall and CPU time of this process, and the requests the simulator saw."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from bench.simulator_process import RequestCounts, Simulator


@dataclass(slots=True)
class Measurement:
    """Wall and process CPU seconds of one run, its API requests (counted by the simulator) and
    the events it read. `note` says anything a reader needs to compare it fairly."""

    name: str
    wall_s: float = 0.0
    cpu_s: float = 0.0
    requests: int = 0
    events: int = 0
    note: str = ""
    counts: RequestCounts | None = field(default=None, repr=False)

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_s / self.requests if self.requests else 0.0

    def summary(self) -> str:
        return (
            f"{self.name}: {self.wall_s:.2f} s wall, {self.cpu_s:.2f} s CPU, "
            f"{self.requests} requests, {self.events} events"
        )


def say(text: str) -> None:
    """Progress on stderr, as it happens (stdout may carry the report)."""
    print(text, file=sys.stderr, flush=True)


@contextmanager
def measured(name: str, simulator: Simulator) -> Iterator[Measurement]:
    """Time the block; the caller sets `events` (and `note`) on the measurement it gets."""
    measurement = Measurement(name)
    before = simulator.counts()
    wall, cpu = time.perf_counter(), time.process_time()
    yield measurement
    measurement.wall_s = time.perf_counter() - wall
    measurement.cpu_s = time.process_time() - cpu
    measurement.counts = simulator.counts().since(before)
    measurement.requests = measurement.counts.total
