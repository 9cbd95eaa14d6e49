"""Every measurement of docs/benchmarks.md, against simulators in their own processes.

One world serves the fetch floor, the client crawl, the engine, the Dagster job and dlt, in that
order and unchanged between them, so their ratios come from one run on one machine state. Then it
changes, and the lead-change sensor requests the incremental run; a last tick finds nothing. Peak
memory and the profile use their own worlds at latency 0.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from attent_assets.sync import Mode
from bench import dagster_sync
from bench.cpu_profile import LayerProfile, profile_layers, top_functions
from bench.dlt_pipeline import dlt_available, dlt_sync
from bench.engine_sync import client_crawl, client_settings, engine_sync
from bench.floor import fetch_floor
from bench.incremental import Incremental
from bench.measure import Measurement, measured, say
from bench.memory import PeakRss, peak_rss
from bench.settings import BenchSettings
from bench.simulator_process import Simulator, simulator

FLOOR = "fetch floor (plain httpx, stores nothing)"
CRAWL = "Attent client crawl (stores nothing)"
ENGINE = "engine full sync"
DAGSTER = "Dagster full sync (one backfill run)"
DLT = "dlt pipeline (same job)"
#: cProfile's world is this fraction of the benchmark's (it runs several times slower).
PROFILE_WORLD_FRACTION = 10


@dataclass(frozen=True, slots=True)
class Tick:
    measurement: Measurement
    runs_requested: int
    reason: str


@dataclass(frozen=True, slots=True)
class Results:
    settings: BenchSettings
    measurements: dict[str, Measurement]
    dlt_skipped: str | None
    incremental: Incremental
    no_change_tick: Tick
    #: What the Dagster full sync wrote to the instance's event log.
    event_log: dagster_sync.EventLogCost
    rss: dict[int, PeakRss]
    profile: LayerProfile
    profile_events: int
    top_functions: str
    top_functions_events: int

    def ratio(self, slower: str, faster: str) -> float | None:
        if slower not in self.measurements or faster not in self.measurements:
            return None
        return self.measurements[slower].wall_s / self.measurements[faster].wall_s


class _Run:
    """The benchmark world's simulator and a scratch directory for everything written."""

    def __init__(
        self, settings: BenchSettings, sim: Simulator, root: Path, instance: dg.DagsterInstance
    ) -> None:
        self.settings = settings
        self.sim = sim
        self.root = root
        self.measurements: dict[str, Measurement] = {}
        self.instance = instance
        self.event_log = dagster_sync.EventLogCost()
        self.bound = dagster_sync.resources(
            sim.url,
            root / "dagster",
            concurrency=settings.concurrency,
            page_size=settings.page_size,
        )

    def measure(self, name: str, run: Callable[[Measurement], None]) -> Measurement:
        with measured(name, self.sim) as measurement:
            run(measurement)
        self.measurements[name] = measurement
        say(measurement.summary())
        return measurement

    def fresh_dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir()
        return path

    def full_syncs(self) -> str | None:
        """Floor, client crawl, engine, Dagster and dlt over the unchanged world; returns why dlt
        was skipped, if it was."""
        s = self.settings
        transport = {"concurrency": s.concurrency, "page_size": s.page_size}
        settings = client_settings(self.sim.url, **transport)

        def floor(m: Measurement) -> None:
            m.events = fetch_floor(self.sim.url, **transport)

        def crawl(m: Measurement) -> None:
            m.events = client_crawl(settings)

        def engine(m: Measurement) -> None:
            report, steps = engine_sync(settings, self.fresh_dir("engine"), Mode.REPLAY)
            m.events = report.events.records_fetched
            m.note = ", ".join(f"{step} {seconds:.2f} s" for step, seconds in steps.items())

        self.measure(FLOOR, floor)
        self.measure(CRAWL, crawl)
        self.measure(ENGINE, engine)
        self.measure(DAGSTER, self._dagster_full_sync)
        skipped = dlt_available()
        if skipped is None:

            def dlt(m: Measurement) -> None:
                m.events = dlt_sync(self.sim.url, self.fresh_dir("dlt"), **transport)

            self.measure(DLT, dlt)
        else:
            say(f"dlt skipped: {skipped}")
        return skipped

    def _dagster_full_sync(self, m: Measurement) -> None:
        with dagster_sync.quiet(), dagster_sync.event_log_cost() as cost:
            result = dagster_sync.full_sync(self.instance, self.bound)
        m.events = dagster_sync.events_read(result)
        m.note = (
            f"{len(dagster_sync.partition_keys())} weekly partitions; {cost.events} instance "
            f"events written in {cost.seconds:.2f} s"
        )
        self.event_log = cost

    def incremental(self) -> tuple[Incremental, Tick]:
        """World changes, then the sensor's tick and the run it requests; then a tick with no
        change. Continues from the Dagster full sync's instance and data."""
        first = dagster_sync.sensor_tick(self.instance, self.bound, None)
        changed = self.sim.advance_tracked(self.settings.changes)
        ticked: dict[str, Any] = {}

        def tick(m: Measurement) -> None:
            ticked["result"] = dagster_sync.sensor_tick(self.instance, self.bound, first.cursor)

        tick_measurement = self.measure("sensor tick after changes", tick)
        request = dagster_sync.requested_run(ticked["result"])

        def run(m: Measurement) -> None:
            with dagster_sync.quiet():
                result = dagster_sync.execute(self.instance, self.bound, request)
            m.events = dagster_sync.events_read(result)

        run_measurement = self.measure("incremental run (sensor's request)", run)
        incremental = Incremental.of(
            self.settings.changes, changed, tick_measurement, run_measurement
        )

        def idle(m: Measurement) -> None:
            ticked["idle"] = dagster_sync.sensor_tick(
                self.instance, self.bound, ticked["result"].cursor
            )

        idle_measurement = self.measure("sensor tick without change", idle)
        idle_result = ticked["idle"]
        no_change = Tick(
            measurement=idle_measurement,
            runs_requested=len(idle_result.run_requests or []),
            reason=str(idle_result.skip_reason.skip_message if idle_result.skip_reason else ""),
        )
        return incremental, no_change


def _peak_rss(settings: BenchSettings) -> dict[int, PeakRss]:
    """The engine's full sync in a fresh process, at 1x and `memory_factor` x the events."""
    found: dict[int, PeakRss] = {}
    for factor in (1, settings.memory_factor):
        with simulator(
            leads=settings.leads,
            events_per_lead=settings.events_per_lead * factor,
            history_days=settings.history_days,
            seed=settings.seed,
        ) as sim:
            found[factor] = peak_rss(
                sim.url, concurrency=settings.concurrency, page_size=settings.page_size
            )
        say(f"peak RSS at {factor}x: {found[factor].peak_mib:.0f} MiB")
    return found


def _profile(settings: BenchSettings, root: Path) -> tuple[LayerProfile, int]:
    """The Dagster full sync at latency 0, CPU by layer."""
    with simulator(
        leads=settings.leads,
        events_per_lead=settings.events_per_lead,
        history_days=settings.history_days,
        seed=settings.seed,
    ) as sim:
        bound = dagster_sync.resources(
            sim.url,
            root / "profile",
            concurrency=settings.concurrency,
            page_size=settings.page_size,
        )
        results: list[dg.ExecuteInProcessResult] = []
        with dagster_sync.fresh_instance(root / "profile_home") as instance, dagster_sync.quiet():
            profile = profile_layers(
                lambda: results.append(dagster_sync.full_sync(instance, bound)),
                through_dagster=True,
            )
    say(f"profile at latency 0: {profile.wall_s:.2f} s wall, {profile.cpu_s:.2f} s CPU")
    return profile, dagster_sync.events_read(results[0])


def _top_functions(settings: BenchSettings, root: Path) -> tuple[str, int]:
    """cProfile of the engine's full sync at latency 0 on a smaller world."""
    leads = max(1, settings.leads // PROFILE_WORLD_FRACTION)
    with simulator(
        leads=leads,
        events_per_lead=settings.events_per_lead,
        history_days=settings.history_days,
        seed=settings.seed,
    ) as sim:
        data_dir = root / "cprofile"
        data_dir.mkdir()
        config = client_settings(
            sim.url, concurrency=settings.concurrency, page_size=settings.page_size
        )
        text = top_functions(lambda: engine_sync(config, data_dir, Mode.REPLAY))
    return text, leads * settings.events_per_lead


def run_suite(settings: BenchSettings) -> Results:
    with tempfile.TemporaryDirectory(prefix="attent-bench-") as scratch:
        root = Path(scratch)
        with (
            simulator(
                leads=settings.leads,
                events_per_lead=settings.events_per_lead,
                latency_ms=settings.latency_ms,
                latency_jitter_ms=settings.latency_jitter_ms,
                history_days=settings.history_days,
                seed=settings.seed,
            ) as sim,
            dagster_sync.fresh_instance(root / "dagster_home") as instance,
        ):
            run = _Run(settings, sim, root, instance)
            dlt_skipped = run.full_syncs()
            incremental, no_change = run.incremental()
        rss = _peak_rss(settings)
        profile, profile_events = _profile(settings, root)
        top, top_events = _top_functions(settings, root)
    return Results(
        settings=settings,
        measurements=run.measurements,
        dlt_skipped=dlt_skipped,
        incremental=incremental,
        no_change_tick=no_change,
        event_log=run.event_log,
        rss=rss,
        profile=profile,
        profile_events=profile_events,
        top_functions=top,
        top_functions_events=top_events,
    )
