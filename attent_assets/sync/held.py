"""Lake rows held in memory until they are worth a commit.

Every commit writes one Parquet file per UTC day its rows touch. A backfill over a year that
committed every fetched batch would write a file per day per batch, only for compaction to merge
them again; holding rows until they reach `SyncSettings.commit_bytes` (or `commit_seconds` have
passed, so a long run keeps making durable progress) writes about one file per day per commit.
Cursors are held with the rows they cover: they become true only when those rows are durable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyarrow as pa

from attent_assets.storage import LeadCursor
from attent_assets.sync.settings import SyncSettings


@dataclass(frozen=True, slots=True)
class Commit:
    """What one commit stores: rows and the cursors that become true with them."""

    rows: pa.Table
    cursors: list[LeadCursor]


@dataclass(slots=True)
class HeldRows:
    """Rows and cursors handed over since the last commit."""

    settings: SyncSettings
    _tables: list[pa.Table] = field(default_factory=list)
    _cursors: list[LeadCursor] = field(default_factory=list)
    _bytes: int = 0
    _since: float = field(default_factory=time.monotonic)

    def add(self, rows: pa.Table, cursors: list[LeadCursor] | None = None) -> None:
        self._tables.append(rows)
        self._bytes += rows.nbytes
        self._cursors.extend(cursors or ())

    def __bool__(self) -> bool:
        return bool(self._tables or self._cursors)

    def due(self) -> bool:
        """Whether what is held should be committed now."""
        return bool(self) and (
            self._bytes >= self.settings.commit_bytes
            or time.monotonic() - self._since >= self.settings.commit_seconds
        )

    def take(self) -> Commit:
        """Everything held, as one commit; holding starts again from empty (and from now)."""
        commit = Commit(pa.concat_tables(self._tables), self._cursors)
        self._tables, self._cursors, self._bytes = [], [], 0
        self._since = time.monotonic()
        return commit
