"""Storage: the raw Parquet lake, the DuckDB warehouse and the sync state committed with them."""

from attent_assets.storage.compaction import CompactionPolicy, CompactionReport
from attent_assets.storage.connection import WarehouseLockedError
from attent_assets.storage.inspection import AUDIT, Inspector, Scope
from attent_assets.storage.lake import (
    EVENT_LAKE_SCHEMA,
    EVENT_ROWS_SCHEMA,
    LEAD_LAKE_SCHEMA,
    LEAD_ROWS_SCHEMA,
    Lake,
    LakeConfigError,
)
from attent_assets.storage.lakes import open_lake
from attent_assets.storage.layout import RAW, Column, ColumnKind, EventTable, Layout
from attent_assets.storage.records import (
    LeadCursor,
    LeadTodo,
    MergeResult,
    QuarantinedRecord,
    WriteResult,
)
from attent_assets.storage.store import WAREHOUSE_FILE, Store
from attent_assets.storage.views import VIEWS_FILE

__all__ = [
    "AUDIT",
    "EVENT_LAKE_SCHEMA",
    "EVENT_ROWS_SCHEMA",
    "LEAD_LAKE_SCHEMA",
    "LEAD_ROWS_SCHEMA",
    "RAW",
    "VIEWS_FILE",
    "WAREHOUSE_FILE",
    "Column",
    "ColumnKind",
    "CompactionPolicy",
    "CompactionReport",
    "EventTable",
    "Inspector",
    "Lake",
    "LakeConfigError",
    "Layout",
    "LeadCursor",
    "LeadTodo",
    "MergeResult",
    "QuarantinedRecord",
    "Scope",
    "Store",
    "WarehouseLockedError",
    "WriteResult",
    "open_lake",
]
