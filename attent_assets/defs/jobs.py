"""The `attent_sync` job: every asset of the project, in lineage order, with their checks."""

import dagster as dg

from attent_assets.defs.assets import GROUP

attent_sync = dg.define_asset_job(
    "attent_sync",
    selection=dg.AssetSelection.groups(GROUP),
    description="Leads, then raw events, then the typed tables. Replay of the selected partitions "
    "by default; the sensor runs it incrementally.",
)
