"""Column schemas of the warehouse tables and the raw event lake, known before the first run.

They come from the schema declaration (sync/schema.py, storage/layout.py) in the warehouse's column
order, with the type names DuckDB reports, so the catalog shows the same columns before a run as
the materializations do after it (`dagster/column_schema`; a test compares the two).
"""

import dagster as dg

from attent_assets.storage import EVENT_LAKE_SCHEMA
from attent_assets.sync import LAYOUT

#: SQL types as DuckDB names them in `duckdb_columns()`.
_REPORTED = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


def table_schema(table: str) -> dg.TableSchema:
    """The columns of `attent.<table>` (leads or an event table)."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                c.name, _REPORTED.get(c.sql_type, c.sql_type), description=c.description or None
            )
            for c in LAYOUT.table_columns(table)
        ]
    )


def lake_event_schema() -> dg.TableSchema:
    """The columns of the raw event lake's Parquet files."""
    return dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type)) for f in EVENT_LAKE_SCHEMA])
