"""The DuckDB schema (DDL): user tables in `attent`, sync state in `attent_state`.

`ensure_schema` is idempotent and runs on every read-write open, and brings a warehouse written by
an older declaration (sync/schema.py) up to the current one: a new typed column is added and filled
from the JSON already stored, so old rows are not left NULL; a type that got a table of its own
has its rows moved out of the catch-all.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from attent_assets.storage.layout import (
    KEYS,
    SQL_TYPES,
    Column,
    EventTable,
    LakeKind,
    Layout,
    TableColumn,
    fixed_columns,
)
from attent_assets.storage.projection import upsert, with_typed
from attent_assets.storage.sql import (
    STATE_SCHEMA,
    USER_SCHEMA,
    ident,
    json_path,
    literal,
    state_table,
    transaction,
    typed_value,
    user_table,
)

_PROGRESS = state_table("typed_progress")
LAKE_FILES_SEQUENCE = f"{ident(STATE_SCHEMA)}.{ident('lake_files_seq')}"


def _table_ddl(name: str, kind: LakeKind, columns: Sequence[TableColumn]) -> str:
    defs = [f"{ident(c.name)} {c.sql_type}{' NOT NULL' if c.required else ''}" for c in columns]
    keys = ", ".join(map(ident, KEYS[kind]))
    return (
        f"CREATE TABLE IF NOT EXISTS {user_table(name)} ({', '.join(defs)}, PRIMARY KEY ({keys}))"
    )


def _fixed_ddl() -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS {user_table("quarantine")} (
            "kind" VARCHAR, "lead_id" VARCHAR, "reasons" VARCHAR[], "raw" JSON,
            "record_hash" VARCHAR PRIMARY KEY, "first_seen_at" TIMESTAMPTZ, "run_id" VARCHAR)""",
        f"CREATE SEQUENCE IF NOT EXISTS {LAKE_FILES_SEQUENCE}",
        f"""CREATE TABLE IF NOT EXISTS {state_table("lake_files")} (
            "seq" BIGINT PRIMARY KEY DEFAULT nextval({literal(f"{STATE_SCHEMA}.lake_files_seq")}),
            "path" VARCHAR NOT NULL UNIQUE, "kind" VARCHAR NOT NULL, "date" DATE NOT NULL,
            "rows" BIGINT NOT NULL, "run_id" VARCHAR, "committed_at" TIMESTAMPTZ NOT NULL,
            "bytes" BIGINT, "covers_seq" BIGINT)""",
        # Manifests written before compaction existed: a NULL size counts as a small file.
        f'ALTER TABLE {state_table("lake_files")} ADD COLUMN IF NOT EXISTS "bytes" BIGINT',
        f'ALTER TABLE {state_table("lake_files")} ADD COLUMN IF NOT EXISTS "covers_seq" BIGINT',
        f"""CREATE TABLE IF NOT EXISTS {state_table("lead_versions")} (
            "id" VARCHAR PRIMARY KEY, "updated_at" TIMESTAMPTZ NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {state_table("event_versions")} (
            "type" VARCHAR NOT NULL, "id" VARCHAR NOT NULL, "updated_at" TIMESTAMPTZ NOT NULL,
            PRIMARY KEY ("type", "id"))""",
        f"""CREATE TABLE IF NOT EXISTS {state_table("lead_cursors")} (
            "lead_id" VARCHAR PRIMARY KEY, "events_cursor" TIMESTAMPTZ,
            "activity_seen" TIMESTAMPTZ, "fetched_at" TIMESTAMPTZ)""",
        f"""CREATE TABLE IF NOT EXISTS {state_table("watermarks")} (
            "name" VARCHAR PRIMARY KEY, "value" TIMESTAMPTZ)""",
        f"""CREATE TABLE IF NOT EXISTS {state_table("typed_progress")} (
            "table_name" VARCHAR PRIMARY KEY, "last_seq" BIGINT NOT NULL)""",
    ]


def _add_missing_columns(
    con: duckdb.DuckDBPyConnection, table: str, doc: str, columns: Sequence[Column]
) -> None:
    existing = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = ? AND table_name = ?",
            [USER_SCHEMA, table],
        ).fetchall()
    }
    for column in columns:
        if column.name in existing:
            continue
        name = ident(column.name)
        con.execute(f"ALTER TABLE {user_table(table)} ADD COLUMN {name} {SQL_TYPES[column.kind]}")
        value = f"json_extract({ident(doc)}, {literal(json_path(column.path))})"
        con.execute(f"UPDATE {user_table(table)} SET {name} = {typed_value(value, column.kind)}")


def _copy_from_catch_all(
    con: duckdb.DuckDBPyConnection, catch_all: EventTable, table: EventTable
) -> None:
    """Merge the catch-all's rows of `table`'s type into `table`, typed from their `data`."""
    names = ", ".join(map(ident, fixed_columns("events")))
    fixed = f"SELECT {names} FROM {user_table(catch_all.name)} WHERE type = ?"
    select = with_typed(fixed, "events", table.columns)
    con.execute(upsert(table.name, "events", table.columns, select), [table.event_type]).fetchall()


def _promote_types(con: duckdb.DuckDBPyConnection, layout: Layout) -> None:
    """Move the rows of every type that now has a table of its own out of the catch-all (a
    warehouse written before the table was declared), so each `(type, id)` stays in one table.
    Runs in the schema's transaction: a process killed mid-move leaves the rows where they were,
    and the next open moves them. Only tables no merge has fed yet can be new, so an open of a
    warehouse whose tables have all been merged reads nothing of the catch-all (every sync run
    opens the store)."""
    catch_all = layout.catch_all
    merged = {name for (name,) in con.execute(f"SELECT table_name FROM {_PROGRESS}").fetchall()}
    new_types = [t.event_type for t in layout.event_tables if t.event_type and t.name not in merged]
    if catch_all is None or not new_types:
        return
    found = con.execute(
        f"SELECT DISTINCT type FROM {user_table(catch_all.name)} WHERE list_contains(?, type)",
        [new_types],
    ).fetchall()
    for (event_type,) in found:
        table = next(t for t in layout.event_tables if t.event_type == event_type)
        _copy_from_catch_all(con, catch_all, table)
        con.execute(
            f"DELETE FROM {user_table(catch_all.name)} WHERE type = ?", [event_type]
        ).fetchall()


def ensure_schema(con: duckdb.DuckDBPyConnection, layout: Layout) -> None:
    with transaction(con):
        for schema in (USER_SCHEMA, STATE_SCHEMA):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
        con.execute(_table_ddl("leads", "leads", layout.lead_table_columns()))
        for table in layout.event_tables:
            con.execute(_table_ddl(table.name, "events", layout.event_table_columns(table)))
        for statement in _fixed_ddl():
            con.execute(statement)
        _add_missing_columns(con, "leads", "raw", layout.lead_columns)
        for table in layout.event_tables:
            _add_missing_columns(con, table.name, "data", table.columns)
        _promote_types(con, layout)
