"""`dg scaffold defs attent_assets.AttentComponent <name>`: a `defs.yaml` that loads as it is.

The folder's name becomes the key prefix (and names the API key's environment variable), and the
organisation gets a data directory of its own, so a second scaffolded organisation collides with
nothing.
"""

import re

import dagster as dg
from dagster.components.component_scaffolding import scaffold_component

from attent_assets.defs.partitions import DEFAULT_START_DATE


def prefix_for(folder: str) -> str:
    """A key prefix from a folder name: letters, digits and underscores, starting with a letter."""
    prefix = re.sub(r"[^A-Za-z0-9_]", "_", folder).strip("_") or "attent"
    return prefix if prefix[0].isalpha() else f"org_{prefix}"


class AttentScaffolder(dg.Scaffolder):
    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        prefix = prefix_for(request.target_path.name)
        scaffold_component(
            request,
            {
                "key_prefix": prefix,
                "api_key": f"{{{{ env.{prefix.upper()}_ATTENT_API_KEY }}}}",
                "data_dir": f"data/{prefix}",
                "start_date": DEFAULT_START_DATE,
            },
        )
