"""The asset specs of one organisation: what the catalog shows before anything has run.

Each spec carries what a Dagster user looks for: the table (`dagster/table_name`) and its columns
(`dagster/column_schema`), owners and tags from the component, and on the typed tables a
`FreshnessPolicy`. That policy measures the time since a table last changed: a sync run records a
materialization only for tables whose rows it changed, so a table that received nothing for the
fail window is reported stale. The `sync_lag` check on `leads` measures something else: how old
the last complete read of the API is, whatever changed.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import dagster as dg

from attent_assets.defs.columns import lake_event_schema, table_schema
from attent_assets.defs.naming import Naming
from attent_assets.defs.partitions import SyncPartitions
from attent_assets.storage.sql import USER_SCHEMA


@dataclass(frozen=True)
class AssetOptions:
    """What a component's YAML says about its assets."""

    group: str
    owners: Sequence[str] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    freshness: dg.FreshnessPolicy | None = None


def _table_metadata(table: str) -> dict[str, object]:
    return {
        "dagster/table_name": f"{USER_SCHEMA}.{table}",
        "dagster/column_schema": table_schema(table),
    }


def build_specs(
    names: Naming, partitions: SyncPartitions, options: AssetOptions
) -> list[dg.AssetSpec]:
    """`leads` and `raw_events` (weekly partitions), then one spec per typed table."""
    specs = [
        dg.AssetSpec(
            names.leads,
            partitions_def=partitions.definition,
            kinds={"parquet", "duckdb"},
            metadata=_table_metadata("leads"),
            description=f"Every lead of the organisation: the current state of each in "
            f"{USER_SCHEMA}.leads (soft-deleted ones included, `deleted = true`), every version "
            "in lake/leads. Partitioned by the week of updatedAt (UTC).",
        ),
        dg.AssetSpec(
            names.raw_events,
            deps=[names.leads],
            partitions_def=partitions.definition,
            kinds={"parquet"},
            metadata={"dagster/column_schema": lake_event_schema()},
            description="Every version of every interaction event the sync observed, each "
            "(type, id, updatedAt) once, raw JSON in lake/events/date=YYYY-MM-DD/*.parquet. "
            "Partitioned by the week of updatedAt (UTC).",
        ),
        *(
            dg.AssetSpec(
                key,
                deps=[names.raw_events],
                kinds={"duckdb"},
                metadata=_table_metadata(table),
                freshness_policy=options.freshness,
                description=f"{USER_SCHEMA}.{table}: one row per event (type, id), its newest "
                "version: typed columns plus the raw payload in `data`; `room_id` is the lead. "
                "Materialized by the runs that changed it.",
            )
            for table, key in names.typed.items()
        ),
    ]
    return [
        spec.replace_attributes(skippable=True, group_name=options.group).merge_attributes(
            owners=list(options.owners), tags=dict(options.tags)
        )
        for spec in specs
    ]
