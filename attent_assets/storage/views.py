"""The readers' database: `<data_dir>/views.duckdb`, views over the committed lake that give each
warehouse table's current state, for notebooks and BI tools that keep a connection open all day.

Why a second file: DuckDB lets one process write a database file, and only while no other process
has it open; a reader that stays connected to warehouse.duckdb stops every sync. views.duckdb holds
no data, only views (and empty tables giving the lake's columns), so the sync never needs to write
it while readers hold it: it is written whole under a temporary name and renamed into place, and
only when its definition changes (the schema declaration or the lake's path). A reader connected
to the replaced file keeps the old views, which read the same lake.

What a view shows: the lake's committed files only (pending ones live under `_staging/`, which its
pattern does not match), the newest version of each key, routed and typed by the same declaration
and SQL as the warehouse's tables (projection.py). So it equals the
warehouse table as soon as the lake commit lands, before the typed merge of the same run. Every
query reads all the kind's files: it costs what the lake holds, where the warehouse costs what the
query reads. On object storage a reader registers the store's filesystem first (README).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import pyarrow as pa

from attent_assets.storage.lake import LAKE_SCHEMAS, Lake
from attent_assets.storage.layout import KEYS, LakeKind, Layout
from attent_assets.storage.projection import from_lake, with_typed
from attent_assets.storage.sql import USER_SCHEMA, ident, literal, user_table
from attent_assets.storage.typed import routing

VIEWS_FILE = "views.duckdb"
#: Empty tables with the lake's columns: a view over a lake with no file yet still has them.
_SHAPES = "attent_lake"
_DEFINITION = f"{ident(_SHAPES)}.{ident('definition')}"
#: The order in which a key's versions are ranked, newest first (as in the typed merge).
_NEWEST_FIRST = {"leads": "updated_at DESC", "events": "updated_at DESC, synced_at DESC"}


def _lake_rows(lake: Lake, kind: LakeKind) -> str:
    """Every committed row of `kind`: its files' rows, over the empty table of its columns."""
    pattern = literal(lake.pattern(kind))
    files = (
        f"read_parquet({pattern}, union_by_name = true, hive_partitioning = false, "
        "allow_empty = true)"
    )
    return f"(SELECT * FROM {ident(_SHAPES)}.{ident(kind)} UNION ALL BY NAME SELECT * FROM {files})"


def _newest(source: str, kind: LakeKind, where: str = "TRUE") -> str:
    keys = ", ".join(map(ident, KEYS[kind]))
    return f"""(SELECT * FROM {source} WHERE {where}
        QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {_NEWEST_FIRST[kind]}) = 1)"""


def _view(layout: Layout, name: str, select: str) -> str:
    """CREATE VIEW `name` with the warehouse table's columns, in its order and types."""
    columns = ", ".join(
        f"CAST({ident(c.name)} AS {c.sql_type}) AS {ident(c.name)}"
        for c in layout.table_columns(name)
    )
    return f"CREATE VIEW {user_table(name)} AS SELECT {columns} FROM ({select})"


def view_statements(lake: Lake, layout: Layout) -> list[str]:
    """The CREATE VIEW of every user table (`attent.leads` and each event table)."""
    newest_leads = _newest(_lake_rows(lake, "leads"), "leads")
    leads = with_typed(from_lake(newest_leads, "leads"), "leads", layout.lead_columns)
    statements = [_view(layout, "leads", leads)]
    events = _lake_rows(lake, "events")
    for table in layout.event_tables:
        newest = _newest(events, "events", routing(layout, table))
        select = with_typed(from_lake(newest, "events"), "events", table.columns)
        statements.append(_view(layout, table.name, select))
    return statements


def _current(path: Path) -> str | None:
    """The definition `path` was built from; None when it cannot be read (not ours, damaged, or
    opened read-write by some process: then it is replaced, which that process does not notice)."""
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            row = con.execute(f"SELECT sql FROM {_DEFINITION}").fetchone()
    except duckdb.Error:
        return None
    return None if row is None else str(row[0])


def ensure_views(data_dir: Path, lake: Lake, layout: Layout) -> bool:
    """Write `<data_dir>/views.duckdb` unless it already holds these views; True when written.

    Never opens an existing file for writing: a new one is built beside it and renamed over it,
    so readers holding the old one are neither blocked nor blocking. Called with the warehouse
    open read-write, so no other process is building one: what a killed build left is removed.
    """
    for leftover in data_dir.glob(f".{VIEWS_FILE}.*"):
        leftover.unlink(missing_ok=True)
    statements = view_statements(lake, layout)
    definition = ";\n".join(statements)
    target = data_dir / VIEWS_FILE
    if target.exists() and _current(target) == definition:
        return False
    building = target.with_name(f".{VIEWS_FILE}.{uuid.uuid4().hex}")
    try:
        with duckdb.connect(str(building)) as con:
            lake.register(con)  # a view is bound when created: it lists the lake once
            _build(con, statements, definition)
        building.replace(target)
    finally:
        building.unlink(missing_ok=True)
        building.with_name(building.name + ".wal").unlink(missing_ok=True)
    return True


def _build(con: duckdb.DuckDBPyConnection, statements: list[str], definition: str) -> None:
    con.execute(f"CREATE SCHEMA {ident(_SHAPES)}")
    con.execute(f"CREATE SCHEMA {ident(USER_SCHEMA)}")
    for kind, schema in LAKE_SCHEMAS.items():
        empty = pa.Table.from_batches([], schema=schema)
        con.register("_empty", empty)
        con.execute(f"CREATE TABLE {ident(_SHAPES)}.{ident(kind)} AS SELECT * FROM _empty")
        con.unregister("_empty")
    con.execute(f"CREATE TABLE {_DEFINITION} (sql VARCHAR)")
    con.execute(f"INSERT INTO {_DEFINITION} VALUES (?)", [definition])
    for statement in statements:
        con.execute(statement)
    con.execute("CHECKPOINT")
