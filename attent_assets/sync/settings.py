"""How a sync run behaves: its mode, its window and the knobs that trade freshness for cost."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from attent_assets.storage import CompactionPolicy

#: "The beginning of time" for a lead never synced before: its whole history is read.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Mode(enum.StrEnum):
    """A run-wide choice; every step of a run uses the same one."""

    #: Stored cursors decide what to fetch: the leads watermark and each lead's events cursor.
    INCREMENTAL = "incremental"
    #: Re-read a window: leads updated since its start, and their events since its start.
    REPLAY = "replay"
    #: The safety net: re-read every lead (cheap: a few pages) and fetch events for any lead whose
    #: `lastActivityAt` is ahead of its cursor, catching changes the leads watermark never saw
    #: (writes that became visible later than the lookback).
    RECONCILE = "reconcile"


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """Engine settings. Defaults suit a real organisation; tests shrink the batch sizes."""

    #: Every cursor is moved back by this much before it is used. Records that become visible late
    #: (an index lagging behind a write) are caught when they fall inside this window; re-reading
    #: is safe because every merge is idempotent and keeps the newest version.
    lookback: timedelta = timedelta(minutes=5)
    #: Events fetched before they are handed to the writer thread, which turns them into lake
    #: rows (bounding the Python objects held at once).
    batch_rows: int = 20_000
    #: Leads finished before their cursors are handed to the writer even if few events came.
    batch_leads: int = 1_000
    #: Lake rows (Arrow bytes) held before they are committed: one Parquet file per day per
    #: commit, so larger commits mean fewer files and less compaction. Bounds a sync's memory
    #: (about three times this at the peak of a commit). 0 commits every hand-over.
    commit_bytes: int = 64 * 2**20
    #: Seconds after which whatever is held is committed anyway, so a long run keeps making
    #: durable progress: a killed run fetches again at most this much.
    commit_seconds: float = 60.0
    #: Where a lead with no events cursor starts reading.
    floor: datetime = EPOCH
    #: Seconds between progress log lines in long runs.
    progress_seconds: float = 10.0
    #: When the lake's small files are merged (storage/compaction.py holds the defaults).
    compaction: CompactionPolicy = field(default_factory=CompactionPolicy)

    def __post_init__(self) -> None:
        if self.lookback < timedelta(0):
            raise ValueError("lookback must not be negative")
        if self.batch_rows < 1 or self.batch_leads < 1:
            raise ValueError("batch_rows and batch_leads must be at least 1")
        if self.commit_bytes < 0 or self.commit_seconds < 0:
            raise ValueError("commit_bytes and commit_seconds must not be negative")


@dataclass(frozen=True, slots=True)
class Window:
    """A replay window. `start=None` means from the beginning (the first partition covers all
    history before it). The API has no upper bound, so reads always run to the end; `end` only
    labels the run."""

    start: datetime | None
    end: datetime | None = None
