"""SQL text built from code-owned names, and helpers for running statements safely.

Only names from the Layout (validated there) and fixed words reach SQL text; every value (ids, type
names, timestamps, file paths) travels as a parameter or inside a registered Arrow table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

import duckdb

from attent_assets.storage.layout import SQL_TYPES, Column, ColumnKind
from attent_assets.values import ACCEPTED_JSON_TYPES, TIMESTAMP_PATTERN

USER_SCHEMA = "attent"
STATE_SCHEMA = "attent_state"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def user_table(name: str) -> str:
    return f"{ident(USER_SCHEMA)}.{ident(name)}"


def state_table(name: str) -> str:
    return f"{ident(STATE_SCHEMA)}.{ident(name)}"


def json_path(path: Sequence[str]) -> str:
    return "$" + "".join(f'."{key}"' for key in path)


def json_document(text_sql: str) -> str:
    """The text as JSON; text DuckDB cannot parse (e.g. a lone surrogate escape) becomes a JSON
    string holding it, so the row is still stored and the warehouse never fails on it."""
    return f"coalesce(try_cast({text_sql} AS JSON), to_json({text_sql}))"


def non_null_json(value_sql: str) -> str:
    """A JSON value, with JSON `null` folded into SQL NULL ("no value" has one spelling)."""
    return f"CASE WHEN json_type({value_sql}) <> 'NULL' THEN {value_sql} END"


def extract_all(doc_sql: str, columns: Sequence[Column]) -> str:
    """One json_extract over all paths, so the document is parsed once per row (a JSON list)."""
    paths = ", ".join(literal(json_path(column.path)) for column in columns)
    return f"json_extract({doc_sql}, [{paths}])"


def typed_value(value_sql: str, kind: ColumnKind) -> str:
    """The extracted JSON value as `kind`'s SQL type, by the rules of values.py: NULL when it
    has another JSON type (or, for a timestamp, another spelling)."""
    if kind == "json":
        return non_null_json(value_sql)
    json_type = f"json_type({value_sql})"
    text = f"json_extract_string({value_sql}, '$')"
    accepted = ", ".join(literal(t) for t in ACCEPTED_JSON_TYPES[kind])
    value = f"try_cast({text} AS {SQL_TYPES[kind]})"
    when = f"{json_type} IN ({accepted})"
    if kind == "int":
        # A float with no fraction is the same integer (12.0 is 12).
        whole = f"try_cast({text} AS DOUBLE)"
        when = f"({when} OR ({json_type} = 'DOUBLE' AND {whole} = trunc({whole})))"
    elif kind == "timestamp":
        when = f"{when} AND regexp_full_match({text}, {literal(TIMESTAMP_PATTERN)})"
    return f"CASE WHEN {when} THEN {value} END"


def typed_columns(values_sql: str, columns: Sequence[Column]) -> list[str]:
    """`typed AS "name"` for each column, reading position i of an extract_all list."""
    return [
        f"{typed_value(f'{values_sql}[{i}]', column.kind)} AS {ident(column.name)}"
        for i, column in enumerate(columns, start=1)
    ]


def scalar(con: duckdb.DuckDBPyConnection, query: str, params: object = None) -> Any:
    """The first column of the first row, draining the result so the connection stays usable."""
    rows = con.execute(query, params).fetchall()
    return rows[0][0] if rows else None


def as_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def require_aware(value: datetime | None, what: str) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: object) -> Iterator[str]:
    """Expose an Arrow table to SQL under `name` for the duration of the block."""
    con.register(name, table)
    try:
        yield name
    except BaseException:
        # Inside an aborted transaction DuckDB refuses to unregister; the rollback that follows
        # drops a view registered in the transaction anyway. Keep the original error visible.
        with suppress(duckdb.Error):
            con.unregister(name)
        raise
    con.unregister(name)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN … COMMIT; any exception (even KeyboardInterrupt) rolls back and propagates.

    After a failed statement DuckDB keeps the transaction open but aborted, and a COMMIT then
    silently rolls back: an explicit ROLLBACK is what makes the failure unambiguous.
    """
    con.begin()
    try:
        yield
    except BaseException:
        # A failing ROLLBACK (broken connection) must not hide the error that caused it; the
        # connection is closed by Store.open anyway, which discards the transaction.
        with suppress(duckdb.Error):
            con.rollback()
        raise
    con.commit()


def monotone_upsert(table: str, columns: Sequence[str], keys: Sequence[str], select: str) -> str:
    """INSERT … ON CONFLICT that only ever replaces a row by one with a larger `updated_at`.

    Replaying versions in any order converges on the newest; `select` must yield one row per key.
    """
    updates = ", ".join(f"{ident(c)} = excluded.{ident(c)}" for c in columns if c not in keys)
    return (
        f"INSERT INTO {table} AS target ({', '.join(map(ident, columns))}) {select} "
        f"ON CONFLICT ({', '.join(map(ident, keys))}) DO UPDATE SET {updates} "
        "WHERE excluded.updated_at > target.updated_at"
    )
