"""Reading the lake's manifest (`attent_state.lake_files`): which committed files a merge reads."""

from __future__ import annotations

import logging
from datetime import date

import duckdb

from attent_assets.storage.lake import Lake
from attent_assets.storage.layout import LakeKind
from attent_assets.storage.sql import state_table

log = logging.getLogger(__name__)

FILES = state_table("lake_files")
#: A `seq` above every file's: "up to the newest file".
ALL_FILES = 2**62


def committed_files(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    kind: LakeKind,
    since: int,
    until: int,
    replay_from: date | None,
) -> list[tuple[str, int]]:
    """Where DuckDB reads the committed files of `kind` with seq in (since, until], plus, for a
    replay, every committed file of a day on or after `replay_from` (so rows deleted from a table
    come back); with the number of rows each holds, in commit order. A compacted file counts as
    new only while it covers a file committed after `since` (compaction.py)."""
    listed = con.execute(
        f"""SELECT path, rows FROM {FILES}
        WHERE kind = ? AND seq <= ? AND (coalesce(covers_seq, seq) > ? OR date >= ?)
        ORDER BY seq""",
        [kind, until, since, replay_from],
    ).fetchall()
    missing = lake.missing([path for path, _ in listed])
    for path in sorted(missing):
        log.error("committed lake file %s is missing; its rows cannot be merged", path)
    return [(lake.url(path), rows) for path, rows in listed if path not in missing]
