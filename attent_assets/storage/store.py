"""The Store: the one object the sync engine writes and reads sync state through.

It owns one DuckDB connection to `<data_dir>/warehouse.duckdb` and the Parquet lake (beside it, or
at the lake URL it is given).
Opening it read-write creates what is missing and repairs what a killed run left behind; the
connection is closed however the `with` block ends, so the file lock is never left to the
garbage collector. A Store is not thread-safe: use it from one thread at a time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from attent_assets.storage import commit, state
from attent_assets.storage.compaction import CompactionPolicy, CompactionReport, compact
from attent_assets.storage.connection import connect
from attent_assets.storage.ddl import ensure_schema
from attent_assets.storage.inspection import Inspector, Scope
from attent_assets.storage.lake import Lake
from attent_assets.storage.lakes import open_lake
from attent_assets.storage.layout import LakeKind, Layout
from attent_assets.storage.leads import restore_leads, upsert_leads
from attent_assets.storage.quarantine import quarantine
from attent_assets.storage.records import (
    LeadCursor,
    LeadTodo,
    MergeResult,
    QuarantinedRecord,
    WriteResult,
)
from attent_assets.storage.sql import state_table
from attent_assets.storage.typed import merge_typed
from attent_assets.storage.views import ensure_views

WAREHOUSE_FILE = "warehouse.duckdb"
# The run id is part of every lake file name: keep it to characters that are safe in paths.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")

log = logging.getLogger(__name__)


class Store(Inspector):
    """Writes through the commit protocol, sync state, and (inherited) inspection; use `open`."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        lake: Lake,
        layout: Layout,
        run_id: str,
        *,
        read_only: bool,
    ) -> None:
        super().__init__(con, lake, layout)
        self.run_id = run_id
        self.read_only = read_only

    @classmethod
    @contextmanager
    def open(
        cls,
        data_dir: Path,
        layout: Layout,
        run_id: str,
        *,
        lock_timeout: float = 60.0,
        read_only: bool = False,
        database: Path | str | None = None,
        config: Mapping[str, Any] | None = None,
        lake_url: str | None = None,
    ) -> Iterator[Store]:
        """Open the store of `data_dir`, waiting up to `lock_timeout` s for the DuckDB lock.

        The warehouse is `database` (a file or a DuckDB database string, opened with DuckDB's
        connection `config`), by default `<data_dir>/warehouse.duckdb`; the lake is at
        `lake_url` (a folder or `s3://bucket/prefix`), by default `<data_dir>/lake`.
        Read-write: creates directories, schemas and tables idempotently, recovers the lake
        first, and writes the readers' views.duckdb when its definition changed (views.py).
        Read-only (for checks): changes nothing, not even leftovers of a killed run.
        """
        if not _RUN_ID.fullmatch(run_id):
            raise ValueError(f"run_id {run_id!r} must match {_RUN_ID.pattern}")
        data_dir = Path(data_dir)
        lake = open_lake(lake_url, data_dir)
        if not read_only:
            data_dir.mkdir(parents=True, exist_ok=True)
            lake.prepare()
        con = connect(
            database or data_dir / WAREHOUSE_FILE,
            read_only=read_only,
            lock_timeout=lock_timeout,
            config=config,
        )
        try:
            lake.register(con)
            store = cls(con, lake, layout, run_id, read_only=read_only)
            if not read_only:
                ensure_schema(con, layout)
                store._recover()
                ensure_views(data_dir, lake, layout)
            yield store
        finally:
            con.close()

    def write_leads(self, rows: pa.Table, *, watermark: datetime | None) -> WriteResult:
        """Store new lead versions (lake + attent.leads) and raise the watermark, atomically."""
        self._require_writable()

        def merge(fresh: str) -> None:
            commit.record_versions(self._con, "leads", fresh)
            upsert_leads(self._con, self.layout, fresh)
            if watermark is not None:
                state.raise_watermark(self._con, state.LEADS_WATERMARK, watermark)

        return self._write("leads", rows, merge, has_state=watermark is not None)

    def write_events(self, rows: pa.Table, *, cursors: Sequence[LeadCursor]) -> WriteResult:
        """Store new event versions in the lake and advance the leads' cursors, atomically.

        `rows` may be empty while `cursors` are not: a lead read to the end with nothing new.
        """
        self._require_writable()

        def merge(fresh: str) -> None:
            commit.record_versions(self._con, "events", fresh)
            if cursors:
                state.advance_cursors(self._con, cursors)

        return self._write("events", rows, merge, has_state=bool(cursors))

    def _write(
        self, kind: LakeKind, rows: pa.Table, merge: Callable[[str], None], *, has_state: bool
    ) -> WriteResult:
        return commit.write(
            self._con, self.lake, self.run_id, kind, rows, merge, has_state=has_state
        )

    def quarantine(self, records: Sequence[QuarantinedRecord]) -> int:
        """Keep records that cannot be keyed; returns how many were not stored before."""
        self._require_writable()
        return quarantine(self._con, records, self.run_id)

    def restore_leads(self, replay_from: date) -> None:
        """Re-merge lead versions of days from `replay_from` on from the lake (see typed.py)."""
        self._require_writable()
        restore_leads(self._con, self.lake, self.layout, replay_from)

    def merge_typed(
        self, tables: Collection[str] | None = None, *, replay_from: date | None = None
    ) -> list[MergeResult]:
        """Bring the typed event tables (all, or the named ones) up to date with the lake; a
        replay also re-merges every day from `replay_from` on."""
        self._require_writable()
        return merge_typed(self._con, self.lake, self.layout, tables, replay_from)

    def compact(
        self, today: date | None = None, policy: CompactionPolicy | None = None
    ) -> CompactionReport:
        """Merge small lake files (see compaction.py); `today` is the still-open UTC day."""
        self._require_writable()
        return compact(
            self._con,
            self.lake,
            self.layout,
            self.run_id,
            today or datetime.now(UTC).date(),
            policy or CompactionPolicy(),
        )

    def run_scope(self) -> Scope:
        """The lake files this run committed (its compaction's included, which hold the
        versions of the files it merged): what its checks verify."""
        rows = self._con.execute(
            f"SELECT kind, path FROM {state_table('lake_files')} WHERE run_id = ? ORDER BY seq",
            [self.run_id],
        ).fetchall()
        files: dict[LakeKind, list[str]] = {"leads": [], "events": []}
        for kind, path in rows:
            files[kind].append(path)
        return Scope({kind: tuple(paths) for kind, paths in files.items()})

    def leads_watermark(self) -> datetime | None:
        return state.watermark(self._con, state.LEADS_WATERMARK)

    def mark_leads_complete(self, as_of: datetime) -> None:
        """Record that every lead updated before `as_of` is stored (a crawl started then ended)."""
        self._require_writable()
        state.raise_watermark(self._con, state.LEADS_COMPLETE, as_of)

    def leads_complete_as_of(self) -> datetime | None:
        return state.watermark(self._con, state.LEADS_COMPLETE)

    def leads_needing_events(self, *, behind_cursor: bool = False) -> list[LeadTodo]:
        return state.leads_needing_events(self._con, behind_cursor=behind_cursor)

    def leads_active_since(self, start: datetime) -> list[LeadTodo]:
        return state.leads_active_since(self._con, start)

    def _require_writable(self) -> None:
        if self.read_only:
            raise PermissionError("this store was opened read-only")

    def _recover(self) -> None:
        found = self.lake.recover(self._committed)
        if found.rolled_forward:
            log.info("lake recovery: finished %d committed change(s)", len(found.rolled_forward))
        if found.rolled_back:
            log.info("lake recovery: discarded %d uncommitted change(s)", len(found.rolled_back))

    def _committed(self, paths: Collection[str]) -> set[str]:
        """Which of `paths` the manifest lists (the commit point of every lake change)."""
        rows = self._con.execute(
            f"SELECT path FROM {state_table('lake_files')} WHERE list_contains(?, path)",
            [list(paths)],
        ).fetchall()
        return {path for (path,) in rows}
