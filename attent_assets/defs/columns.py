"""Column schemas of the warehouse tables and the raw event lake, known before the first run.

They come from the layout (the models' declared fields) in the warehouse's column order, with
the type names DuckDB reports, so the catalog shows the same columns before a run as the
materializations do after it (`dagster/column_schema`; a test compares the two).
"""

from collections.abc import Iterable

import dagster as dg

from attent_assets.storage import EVENT_LAKE_SCHEMA, Column
from attent_assets.storage.layout import SQL_TYPES
from attent_assets.sync import LAYOUT

#: `SQL_TYPES` as DuckDB names them in `duckdb_columns()`.
_REPORTED = {**SQL_TYPES, "timestamp": "TIMESTAMP WITH TIME ZONE"}

_LEAD_FIRST = [dg.TableColumn("id", "VARCHAR", description="Lead id (the room id of its events).")]
_SYNC_COLUMNS = [
    dg.TableColumn("synced_at", _REPORTED["timestamp"], description="When the sync stored it."),
    dg.TableColumn("run_id", "VARCHAR", description="The Dagster run that stored it."),
]
_EVENT_ENVELOPE = [
    dg.TableColumn("type", "VARCHAR", description="Event type as the API names it."),
    dg.TableColumn("id", "VARCHAR", description="Event id, unique within its type."),
    dg.TableColumn("room_id", "VARCHAR", description="The lead the event belongs to."),
    dg.TableColumn("org_id", "VARCHAR"),
    dg.TableColumn("timestamp", _REPORTED["timestamp"], description="When it happened (UTC)."),
    dg.TableColumn("updated_at", _REPORTED["timestamp"], description="Version: newest kept."),
    dg.TableColumn("data", "JSON", description="The event's payload exactly as received."),
]


def _typed(columns: Iterable[Column]) -> list[dg.TableColumn]:
    return [dg.TableColumn(c.name, _REPORTED[c.kind]) for c in columns]


def table_schema(table: str) -> dg.TableSchema:
    """The columns of `attent.<table>` (leads or an event table)."""
    if table == "leads":
        columns = [
            *_LEAD_FIRST,
            *_typed(LAYOUT.lead_columns),
            dg.TableColumn("updated_at", _REPORTED["timestamp"], description="Version."),
            dg.TableColumn("raw", "JSON", description="The lead exactly as received."),
            *_SYNC_COLUMNS,
        ]
    else:
        columns = [
            *_EVENT_ENVELOPE,
            *_typed(LAYOUT.event_table(table).columns),
            *_SYNC_COLUMNS,
        ]
    return dg.TableSchema(columns=columns)


def lake_event_schema() -> dg.TableSchema:
    """The columns of the raw event lake's Parquet files."""
    return dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type)) for f in EVENT_LAKE_SCHEMA])
