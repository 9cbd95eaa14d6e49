"""The sync engine: decides what to fetch, moves it from the API into storage, and commits cursors
only after the data they cover is durable.

It is plain Python (no Dagster) with three steps that mirror the assets — leads, events, typed
tables — and that talk to each other only through storage, so a run killed between two steps is
resumed by the next run as if nothing happened.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from attent_assets.api import AttentClient, LeadEvents
from attent_assets.storage import (
    CompactionReport,
    LeadCursor,
    LeadTodo,
    MergeResult,
    QuarantinedRecord,
    Store,
)
from attent_assets.sync.held import Commit, HeldRows
from attent_assets.sync.progress import Progress
from attent_assets.sync.report import EventsReport, LeadsReport, StepReport
from attent_assets.sync.rows import event_rows, lead_rows
from attent_assets.sync.settings import Mode, SyncSettings, Window
from attent_assets.sync.writer import BackgroundWriter

_log = logging.getLogger(__name__)
#: Distinct quarantine reasons named in one warning.
_REASONS_SHOWN = 5


@dataclass(frozen=True, slots=True)
class SyncReport:
    leads: LeadsReport
    events: EventsReport
    typed: list[MergeResult]
    compaction: CompactionReport


class SyncEngine:
    """One run's worth of syncing over one client and one open store."""

    def __init__(
        self,
        client: AttentClient,
        store: Store,
        settings: SyncSettings | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self._client = client
        self._store = store
        self._settings = settings or SyncSettings()
        self._log = log or _log

    def sync(self, mode: Mode, window: Window | None = None) -> SyncReport:
        """All three steps in order, then the lake's compaction, as one `attent_sync` run does."""
        leads = self.sync_leads(mode, window)
        events = self.sync_events(mode, window)
        typed = self.merge_typed(mode, window)
        return SyncReport(leads=leads, events=events, typed=typed, compaction=self.compact())

    def sync_leads(self, mode: Mode, window: Window | None = None) -> LeadsReport:
        """Read every lead updated since the start point and write the versions that are new.

        Incremental runs start at the stored watermark minus the lookback. A replay starts at its
        window and may move the watermark only when it read from at or below it: a replay of a later
        window says nothing about leads updated before that window.
        """
        stored = self._store.leads_watermark()
        floor = self._settings.floor
        if mode is Mode.INCREMENTAL:
            since = stored - self._settings.lookback if stored else floor
            advances = True
        elif mode is Mode.RECONCILE:
            since, advances = floor, True
        else:
            since = _replay_start(window, floor)
            advances = since <= (stored or floor)
        report = LeadsReport(since=since)
        started = datetime.now(UTC)
        # Pages are committed a few at a time (held.py), as events are: one set of files and one
        # commit per `commit_bytes` rather than per page.
        held = HeldRows(self._settings)
        limit = started if advances else None
        with _client_counters(self._client, report):
            for page in self._client.iter_leads(updated_since=since):
                report.records_fetched += len(page.leads)
                rows, bad = lead_rows(page.leads)
                report.quarantined += self._quarantine("lead", bad)
                report.observe(
                    max((x.updated_at for x in page.leads if x.updated_at), default=None)
                )
                held.add(rows)
                if held.due():
                    self._write_leads(held.take(), report.newest_updated_at, limit, report)
            if held:
                self._write_leads(held.take(), report.newest_updated_at, limit, report)
        if mode is Mode.REPLAY:
            self._store.restore_leads(since.date())
        if advances:
            # Read to the end from at or below the watermark: every lead updated before the crawl
            # started is now stored. The freshness check measures from this instant.
            self._store.mark_leads_complete(started)
        report.watermark = self._store.leads_watermark()
        self._log.info(
            "leads: %d fetched since %s, %d new, %d updated, %d quarantined; watermark %s",
            report.records_fetched,
            since.isoformat(),
            report.new_keys,
            report.updated_keys,
            report.quarantined,
            report.watermark.isoformat() if report.watermark else "none",
        )
        return report

    def sync_events(self, mode: Mode, window: Window | None = None) -> EventsReport:
        """Fetch the events of every lead that needs them, concurrently, in bounded batches.

        Incremental: leads whose `lastActivityAt` moved past what their cursor saw, from their
        cursor minus the lookback (a lead never synced starts at the floor: a global watermark
        would lose its history). Reconcile: those, plus leads whose `lastActivityAt` is ahead
        of the newest event read. Replay: leads active since the window start, from the window
        start; their cursor moves only if the replay read them from at or below it. A replay
        also reads, from the floor, every lead without activity that was never read (one short
        request each), so each lead it listed ends with a cursor.
        """
        floor = self._settings.floor
        if mode is not Mode.REPLAY:
            todos = self._store.leads_needing_events(behind_cursor=mode is Mode.RECONCILE)
        else:
            todos = self._store.leads_active_since(_replay_start(window, floor))
        starts = {t.lead_id: self._start_for(t, mode, window) for t in todos}
        report = EventsReport(leads_needing_events=len(todos))
        if todos:
            report.since = min(starts.values())
        with _client_counters(self._client, report):
            self._fetch_events(todos, starts, report)
        self._log.info(
            "events: %d leads, %d events fetched, %d versions written (%d new, %d updated), "
            "%d leads gone, %d quarantined",
            report.leads_done,
            report.records_fetched,
            report.rows_written,
            report.new_keys,
            report.updated_keys,
            report.leads_gone,
            report.quarantined,
        )
        return report

    def merge_typed(
        self, mode: Mode, window: Window | None = None, tables: Collection[str] | None = None
    ) -> list[MergeResult]:
        """Bring the typed tables up to date with the lake. A replay re-merges every day of its
        window too, so rows deleted from a table come back from the lake."""
        replay_from = (
            _replay_start(window, self._settings.floor).date() if mode is Mode.REPLAY else None
        )
        results = self._store.merge_typed(tables, replay_from=replay_from)
        # One line for every table: each log line of a run is a row in Dagster's event log.
        self._log.info(
            "typed tables (new, updated, rows): %s",
            "; ".join(f"{r.table} {r.new}, {r.updated}, {r.rows}" for r in results),
        )
        return results

    def compact(self) -> CompactionReport:
        """Merge the lake's small files where the policy says so (storage/compaction.py); after
        the typed merge, which must have read a file before it can be merged."""
        return self._store.compact(policy=self._settings.compaction)

    def _write_leads(
        self,
        commit: Commit,
        newest: datetime | None,
        limit: datetime | None,
        report: LeadsReport,
    ) -> None:
        """Store pages of lead rows and, given a `limit`, raise the watermark to `newest` (the
        newest version read so far), never past the limit (when the crawl started): one lead
        stamped in the future (a broken clock, hostile data) would otherwise hide every later
        change from incremental runs."""
        watermark = None if limit is None else _not_after(newest, limit)
        result = self._store.write_leads(commit.rows, watermark=watermark)
        report.add_write(
            result.rows_written, result.new_keys, result.updated_keys, dict(result.partitions)
        )

    def _quarantine(self, kind: str, records: list[QuarantinedRecord]) -> int:
        """Keep records that cannot be keyed, raw, and warn with what is wrong with them; the
        sync goes on without them. Returns how many were not quarantined before."""
        if not records:
            return 0
        reasons = Counter(reason for record in records for reason in record.reasons)
        shown = "; ".join(f"{reason} (x{n})" for reason, n in reasons.most_common(_REASONS_SHOWN))
        if len(reasons) > _REASONS_SHOWN:
            shown += f"; and {len(reasons) - _REASONS_SHOWN} other reasons"
        self._log.warning(
            "quarantined %d %s record(s) that cannot be keyed, kept raw in attent.quarantine "
            "(first from lead %r): %s",
            len(records),
            kind,
            records[0].lead_id,
            shown,
        )
        return self._store.quarantine(records)

    def _start_for(self, todo: LeadTodo, mode: Mode, window: Window | None) -> datetime:
        if mode is Mode.REPLAY and todo.last_activity_at is not None:
            return _replay_start(window, self._settings.floor)
        if todo.events_cursor is None:
            return self._settings.floor
        return todo.events_cursor - self._settings.lookback

    def _fetch_events(
        self, todos: list[LeadTodo], starts: dict[str, datetime], report: EventsReport
    ) -> None:
        batch = _EventBatch(read_at=datetime.now(UTC))
        progress = Progress(self._log, "events", len(todos), self._settings.progress_seconds)
        by_id = {t.lead_id: t for t in todos}
        requests = ((t.lead_id, starts[t.lead_id]) for t in todos)
        held = HeldRows(self._settings)
        with BackgroundWriter[_Pending](
            lambda pending: self._hand_over(pending, held, report),
            finish=lambda: self._commit_events(held, report),
        ) as writer:
            for page in self._client.iter_events_many(requests):
                report.records_fetched += len(page.events)
                batch.add(page)
                if page.last:
                    report.leads_done += 1
                    report.leads_gone += page.gone
                    todo = by_id[page.lead_id]
                    # A cursor may only move past what this run read completely: from at or
                    # below the stored cursor to the end of the lead's history. A lead that is
                    # gone has nothing left to read, so its activity counts as seen.
                    if page.gone or starts[page.lead_id] <= (
                        todo.events_cursor or self._settings.floor
                    ):
                        batch.finish_lead(todo, gone=page.gone)
                    else:
                        batch.drop_lead(page.lead_id)
                if batch.rows >= self._settings.batch_rows or (
                    batch.finished >= self._settings.batch_leads
                ):
                    writer.submit(batch.take())
                progress.update(report.leads_done, report.records_fetched)
            if batch.pages or batch.cursors:
                writer.submit(batch.take())

    def _hand_over(self, pending: _Pending, held: HeldRows, report: EventsReport) -> None:
        """Runs on the writer thread, the only user of the store during the events step: turns
        fetched pages into lake rows and commits what is held once it is due."""
        rows, bad = event_rows(pending.pages)
        report.quarantined += self._quarantine("event", bad)
        for page in pending.pages:
            for event in page.events:
                report.observe(event.updated_at)
                report.by_type[event.type or "(missing)"] += 1
        held.add(rows, pending.cursors)
        if held.due():
            self._commit_events(held, report)

    def _commit_events(self, held: HeldRows, report: EventsReport) -> None:
        if not held:
            return
        commit = held.take()
        result = self._store.write_events(commit.rows, cursors=commit.cursors)
        report.add_write(
            result.rows_written, result.new_keys, result.updated_keys, dict(result.partitions)
        )


@dataclass(frozen=True, slots=True)
class _Pending:
    """A batch handed to the writer: pages, and the cursors that become true once stored."""

    pages: list[LeadEvents]
    cursors: list[LeadCursor]


class _EventBatch:
    """The batch being filled: pages, and the cursors that become true once they are stored.

    Cursors never pass `read_at`, when the reads began: a read covers nothing later than that, so
    a record stamped in the future (a broken clock, hostile data) cannot hide later changes.
    """

    def __init__(self, read_at: datetime) -> None:
        self._read_at = read_at
        self.pages: list[LeadEvents] = []
        self.cursors: list[LeadCursor] = []
        self.rows = 0
        self.finished = 0
        self._newest: dict[str, datetime] = {}

    def add(self, page: LeadEvents) -> None:
        if page.events:
            self.pages.append(page)
            self.rows += len(page.events)
            newest = max((e.updated_at for e in page.events if e.updated_at), default=None)
            if newest is not None:
                current = self._newest.get(page.lead_id)
                self._newest[page.lead_id] = newest if current is None else max(current, newest)

    def finish_lead(self, todo: LeadTodo, *, gone: bool) -> None:
        # The newest version read becomes the cursor; a lead with nothing new keeps its old one
        # (storage keeps the greater of the two).
        newest = self._newest.pop(todo.lead_id, None)
        self.cursors.append(
            LeadCursor(
                lead_id=todo.lead_id,
                events_cursor=None if gone else _not_after(newest, self._read_at),
                activity_seen=_not_after(todo.last_activity_at, self._read_at),
            )
        )
        self.finished += 1

    def drop_lead(self, lead_id: str) -> None:
        self._newest.pop(lead_id, None)

    def take(self) -> _Pending:
        """Hand the batch over and start an empty one (newest-per-lead carries over: a lead's
        pages may span batches)."""
        pending = _Pending(pages=self.pages, cursors=self.cursors)
        self.pages, self.cursors = [], []
        self.rows = 0
        self.finished = 0
        return pending


def _not_after(value: datetime | None, limit: datetime) -> datetime | None:
    return None if value is None else min(value, limit)


def _replay_start(window: Window | None, floor: datetime) -> datetime:
    if window is None:
        raise ValueError("a replay needs a window")
    return window.start or floor


@contextmanager
def _client_counters(client: AttentClient, report: StepReport) -> Iterator[None]:
    """Records the client's counters over one step into the step's report."""
    before = client.stats.snapshot()
    try:
        yield
    finally:
        after = client.stats.snapshot()
        report.client = {k: v - before.get(k, 0) for k, v in after.items()}


__all__ = ["SyncEngine", "SyncReport"]
