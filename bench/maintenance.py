"""The full audit, a lake compaction and a reader's query, timed on the deployment's data after
its runs.

The audit is the job `attent_audit` (every check over the whole history, run on its own schedule,
never inside a sync run). Sync runs compact the lake as they go; the compaction timed here is the
one the first run after midnight makes: today's folder, closed, merged into one file per kind.
The query is the same aggregate over attent.messages through warehouse.duckdb and through the
readers' views.duckdb (README "Reading while it syncs").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from attent_assets.definitions import defs
from attent_assets.defs.resources import WarehouseResource
from attent_assets.storage import VIEWS_FILE, WAREHOUSE_FILE
from bench.dagster_sync import quiet
from bench.lake_files import lake_files
from bench.measure import Measurement, measured
from bench.simulator_process import Simulator

AUDIT_JOB = "attent_audit"
#: The run id compaction's files are named after (`<run>-<uuid>.parquet`).
COMPACTION_RUN_ID = "bench-compaction"


@dataclass(frozen=True, slots=True)
class Upkeep:
    """One audit or compaction: its measurement and the lake files around it."""

    name: str
    measurement: Measurement
    files_before: int
    files_after: int


def audit(
    sim: Simulator, instance: dg.DagsterInstance, bound: dict[str, Any], data_dir: Path
) -> Upkeep:
    """Run the `attent_audit` job in process with the sync's resources."""
    name = "full audit (job attent_audit)"
    before = lake_files(data_dir).total
    with measured(name, sim) as measurement, quiet():
        defs.get_job_def(AUDIT_JOB).execute_in_process(instance=instance, resources=bound)
    return Upkeep(name, measurement, before, lake_files(data_dir).total)


def compaction(sim: Simulator, data_dir: Path) -> Upkeep:
    """Open the store read-write, as a run does, and compact as the first run of tomorrow."""
    name = "lake compaction at the day's close (Store.compact)"
    before = lake_files(data_dir).total
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    warehouse = WarehouseResource(data_dir=str(data_dir))
    with measured(name, sim) as measurement, warehouse.open(COMPACTION_RUN_ID) as store:
        store.compact(today=tomorrow)
    return Upkeep(name, measurement, before, lake_files(data_dir).total)


#: What a dashboard asks: how much was said, by how many leads, how recently.
READER_QUERY = "SELECT count(*), count(DISTINCT room_id), max(updated_at) FROM attent.messages"


def reads(sim: Simulator, data_dir: Path) -> list[Upkeep]:
    """`READER_QUERY` on a fresh read-only connection to each file (the opening included)."""
    steps = []
    files = lake_files(data_dir).total
    for database in (WAREHOUSE_FILE, VIEWS_FILE):
        name = f"a reader's query of attent.messages through {database}"
        with (
            measured(name, sim) as measurement,
            duckdb.connect(str(data_dir / database), read_only=True) as con,
        ):
            con.execute(READER_QUERY).fetchall()
        steps.append(Upkeep(name, measurement, files, files))
    return steps
