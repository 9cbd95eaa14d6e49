"""The full audit and the lake compaction, timed when this version of attent_assets has them.

Both reach attent_assets apart from this benchmark: the audit as a job named `attent_audit` in
`attent_assets.definitions.defs` (whole-history checks run on their own schedule, never inside a
sync run), compaction as `Store.compact()` (merging each day's small files, crash-safe through the
manifest). A version without one gets a row that says so, not a number from a stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from attent_assets.definitions import defs
from attent_assets.defs.resources import WarehouseResource
from attent_assets.storage import Store
from bench.dagster_sync import quiet
from bench.lake_files import lake_files
from bench.measure import Measurement, measured
from bench.simulator_process import Simulator

AUDIT_JOB = "attent_audit"
COMPACT = "compact"
NOT_AVAILABLE = "not available in this version"
#: The run id compaction's files are named after (`<run>-<uuid>.parquet`).
COMPACTION_RUN_ID = "bench-compaction"


@dataclass(frozen=True, slots=True)
class Upkeep:
    """One audit or compaction: its measurement, or why there is none; lake files around it."""

    name: str
    measurement: Measurement | None
    skipped: str | None
    files_before: int
    files_after: int


def audit(
    sim: Simulator, instance: dg.DagsterInstance, bound: dict[str, Any], data_dir: Path
) -> Upkeep:
    """Run the `attent_audit` job in process with the sync's resources."""
    name = "full audit (job attent_audit)"
    before = lake_files(data_dir).total
    if AUDIT_JOB not in {job.name for job in defs.resolve_all_job_defs()}:
        return Upkeep(name, None, NOT_AVAILABLE, before, before)
    with measured(name, sim) as measurement, quiet():
        defs.get_job_def(AUDIT_JOB).execute_in_process(instance=instance, resources=bound)
    return Upkeep(name, measurement, None, before, lake_files(data_dir).total)


def compaction(sim: Simulator, data_dir: Path) -> Upkeep:
    """Open the store read-write, as a run does, and compact the lake."""
    name = "lake compaction (Store.compact)"
    before = lake_files(data_dir).total
    if not hasattr(Store, COMPACT):
        return Upkeep(name, None, NOT_AVAILABLE, before, before)
    warehouse = WarehouseResource(data_dir=str(data_dir))
    with measured(name, sim) as measurement, warehouse.open(COMPACTION_RUN_ID) as store:
        getattr(store, COMPACT)()
    return Upkeep(name, measurement, None, before, lake_files(data_dir).total)
