"""Values passed between the sync engine and the store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class LeadCursor:
    """Progress on one lead's events, committed with the events it covers.

    `events_cursor` is the largest event `updatedAt` read (the next inclusive `since`);
    `activity_seen` is the lead's `lastActivityAt` that the read covered. Both only move forward.
    """

    lead_id: str
    events_cursor: datetime | None
    activity_seen: datetime | None


@dataclass(frozen=True, slots=True)
class LeadTodo:
    """A lead whose events should be fetched, from `events_cursor` (None: from the beginning)."""

    lead_id: str
    events_cursor: datetime | None
    last_activity_at: datetime | None


@dataclass(frozen=True, slots=True)
class QuarantinedRecord:
    """A record that cannot be keyed, kept verbatim with the reasons why."""

    kind: str
    lead_id: str | None
    reasons: tuple[str, ...]
    raw: str


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one write did: `partitions` counts rows written per UTC day of `updated_at`."""

    rows_in: int
    rows_written: int
    new_keys: int
    updated_keys: int
    partitions: Mapping[date, int]


@dataclass(frozen=True, slots=True)
class MergeResult:
    """Keys inserted and updated by one typed merge, and the table's row count after it."""

    table: str
    new: int
    updated: int
    rows: int
