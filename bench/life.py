"""One deployment's life, what it measured, and the fresh process it is lived in.

The partitions are read from ATTENT_START_DATE when the definitions load, so a year of partitions
and a month of them cannot share a process: `live` starts `python -m bench.deployment` with the
start date in its environment and reads back the `Life` it measured.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from attent_assets.defs.partitions import START_DATE_VAR
from bench.dagster_sync import EventLogCost
from bench.incremental import Incremental
from bench.lake_files import LakeFiles
from bench.maintenance import Upkeep
from bench.measure import Measurement


@dataclass(frozen=True, slots=True)
class LifeSpec:
    """What to live through: the simulator at `url`, partitions from `start_date`, files under
    `root` (which must not exist yet)."""

    name: str
    url: str
    root: Path
    start_date: date
    concurrency: int
    page_size: int
    runs: int = 0
    changes: int = 20
    #: Simulated seconds each run's changes are spread over (the sensor's interval).
    interval_seconds: float = 60.0
    #: Runs after which the lake's files are counted.
    checkpoints: tuple[int, ...] = ()
    #: Audit and compact after the runs.
    upkeep: bool = False


@dataclass(frozen=True, slots=True)
class FullSync:
    """The first full sync: one backfill run over every partition into an empty data directory."""

    measurement: Measurement
    partitions: int
    lake_files: int
    event_log: EventLogCost


@dataclass(frozen=True, slots=True)
class Life:
    spec: LifeSpec
    full_sync: FullSync
    #: The sensor's ticks and the runs they requested, in order.
    ticks: list[Measurement]
    runs: list[Measurement]
    #: The first incremental run after the backfill, against the leads that had changed.
    first: Incremental | None
    lake: dict[int, LakeFiles]
    upkeep: list[Upkeep]


def live(spec: LifeSpec) -> Life:
    """Run `spec` in a fresh process whose partitions start on `spec.start_date`."""
    spec.root.mkdir()
    spec_file, life_file = spec.root / "spec.pickle", spec.root / "life.pickle"
    spec_file.write_bytes(pickle.dumps(spec))
    command = [sys.executable, "-m", "bench.deployment", str(spec_file), str(life_file)]
    env = {**os.environ, START_DATE_VAR: spec.start_date.isoformat()}
    subprocess.run(command, check=True, env=env)
    life: Life = pickle.loads(life_file.read_bytes())
    return life
