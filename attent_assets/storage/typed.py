"""The typed event tables: the current version of each event, merged from committed lake files.

Typed values are extracted in SQL from the JSON kept with every row (projection.py), so a field
with an unexpected JSON type becomes NULL (the raw JSON still has it) and a layout change can be
re-derived later. The tables are fed from committed lake files only, so they can always be rebuilt
from the lake.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

import duckdb

from attent_assets.storage.lake import EVENT_LAKE_SCHEMA, Lake
from attent_assets.storage.layout import EventTable, Layout
from attent_assets.storage.manifest import FILES, committed_files
from attent_assets.storage.projection import from_lake, upsert, with_typed
from attent_assets.storage.records import MergeResult
from attent_assets.storage.sql import (
    ident,
    literal,
    scalar,
    state_table,
    transaction,
    user_table,
)

_PENDING = "_attent_pending"
_NEWEST = "_attent_newest"
_PROGRESS = state_table("typed_progress")
#: Lake rows a typed merge reads, stages and commits at once. DuckDB holds a transaction's changes
#: in memory until it commits, so merging in chunks keeps the memory of a first full sync (or any
#: replay) flat however many events the lake holds.
MERGE_CHUNK_ROWS = 100_000


def routing(layout: Layout, table: EventTable) -> str:
    """A WHERE clause on `type` selecting the events `table` holds (self-contained, so a view
    can hold it too)."""
    if table.event_type is not None:
        return f"type = {literal(table.event_type)}"
    claimed = ", ".join(literal(t) for t in layout.claimed_types)
    return f"NOT list_contains([{claimed}]::VARCHAR[], type)"


def _row_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(scalar(con, f"SELECT count(*) FROM {user_table(table)}"))


def _upsert_pending(con: duckdb.DuckDBPyConnection, layout: Layout, table: EventTable) -> int:
    """Merge the staged versions of `table`'s types; returns the rows inserted or replaced."""
    fixed = from_lake(f"(SELECT * FROM {_PENDING} WHERE {routing(layout, table)})", "events")
    select = with_typed(fixed, "events", table.columns)
    return int(scalar(con, upsert(table.name, "events", table.columns, select)))


def _chunks(files: list[tuple[str, int]]) -> list[list[str]]:
    """Consecutive files of about `MERGE_CHUNK_ROWS` rows together (a larger file alone)."""
    chunks: list[list[str]] = []
    rows = MERGE_CHUNK_ROWS
    for path, count in files:
        if rows + count > MERGE_CHUNK_ROWS:
            chunks.append([])
            rows = 0
        chunks[-1].append(path)
        rows += count
    return chunks


def _locate_newest(con: duckdb.DuckDBPyConnection, files: list[str]) -> None:
    """Stage where the newest version of each key is (file and row), reading only the key and
    version columns of the files, so each version merged is the only one of its key."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_NEWEST} AS
        SELECT filename, file_row_number
        FROM read_parquet(?, union_by_name = true, filename = true, file_row_number = true)
        QUALIFY row_number()
            OVER (PARTITION BY type, id ORDER BY updated_at DESC, synced_at DESC) = 1""",
        [files],
    ).fetchall()


def _load_pending(con: duckdb.DuckDBPyConnection, chunk: list[str]) -> None:
    """Stage the newest versions found in the files of `chunk`."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_PENDING} AS
        SELECT {", ".join(f"f.{ident(name)}" for name in EVENT_LAKE_SCHEMA.names)}
        FROM read_parquet(?, union_by_name = true, filename = true, file_row_number = true) f
        JOIN {_NEWEST} n ON n.filename = f.filename AND n.file_row_number = f.file_row_number""",
        [chunk],
    ).fetchall()


def _merge_group(
    con: duckdb.DuckDBPyConnection,
    layout: Layout,
    group: Sequence[EventTable],
    files: list[tuple[str, int]],
) -> list[MergeResult]:
    """Merge `files` into every table of `group`, one transaction per chunk of files."""
    before = {table.name: _row_count(con, table.name) for table in group}
    changed = dict.fromkeys(before, 0)
    if files:
        _locate_newest(con, [path for path, _ in files])
    for chunk in _chunks(files):
        with transaction(con):
            _load_pending(con, chunk)
            for table in group:
                changed[table.name] += _upsert_pending(con, layout, table)
    for temporary in (_PENDING, _NEWEST):
        con.execute(f"DROP TABLE IF EXISTS temp.{temporary}").fetchall()
    results = []
    for table in group:
        after = _row_count(con, table.name)
        new = after - before[table.name]
        results.append(
            MergeResult(table=table.name, new=new, updated=changed[table.name] - new, rows=after)
        )
    return results


def merge_typed(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    layout: Layout,
    tables: Collection[str] | None,
    replay_from: date | None = None,
) -> list[MergeResult]:
    """Merge event files committed since each table's progress mark (and, for a replay, every
    file from `replay_from` on), then move the marks.

    Tables usually share one mark, so each distinct mark reads its files into a temporary table
    (inside DuckDB, never in Python) that every table of the group is fed from, in chunks of
    about `MERGE_CHUNK_ROWS` rows that each commit on their own; only the newest version of each
    key is staged, wherever it lies. A merge interrupted between chunks leaves its marks where
    they were: the next merge applies the same monotone upserts again, which changes nothing
    already merged.
    """
    selected = (
        list(layout.event_tables) if tables is None else [layout.event_table(n) for n in tables]
    )
    progress = dict(con.execute(f"SELECT table_name, last_seq FROM {_PROGRESS}").fetchall())
    until = int(scalar(con, f"SELECT coalesce(max(seq), 0) FROM {FILES} WHERE kind = 'events'"))
    groups: dict[int, list[EventTable]] = {}
    for table in selected:
        groups.setdefault(progress.get(table.name, 0), []).append(table)
    results: dict[str, MergeResult] = {}
    for since, group in groups.items():
        files = []
        if since < until or replay_from is not None:
            files = committed_files(con, lake, "events", since, until, replay_from)
        results.update((r.table, r) for r in _merge_group(con, layout, group, files))
    con.execute(
        f"""INSERT INTO {_PROGRESS} AS p SELECT unnest(?::VARCHAR[]), ?
        ON CONFLICT (table_name) DO UPDATE
        SET last_seq = greatest(p.last_seq, excluded.last_seq)""",
        [[table.name for table in selected], until],
    ).fetchall()
    return [results[table.name] for table in selected]
