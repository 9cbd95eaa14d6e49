"""Change detection for the lead-change sensor: one bounded poll of `GET /leads` from the cursor,
and what it found.

A tick reads at most `PollBudget.max_pages` pages within `PollBudget.seconds` (at least one page,
so it always progresses), far below Dagster's 60 s sensor timeout; a longer backlog continues on
the next tick from the advanced cursor. An API error propagates, so the tick fails and its cursor
does not move.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from attent_assets.api import AttentClient, ClientSettings, Lead, format_timestamp
from attent_assets.defs.cursor import LeadChangeCursor


@dataclass(frozen=True, slots=True)
class PollBudget:
    """How much one tick may read. Requests get their own, shorter retry budget and read timeout
    than a run's, so a struggling API fails the tick in time instead of timing it out."""

    max_pages: int = 5
    seconds: float = 20.0
    request_seconds: float = 10.0

    def client_settings(self, settings: ClientSettings) -> ClientSettings:
        retry = settings.retry
        return dataclasses.replace(
            settings,
            retry=retry.model_copy(
                update={"max_seconds": min(retry.max_seconds, self.request_seconds)}
            ),
            read_timeout=min(settings.read_timeout, self.request_seconds),
            connect_timeout=min(settings.connect_timeout, self.request_seconds),
        )


@dataclass(frozen=True, slots=True)
class Detection:
    """The outcome of one poll: the next cursor and, when a run is needed, the `updatedAt` days
    it covers. `reason` says what was found, for the tick's log and skip message."""

    cursor: LeadChangeCursor
    reason: str
    days: tuple[date, date] | None = None

    @property
    def changed(self) -> bool:
        return self.days is not None


def poll_changes(
    client: AttentClient,
    cursor: LeadChangeCursor,
    *,
    lookback: timedelta,
    budget: PollBudget,
    clock: Callable[[], float] = time.monotonic,
) -> Detection:
    """Read the leads listing from `cursor.since(lookback)` within `budget` and detect changes."""
    started = clock()
    leads: list[Lead] = []
    read_to_end = False
    for pages, page in enumerate(client.iter_leads(updated_since=cursor.since(lookback)), 1):
        leads.extend(page.leads)
        read_to_end = page.next_token is None
        if pages >= budget.max_pages or clock() - started >= budget.seconds:
            break
    return detect(cursor, leads, lookback=lookback, read_to_end=read_to_end)


def detect(
    cursor: LeadChangeCursor, leads: list[Lead], *, lookback: timedelta, read_to_end: bool
) -> Detection:
    """What a poll from `cursor` that read `leads` means: new lead versions, a trailing window
    that changed without moving the watermark (a lead visible late, or removed), leads at one
    millisecond the cursor had to skip unread, or nothing."""
    after = cursor.advance(leads, lookback=lookback, read_to_end=read_to_end)
    since = format_timestamp(cursor.watermark)
    new = [lead.updated_at for lead in leads if lead.updated_at and cursor.is_new(lead)]
    if new:
        return Detection(
            after, f"{len(new)} lead versions new since {since}", (min(new).date(), max(new).date())
        )
    old_digest, new_digest = cursor.window_digest, after.window_digest
    if old_digest is not None and new_digest is not None and old_digest != new_digest:
        start = cursor.watermark - lookback
        return Detection(
            after,
            f"the leads updated between {format_timestamp(start)} and {since} changed without "
            "a newer updatedAt (a lead visible late, or removed)",
            (start.date(), cursor.watermark.date()),
        )
    if after.watermark > cursor.watermark:
        return Detection(
            after,
            f"more leads share updatedAt {since} than one tick can read; a run reads them all",
            (cursor.watermark.date(), cursor.watermark.date()),
        )
    more = "; the listing continues next tick" if after.backlog else ""
    return Detection(after, f"no lead changed since {since}{more}")
