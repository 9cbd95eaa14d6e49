"""Typed warehouse tables: the current version of each record, projected from its raw JSON.

Typed values are extracted in SQL from the JSON kept with every row, so a field with an unexpected
JSON type becomes NULL (the raw JSON still has it) and a layout change can be re-derived later.
Event tables are fed from committed lake files, so they can always be rebuilt from the lake.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import date

import duckdb

from attent_assets.storage.lake import Lake
from attent_assets.storage.layout import (
    EVENT_FIXED_COLUMNS,
    LEAD_FIXED_COLUMNS,
    Column,
    EventTable,
    Layout,
)
from attent_assets.storage.records import MergeResult
from attent_assets.storage.sql import (
    extract_all,
    ident,
    json_document,
    monotone_upsert,
    non_null_json,
    scalar,
    state_table,
    transaction,
    typed_columns,
    user_table,
)

log = logging.getLogger(__name__)

EVENT_KEY = ("type", "id")
_PENDING = "_attent_pending"
_NEWEST = "_attent_newest"
_PROGRESS = state_table("typed_progress")
_FILES = state_table("lake_files")
_MAX_SEQ = 2**62
_RESTORE = "_attent_restore"
#: Lake rows a typed merge reads, stages and commits at once. DuckDB holds a transaction's changes
#: in memory until it commits, so merging in chunks keeps the memory of a first full sync (or any
#: replay) flat however many events the lake holds.
MERGE_CHUNK_ROWS = 100_000


def _with_typed(inner: str, doc: str, base: Sequence[str], columns: Sequence[Column]) -> str:
    """SELECT `base` columns plus each typed column read from the JSON column `doc` of `inner`."""
    names = ", ".join(map(ident, base))
    if not columns:
        return f"SELECT {names} FROM ({inner})"
    typed = ", ".join(typed_columns("_vals", columns))
    values = extract_all(ident(doc), columns)
    return f"SELECT {names}, {typed} FROM (SELECT *, {values} AS _vals FROM ({inner}))"


def _insert_columns(base: Sequence[str], columns: Sequence[Column]) -> list[str]:
    return [*base, *(column.name for column in columns)]


def upsert_leads(con: duckdb.DuckDBPyConnection, layout: Layout, source: str) -> None:
    """Merge lake-schema lead rows from `source` into attent.leads, newest version per id."""
    inner = f"""SELECT id, updated_at, {json_document("raw")} AS raw, synced_at, run_id
        FROM {source} QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) = 1"""
    select = _with_typed(inner, "raw", LEAD_FIXED_COLUMNS, layout.lead_columns)
    columns = _insert_columns(LEAD_FIXED_COLUMNS, layout.lead_columns)
    con.execute(monotone_upsert(user_table("leads"), columns, ("id",), select)).fetchall()


def routing(layout: Layout, table: EventTable) -> tuple[str, list[object]]:
    """A WHERE clause on `type` selecting the events `table` holds, with its parameters."""
    if table.event_type is not None:
        return "type = ?", [table.event_type]
    return "NOT list_contains(?::VARCHAR[], type)", [list(layout.claimed_types)]


def _event_select(table: EventTable, where: str) -> str:
    envelope = 'type, id, room_id, org_id, "timestamp", updated_at'
    extracted = f"""SELECT {envelope}, json_extract({json_document("raw")}, '$.data') AS _data,
        synced_at, run_id FROM {_PENDING} WHERE {where}"""
    inner = f"""SELECT {envelope}, {non_null_json("_data")} AS data, synced_at, run_id
        FROM ({extracted})"""
    return _with_typed(inner, "data", EVENT_FIXED_COLUMNS, table.columns)


def _row_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(scalar(con, f"SELECT count(*) FROM {user_table(table)}"))


def _upsert_pending(con: duckdb.DuckDBPyConnection, layout: Layout, table: EventTable) -> int:
    """Merge the staged versions of `table`'s types; returns the rows inserted or replaced."""
    where, params = routing(layout, table)
    columns = _insert_columns(EVENT_FIXED_COLUMNS, table.columns)
    select = _event_select(table, where)
    upsert = monotone_upsert(user_table(table.name), columns, EVENT_KEY, select)
    return int(scalar(con, upsert, params))


def _committed_files(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    kind: str,
    since: int,
    until: int,
    replay_from: date | None,
) -> list[tuple[str, int]]:
    """Committed files of `kind` with seq in (since, until], plus, for a replay, every committed
    file of a day on or after `replay_from` (so rows deleted from a table come back); with the
    number of rows each holds, in commit order. A compacted file counts as new only while it
    covers a file committed after `since` (compaction.py)."""
    listed = con.execute(
        f"""SELECT path, rows FROM {_FILES}
        WHERE kind = ? AND seq <= ? AND (coalesce(covers_seq, seq) > ? OR date >= ?)
        ORDER BY seq""",
        [kind, until, since, replay_from],
    ).fetchall()
    files: list[tuple[str, int]] = []
    for path, rows in listed:
        if lake.path(path).is_file():
            files.append((str(lake.path(path)), rows))
        else:
            log.error("committed lake file %s is missing; its rows cannot be merged", path)
    return files


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


def restore_leads(
    con: duckdb.DuckDBPyConnection, lake: Lake, layout: Layout, replay_from: date
) -> None:
    """Merge every lead version in the lake from `replay_from` on back into attent.leads.

    Monotone, so only rows missing or older than the lake's newest version change: a replay
    repairs a table a user edited or emptied without re-reading anything from the API.
    """
    files = [path for path, _ in _committed_files(con, lake, "leads", 0, _MAX_SEQ, replay_from)]
    if not files:
        return
    with transaction(con):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_RESTORE} AS SELECT * FROM read_parquet(?)", [files]
        ).fetchall()
        upsert_leads(con, layout, f"temp.{_RESTORE}")
        con.execute(f"DROP TABLE temp.{_RESTORE}").fetchall()


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
        SELECT f.type, f.id, f.room_id, f.org_id, f."timestamp", f.updated_at, f.raw, f.synced_at,
            f.run_id
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
    until = int(scalar(con, f"SELECT coalesce(max(seq), 0) FROM {_FILES} WHERE kind = 'events'"))
    groups: dict[int, list[EventTable]] = {}
    for table in selected:
        groups.setdefault(progress.get(table.name, 0), []).append(table)
    results: dict[str, MergeResult] = {}
    for since, group in groups.items():
        files = []
        if since < until or replay_from is not None:
            files = _committed_files(con, lake, "events", since, until, replay_from)
        results.update((r.table, r) for r in _merge_group(con, layout, group, files))
    con.execute(
        f"""INSERT INTO {_PROGRESS} AS p SELECT unnest(?::VARCHAR[]), ?
        ON CONFLICT (table_name) DO UPDATE
        SET last_seq = greatest(p.last_seq, excluded.last_seq)""",
        [[table.name for table in selected], until],
    ).fetchall()
    return [results[table.name] for table in selected]
