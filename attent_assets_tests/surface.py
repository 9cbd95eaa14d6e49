"""The default organisation's names and partitions, as the project's own definitions build them."""

from __future__ import annotations

from attent_assets.defs.checks import registry
from attent_assets.defs.naming import Naming
from attent_assets.defs.partitions import SyncPartitions, start_date_from_env

NAMES = Naming()
LEADS = NAMES.leads
RAW_EVENTS = NAMES.raw_events
TYPED_KEYS = NAMES.typed
PARTITIONS = SyncPartitions(start_date_from_env())
partitions = PARTITIONS.definition
partition_key_for = PARTITIONS.key_for
CHECK_SPECS = [spec for spec, _ in registry(NAMES).values()]
