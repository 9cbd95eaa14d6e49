"""The write protocol: a batch reaches the lake and the sync state together, or not at all.

1. Keep only versions newer than the stored one (the attent_state.lead_versions and
   event_versions indexes, which users never touch), one row per identical version (the last one
   received).
   Distinct newer versions of one key are all kept: the lake is the history of what was seen.
2. Write them to fsynced staged files (lake.py), one per UTC day.
3. One DuckDB transaction: manifest rows, the monotone merge and the caller's cursor or watermark.
4. Move the staged files to their final places.
A process killed before 3 commits leaves staged files that the next open deletes (nothing moved,
the batch is fetched again); killed after it, the next open finishes the moves. Either way the lake
holds each (key, updated_at) once and no cursor points past undurable data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from attent_assets.storage.lake import (
    LAKE_SCHEMAS,
    ROW_SCHEMAS,
    TIMESTAMP,
    Lake,
    LakeFile,
    conform,
    manifest_rows,
)
from attent_assets.storage.layout import KEYS, LakeKind
from attent_assets.storage.records import WriteResult
from attent_assets.storage.sql import (
    ident,
    registered,
    state_table,
    transaction,
)

_STORED_VERSIONS = {"leads": state_table("lead_versions"), "events": state_table("event_versions")}
_BATCH = "_attent_batch"
_FRESH = "_attent_fresh"
_ORDINAL = "_ord"
_IS_NEW = "_is_new"


def write(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    run_id: str,
    kind: LakeKind,
    rows: pa.Table,
    merge: Callable[[str], None],
    *,
    has_state: bool,
) -> WriteResult:
    """Run the protocol for a batch of `kind` rows. `merge(source)` runs inside the commit's
    transaction with the new versions registered as `source` (steps 1 and 3: the caller records
    versions and moves its cursor or watermark there); `has_state` commits even when no version
    is new (a cursor that moved over nothing new)."""
    batch = conform(rows, kind)
    fresh = _newer_versions(con, kind, batch)
    keys = list(KEYS[kind])
    is_new = fresh.column(_IS_NEW)
    new_keys = _distinct(fresh.filter(is_new), keys)
    updated_keys = _distinct(fresh.filter(pc.invert(is_new)), keys)
    files: list[LakeFile] = []
    if fresh.num_rows or has_state:
        files = _commit(con, lake, run_id, kind, _with_sync_columns(kind, fresh, run_id), merge)
    return WriteResult(
        rows_in=rows.num_rows,
        rows_written=fresh.num_rows,
        new_keys=new_keys,
        updated_keys=updated_keys,
        partitions={file.day: file.rows for file in files},
    )


def record_versions(con: duckdb.DuckDBPyConnection, kind: LakeKind, fresh: str) -> None:
    """Raise the lake's dedup index to the newest version written per key."""
    keys = ", ".join(ident(k) for k in KEYS[kind])
    con.execute(
        f"""INSERT INTO {_STORED_VERSIONS[kind]} AS target
        SELECT {keys}, max(updated_at) FROM {fresh} GROUP BY {keys}
        ON CONFLICT ({keys}) DO UPDATE SET updated_at = excluded.updated_at
        WHERE excluded.updated_at > target.updated_at"""
    ).fetchall()


def _newer_versions(con: duckdb.DuckDBPyConnection, kind: LakeKind, batch: pa.Table) -> pa.Table:
    keys = KEYS[kind]
    on = " AND ".join(f"s.{ident(k)} = b.{ident(k)}" for k in keys)
    by_version = ", ".join(f"b.{ident(k)}" for k in (*keys, "updated_at"))
    columns = ", ".join(f"b.{ident(name)}" for name in ROW_SCHEMAS[kind].names)
    numbered = batch.append_column(_ORDINAL, pa.array(range(batch.num_rows), pa.int64()))
    with registered(con, _BATCH, numbered):
        return con.sql(
            f"""SELECT {columns}, s.updated_at IS NULL AS {_IS_NEW}
            FROM {_BATCH} b LEFT JOIN {_STORED_VERSIONS[kind]} s ON {on}
            WHERE s.updated_at IS NULL OR b.updated_at > s.updated_at
            QUALIFY row_number()
                OVER (PARTITION BY {by_version} ORDER BY b.{_ORDINAL} DESC) = 1"""
        ).to_arrow_table()


def _with_sync_columns(kind: LakeKind, fresh: pa.Table, run_id: str) -> pa.Table:
    synced_at = pa.repeat(pa.scalar(datetime.now(UTC), TIMESTAMP), fresh.num_rows)
    run_ids = pa.repeat(pa.scalar(run_id, pa.string()), fresh.num_rows)
    table = fresh.drop_columns([_IS_NEW]).append_column("synced_at", synced_at)
    return table.append_column("run_id", run_ids).cast(LAKE_SCHEMAS[kind])


def _commit(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    run_id: str,
    kind: LakeKind,
    fresh: pa.Table,
    merge: Callable[[str], None],
) -> list[LakeFile]:
    files = lake.stage(kind, fresh, run_id) if fresh.num_rows else []
    manifest = manifest_rows(files)
    try:
        with (
            transaction(con),
            registered(con, "_attent_manifest", manifest) as staged,
            registered(con, _FRESH, fresh) as source,
        ):
            con.execute(
                f"""INSERT INTO {state_table("lake_files")}
                    (path, kind, date, rows, bytes, run_id, committed_at)
                SELECT path, kind, date, rows, bytes, ?, now() FROM {staged}""",
                [run_id],
            ).fetchall()
            merge(source)
    except BaseException:
        lake.discard(files)
        raise
    lake.publish(files)
    return files


def _distinct(table: pa.Table, keys: list[str]) -> int:
    return int(table.select(keys).group_by(keys).aggregate([]).num_rows)
