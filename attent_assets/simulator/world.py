"""The simulated Attent organisation: its leads and events, a simulated clock, and how they evolve.

Deterministic: with ``live=False`` the same seed and the same calls give identical ids, payloads and
timestamps (the clock is simulated; it only consults the wall clock never to run ahead of it). Every
mutation stamps ``updatedAt`` with the clock and moves the clock forward by a random step, sometimes
0 ms, so several records can share one millisecond. With ``live=True`` the clock also never falls
behind real time, so a demo's changes happen "now". All access goes through one lock.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal, get_args

import orjson

from attent_assets.simulator import organisation
from attent_assets.simulator.generator import DOCUMENTED_TYPES, UNDOCUMENTED_TYPES, ContentGenerator
from attent_assets.simulator.pagination import EventKey, LeadKey
from attent_assets.simulator.store import EventIdent, LeadOrder, Page, RecordStore
from attent_assets.simulator.timestamps import DAY_MS, MILLIS, TimeStyle, from_ms, to_ms

_DEFAULT_START_DAYS_AGO: Final = 30
_HISTORY_SPAN_MS: Final = 20 * DAY_MS
"""Initial history spans about this long (less when ``start`` is closer to now)."""
_CHANGES_PER_PLANNED_OP: Final = 1.13
"""Planned lead/event creations plus the profile updates and call completions mixed in."""
_LIVE_STEP_MS: Final = 25
_LIVE_SLACK_MS: Final = 1_000
_ZERO_STEP_PROBABILITY: Final = 0.03
_HARD_ID_FRACTION: Final = 0.06
_MIN_HARD_IDS: Final = 3
_IMPORT_BACKDATE_MS: Final = 60 * DAY_MS
_CHANGE_KINDS: Final = ("lead", "profile", "events", "call", "delete", "burst", "undocumented")
_CHANGE_WEIGHTS: Final = (12, 25, 32, 10, 4, 6, 11)

Profile = Literal["uniform", "organisation"]
"""``uniform``: every lead with the same events, over 20 days. ``organisation``: a real
organisation's history over the whole span from ``start`` (see ``organisation``)."""


class World:
    """Leads and events of one organisation, generated from ``seed``.

    The initial history holds exactly ``leads`` leads with ``events_per_lead`` events each, spread
    over many days from ``start`` (default: 30 days ago, floored to the day), with a few hard lead
    ids, an undocumented event type, an event id shared by two types, soft-deleted leads (one in 50)
    and calls still in progress.

    With ``profile="organisation"`` the history instead fills the whole days from ``start`` to now
    (95% of the time since ``start`` when that is less than a day), and ``events_per_lead`` is the
    mean of a heavy-tailed count (``organisation.plan``): silent leads, brief ones, a few with
    thousands of events; calls complete and tool calls finish within it, and leads are
    soft-deleted along the way.
    """

    def __init__(
        self,
        seed: int = 0,
        leads: int = 100,
        events_per_lead: int = 20,
        start: datetime | None = None,
        live: bool = False,
        profile: Profile = "uniform",
    ) -> None:
        if leads < 0 or events_per_lead < 0:
            raise ValueError("leads and events_per_lead must be >= 0")
        if profile not in get_args(Profile):
            raise ValueError(f"profile must be one of {get_args(Profile)}, not {profile!r}")
        wall = _wall_ms()
        if start is None:
            start_ms = (wall - _DEFAULT_START_DAYS_AGO * DAY_MS) // DAY_MS * DAY_MS
        else:
            start_ms = to_ms(start)
        if start_ms >= wall:
            raise ValueError("start must be in the past")
        available = wall - start_ms
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        running_tool_calls = organisation.RUNNING_TOOL_CALLS if profile == "organisation" else 0.0
        self._content = ContentGenerator(self._rng, running_tool_calls=running_tool_calls)
        self._store = RecordStore()
        self._org_id = self._content.org_id()
        self._active: list[str] = []  # leads random changes may touch: present, not deleted
        self._running: list[tuple[str, EventIdent]] = []  # calls and tool calls not yet ended
        self._clock = start_ms
        self._follow_wall = False
        with self._lock:
            if profile == "organisation":
                whole_days = available // DAY_MS * DAY_MS
                self._generate_organisation(
                    leads, events_per_lead, whole_days or available * 19 // 20
                )
            else:
                span = available * 0.95 if live else min(_HISTORY_SPAN_MS, available * 0.9)
                planned = leads * (events_per_lead + 1) * _CHANGES_PER_PLANNED_OP
                self._max_step = max(1, int(2 * span / max(planned, 1)))
                self._generate(leads, events_per_lead)
            if live:
                self._max_step = _LIVE_STEP_MS
                self._follow_wall = True

    # --- evolution ---------------------------------------------------------------------------

    def advance(self, changes: int, span_ms: int | None = None) -> None:
        """Apply ``changes`` random changes: new leads (some importing 50-300 events at once),
        profile updates, new events, calls completing (and in an organisation tool calls
        finishing), soft deletes, bursts of leads updated in one millisecond, undocumented event
        types.

        Without ``live`` each change moves the clock about as far as one change of the initial
        history did (history span / number of initial changes: ~12 minutes in a default world),
        or, with ``span_ms``, the changes together move it about that far (the time between two
        sensor ticks, say); with ``live`` changes are stamped with the current time."""
        if changes < 0:
            raise ValueError("changes must be >= 0")
        if span_ms is not None and span_ms < 0:
            raise ValueError("span_ms must be >= 0")
        with self._lock:
            usual = self._max_step
            if span_ms is not None:
                self._max_step = max(1, 2 * span_ms // max(changes, 1))
            try:
                for _ in range(changes):
                    self._random_change()
            finally:
                self._max_step = usual

    def tick(self, ms: int) -> None:
        """Move the clock forward (never past real time)."""
        if ms < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._move_clock(ms)

    def now(self) -> datetime:
        with self._lock:
            return from_ms(self._clock)

    # --- crafting hooks for tests ------------------------------------------------------------

    def put_lead(self, record: Mapping[str, Any]) -> None:
        """Insert or replace a lead record verbatim (its events stay). A record without a
        parseable updatedAt is still served, at the start of every crawl."""
        raw = _copy(record)
        with self._lock:
            lead_id = self._store.put_lead(raw, MILLIS)
            if lead_id in self._active:
                self._active.remove(lead_id)
            if raw.get("deleted") is not True:
                self._active.append(lead_id)

    def put_event(
        self, lead_id: str, record: Mapping[str, Any], *, touch_lead: bool = True
    ) -> None:
        """Insert or replace (by type + id) an event verbatim. Unless ``touch_lead`` is False the
        lead's lastActivityAt and updatedAt move, as they would for real activity. KeyError for an
        unknown lead."""
        raw = _copy(record)
        with self._lock:
            lead = self._store.lead(lead_id)
            self._store.put_event(lead_id, raw, MILLIS)
            if touch_lead:
                self._touch(lead_id, self._stamp(lead.style))

    def soft_delete(self, lead_id: str) -> None:
        """Mark a lead deleted (deleted, deletedAt, updatedAt move); its history stays."""
        with self._lock:
            self._soft_delete(lead_id)

    def remove_lead(self, lead_id: str) -> None:
        """Hard-delete a lead and its events: the events endpoint then answers 404."""
        with self._lock:
            self._store.remove_lead(lead_id)
            if lead_id in self._active:
                self._active.remove(lead_id)

    # --- ground truth and serving ------------------------------------------------------------

    def truth_leads(self) -> list[dict[str, Any]]:
        """Every lead exactly as served, in (updatedAt, id) order."""
        with self._lock:
            bodies = self._store.lead_bodies()
        return [orjson.loads(body) for body in bodies]

    def truth_events(self) -> list[dict[str, Any]]:
        """The current version of every event of every present lead, exactly as served."""
        with self._lock:
            bodies = self._store.event_bodies()
        return [orjson.loads(body) for body in bodies]

    def lead_ids(self) -> list[str]:
        """Ids of the present leads, in (updatedAt, id) order."""
        with self._lock:
            return self._store.lead_ids()

    def has_lead(self, lead_id: str) -> bool:
        with self._lock:
            return self._store.has_lead(lead_id)

    def leads_page(
        self,
        order: LeadOrder,
        lower_ms: int,
        created_lower_ms: int | None,
        after: LeadKey | None,
        limit: int,
    ) -> Page:
        with self._lock:
            return self._store.leads_page(order, lower_ms, created_lower_ms, after, limit)

    def events_page(
        self,
        lead_id: str,
        lower_ms: int,
        types: frozenset[str] | None,
        after: EventKey | None,
        limit: int,
    ) -> Page:
        """KeyError for an unknown lead."""
        with self._lock:
            return self._store.events_page(lead_id, lower_ms, types, after, limit)

    # --- the clock (lock held) ---------------------------------------------------------------

    def _stamp(self, *styles: TimeStyle, max_step: int | None = None) -> int:
        """Advance the clock by a random step and return it; when a record writes whole seconds,
        round up to the next second so its timestamps stay exact."""
        if self._rng.random() >= _ZERO_STEP_PROBABILITY:
            self._move_clock(self._rng.randint(1, max_step or self._max_step))
        if any(style.whole_seconds for style in styles):
            self._move_clock(-self._clock % 1000)
        return self._clock

    def _move_clock(self, delta: int) -> None:
        wall = _wall_ms()
        proposed = self._clock + delta
        if self._follow_wall:
            proposed = max(proposed, wall)
        cap = wall + _LIVE_SLACK_MS if self._follow_wall else wall
        self._clock = max(self._clock, min(proposed, cap))

    # --- changes (lock held) -----------------------------------------------------------------

    def _generate(self, leads: int, events_per_lead: int) -> None:
        """Interleave lead creations and their events over the history span, mixing in profile
        updates and call completions (calls started near the end stay in progress)."""
        rng = self._rng
        hard = self._hard_indexes(leads)
        plan: list[tuple[float, int, int]] = []
        for index in range(leads):
            born = rng.random() * 0.9
            plan.append((born, index, -1))
            plan.extend(
                (born + rng.random() * (1 - born), index, n) for n in range(events_per_lead)
            )
        plan.sort()
        total = leads * events_per_lead
        undocumented_from = rng.randrange(total) if total else 0
        shared_from = rng.randrange(total) if total else 0
        undocumented_done = shared_done = False
        ids: dict[int, str] = {}
        made = 0
        for _, index, number in plan:
            if number < 0:
                ids[index] = self._create_lead(hard=index in hard)
                continue
            lead_id = ids[index]
            share = (
                not shared_done and made >= shared_from and bool(self._store.event_idents(lead_id))
            )
            undocumented = not share and not undocumented_done and made >= undocumented_from
            self._add_event(
                lead_id, rng.choice(UNDOCUMENTED_TYPES) if undocumented else None, share_id=share
            )
            shared_done = shared_done or share
            undocumented_done = undocumented_done or undocumented
            made += 1
            if rng.random() < 0.08:
                self._update_profile(rng.choice(self._active))
            if made < total * 0.9 and rng.random() < 0.02 * len(self._running):
                self._end_running()  # calls last ~50 changes; the latest stay in progress
        for lead_id in rng.sample(self._active, leads // 50):
            self._soft_delete(lead_id)

    def _generate_organisation(self, leads: int, mean_events: int, span: int) -> None:
        """Carry out ``organisation.plan`` over ``span`` ms from the start: the clock moves to each
        operation's planned instant, then steps as for any change. Steps average half the planned
        gap, so the clock keeps to the plan instead of drifting past it; the latest calls and tool
        calls stay running."""
        rng = self._rng
        hard = self._hard_indexes(leads)
        plan = organisation.plan(rng, leads, mean_events, span / DAY_MS)
        self._max_step = max(1, int(span / max(len(plan) * _CHANGES_PER_PLANNED_OP, 1)))
        start = self._clock
        total = sum(op.kind == "event" for op in plan)
        ids: dict[int, str] = {}
        made = 0
        for op in plan:
            self._move_clock(start + int(op.at * span) - self._clock)
            match op.kind:
                case "create":
                    ids[op.lead] = self._create_lead(hard=op.lead in hard)
                case "event":
                    self._add_event(ids[op.lead], share_id=rng.random() < 0.005)
                    made += 1
                    if rng.random() < 0.08:
                        self._update_profile(rng.choice(self._active))
                    if made < total * 0.99 and rng.random() < 0.02 * len(self._running):
                        self._end_running()
                case "delete":
                    self._soft_delete(ids[op.lead])

    def _hard_indexes(self, leads: int) -> set[int]:
        """Which of ``leads`` new leads get hostile ids: 6%, at least 3."""
        hard_count = min(leads, max(_MIN_HARD_IDS, round(leads * _HARD_ID_FRACTION)))
        return set(self._rng.sample(range(leads), hard_count))

    def _random_change(self) -> None:
        rng = self._rng
        if not self._active:
            self._new_lead_with_history()
            return
        kind = rng.choices(_CHANGE_KINDS, weights=_CHANGE_WEIGHTS)[0]
        lead_id = rng.choice(self._active)
        match kind:
            case "lead":
                self._new_lead_with_history()
            case "profile":
                self._update_profile(lead_id)
            case "events":
                for _ in range(rng.randint(1, 3)):
                    self._add_event(lead_id, share_id=rng.random() < 0.005)
            case "call":
                if not self._end_running():
                    self._add_event(lead_id, "CALL")
            case "delete":
                self._soft_delete(lead_id)
            case "burst":
                self._burst()
            case _:  # "undocumented"
                self._add_event(lead_id, rng.choice(UNDOCUMENTED_TYPES))

    def _create_lead(self, hard: bool) -> str:
        lead_id = self._content.lead_id(hard)
        while self._store.has_lead(lead_id):
            lead_id = self._content.lead_id(hard)
        style = self._content.time_style()
        created = style.render(self._stamp(style))
        self._store.put_lead(self._content.lead(lead_id, created), style)
        self._active.append(lead_id)
        return lead_id

    def _new_lead_with_history(self) -> None:
        """A new lead; sometimes an import whose long history lands within a few milliseconds,
        with ``timestamp`` values in the past."""
        rng = self._rng
        lead_id = self._create_lead(hard=rng.random() < 0.05)
        if rng.random() < 0.15:
            now = self._clock
            count = rng.randint(50, 300)
            happened = sorted(now - rng.randrange(_IMPORT_BACKDATE_MS) for _ in range(count))
            for at in happened:
                self._add_event(lead_id, happened_ms=at, max_step=2)
        else:
            for _ in range(rng.randint(0, 4)):
                self._add_event(lead_id)

    def _add_event(
        self,
        lead_id: str,
        event_type: str | None = None,
        *,
        share_id: bool = False,
        happened_ms: int | None = None,
        max_step: int | None = None,
    ) -> None:
        """A new event on a lead; with ``share_id`` it reuses the id of one of the lead's events
        under another type (the key is type + id)."""
        lead = self._store.lead(lead_id)
        style = self._content.time_style()
        event_type = event_type or self._content.event_type()
        sibling = self._sibling(lead_id) if share_id else None
        event_id = self._content.uuid() if sibling is None else sibling[1]
        if sibling is not None:
            event_type = sibling[0]
        stamp = self._stamp(style, lead.style, max_step=max_step)
        record = self._content.event(
            event_id=event_id,
            lead_id=lead_id,
            org_id=self._org_id,
            event_type=event_type,
            timestamp=style.render(stamp if happened_ms is None else happened_ms),
            updated_at=style.render(stamp),
        )
        ident = self._store.put_event(lead_id, record, style)
        data = record["data"]
        if self._content.is_running(event_type, data):
            self._running.append((lead_id, ident))
        replied = event_type == "MESSAGE" and data["direction"] == "INBOUND"
        self._touch(lead_id, stamp, {"hasReplied": True} if replied else {})

    def _sibling(self, lead_id: str) -> EventIdent | None:
        """A (type, id) for a new event reusing the id of an existing event of the lead under a
        documented type that id does not have yet; None when the lead has no events."""
        idents = self._store.event_idents(lead_id)
        if not idents:
            return None
        _, event_id = self._rng.choice(idents)
        free = [t for t in DOCUMENTED_TYPES if self._store.event(lead_id, (t, event_id)) is None]
        return (self._rng.choice(free), event_id) if free else None

    def _end_running(self) -> bool:
        """End a random call in progress or running tool call (its updatedAt moves; a call gains a
        summary when answered, a tool call its result). False when nothing is running."""
        while self._running:
            lead_id, ident = self._running.pop(self._rng.randrange(len(self._running)))
            event = self._store.event(lead_id, ident)
            data = None if event is None else event.raw.get("data")
            if event is None or not isinstance(data, dict):
                continue
            if not self._content.is_running(ident[0], data):
                continue
            stamp = self._stamp(event.style, self._store.lead(lead_id).style)
            self._store.update_event(
                lead_id,
                ident,
                {
                    "updatedAt": event.style.render(stamp),
                    "data": self._content.finished(ident[0], data),
                },
            )
            self._touch(lead_id, stamp)
            return True
        return False

    def _update_profile(self, lead_id: str) -> None:
        lead = self._store.lead(lead_id)
        changes = self._content.profile_changes()
        changes["updatedAt"] = lead.style.render(self._stamp(lead.style))
        self._store.update_lead(lead_id, changes)

    def _burst(self) -> None:
        """Several leads updated at one identical millisecond."""
        chosen = self._rng.sample(self._active, min(len(self._active), self._rng.randint(3, 6)))
        stamp = self._stamp(*(self._store.lead(lead_id).style for lead_id in chosen))
        for lead_id in chosen:
            changes = self._content.profile_changes()
            changes["updatedAt"] = self._store.lead(lead_id).style.render(stamp)
            self._store.update_lead(lead_id, changes)

    def _soft_delete(self, lead_id: str) -> None:
        lead = self._store.lead(lead_id)
        at = lead.style.render(self._stamp(lead.style))
        self._store.update_lead(lead_id, {"deleted": True, "deletedAt": at, "updatedAt": at})
        if lead_id in self._active:
            self._active.remove(lead_id)

    def _touch(self, lead_id: str, stamp: int, changes: Mapping[str, Any] | None = None) -> None:
        """Activity changed: updatedAt moves to ``stamp``, lastActivityAt to the newest event."""
        lead = self._store.lead(lead_id)
        update: dict[str, Any] = {"updatedAt": lead.style.render(stamp)}
        last = self._store.last_event_ms(lead_id)
        if last is not None:
            update["lastActivityAt"] = lead.style.render(last)
        update.update(changes or {})
        self._store.update_lead(lead_id, update)


def _copy(record: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy through JSON, so later changes by the caller do not reach the world and the
    record is known to serialize."""
    copied = orjson.loads(orjson.dumps(record))
    if not isinstance(copied, dict):
        raise TypeError("a record must be a JSON object")
    return copied


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000
