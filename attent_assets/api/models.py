"""The records the sync decides with, parsed tolerantly from whatever the API sends.

The API documents few types and adds fields without notice, so parsing never raises: a value of the
wrong JSON type becomes None, and every record keeps its parsed JSON in `raw`. Only the envelope is
parsed here (keys, versions, where an event belongs): the warehouse's typed columns are read from
the stored JSON by SQL, as declared in sync/schema.py; both follow the rules of values.py.
`Event.from_json` runs for every event of a sync, so each class's parsers are built once and
parsing a record is a plain loop over them.
"""

# `json_field` returns a `dataclasses.Field`, which ruff's RUF009 cannot see through.

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from attent_assets.values import parse_identifier, parse_text, parse_timestamp


def format_timestamp(value: datetime) -> str:
    """Format an aware datetime the way the API writes and expects cursors:
    `2026-05-14T15:30:00.000Z`. Sub-millisecond digits are cut, never rounded up, so an inclusive
    cursor can only move back (re-reading a boundary record), never past one."""
    if value.tzinfo is None:
        raise ValueError("format_timestamp needs a timezone-aware datetime, got a naive one")
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def json_field(*path: str, parse: Callable[[object], object]) -> Any:
    """Declare a field read from `path` in the JSON object with `parse` (None when absent)."""
    return field(default=None, metadata={"json": path, "parse": parse})


@functools.cache
def _parsers(cls: type) -> tuple[tuple[tuple[str, ...], Callable[[object], object]], ...]:
    """(JSON path, parser) per declared field, in the order of the class's constructor."""
    return tuple(
        (f.metadata["json"], f.metadata["parse"])
        for f in dataclasses.fields(cls)
        if "json" in f.metadata
    )


def _parsed_values(cls: type, obj: dict[str, Any]) -> list[Any]:
    """The constructor arguments of `cls` read from `obj`: one per declared field, then `obj`."""
    values: list[Any] = []
    for path, parse in _parsers(cls):
        value: object = obj
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        values.append(parse(value))
    values.append(obj)
    return values


def _preview(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _problem(raw: dict[str, Any], key: str, parsed: object) -> str | None:
    """Why a required field is unusable: absent/null, or present but unparseable."""
    if parsed is not None and parsed != "":
        return None
    value = raw.get(key)
    return f"missing {key}" if value is None else f"invalid {key}: {_preview(value)}"


class _Record:
    """What `Lead` and `Event` share: tolerant construction from JSON, and the reasons a record
    cannot be synced (`_REQUIRED`: the JSON keys and attributes a record must have)."""

    __slots__ = ()
    _REQUIRED: ClassVar[tuple[tuple[str, str], ...]]
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, obj: object) -> Self:
        """Build from one element of a page; never raises (a non-object keeps
        `{"_value": obj}`)."""
        if not isinstance(obj, dict):
            return cls(raw={"_value": obj})  # type: ignore[call-arg]
        return cls(*_parsed_values(cls, obj))

    @property
    def problems(self) -> tuple[str, ...]:
        """Human-readable reasons this record cannot be synced; empty if it can."""
        found = (_problem(self.raw, key, getattr(self, attr)) for key, attr in self._REQUIRED)
        return tuple(p for p in found if p is not None)


@dataclass(frozen=True, slots=True)
class Lead(_Record):
    """A lead (the Attent "room") as listed by GET /leads; it needs an id and an `updatedAt`.

    Only what the sync decides with is parsed here; the warehouse's typed columns are read from
    the raw JSON by SQL (sync/schema.py declares them)."""

    _REQUIRED: ClassVar[tuple[tuple[str, str], ...]] = (("id", "id"), ("updatedAt", "updated_at"))

    id: str | None = json_field("id", parse=parse_identifier)
    updated_at: datetime | None = json_field("updatedAt", parse=parse_timestamp)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Event(_Record):
    """One version of an interaction event, as listed by GET /leads/{leadId}/events."""

    _REQUIRED: ClassVar[tuple[tuple[str, str], ...]] = (
        ("type", "type"),
        ("id", "id"),
        ("updatedAt", "updated_at"),
    )

    id: str | None = json_field("id", parse=parse_identifier)
    room_id: str | None = json_field("roomId", parse=parse_identifier)
    org_id: str | None = json_field("orgId", parse=parse_identifier)
    type: str | None = json_field("type", parse=parse_text)
    timestamp: datetime | None = json_field("timestamp", parse=parse_timestamp)
    updated_at: datetime | None = json_field("updatedAt", parse=parse_timestamp)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        """The stable identity `(type, id)`: one id may exist under two types.

        Raises ValueError for a record without both (check `problems` first).
        """
        if not self.type or not self.id:
            raise ValueError(f"event has no key: {', '.join(self.problems)}")
        return (self.type, self.id)
