"""Lake compaction: many small files of a day become a few large ones, with no operator action.

Every sync adds files per day it touches (a sensor run every minute adds 1-3 to today's folder),
and readers, the audit and recovery all slow down with the file count. After its writes, a run
merges the small files of

- each closed day (before today, UTC) once it holds `CompactionPolicy.closed_day_files` of them,
- today's still-open folder once it holds `CompactionPolicy.open_day_files` of them,

into files of up to `CompactionPolicy.target_bytes`, in the manifest's commit order. Versions are
copied, never deduplicated or rewritten: the lake held each `(key, updated_at)` once before and
holds it once after (rows are counted and must match before anything is committed).

Crash safety comes from the lake's `DayRewrite`: the merged files are staged where readers do not
look, one DuckDB transaction replaces the merged files' manifest rows by the new files' rows, then
the rewrite is finished (local_lake.py exchanges the day's folder atomically; object_lake.py copies
the merged files in, then deletes the replaced ones); `Lake.recover` finishes or discards a
rewrite a killed run left.

Event files are merged only once every typed table has merged them (their `seq` is at or below
every table's progress mark), and a merged file records the newest `seq` it covers
(`covers_seq`), so typed merges skip it instead of merging a whole day again.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from attent_assets.storage.lake import LAKE_SCHEMAS, DayRewrite, Lake, manifest_rows
from attent_assets.storage.layout import LakeKind, Layout
from attent_assets.storage.sql import registered, scalar, state_table, transaction

log = logging.getLogger(__name__)

_FILES = state_table("lake_files")
_PROGRESS = state_table("typed_progress")
_MIB = 2**20


@dataclass(frozen=True, slots=True)
class CompactionPolicy:
    """When a day's files are merged, and how large the merged files get."""

    #: Merged files are cut at about this size (compressed Parquet).
    target_bytes: int = 128 * _MIB
    #: Files smaller than this are merged; larger ones are kept as they are.
    small_bytes: int = 32 * _MIB
    #: A closed day is merged once it holds this many small files. A backfill writes one file per
    #: day per commit (sync/held.py), usually one or two: a few files cost readers less than
    #: rewriting every day of a year would cost the sync.
    closed_day_files: int = 4
    #: Today's folder is merged once it holds this many small files.
    open_day_files: int = 20
    #: Days swapped per manifest transaction.
    days_per_commit: int = 64


@dataclass(frozen=True, slots=True)
class _Input:
    path: str
    seq: int
    rows: int
    bytes: int


@dataclass(frozen=True, slots=True)
class _Day:
    kind: LakeKind
    day: date
    inputs: list[_Input]
    keep: list[str]


@dataclass(slots=True)
class CompactionReport:
    """What one compaction did: day folders merged, their files before and after, the rows
    copied, and the bytes those days hold after."""

    days: int = 0
    files_before: int = 0
    files_after: int = 0
    rows: int = 0
    bytes_after: int = 0


def compact(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    layout: Layout,
    run_id: str,
    today: date,
    policy: CompactionPolicy,
) -> CompactionReport:
    """Merge the small files of every day the policy picks; reads only the manifest to choose."""
    report = CompactionReport()
    lake.sweep_retired()
    days = [day for day in _plan(con, layout, today, policy) if _intact(lake, day)]
    if not days or not lake.can_compact():
        return report
    for start in range(0, len(days), policy.days_per_commit):
        _compact_group(con, lake, run_id, days[start : start + policy.days_per_commit], policy)
    for day in days:
        report.days += 1
        report.files_before += len(day.inputs) + len(day.keep)
        report.rows += sum(i.rows for i in day.inputs)
    report.files_after, report.bytes_after = _files_and_bytes(con, days)
    log.info(
        "lake compaction: %d day folder(s), %d files -> %d",
        report.days,
        report.files_before,
        report.files_after,
    )
    return report


def _merged_through(con: duckdb.DuckDBPyConnection, layout: Layout) -> int:
    """The newest event file `seq` every typed table has merged (0 while one has none)."""
    names = [table.name for table in layout.event_tables]
    marks = dict(
        con.execute(
            f"SELECT table_name, last_seq FROM {_PROGRESS} WHERE list_contains(?, table_name)",
            [names],
        ).fetchall()
    )
    return min((int(marks.get(name, 0)) for name in names), default=0)


def _plan(
    con: duckdb.DuckDBPyConnection, layout: Layout, today: date, policy: CompactionPolicy
) -> list[_Day]:
    rows = con.execute(
        f"""SELECT kind, date, path, seq, rows, coalesce(bytes, 0) FROM {_FILES}
        WHERE coalesce(bytes, 0) < ? AND (kind = 'leads' OR seq <= ?)
        ORDER BY kind, date, seq""",
        [policy.small_bytes, _merged_through(con, layout)],
    ).fetchall()
    small: dict[tuple[LakeKind, date], list[_Input]] = defaultdict(list)
    for kind, day, path, seq, count, size in rows:
        small[(kind, day)].append(_Input(path, seq, count, size))
    chosen = [
        key
        for key, inputs in small.items()
        if len(inputs) >= (policy.closed_day_files if key[1] < today else policy.open_day_files)
    ]
    if not chosen:
        return []
    everything: dict[tuple[LakeKind, date], list[str]] = defaultdict(list)
    listed = con.execute(
        f"""SELECT kind, date, path FROM {_FILES}
        WHERE list_contains(?, kind || '/' || CAST(date AS VARCHAR)) ORDER BY seq""",
        [[f"{kind}/{day.isoformat()}" for kind, day in chosen]],
    ).fetchall()
    for kind, day, path in listed:
        everything[(kind, day)].append(path)
    days = []
    for kind, day in chosen:
        inputs = small[(kind, day)]
        merged = {i.path for i in inputs}
        keep = [path for path in everything[(kind, day)] if path not in merged]
        days.append(_Day(kind, day, inputs, keep))
    return days


def _intact(lake: Lake, day: _Day) -> bool:
    """Whether every file the manifest lists for the day is there; a day with a missing file is
    left alone (the audit's lake_matches_manifest reports it) rather than failing every run."""
    missing = sorted(lake.missing([*(i.path for i in day.inputs), *day.keep]))
    if missing:
        log.error("lake compaction skips %s/%s: %s is missing", day.kind, day.day, missing[0])
    return not missing


def _compact_group(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    run_id: str,
    days: list[_Day],
    policy: CompactionPolicy,
) -> None:
    """Stage every day of the group, commit them in one transaction, then finish them."""
    rewrites: list[tuple[DayRewrite, int]] = []
    try:
        for day in days:
            rewrite = lake.rewrite(day.kind, day.day, day.keep)
            rewrites.append((rewrite, max(i.seq for i in day.inputs)))
            _write_merged(lake, rewrite, day, run_id, policy)
            rewrite.seal([i.path for i in day.inputs])
        outputs = [(f, covers) for rewrite, covers in rewrites for f in rewrite.files]
        manifest = manifest_rows([f for f, _ in outputs]).append_column(
            "covers_seq", pa.array([c for _, c in outputs], pa.int64())
        )
        merged = [i.path for day in days for i in day.inputs]
        with transaction(con), registered(con, "_attent_compacted", manifest) as staged:
            listed = scalar(
                con, f"SELECT count(*) FROM {_FILES} WHERE list_contains(?, path)", [merged]
            )
            if listed != len(merged):
                raise RuntimeError(f"compaction planned {len(merged)} files; {listed} are listed")
            con.execute(f"DELETE FROM {_FILES} WHERE list_contains(?, path)", [merged]).fetchall()
            con.execute(
                f"""INSERT INTO {_FILES}
                    (path, kind, date, rows, bytes, covers_seq, run_id, committed_at)
                SELECT path, kind, date, rows, bytes, covers_seq, ?, now() FROM {staged}""",
                [run_id],
            ).fetchall()
    except BaseException:
        for rewrite, _ in rewrites:
            rewrite.discard()
        raise
    for rewrite, _ in rewrites:
        rewrite.finish()


def _write_merged(
    lake: Lake, rewrite: DayRewrite, day: _Day, run_id: str, policy: CompactionPolicy
) -> None:
    """Copy the day's small files, in commit order, into files of up to the target size."""
    schema = LAKE_SCHEMAS[day.kind]
    for group in _by_size(day.inputs, policy.target_bytes):
        name = f"{run_id}-{uuid.uuid4().hex}.parquet"
        rows = 0
        with rewrite.sink(name) as sink, pq.ParquetWriter(sink, schema, compression="zstd") as out:
            for item in group:
                table = lake.read(item.path).select(schema.names).cast(schema)
                out.write_table(table)
                rows += table.num_rows
        expected = sum(i.rows for i in group)
        if rows != expected:
            raise RuntimeError(f"compaction of {day.kind}/{day.day} read {rows} rows of {expected}")
        rewrite.add(name, rows)


def _by_size(inputs: list[_Input], target: int) -> Iterator[list[_Input]]:
    group: list[_Input] = []
    size = 0
    for item in inputs:
        if group and size + item.bytes > target:
            yield group
            group, size = [], 0
        group.append(item)
        size += item.bytes
    if group:
        yield group


def _files_and_bytes(con: duckdb.DuckDBPyConnection, days: list[_Day]) -> tuple[int, int]:
    keys = [f"{d.kind}/{d.day.isoformat()}" for d in days]
    rows = con.execute(
        f"""SELECT count(*), coalesce(sum(bytes), 0) FROM {_FILES}
        WHERE list_contains(?, kind || '/' || CAST(date AS VARCHAR))""",
        [keys],
    ).fetchall()
    return int(rows[0][0]), int(rows[0][1])
