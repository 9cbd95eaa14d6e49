"""`defs`: the Definitions that `dagster dev` (workspace.yaml) and `dg` load."""

import dagster as dg

from attent_assets.defs.assets import attent_assets
from attent_assets.defs.jobs import attent_sync
from attent_assets.defs.resources import AttentResource, SyncResource, WarehouseResource

defs = dg.Definitions(
    assets=[attent_assets],
    jobs=[attent_sync],
    resources={
        "attent": AttentResource(),
        "warehouse": WarehouseResource(),
        "sync": SyncResource(),
    },
)
