"""Asset keys (DESIGN section 7: a contract): `attent/leads`, `attent/raw_events` and one key per
warehouse table."""

import dagster as dg

from attent_assets.sync import TABLE_NAMES

LEADS = dg.AssetKey(["attent", "leads"])
RAW_EVENTS = dg.AssetKey(["attent", "raw_events"])
TYPED_KEYS = {name: dg.AssetKey(["attent", name]) for name in TABLE_NAMES}
#: Every warehouse table by name, leads included.
TABLE_KEYS = {"leads": LEADS, **TYPED_KEYS}
