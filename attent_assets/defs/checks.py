"""Asset checks: what a user needs to trust the tables without reading the code.

They read the warehouse and the lake only (never the API) and run in the warehouse pool, so they
never meet a writer.
"""

from collections.abc import Callable
from datetime import UTC, datetime

import dagster as dg

from attent_assets.defs import metadata
from attent_assets.defs.assets import LEADS, POOL, RAW_EVENTS, TYPED_KEYS
from attent_assets.defs.resources import SyncResource, WarehouseResource
from attent_assets.storage import Store

TABLE_KEYS = {"leads": LEADS, **TYPED_KEYS}
EXAMPLES = 5

Check = Callable[[Store], dg.AssetCheckResult]


def _check(key: dg.AssetKey, name: str, description: str, body: Check) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=key, name=name, description=description, pool=POOL)
    def check(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        with warehouse.open(context.run.run_id, read_only=True) as store:
            return body(store)

    return check


def _one_row_per_key(table: str) -> Check:
    def body(store: Store) -> dg.AssetCheckResult:
        duplicates = store.duplicate_keys(table)
        null_keys = store.null_keys(table)
        return dg.AssetCheckResult(
            passed=duplicates == 0 and null_keys == 0,
            metadata={"duplicate_keys": duplicates, "null_keys": null_keys},
        )

    return body


def _matches_lake(table: str) -> Check:
    def body(store: Store) -> dg.AssetCheckResult:
        missing, examples = store.lake_versions_missing(table)
        return dg.AssetCheckResult(
            passed=missing == 0,
            metadata={"missing_versions": missing, "examples": dg.MetadataValue.json(examples)},
        )

    return body


def _unknown_payloads(store: Store) -> dg.AssetCheckResult:
    """Types and fields we do not model yet. They are stored (other_events, raw JSON), so this
    only warns: the fix is a new model field, never a failed sync."""
    types = store.unknown_types()
    fields = {table: store.unknown_fields(table) for table in TABLE_KEYS}
    found = {t: f for t, f in fields.items() if f}
    return dg.AssetCheckResult(
        passed=not types and not found,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "unknown_types": dg.MetadataValue.json(
                [{"type": t, "count": n, "example_id": ex} for t, n, ex in types]
            ),
            "unknown_fields": dg.MetadataValue.json(
                {
                    table: [{"field": f, "count": n, "example_id": ex} for f, n, ex in rows]
                    for table, rows in found.items()
                }
            ),
            "unknown_type_count": len(types),
            "unknown_field_count": sum(len(rows) for rows in found.values()),
        },
    )


def _freshness_check() -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=LEADS,
        name="sync_lag",
        pool=POOL,
        description="Warns when the last complete read of the leads started longer ago than the "
        "`sync` resource's freshness_minutes.",
    )
    def sync_lag(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, sync: SyncResource
    ) -> dg.AssetCheckResult:
        with warehouse.open(context.run.run_id, read_only=True) as store:
            complete_as_of = store.leads_complete_as_of()
            newest = store.newest_updated_at()
        age = (datetime.now(UTC) - complete_as_of).total_seconds() if complete_as_of else None
        return dg.AssetCheckResult(
            passed=age is not None and age <= sync.freshness_minutes * 60,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "sync_lag_seconds": metadata.lag_seconds(newest),
                "complete_as_of": complete_as_of.isoformat() if complete_as_of else "",
                "seconds_since_complete": age if age is not None else -1.0,
            },
        )

    return sync_lag


def build_checks() -> list[dg.AssetChecksDefinition]:
    checks = [
        _check(
            key,
            "one_row_per_key",
            f"attent.{table} has exactly one row per key and no null keys.",
            _one_row_per_key(table),
        )
        for table, key in TABLE_KEYS.items()
    ]
    checks += [
        _check(
            key,
            "matches_lake",
            f"The latest version of every key in the raw lake is the row in attent.{table}.",
            _matches_lake(table),
        )
        for table, key in TABLE_KEYS.items()
    ]
    checks.append(
        _check(
            RAW_EVENTS,
            "unknown_types_and_fields",
            "Lists event types and payload fields seen that have no typed column yet (WARN).",
            _unknown_payloads,
        )
    )
    checks.append(_freshness_check())
    return checks
