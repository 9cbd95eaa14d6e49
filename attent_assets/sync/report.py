"""What a sync step did, in numbers a user would look at (the Dagster surface turns these into
metadata)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(slots=True)
class StepReport:
    """Counts shared by the leads and events steps."""

    since: datetime | None = None
    records_fetched: int = 0
    rows_written: int = 0
    new_keys: int = 0
    updated_keys: int = 0
    quarantined: int = 0
    #: Rows written per `updatedAt` day: the partitions whose data this step changed.
    partitions: Counter[date] = field(default_factory=Counter)
    newest_updated_at: datetime | None = None
    #: The client's counters for this step (requests, pages, retries by cause, throttled, …).
    client: dict[str, float] = field(default_factory=dict)

    def observe(self, updated_at: datetime | None) -> None:
        if updated_at is not None and (
            self.newest_updated_at is None or updated_at > self.newest_updated_at
        ):
            self.newest_updated_at = updated_at

    def add_write(self, rows_written: int, new: int, updated: int, days: dict[date, int]) -> None:
        self.rows_written += rows_written
        self.new_keys += new
        self.updated_keys += updated
        self.partitions.update(days)


@dataclass(slots=True)
class LeadsReport(StepReport):
    #: The leads watermark stored after the step (None: nothing synced yet).
    watermark: datetime | None = None


@dataclass(slots=True)
class EventsReport(StepReport):
    leads_needing_events: int = 0
    leads_done: int = 0
    leads_gone: int = 0
    #: Event versions written, by event type.
    by_type: Counter[str] = field(default_factory=Counter)
