"""Asset checks: what a user needs to trust the tables without reading the code.

They are check specs of the sync multi-asset and are evaluated in its step, on the same
connection: the leads and raw-event assets record materializations only for the partitions a run
changed, and a separate check step would be skipped whenever nothing changed. They read the
warehouse and the lake, never the API, at one of two scopes:

- in a run that syncs (sensor, schedule, backfill), after its writes, the lake files that run
  committed: the keys and versions it wrote, so a check costs what the run changed;
- run on their own (the `attent_audit` job, its schedule, or *Execute checks* in the UI), the
  whole history: every table row and every lake file.
Both record the same check keys, so the UI shows the latest result of each.
"""

from collections.abc import Callable, Collection, Iterable, Iterator
from datetime import UTC, datetime

import dagster as dg

from attent_assets.defs import metadata
from attent_assets.defs.naming import Naming
from attent_assets.storage import Scope, Store
from attent_assets.sync import TABLE_NAMES

Evaluate = Callable[[Store, Scope, float], dg.AssetCheckResult]


def _scope(scope: Scope) -> dict[str, str]:
    return {"scope": "whole history" if scope.is_audit else "this run's writes"}


def _one_row_per_key(table: str) -> Evaluate:
    def evaluate(store: Store, scope: Scope, _: float) -> dg.AssetCheckResult:
        duplicates, checked = store.duplicate_keys(table, scope)
        metadata: dict[str, dg.RawMetadataValue] = {
            **_scope(scope),
            "duplicate_keys": duplicates,
            "keys_checked": checked,
        }
        null_keys = 0
        if scope.is_audit:
            null_keys = store.null_keys(table)
            metadata["null_keys"] = null_keys
        return dg.AssetCheckResult(passed=duplicates == 0 and null_keys == 0, metadata=metadata)

    return evaluate


def _matches_lake(table: str) -> Evaluate:
    def evaluate(store: Store, scope: Scope, _: float) -> dg.AssetCheckResult:
        missing, examples = store.lake_versions_missing(table, scope)
        return dg.AssetCheckResult(
            passed=missing == 0,
            metadata={
                **_scope(scope),
                "missing_versions": missing,
                "examples": dg.MetadataValue.json([list(e) for e in examples]),
            },
        )

    return evaluate


def _lake_matches_manifest(store: Store, scope: Scope, _: float) -> dg.AssetCheckResult:
    """Every file the manifest lists is in the lake, and (audit) every lake file is listed."""
    missing, unlisted = store.files_missing(scope)
    return dg.AssetCheckResult(
        passed=not missing and not unlisted,
        metadata={
            **_scope(scope),
            "missing_files": len(missing),
            "unlisted_files": len(unlisted),
            "examples": dg.MetadataValue.json((missing + unlisted)[:5]),
        },
    )


def _unknown_payloads(store: Store, scope: Scope, _: float) -> dg.AssetCheckResult:
    """Types and fields we do not model yet. They are stored (other_events, raw JSON), so this
    only warns: the fix is a new model field, never a failed sync."""
    types = store.unknown_types(scope)
    tables = ("leads", *TABLE_NAMES)
    found = {table: rows for table in tables if (rows := store.unknown_fields(table, scope))}
    return dg.AssetCheckResult(
        passed=not types and not found,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            **_scope(scope),
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


def _sync_lag(store: Store, _: Scope, freshness_minutes: float) -> dg.AssetCheckResult:
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


Registry = dict[dg.AssetCheckKey, tuple[dg.AssetCheckSpec, Evaluate]]


def registry(names: Naming) -> Registry:
    """Every check of one organisation's assets, with how to evaluate it."""
    checks: list[tuple[dg.AssetCheckSpec, Evaluate]] = []
    for table, key in names.tables.items():
        checks.append(
            (
                dg.AssetCheckSpec(
                    "one_row_per_key",
                    asset=key,
                    description=f"attent.{table} has exactly one row per key (in a sync run: "
                    "each key it wrote) and no null keys.",
                ),
                _one_row_per_key(table),
            )
        )
        checks.append(
            (
                dg.AssetCheckSpec(
                    "matches_lake",
                    asset=key,
                    description=f"The newest version of every key in the raw lake (in a sync "
                    f"run: of every key it wrote) is the row in attent.{table}.",
                ),
                _matches_lake(table),
            )
        )
    checks.append(
        (
            dg.AssetCheckSpec(
                "unknown_types_and_fields",
                asset=names.raw_events,
                description="Event types and payload fields (in a sync run: in what it wrote) "
                "that have no typed column yet (WARN; they are stored raw).",
            ),
            _unknown_payloads,
        )
    )
    checks.append(
        (
            dg.AssetCheckSpec(
                "lake_matches_manifest",
                asset=names.raw_events,
                description="Every lake file the sync committed is on disk (in a sync run: the "
                "files it wrote) and every lake file is committed (audit).",
            ),
            _lake_matches_manifest,
        )
    )
    checks.append(
        (
            dg.AssetCheckSpec(
                "sync_lag",
                asset=names.leads,
                description="WARN when the last complete read of the leads began longer ago than "
                "the `sync` resource's freshness_minutes.",
            ),
            _sync_lag,
        )
    )
    return {spec.key: (spec, evaluate) for spec, evaluate in checks}


def checks_for_run(
    selected: Iterable[dg.AssetCheckKey], materialized: Collection[dg.AssetKey]
) -> set[dg.AssetCheckKey]:
    """The checks a syncing run evaluates: those of the assets it materialized (a table it did
    not change has nothing new to verify, and its latest result stays), and `sync_lag`, which
    measures the run itself."""
    return {k for k in selected if k.asset_key in materialized or k.name == "sync_lag"}


def evaluate_checks(
    checks: Registry,
    store: Store,
    selected: Iterable[dg.AssetCheckKey],
    scope: Scope,
    freshness_minutes: float,
) -> Iterator[dg.AssetCheckResult]:
    for key in sorted(selected, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        _, evaluate = checks[key]
        result = evaluate(store, scope, freshness_minutes)
        yield result._replace(asset_key=key.asset_key, check_name=key.name)
