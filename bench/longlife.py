"""The long-life section: a year of a real organisation's history, then a long day of sensor runs.

DESIGN invariant 7 asks that cost follow change for the life of a deployment, not only on a fresh
month: a sync's cost must not grow with the years of history behind it, the partitions they span or
the hundreds of runs already made. So the simulator, in its own process, serves an organisation
(`--world organisation`: most leads with 0-3 events, a few with thousands, some with none, calls
and tool calls ending and leads deleted along the way), and each deployment lives in its own
process (bench/deployment.py) with the partitions it needs:

1. the world's full sync through the Dagster job with a year of weekly partitions, and the same
   world with a month of them, beside the fetch floor and dlt, all over the unchanged world;
2. from the year's full sync on, `longlife_runs` sensor-launched incremental runs of
   `longlife_changes` world changes each, the lake's files counted at runs 1, 100, 250 and the last;
3. the same runs over a world with a tenth of the history: what history size costs a run;
4. after the runs, the full audit and a compaction (bench/maintenance.py).
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.dlt_pipeline import dlt_available, dlt_sync
from bench.floor import fetch_floor
from bench.lake_files import LakeFiles
from bench.life import Life, LifeSpec, live
from bench.measure import Measurement, measured, say
from bench.settings import BenchSettings, days_ago
from bench.simulator_process import Simulator, simulator
from bench.suite import DLT, FLOOR

#: Runs after which the lake's files are counted, besides the last.
CHECKPOINTS = (1, 100, 250)


def median_wall(runs: Sequence[Measurement]) -> float:
    return statistics.median(run.wall_s for run in runs) if runs else 0.0


def cost_per_event(measurement: Measurement) -> float:
    """Wall seconds per event read."""
    return measurement.wall_s / measurement.events if measurement.events else 0.0


@dataclass(frozen=True, slots=True)
class LongLife:
    settings: BenchSettings
    floor: Measurement
    year: Life
    month: Life
    #: The same runs over a world of `longlife_small_leads` leads.
    small: Life
    dlt: Measurement | None
    dlt_skipped: str | None

    @property
    def window(self) -> int:
        return max(1, min(self.settings.longlife_window, len(self.year.runs)))

    @property
    def first_runs(self) -> list[Measurement]:
        return self.year.runs[: self.window]

    @property
    def last_runs(self) -> list[Measurement]:
        return self.year.runs[-self.window :]

    @property
    def small_runs(self) -> list[Measurement]:
        return self.small.runs[: self.window]

    @property
    def late_vs_early(self) -> float:
        """Median run time of the last window over that of the first."""
        return median_wall(self.last_runs) / median_wall(self.first_runs)

    @property
    def history_ratio(self) -> float:
        """Median run time over the year's history against over the small one (first windows)."""
        return median_wall(self.first_runs) / median_wall(self.small_runs)

    @property
    def year_vs_month(self) -> float:
        """The year's full sync cost per event over the month's."""
        year, month = self.year.full_sync.measurement, self.month.full_sync.measurement
        return cost_per_event(year) / cost_per_event(month)

    @property
    def final_lake(self) -> LakeFiles:
        return self.year.lake[max(self.year.lake)]


def run_longlife(settings: BenchSettings) -> LongLife:
    s = settings
    if s.longlife_runs < 1:
        raise ValueError("--longlife-runs must be at least 1")
    world: dict[str, Any] = {
        "world": "organisation",
        "events_per_lead": s.longlife_events_per_lead,
        "history_days": s.longlife_days,
        "latency_ms": s.latency_ms,
        "latency_jitter_ms": s.latency_jitter_ms,
        "seed": s.seed,
        # Runs a sensor interval apart in the world's time (see BenchSettings).
        "simulated_clock": True,
    }
    transport: dict[str, Any] = {"concurrency": s.concurrency, "page_size": s.page_size}
    checkpoints = {n for n in CHECKPOINTS if n <= s.longlife_runs} | {s.longlife_runs}
    with tempfile.TemporaryDirectory(prefix="attent-longlife-") as scratch:
        root = Path(scratch)

        def spec(name: str, url: str, days: int, **runs: Any) -> LifeSpec:
            return LifeSpec(
                name=name, url=url, root=root / name, start_date=days_ago(days), **transport, **runs
            )

        with simulator(leads=s.longlife_leads, **world) as sim:
            # First, so the simulator's serialized pages are warm for everything after it.
            with measured(FLOOR, sim) as floor:
                floor.events = fetch_floor(sim.url, **transport)
            say(f"long life: {floor.summary()}")
            month = live(spec("month", sim.url, s.longlife_month_days))
            dlt_skipped = dlt_available()
            dlt = None if dlt_skipped else _dlt(sim, root / "dlt", transport)
            year = live(
                spec(
                    "year",
                    sim.url,
                    s.longlife_days,
                    runs=s.longlife_runs,
                    changes=s.longlife_changes,
                    interval_seconds=s.longlife_interval_seconds,
                    checkpoints=tuple(sorted(checkpoints)),
                    upkeep=True,
                )
            )
        with simulator(leads=s.longlife_small_leads, **world) as small_sim:
            small = live(
                spec(
                    "small",
                    small_sim.url,
                    s.longlife_days,
                    runs=min(s.longlife_window, s.longlife_runs),
                    changes=s.longlife_changes,
                    interval_seconds=s.longlife_interval_seconds,
                )
            )
    return LongLife(s, floor, year, month, small, dlt, dlt_skipped)


def _dlt(sim: Simulator, work_dir: Path, transport: dict[str, Any]) -> Measurement:
    work_dir.mkdir()
    with measured(DLT, sim) as measurement:
        measurement.events = dlt_sync(sim.url, work_dir, **transport)
    say(f"long life: {measurement.summary()}")
    return measurement
