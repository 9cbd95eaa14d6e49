"""The assets: `attent/leads` and `attent/raw_events` (weekly partitions on `updatedAt`) and the
typed current-state tables downstream of the raw events, all produced by one subsettable
multi-asset.

Why one multi-asset rather than three: a sensor-launched run records a materialization only for
the partitions whose data it changed. Dagster expresses that with skippable outputs, and a skipped
output skips every downstream step of the run; inside one step the stages run in lineage order
regardless, and each stage still commits on its own, so a run killed between two stages is resumed
by the next run.
The body is thin: it turns the run (mode, partition window, selection) into engine calls and the
engine's reports into metadata.
"""

from collections import Counter
from collections.abc import Iterator
from datetime import date

import dagster as dg

from attent_assets.defs import metadata
from attent_assets.defs.checks import CHECK_SPECS, checks_for_run, evaluate_checks
from attent_assets.defs.keys import LEADS, RAW_EVENTS, TYPED_KEYS
from attent_assets.defs.partitions import partition_key_for, partitions, replay_window
from attent_assets.defs.resources import AttentResource, SyncResource, WarehouseResource
from attent_assets.storage import AUDIT, Store
from attent_assets.sync import Mode, SyncEngine, Window

GROUP = "attent"
#: Every step that writes warehouse.duckdb runs in this pool (limit 1 in dagster.yaml).
POOL = "warehouse"

SPECS = [
    dg.AssetSpec(
        LEADS,
        partitions_def=partitions,
        skippable=True,
        group_name=GROUP,
        kinds={"parquet", "duckdb"},
        description="Every lead: current state in attent.leads, every version in lake/leads, "
        "partitioned by the day of its updatedAt.",
    ),
    dg.AssetSpec(
        RAW_EVENTS,
        deps=[LEADS],
        partitions_def=partitions,
        skippable=True,
        group_name=GROUP,
        kinds={"parquet"},
        description="Every observed version of every interaction event, raw JSON in lake/events, "
        "partitioned by the day of its updatedAt.",
    ),
    *(
        dg.AssetSpec(
            key,
            deps=[RAW_EVENTS],
            skippable=True,
            group_name=GROUP,
            kinds={"duckdb"},
            description=f"attent.{name}: the latest version of each event, typed columns plus "
            "the raw data JSON. A sync run records a materialization when it changed the table.",
        )
        for name, key in TYPED_KEYS.items()
    ),
]

#: Set by Dagster on every run a backfill launches.
BACKFILL_TAG = "dagster/backfill"

Event = dg.AssetMaterialization | dg.AssetObservation | dg.MaterializeResult | dg.AssetCheckResult


@dg.multi_asset(
    name="attent_sync_assets",
    specs=SPECS,
    check_specs=CHECK_SPECS,
    can_subset=True,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=POOL,
)
def attent_assets(
    context: dg.AssetExecutionContext,
    attent: AttentResource,
    warehouse: WarehouseResource,
    sync: SyncResource,
) -> Iterator[Event]:
    selected = context.selected_asset_keys
    window = replay_window(context) if sync.run_mode is Mode.REPLAY else None
    materialized: set[dg.AssetKey] = set()
    with warehouse.open(context.run_id) as store:
        engine = SyncEngine(attent.client, store, sync.settings(), context.log)
        for event in _stages(context, engine, store, sync.run_mode, window):
            if isinstance(event, dg.AssetMaterialization | dg.MaterializeResult):
                materialized.add(event.asset_key)  # type: ignore[arg-type]
            yield event
        checks = context.selected_asset_check_keys
        if selected:
            yield from _compaction(engine)
            checks = checks_for_run(checks, materialized)
        # Checks in a syncing run verify what it wrote (its files, and the files its compaction
        # merged them into: fewer to read); selected alone, they audit everything.
        scope = store.run_scope() if selected else AUDIT
        yield from evaluate_checks(store, checks, scope, sync.freshness_minutes)


def _stages(
    context: dg.AssetExecutionContext,
    engine: SyncEngine,
    store: Store,
    mode: Mode,
    window: Window | None,
) -> Iterator[Event]:
    """The selected stages in lineage order; each commits on its own."""
    selected = context.selected_asset_keys
    if LEADS in selected:
        yield from _leads(context, engine, store, mode, window)
    if RAW_EVENTS in selected:
        yield from _raw_events(context, engine, mode, window)
    tables = [name for name, key in TYPED_KEYS.items() if key in selected]
    if tables:
        yield from _typed(engine, store, mode, window, tables, every=_is_backfill(context))


def _leads(
    context: dg.AssetExecutionContext,
    engine: SyncEngine,
    store: Store,
    mode: Mode,
    window: Window | None,
) -> Iterator[Event]:
    report = engine.sync_leads(mode, window)
    yield from _recorded_partitions(context, LEADS, report.partitions)
    yield dg.AssetObservation(
        asset_key=LEADS,
        metadata={
            **metadata.run_metadata(mode, window),
            **metadata.leads_metadata(report),
            **metadata.table_metadata(store, "leads"),
        },
    )


def _raw_events(
    context: dg.AssetExecutionContext, engine: SyncEngine, mode: Mode, window: Window | None
) -> Iterator[Event]:
    report = engine.sync_events(mode, window)
    yield from _recorded_partitions(context, RAW_EVENTS, report.partitions)
    yield dg.AssetObservation(
        asset_key=RAW_EVENTS,
        metadata={**metadata.run_metadata(mode, window), **metadata.events_metadata(report)},
    )


def _typed(
    engine: SyncEngine,
    store: Store,
    mode: Mode,
    window: Window | None,
    tables: list[str],
    *,
    every: bool,
) -> Iterator[Event]:
    """A materialization for each table the merge changed (`every`: for each table merged; a
    backfill's targets must all be recorded, see `_recorded_partitions`)."""
    for result in engine.merge_typed(mode, window, tables):
        if not (every or result.new or result.updated):
            continue
        yield dg.MaterializeResult(
            asset_key=TYPED_KEYS[result.table],
            metadata={
                **metadata.table_metadata(store, result.table),
                "rows_new": result.new,
                "rows_updated": result.updated,
            },
        )


def _compaction(engine: SyncEngine) -> Iterator[Event]:
    """Merge small lake files, after the typed merge has read them."""
    report = engine.compact()
    if report.days:
        yield dg.AssetObservation(
            asset_key=RAW_EVENTS,
            metadata={
                "compacted_days": report.days,
                "compacted_files_before": report.files_before,
                "compacted_files_after": report.files_after,
                "compacted_rows": report.rows,
                "compacted_bytes_after": report.bytes_after,
            },
        )


def _is_backfill(context: dg.AssetExecutionContext) -> bool:
    return BACKFILL_TAG in context.run.tags


def _recorded_partitions(
    context: dg.AssetExecutionContext, key: dg.AssetKey, days: Counter[date]
) -> Iterator[dg.AssetMaterialization]:
    """One materialization per partition this run changed, with the rows it wrote there.

    A backfill asked for exactly its range, so a backfill run records every partition of it (with
    0 rows where nothing changed): Dagster's backfill daemon counts a targeted partition without a
    materialization as failed (dagster-io/dagster#34219). Sensor and schedule runs record only
    the partitions whose data changed."""
    rows: Counter[str] = Counter()
    for day, count in days.items():
        rows[partition_key_for(day)] += count
    if _is_backfill(context) and context.has_partition_key_range:
        for partition in context.partition_keys:
            rows[partition] += 0
    for partition, count in sorted(rows.items()):
        yield dg.AssetMaterialization(
            asset_key=key, partition=partition, metadata={"rows_written": count}
        )
