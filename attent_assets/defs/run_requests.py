"""What the sensor and the schedule ask Dagster to run: one sync run in a given mode over a
contiguous range of weekly partitions.

The mode is run config of the shared `sync` resource, never a tag (DESIGN section 4). The range
only says which partitions the run targets: a run records materializations for the partitions
whose data it changed, and an incremental run catches up on everything not yet synced whatever
its range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg

from attent_assets.defs.naming import Naming
from attent_assets.defs.partitions import SyncPartitions
from attent_assets.sync import Mode

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"


@dataclass(frozen=True, slots=True)
class PartitionRange:
    """First and last weekly partition key, inclusive (ISO dates, so they order as strings)."""

    first: str
    last: str

    @classmethod
    def of_days(cls, partitions: SyncPartitions, first: date, last: date) -> PartitionRange:
        """The partitions of these `updatedAt` days, clamped into the partition range."""
        return cls(partitions.key_for(first), partitions.key_for(last))

    @classmethod
    def everything(cls, partitions: SyncPartitions) -> PartitionRange:
        keys = partitions.keys()
        return cls(keys[0], keys[-1])

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> PartitionRange | None:
        """The range a run targeted, from its range tags or its single-partition tag."""
        if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
            return cls(tags[RANGE_START_TAG], tags[RANGE_END_TAG])
        if PARTITION_TAG in tags:
            return cls(tags[PARTITION_TAG], tags[PARTITION_TAG])
        return None

    def union(self, other: PartitionRange | None) -> PartitionRange:
        """The smallest contiguous range covering both (a run takes one contiguous range)."""
        if other is None:
            return self
        return PartitionRange(min(self.first, other.first), max(self.last, other.last))

    def tags(self) -> dict[str, str]:
        return {RANGE_START_TAG: self.first, RANGE_END_TAG: self.last}


def run_config(names: Naming, mode: Mode) -> dict[str, Any]:
    """Run config selecting the sync mode of every stage of the run."""
    return {"resources": {names.sync_resource: {"config": {"mode": mode.value}}}}


def sync_request(
    names: Naming, mode: Mode, partitions: PartitionRange, run_key: str
) -> dg.RunRequest:
    """One sync run; Dagster launches a given `run_key` only once."""
    return dg.RunRequest(
        run_key=run_key,
        job_name=names.sync_job,
        run_config=run_config(names, mode),
        tags=partitions.tags(),
    )
