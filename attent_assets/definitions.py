"""`defs`: the Definitions that `dagster dev` (workspace.yaml) and `dg` load."""

import dagster as dg

from attent_assets.defs.assets import attent_assets
from attent_assets.defs.audit_schedule import attent_audit_schedule
from attent_assets.defs.jobs import attent_audit, attent_sync
from attent_assets.defs.resources import AttentResource, SyncResource, WarehouseResource
from attent_assets.defs.schedules import attent_daily_reconciliation
from attent_assets.defs.sensors import attent_lead_changes

defs = dg.Definitions(
    assets=[attent_assets],
    jobs=[attent_sync, attent_audit],
    sensors=[attent_lead_changes],
    schedules=[attent_daily_reconciliation, attent_audit_schedule],
    resources={
        "attent": AttentResource(),
        "warehouse": WarehouseResource(),
        "sync": SyncResource(),
    },
)
