"""The sync engine: plain Python between the Attent client and storage."""

from attent_assets.sync.engine import SyncEngine, SyncReport
from attent_assets.sync.report import EventsReport, LeadsReport
from attent_assets.sync.schema import LAYOUT, TABLE_NAMES
from attent_assets.sync.settings import EPOCH, Mode, SyncSettings, Window

__all__ = [
    "EPOCH",
    "LAYOUT",
    "TABLE_NAMES",
    "EventsReport",
    "LeadsReport",
    "Mode",
    "SyncEngine",
    "SyncReport",
    "SyncSettings",
    "Window",
]
