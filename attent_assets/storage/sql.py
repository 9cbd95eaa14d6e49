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

USER_SCHEMA = "attent"
STATE_SCHEMA = "attent_state"

# JSON value types (as json_type names them) accepted for each kind: any other type is a wrong
# type and becomes NULL instead of being coerced ("12" is not an int, true is not a string).
_ACCEPTED_JSON_TYPES: dict[ColumnKind, tuple[str, ...]] = {
    "text": ("VARCHAR",),
    "bool": ("BOOLEAN",),
    "int": ("BIGINT", "UBIGINT"),
    "float": ("BIGINT", "UBIGINT", "DOUBLE"),
    "timestamp": ("VARCHAR",),
}


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
    """The extracted JSON value as `kind`'s SQL type, NULL when it has the wrong JSON type."""
    if kind == "json":
        return non_null_json(value_sql)
    accepted = ", ".join(literal(t) for t in _ACCEPTED_JSON_TYPES[kind])
    text = f"json_extract_string({value_sql}, '$')"
    return (
        f"CASE WHEN json_type({value_sql}) IN ({accepted}) "
        f"THEN try_cast({text} AS {SQL_TYPES[kind]}) END"
    )


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
