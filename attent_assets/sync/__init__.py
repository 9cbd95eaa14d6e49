"""The sync engine: plain Python between the Attent client and storage."""

from attent_assets.sync.engine import SyncEngine, SyncReport
from attent_assets.sync.report import EventsReport, LeadsReport
from attent_assets.sync.settings import EPOCH, Mode, SyncSettings, Window
from attent_assets.sync.tables import LAYOUT, TABLE_NAMES

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
