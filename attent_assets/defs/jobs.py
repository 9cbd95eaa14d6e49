"""The jobs of one organisation: `<prefix>_sync` (its synced assets, in lineage order, with their
checks) and `<prefix>_audit` (the checks alone, over the whole history)."""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from attent_assets.defs.naming import Naming
from attent_assets.defs.run_requests import run_config
from attent_assets.sync import Mode


def build_sync_job(names: Naming) -> UnresolvedAssetJobDefinition:
    """The synced assets by key (assets a user adds to the same group are not part of it).

    Its launchpad config starts with the `replay` mode, the default of a UI materialization or
    backfill; change it there to run `incremental` or `reconcile`. The sensor and the schedules
    set their mode in the run config of every run they request."""
    return dg.define_asset_job(
        names.sync_job,
        selection=dg.AssetSelection.assets(*names.synced),
        config=run_config(names, Mode.REPLAY),
        description="Leads, then raw events, then the typed tables. Launchpad: `mode` under "
        f"resources.{names.sync_resource} (replay by default; incremental; reconcile). The "
        "sensor runs it incrementally. Its checks verify what the run wrote.",
    )


def build_audit_job(names: Naming) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        names.audit_job,
        selection=dg.AssetSelection.checks_for_assets(*names.tables.values(), names.raw_events),
        description="Every check over the whole history: each table against the lake, one row "
        "per key, the lake against its manifest, unknown types and fields. Reads the warehouse "
        "and the lake only (no API call); runs in the warehouse pool.",
    )
