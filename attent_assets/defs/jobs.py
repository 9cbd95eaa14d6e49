"""The jobs: `attent_sync` (every asset of the project, in lineage order, with their checks) and
`attent_audit` (the checks alone, over the whole history)."""

import dagster as dg

from attent_assets.defs.assets import GROUP
from attent_assets.defs.keys import RAW_EVENTS, TABLE_KEYS

attent_sync = dg.define_asset_job(
    "attent_sync",
    selection=dg.AssetSelection.groups(GROUP),
    description="Leads, then raw events, then the typed tables. Replay of the selected partitions "
    "by default; the sensor runs it incrementally. Its checks verify what the run wrote.",
)

attent_audit = dg.define_asset_job(
    "attent_audit",
    selection=dg.AssetSelection.checks_for_assets(*TABLE_KEYS.values(), RAW_EVENTS),
    description="Every check of the project over the whole history: each table against the "
    "lake, one row per key, the lake against its manifest, unknown types and fields. Reads the "
    "warehouse and the lake only (no API call); runs in the warehouse pool.",
)
