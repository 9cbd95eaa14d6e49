"""A deployment living its life in this process (started by `bench.life.live`).

Against a simulator already running: the full sync as the backfill of every partition (one run);
then `runs` times `changes` world changes (`POST /_sim/advance`), the lead-change sensor's tick
and the run it requests, each timed, the lake's files counted at the checkpoints; then, when
asked, the full audit and a compaction (bench/maintenance.py). The instance, its event log and
the lake grow through all of it, as a deployment's do.

    python -m bench.deployment SPEC RESULT    (a pickled LifeSpec in, a pickled Life out)
"""

from __future__ import annotations

import argparse
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from bench import dagster_sync
from bench.incremental import Incremental
from bench.lake_files import LakeFiles, lake_files
from bench.life import FullSync, Life, LifeSpec
from bench.maintenance import audit, compaction, reads
from bench.measure import Measurement, measured, say
from bench.simulator_process import Simulator

#: Progress is printed every this many runs.
PROGRESS_EVERY = 50


class _Deployment:
    """One instance and one data directory synced from the simulator, and the sensor's cursor."""

    def __init__(self, spec: LifeSpec, instance: dg.DagsterInstance) -> None:
        self.spec = spec
        self.sim = Simulator(spec.url)
        self.instance = instance
        self.data_dir = spec.root / "data"
        self.bound: dict[str, Any] = dagster_sync.resources(
            spec.url, self.data_dir, concurrency=spec.concurrency, page_size=spec.page_size
        )
        self.cursor: str | None = None

    def full_sync(self) -> FullSync:
        name = f"Dagster full sync (one backfill run from {self.spec.start_date})"
        with (
            measured(name, self.sim) as measurement,
            dagster_sync.quiet(),
            dagster_sync.event_log_cost() as cost,
        ):
            result = dagster_sync.full_sync(self.instance, self.bound)
            measurement.events = dagster_sync.events_read(result)
        say(f"{self.spec.name}: {measurement.summary()}")
        with dagster_sync.quiet():  # nothing changed yet: the sensor only starts its cursor
            self.cursor = dagster_sync.sensor_tick(self.instance, self.bound, None).cursor
        return FullSync(
            measurement=measurement,
            partitions=len(dagster_sync.partition_keys()),
            lake_files=lake_files(self.data_dir).total,
            event_log=cost,
        )

    def sensor_run(self, number: int) -> tuple[Measurement, Measurement]:
        """One tick after the world changed, and the run it requested."""
        with measured(f"tick {number}", self.sim) as tick, dagster_sync.quiet():
            result = dagster_sync.sensor_tick(self.instance, self.bound, self.cursor)
        request = dagster_sync.requested_run(result)
        with measured(f"run {number}", self.sim) as run, dagster_sync.quiet():
            run.events = dagster_sync.events_read(
                dagster_sync.execute(self.instance, self.bound, request)
            )
        self.cursor = result.cursor
        return tick, run


def _live_here(spec: LifeSpec) -> Life:
    with dagster_sync.fresh_instance(spec.root / "dagster_home") as instance:
        deployment = _Deployment(spec, instance)
        full = deployment.full_sync()
        ticks: list[Measurement] = []
        runs: list[Measurement] = []
        first: Incremental | None = None
        changed: set[str] = set()
        lake: dict[int, LakeFiles] = {}
        caught_up = False
        for number in range(1, spec.runs + 1):
            if number == 1:
                changed = deployment.sim.advance_tracked(spec.changes, spec.interval_seconds)
            else:
                clock = deployment.sim.advance(spec.changes, spec.interval_seconds)
                lead = datetime.now(UTC) - clock
                if not caught_up and lead < timedelta(seconds=spec.interval_seconds):
                    # The simulator's clock never runs ahead of the wall clock: from here on the
                    # runs are closer together in simulated time than the interval.
                    say(f"{spec.name}: from run {number} on the world's clock is the wall clock")
                    caught_up = True
            tick, run = deployment.sensor_run(number)
            ticks.append(tick)
            runs.append(run)
            if number == 1:
                first = Incremental.of(spec.changes, changed, tick, run)
            if number in spec.checkpoints:
                lake[number] = lake_files(deployment.data_dir)
            if number % PROGRESS_EVERY == 0 or number == spec.runs:
                say(f"{spec.name}: run {number}/{spec.runs}: {run.wall_s:.2f} s")
        upkeep = []
        if spec.upkeep:
            upkeep = [
                audit(deployment.sim, instance, deployment.bound, deployment.data_dir),
                compaction(deployment.sim, deployment.data_dir),
                *reads(deployment.sim, deployment.data_dir),
            ]
    return Life(spec, full, ticks, runs, first, lake, upkeep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("spec", type=Path)
    parser.add_argument("result", type=Path)
    args = parser.parse_args()
    spec: LifeSpec = pickle.loads(args.spec.read_bytes())
    args.result.write_bytes(pickle.dumps(_live_here(spec)))


if __name__ == "__main__":
    main()
