"""The DuckDB schema: user tables in `attent`, sync state in `attent_state`.

`ensure_schema` is idempotent and runs on every read-write open. When a newer Layout adds a typed
column, the column is added and filled from the JSON already stored, so old rows are not left NULL.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from attent_assets.storage.layout import SQL_TYPES, Column, Layout
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

LAKE_FILES_SEQUENCE = f"{ident(STATE_SCHEMA)}.{ident('lake_files_seq')}"


def _column_defs(columns: Sequence[Column]) -> list[str]:
    return [f"{ident(c.name)} {SQL_TYPES[c.kind]}" for c in columns]


def _leads_ddl(layout: Layout) -> str:
    columns = [
        '"id" VARCHAR PRIMARY KEY',
        *_column_defs(layout.lead_columns),
        '"updated_at" TIMESTAMPTZ NOT NULL',
        '"raw" JSON',
        '"synced_at" TIMESTAMPTZ',
        '"run_id" VARCHAR',
    ]
    return f"CREATE TABLE IF NOT EXISTS {user_table('leads')} ({', '.join(columns)})"


def _event_table_ddl(name: str, columns: Sequence[Column]) -> str:
    defs = [
        '"type" VARCHAR NOT NULL',
        '"id" VARCHAR NOT NULL',
        '"room_id" VARCHAR',
        '"org_id" VARCHAR',
        '"timestamp" TIMESTAMPTZ',
        '"updated_at" TIMESTAMPTZ NOT NULL',
        '"data" JSON',
        *_column_defs(columns),
        '"synced_at" TIMESTAMPTZ',
        '"run_id" VARCHAR',
        'PRIMARY KEY ("type", "id")',
    ]
    return f"CREATE TABLE IF NOT EXISTS {user_table(name)} ({', '.join(defs)})"


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


def ensure_schema(con: duckdb.DuckDBPyConnection, layout: Layout) -> None:
    with transaction(con):
        for schema in (USER_SCHEMA, STATE_SCHEMA):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
        con.execute(_leads_ddl(layout))
        for table in layout.event_tables:
            con.execute(_event_table_ddl(table.name, table.columns))
        for statement in _fixed_ddl():
            con.execute(statement)
        _add_missing_columns(con, "leads", "raw", layout.lead_columns)
        for table in layout.event_tables:
            _add_missing_columns(con, table.name, "data", table.columns)
