"""Asset checks: what a user needs to trust the tables without reading the code.

They are check specs of the sync multi-asset and are evaluated in its step, after the writes, on the
same connection: the leads and raw-event assets record materializations only for the partitions a
run changed, and a separate check step would be skipped whenever nothing changed. Selecting a check
alone in the UI runs just that check. They read the warehouse and the lake, never the API.
"""

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

import dagster as dg

from attent_assets.defs import metadata
from attent_assets.defs.keys import LEADS, RAW_EVENTS, TABLE_KEYS
from attent_assets.storage import Store

Evaluate = Callable[[Store, float], dg.AssetCheckResult]


def _one_row_per_key(table: str) -> Evaluate:
    def evaluate(store: Store, _: float) -> dg.AssetCheckResult:
        duplicates = store.duplicate_keys(table)
        null_keys = store.null_keys(table)
        return dg.AssetCheckResult(
            passed=duplicates == 0 and null_keys == 0,
            metadata={"duplicate_keys": duplicates, "null_keys": null_keys},
        )

    return evaluate


def _matches_lake(table: str) -> Evaluate:
    def evaluate(store: Store, _: float) -> dg.AssetCheckResult:
        missing, examples = store.lake_versions_missing(table)
        return dg.AssetCheckResult(
            passed=missing == 0,
            metadata={
                "missing_versions": missing,
                "examples": dg.MetadataValue.json([list(e) for e in examples]),
            },
        )

    return evaluate


def _unknown_payloads(store: Store, _: float) -> dg.AssetCheckResult:
    """Types and fields we do not model yet. They are stored (other_events, raw JSON), so this
    only warns: the fix is a new model field, never a failed sync."""
    types = store.unknown_types()
    found = {table: rows for table in TABLE_KEYS if (rows := store.unknown_fields(table))}
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


def _sync_lag(store: Store, freshness_minutes: float) -> dg.AssetCheckResult:
    """Warns when the last complete read of the leads began too long ago."""
    complete_as_of = store.leads_complete_as_of()
    age = (datetime.now(UTC) - complete_as_of).total_seconds() if complete_as_of else None
    return dg.AssetCheckResult(
        passed=age is not None and age <= freshness_minutes * 60,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "sync_lag_seconds": metadata.lag_seconds(store.newest_updated_at()),
            "complete_as_of": complete_as_of.isoformat() if complete_as_of else "",
            "seconds_since_complete": age if age is not None else -1.0,
        },
    )


def _registry() -> dict[dg.AssetCheckKey, tuple[dg.AssetCheckSpec, Evaluate]]:
    checks: list[tuple[dg.AssetCheckSpec, Evaluate]] = []
    for table, key in TABLE_KEYS.items():
        checks.append(
            (
                dg.AssetCheckSpec(
                    "one_row_per_key",
                    asset=key,
                    description=f"attent.{table} has exactly one row per key and no null keys.",
                ),
                _one_row_per_key(table),
            )
        )
        checks.append(
            (
                dg.AssetCheckSpec(
                    "matches_lake",
                    asset=key,
                    description=f"The newest version of every key in the raw lake is the row "
                    f"in attent.{table}.",
                ),
                _matches_lake(table),
            )
        )
    checks.append(
        (
            dg.AssetCheckSpec(
                "unknown_types_and_fields",
                asset=RAW_EVENTS,
                description="Event types and payload fields seen that have no typed column yet "
                "(WARN; they are stored raw).",
            ),
            _unknown_payloads,
        )
    )
    checks.append(
        (
            dg.AssetCheckSpec(
                "sync_lag",
                asset=LEADS,
                description="WARN when the last complete read of the leads began longer ago than "
                "the `sync` resource's freshness_minutes.",
            ),
            _sync_lag,
        )
    )
    return {spec.key: (spec, evaluate) for spec, evaluate in checks}


CHECKS = _registry()
CHECK_SPECS = [spec for spec, _ in CHECKS.values()]


def evaluate_checks(
    store: Store, selected: Iterable[dg.AssetCheckKey], freshness_minutes: float
) -> Iterator[dg.AssetCheckResult]:
    for key in sorted(selected, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        _, evaluate = CHECKS[key]
        result = evaluate(store, freshness_minutes)
        yield result._replace(asset_key=key.asset_key, check_name=key.name)
