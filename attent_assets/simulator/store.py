"""Indexed lead and event records, served as keyset pages of cached JSON bytes.

Every sort key is derived from the record's own timestamp fields, so crafted records with odd or
unparseable timestamps are indexed by the same rule as generated ones. Each record keeps its
serialized bytes until it changes: a page is a bisect plus a join of cached bytes, which keeps the
server's CPU per request small. Not thread-safe on its own; the World serialises access.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

import orjson

from attent_assets.simulator.pagination import EventKey, K, LeadKey, walk
from attent_assets.simulator.timestamps import UNPARSEABLE_MS, TimeStyle, parse_ms

EventIdent = tuple[str, str]
"""(type, id): the stable key of an event."""
LeadOrder = Literal["updatedAt", "createdAt"]


def record_id(value: object) -> str:
    """The string form of an id or type field: strings as they are, a missing value as "", anything
    else as its JSON text (so the number 123 is the lead "123")."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return orjson.dumps(value).decode()


@dataclass(slots=True)
class StoredRecord:
    """One raw record as served, the style the world writes its timestamps in, and cached bytes."""

    raw: dict[str, Any]
    style: TimeStyle
    _body: bytes | None = None

    def body(self) -> bytes:
        if self._body is None:
            self._body = orjson.dumps(self.raw)
        return self._body

    def update(self, changes: Mapping[str, Any]) -> None:
        self.raw.update(changes)
        self._body = None


@dataclass(slots=True)
class _Lead:
    record: StoredRecord
    updated_key: LeadKey
    created_key: LeadKey
    events: dict[EventIdent, StoredRecord] = field(default_factory=dict)
    event_keys: list[EventKey] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Page:
    """Serialized records of one page, and the key to resume after (None: nothing remains)."""

    bodies: list[bytes]
    resume_after: LeadKey | EventKey | None


class RecordStore:
    """Leads indexed by (updatedAt, id) and (createdAt, id); each lead's events by
    (updatedAt, type, id)."""

    def __init__(self) -> None:
        self._leads: dict[str, _Lead] = {}
        self._by_updated: list[LeadKey] = []
        self._by_created: list[LeadKey] = []

    # --- leads -------------------------------------------------------------------------------

    def has_lead(self, lead_id: str) -> bool:
        return lead_id in self._leads

    def lead(self, lead_id: str) -> StoredRecord:
        """The stored lead; KeyError when there is none."""
        return self._leads[lead_id].record

    def put_lead(self, raw: dict[str, Any], style: TimeStyle) -> str:
        """Insert or replace a lead record (its events stay); returns its id."""
        lead_id = record_id(raw.get("id"))
        lead = self._leads.get(lead_id)
        if lead is None:
            lead = _Lead(StoredRecord(raw, style), *_lead_keys(lead_id, raw))
            self._leads[lead_id] = lead
        else:
            self._unindex_lead(lead)
            lead.record = StoredRecord(raw, style)
            lead.updated_key, lead.created_key = _lead_keys(lead_id, raw)
        insort(self._by_updated, lead.updated_key)
        insort(self._by_created, lead.created_key)
        return lead_id

    def update_lead(self, lead_id: str, changes: Mapping[str, Any]) -> None:
        """Overwrite some fields of a lead and re-index it."""
        lead = self._leads[lead_id]
        self._unindex_lead(lead)
        lead.record.update(changes)
        lead.updated_key, lead.created_key = _lead_keys(lead_id, lead.record.raw)
        insort(self._by_updated, lead.updated_key)
        insort(self._by_created, lead.created_key)

    def remove_lead(self, lead_id: str) -> None:
        """Forget a lead and all its events; KeyError when there is none."""
        self._unindex_lead(self._leads.pop(lead_id))

    def lead_ids(self) -> list[str]:
        """Lead ids in (updatedAt, id) order."""
        return [lead_id for _, lead_id in self._by_updated]

    def lead_bodies(self) -> list[bytes]:
        return [self._leads[lead_id].record.body() for _, lead_id in self._by_updated]

    def leads_page(
        self,
        order: LeadOrder,
        lower_ms: int,
        created_lower_ms: int | None,
        after: LeadKey | None,
        limit: int,
    ) -> Page:
        """Up to ``limit`` leads in ``order`` at or after ``lower_ms``, resuming after ``after``;
        ``created_lower_ms`` additionally filters on createdAt (when ordering by updatedAt)."""
        keys = self._by_updated if order == "updatedAt" else self._by_created
        positions = walk(keys, lower_ms, after)
        bodies: list[bytes] = []
        last: LeadKey | None = None
        for position in positions:
            last = keys[position]
            lead = self._leads[last[1]]
            if created_lower_ms is None or _at_or_after(lead.created_key[0], created_lower_ms):
                bodies.append(lead.record.body())
                if len(bodies) == limit:
                    break
        return Page(bodies, _resume(last, positions))

    def _unindex_lead(self, lead: _Lead) -> None:
        _discard(self._by_updated, lead.updated_key)
        _discard(self._by_created, lead.created_key)

    # --- events ------------------------------------------------------------------------------

    def event(self, lead_id: str, ident: EventIdent) -> StoredRecord | None:
        lead = self._leads.get(lead_id)
        return None if lead is None else lead.events.get(ident)

    def event_idents(self, lead_id: str) -> list[EventIdent]:
        """The (type, id) of a lead's events in (updatedAt, type, id) order."""
        return [
            (event_type, event_id) for _, event_type, event_id in self._leads[lead_id].event_keys
        ]

    def put_event(self, lead_id: str, raw: dict[str, Any], style: TimeStyle) -> EventIdent:
        """Insert or replace (by type + id) an event of an existing lead; returns its (type, id)."""
        lead = self._leads[lead_id]
        ident = (record_id(raw.get("type")), record_id(raw.get("id")))
        previous = lead.events.get(ident)
        if previous is not None:
            _discard(lead.event_keys, _event_key(ident, previous.raw))
        lead.events[ident] = StoredRecord(raw, style)
        insort(lead.event_keys, _event_key(ident, raw))
        return ident

    def update_event(self, lead_id: str, ident: EventIdent, changes: Mapping[str, Any]) -> None:
        lead = self._leads[lead_id]
        stored = lead.events[ident]
        _discard(lead.event_keys, _event_key(ident, stored.raw))
        stored.update(changes)
        insort(lead.event_keys, _event_key(ident, stored.raw))

    def last_event_ms(self, lead_id: str) -> int | None:
        """The largest parseable event updatedAt of a lead, None when it has none."""
        keys = self._leads[lead_id].event_keys
        if not keys or keys[-1][0] == UNPARSEABLE_MS:
            return None
        return keys[-1][0]

    def event_bodies(self) -> list[bytes]:
        """Every event, lead by lead in lead order, each lead's in (updatedAt, type, id) order."""
        bodies: list[bytes] = []
        for _, lead_id in self._by_updated:
            lead = self._leads[lead_id]
            bodies.extend(lead.events[(t, i)].body() for _, t, i in lead.event_keys)
        return bodies

    def events_page(
        self,
        lead_id: str,
        lower_ms: int,
        types: frozenset[str] | None,
        after: EventKey | None,
        limit: int,
    ) -> Page:
        """The next ``limit`` events of the unfiltered order, keeping those of ``types``: a filtered
        page can be short or empty while more remain. KeyError for an unknown lead."""
        lead = self._leads[lead_id]
        keys = lead.event_keys
        positions = walk(keys, lower_ms, after)
        bodies: list[bytes] = []
        last: EventKey | None = None
        for position in islice(positions, limit):
            last = keys[position]
            if types is None or last[1] in types:
                bodies.append(lead.events[last[1:]].body())
        return Page(bodies, _resume(last, positions))


def _instant_of(raw: Mapping[str, Any], name: str) -> int:
    ms = parse_ms(raw.get(name))
    return UNPARSEABLE_MS if ms is None else ms


def _lead_keys(lead_id: str, raw: Mapping[str, Any]) -> tuple[LeadKey, LeadKey]:
    return (_instant_of(raw, "updatedAt"), lead_id), (_instant_of(raw, "createdAt"), lead_id)


def _event_key(ident: EventIdent, raw: Mapping[str, Any]) -> EventKey:
    return (_instant_of(raw, "updatedAt"), *ident)


def _at_or_after(ms: int, lower_ms: int) -> bool:
    return ms == UNPARSEABLE_MS or ms >= lower_ms


def _resume(last: K | None, remaining: Iterable[int]) -> K | None:
    """``last`` if any position remains after it (so the page needs a token), else None."""
    return last if next(iter(remaining), None) is not None else None


def _discard(keys: list[K], key: K) -> None:
    position = bisect_left(keys, key)
    if position < len(keys) and keys[position] == key:
        del keys[position]
