"""The assets of one organisation: `<prefix>/leads` and `<prefix>/raw_events` (weekly partitions
on `updatedAt`) and the typed current-state tables downstream of the raw events, all produced by
one subsettable multi-asset.

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
from dataclasses import dataclass
from datetime import date

import dagster as dg

from attent_assets.defs import metadata
from attent_assets.defs.checks import Registry, checks_for_run, evaluate_checks
from attent_assets.defs.naming import Naming
from attent_assets.defs.partitions import SyncPartitions
from attent_assets.defs.resources import AttentResource, SyncResource, WarehouseResource
from attent_assets.storage import AUDIT, Store
from attent_assets.sync import Mode, SyncEngine, Window

#: Set by Dagster on every run a backfill launches.
BACKFILL_TAG = "dagster/backfill"

Event = dg.AssetMaterialization | dg.AssetObservation | dg.MaterializeResult | dg.AssetCheckResult


def build_sync_assets(
    names: Naming,
    partitions: SyncPartitions,
    specs: list[dg.AssetSpec],
    checks: Registry,
    pool: str,
) -> dg.AssetsDefinition:
    """The multi-asset of one organisation. Its resources are looked up under the organisation's
    resource keys, so two organisations in one code location use their own."""

    @dg.multi_asset(
        name=names.sync_assets,
        specs=specs,
        check_specs=[spec for spec, _ in checks.values()],
        can_subset=True,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=pool,
        required_resource_keys={
            names.api_resource,
            names.warehouse_resource,
            names.sync_resource,
        },
    )
    def sync_assets(context: dg.AssetExecutionContext) -> Iterator[Event]:
        resources = context.resources
        attent: AttentResource = getattr(resources, names.api_resource)
        warehouse: WarehouseResource = getattr(resources, names.warehouse_resource)
        sync: SyncResource = getattr(resources, names.sync_resource)
        run = _Run(context, names, partitions, sync.run_mode)
        selected = context.selected_asset_keys
        materialized: set[dg.AssetKey] = set()
        with warehouse.open(context.run_id) as store:
            engine = SyncEngine(attent.client, store, sync.settings(), context.log)
            for event in run.stages(engine, store):
                if isinstance(event, dg.AssetMaterialization | dg.MaterializeResult):
                    materialized.add(event.asset_key)  # type: ignore[arg-type]
                yield event
            selected_checks = context.selected_asset_check_keys
            if selected:
                yield from run.compaction(engine)
                selected_checks = checks_for_run(selected_checks, materialized)
            # Checks in a syncing run verify what it wrote (its files, and the files its
            # compaction merged them into: fewer to read); selected alone, they audit everything.
            scope = store.run_scope() if selected else AUDIT
            yield from evaluate_checks(
                checks, store, selected_checks, scope, sync.freshness_minutes
            )

    return sync_assets


@dataclass(frozen=True)
class _Run:
    """One run of the multi-asset: its mode, replay window and selection."""

    context: dg.AssetExecutionContext
    names: Naming
    partitions: SyncPartitions
    mode: Mode

    @property
    def window(self) -> Window | None:
        if self.mode is not Mode.REPLAY:
            return None
        return self.partitions.replay_window(self.context)

    @property
    def is_backfill(self) -> bool:
        return BACKFILL_TAG in self.context.run.tags

    def stages(self, engine: SyncEngine, store: Store) -> Iterator[Event]:
        """The selected stages in lineage order; each commits on its own."""
        selected = self.context.selected_asset_keys
        window = self.window
        if self.names.leads in selected:
            yield from self._leads(engine, store, window)
        if self.names.raw_events in selected:
            yield from self._raw_events(engine, window)
        tables = [name for name, key in self.names.typed.items() if key in selected]
        if tables:
            yield from self._typed(engine, store, window, tables)

    def _leads(self, engine: SyncEngine, store: Store, window: Window | None) -> Iterator[Event]:
        report = engine.sync_leads(self.mode, window)
        yield from self._recorded_partitions(self.names.leads, report.partitions)
        yield dg.AssetObservation(
            asset_key=self.names.leads,
            metadata={
                **metadata.run_metadata(self.mode, window),
                **metadata.leads_metadata(report),
                **metadata.table_metadata(store, "leads"),
            },
        )

    def _raw_events(self, engine: SyncEngine, window: Window | None) -> Iterator[Event]:
        report = engine.sync_events(self.mode, window)
        yield from self._recorded_partitions(self.names.raw_events, report.partitions)
        yield dg.AssetObservation(
            asset_key=self.names.raw_events,
            metadata={
                **metadata.run_metadata(self.mode, window),
                **metadata.events_metadata(report),
            },
        )

    def _typed(
        self, engine: SyncEngine, store: Store, window: Window | None, tables: list[str]
    ) -> Iterator[Event]:
        """A materialization for each table the merge changed (in a backfill: for each table
        merged; a backfill's targets must all be recorded, see `_recorded_partitions`)."""
        for result in engine.merge_typed(self.mode, window, tables):
            if not (self.is_backfill or result.new or result.updated):
                continue
            yield dg.MaterializeResult(
                asset_key=self.names.typed[result.table],
                metadata={
                    **metadata.table_metadata(store, result.table),
                    "rows_new": result.new,
                    "rows_updated": result.updated,
                },
            )

    def compaction(self, engine: SyncEngine) -> Iterator[Event]:
        """Merge small lake files, after the typed merge has read them."""
        report = engine.compact()
        if report.days:
            yield dg.AssetObservation(
                asset_key=self.names.raw_events,
                metadata={
                    "compacted_days": report.days,
                    "compacted_files_before": report.files_before,
                    "compacted_files_after": report.files_after,
                    "compacted_rows": report.rows,
                    "compacted_bytes_after": report.bytes_after,
                },
            )

    def _recorded_partitions(
        self, key: dg.AssetKey, days: Counter[date]
    ) -> Iterator[dg.AssetMaterialization]:
        """One materialization per partition this run changed, with the rows it wrote there.

        A backfill asked for exactly its range, so a backfill run records every partition of it
        (with 0 rows where nothing changed): Dagster's backfill daemon counts a targeted
        partition without a materialization as failed (dagster-io/dagster#34219). Sensor and
        schedule runs record only the partitions whose data changed."""
        rows: Counter[str] = Counter()
        for day, count in days.items():
            rows[self.partitions.key_for(day)] += count
        if self.is_backfill and self.context.has_partition_key_range:
            for partition in self.context.partition_keys:
                rows[partition] += 0
        for partition, count in sorted(rows.items()):
            yield dg.AssetMaterialization(
                asset_key=key, partition=partition, metadata={"rows_written": count}
            )
