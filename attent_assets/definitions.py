"""`defs`: the Definitions that `dg dev`, `dagster dev` (workspace.yaml) and `dg list defs` load.

Everything comes from the `defs/` folder, as in any `dg` project: `defs/attent/defs.yaml` (the
`AttentComponent` with the default prefix) and the example downstream asset
`defs/lead_engagement.py`.
"""

from pathlib import Path

import dagster as dg

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
