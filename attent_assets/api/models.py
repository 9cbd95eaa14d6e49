"""Typed records of the Attent payloads, tolerant of whatever the API sends.

The API documents few types and adds fields without notice, so parsing never raises: a value of the
wrong JSON type becomes None in its typed field, and every record keeps its JSON exactly as received
in `raw`. Each typed field declares its JSON path with `json_field`; `model_fields` derives the
warehouse columns from those declarations, so these classes are the one source of truth for typed
columns. `Event.from_json` runs for every event of a sync, so the per-class field tables are built
once and parsing a record is a plain loop over them.
"""

# `json_field` returns a `dataclasses.Field`, which ruff's RUF009 cannot see through.

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self

JsonValue = Any
"""Nested JSON (object, array, scalar or None), kept as parsed."""

FieldKind = Literal["text", "bool", "int", "float", "timestamp", "json"]

_INT64 = range(-(2**63), 2**63)


def parse_timestamp(value: object) -> datetime | None:
    """Parse an ISO 8601 string (`Z` or an offset, with or without fractions) as an aware UTC
    datetime. Anything else (None, a number, garbage) gives None; a string without an offset is
    read as UTC, the only zone the API uses."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def format_timestamp(value: datetime) -> str:
    """Format an aware datetime the way the API writes and expects cursors:
    `2026-05-14T15:30:00.000Z`. Sub-millisecond digits are cut, never rounded up, so an inclusive
    cursor can only move back (re-reading a boundary record), never past one."""
    if value.tzinfo is None:
        raise ValueError("format_timestamp needs a timezone-aware datetime, got a naive one")
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def json_field(*path: str, identifier: bool = False) -> Any:
    """Declare a typed field read from `path` in the JSON object (default None when absent).

    `identifier=True` marks ids: a JSON number there is kept as its decimal text, because an id
    that arrives as a number is still the same id; other text fields take strings only.
    """
    return field(default=None, metadata={"json": path, "identifier": identifier})


@dataclass(frozen=True, slots=True)
class ModelField:
    """One typed field of a model: its attribute name, JSON path and column kind."""

    name: str
    path: tuple[str, ...]
    kind: FieldKind


_KIND_OF_TYPE: Mapping[type, FieldKind] = {
    str: "text",
    bool: "bool",
    int: "int",
    float: "float",
    datetime: "timestamp",
}


def _kind_of(hint: object) -> FieldKind:
    if hint is Any:
        return "json"
    options = typing.get_args(hint) if typing.get_origin(hint) is types.UnionType else (hint,)
    concrete = [option for option in options if option is not type(None)]
    if len(concrete) != 1 or concrete[0] not in _KIND_OF_TYPE:
        raise TypeError(f"no column kind for the annotation {hint!r}")
    return _KIND_OF_TYPE[concrete[0]]


def model_fields(cls: type) -> tuple[ModelField, ...]:
    """The typed fields of a model class (every field declared with `json_field`; not `raw`)."""
    return _model_fields(cls)


@functools.cache
def _model_fields(cls: type) -> tuple[ModelField, ...]:
    hints = typing.get_type_hints(cls)
    return tuple(
        ModelField(name=f.name, path=f.metadata["json"], kind=_kind_of(hints[f.name]))
        for f in dataclasses.fields(cls)
        if "json" in f.metadata
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _identifier(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _int(value: object) -> int | None:
    # Integral floats (12.0) are the same number; values beyond 64 bits fit no warehouse column.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value in _INT64:
        return value
    return None


def _float(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _json(value: object) -> object:
    return value


_CONVERTERS: Mapping[FieldKind, Callable[[object], object]] = {
    "text": _text,
    "bool": _bool,
    "int": _int,
    "float": _float,
    "timestamp": parse_timestamp,
    "json": _json,
}

_Parser = tuple[tuple[str, ...], Callable[[object], object]]


@functools.cache
def _parsers(cls: type) -> tuple[_Parser, ...]:
    """(JSON path, converter) per typed field, in the order of the class's constructor."""
    identifiers = {f.name for f in dataclasses.fields(cls) if f.metadata.get("identifier")}
    return tuple(
        (mf.path, _identifier if mf.name in identifiers else _CONVERTERS[mf.kind])
        for mf in model_fields(cls)
    )


@functools.cache
def _top_level_keys(cls: type) -> frozenset[str]:
    return frozenset(mf.path[0] for mf in model_fields(cls))


def _unknown_keys(cls: type, obj: dict[str, Any]) -> list[str]:
    known = _top_level_keys(cls)
    return [key for key in obj if key not in known]


def _typed_values(
    cls: type, obj: dict[str, Any], *, raw: dict[str, Any] | None = None
) -> list[Any]:
    """The constructor arguments of `cls` read from `obj`: one per typed field, in order, then
    `raw` when the class keeps the record."""
    values: list[Any] = []
    for path, convert in _parsers(cls):
        value: object = obj
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        values.append(convert(value))
    if raw is not None:
        values.append(raw)
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
        return cls(*_typed_values(cls, obj, raw=obj))

    @property
    def problems(self) -> tuple[str, ...]:
        """Human-readable reasons this record cannot be synced; empty if it can."""
        found = (_problem(self.raw, key, getattr(self, attr)) for key, attr in self._REQUIRED)
        return tuple(p for p in found if p is not None)


@dataclass(frozen=True, slots=True)
class Lead(_Record):
    """A lead (the Attent "room") as listed by GET /leads; it needs an id and an `updatedAt`."""

    _REQUIRED: ClassVar[tuple[tuple[str, str], ...]] = (("id", "id"), ("updatedAt", "updated_at"))

    id: str | None = json_field("id", identifier=True)
    first_name: str | None = json_field("firstName")
    last_name: str | None = json_field("lastName")
    phone: str | None = json_field("phone")
    email: str | None = json_field("email")
    customer_profile: str | None = json_field("customerProfile")
    created_at: datetime | None = json_field("createdAt")
    updated_at: datetime | None = json_field("updatedAt")
    last_activity_at: datetime | None = json_field("lastActivityAt")
    additional_info: JsonValue = json_field("additionalInfo")
    has_replied: bool | None = json_field("hasReplied")
    is_hot: bool | None = json_field("isHot")
    is_qualified: bool | None = json_field("isQualified")
    is_unsubscribed: bool | None = json_field("isUnsubscribed")
    is_ai_on: bool | None = json_field("isAiOn")
    tags: JsonValue = json_field("tags")
    summary: str | None = json_field("summary")
    external_lead_id: str | None = json_field("externalLeadId", identifier=True)
    deleted: bool | None = json_field("deleted")
    deleted_at: datetime | None = json_field("deletedAt")
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Event(_Record):
    """One version of an interaction event, as listed by GET /leads/{leadId}/events."""

    _REQUIRED: ClassVar[tuple[tuple[str, str], ...]] = (
        ("type", "type"),
        ("id", "id"),
        ("updatedAt", "updated_at"),
    )

    id: str | None = json_field("id", identifier=True)
    room_id: str | None = json_field("roomId", identifier=True)
    org_id: str | None = json_field("orgId", identifier=True)
    type: str | None = json_field("type")
    timestamp: datetime | None = json_field("timestamp")
    updated_at: datetime | None = json_field("updatedAt")
    data: JsonValue = json_field("data")
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        """The stable identity `(type, id)`: one id may exist under two types.

        Raises ValueError for a record without both (check `problems` first).
        """
        if not self.type or not self.id:
            raise ValueError(f"event has no key: {', '.join(self.problems)}")
        return (self.type, self.id)

    def typed_data(self) -> EventData | None:
        """`data` parsed by the model of this documented type; None for other types."""
        model = DATA_MODELS.get(self.type) if self.type is not None else None
        return model.from_json(self.data) if model is not None else None


@dataclass(frozen=True, slots=True)
class EventData:
    """Base of the per-type `data` models. Fields absent or of the wrong JSON type are None."""

    @classmethod
    def from_json(cls, data: object) -> Self:
        """Build from an event's `data`; never raises."""
        if not isinstance(data, dict):
            return cls()
        return cls(*_typed_values(cls, data))

    @classmethod
    def unknown_fields(cls, data: object) -> list[str]:
        """Top-level keys of `data` that no field of this model reads (new or undocumented)."""
        if not isinstance(data, dict):
            return []
        return _unknown_keys(cls, data)


@dataclass(frozen=True, slots=True)
class MessageData(EventData):
    """MESSAGE: one SMS or chat message (shape from the reference's example)."""

    direction: str | None = json_field("direction")
    text: str | None = json_field("content", "text")
    is_ai_generated: bool | None = json_field("isAiGenerated")
    delivery_channel: str | None = json_field("deliveryChannel")


@dataclass(frozen=True, slots=True)
class CallData(EventData):
    """CALL: a phone call; field names assumed from sibling payloads."""

    direction: str | None = json_field("direction")
    call_status: str | None = json_field("callStatus")
    duration_seconds: int | None = json_field("durationSeconds")
    is_transfer: bool | None = json_field("isTransfer")
    summary: str | None = json_field("summary")
    ended_by: str | None = json_field("endedBy")


@dataclass(frozen=True, slots=True)
class EmailData(EventData):
    """EMAIL: shape assumed (direction and content like MESSAGE, plus a subject)."""

    direction: str | None = json_field("direction")
    subject: str | None = json_field("content", "subject")
    text: str | None = json_field("content", "text")


@dataclass(frozen=True, slots=True)
class ToolCallData(EventData):
    """TOOL_CALL: shape assumed (an agent's tool invocation)."""

    tool_name: str | None = json_field("toolName")
    arguments: JsonValue = json_field("arguments")
    result: JsonValue = json_field("result")
    status: str | None = json_field("status")


@dataclass(frozen=True, slots=True)
class CustomData(EventData):
    """CUSTOM: shape assumed (a named event with free properties)."""

    name: str | None = json_field("name")
    properties: JsonValue = json_field("properties")


@dataclass(frozen=True, slots=True)
class ComplianceBlockedData(EventData):
    """COMPLIANCE_BLOCKED: an outreach suppressed by a compliance rule (documented)."""

    channel: str | None = json_field("channel")
    reason: str | None = json_field("reason")
    source: str | None = json_field("source")
    triggered_by: str | None = json_field("triggeredBy")


DATA_MODELS: Mapping[str, type[EventData]] = types.MappingProxyType(
    {
        "MESSAGE": MessageData,
        "CALL": CallData,
        "EMAIL": EmailData,
        "TOOL_CALL": ToolCallData,
        "CUSTOM": CustomData,
        "COMPLIANCE_BLOCKED": ComplianceBlockedData,
    }
)
"""The `data` model of each documented event type; any other type is kept raw only."""

DOCUMENTED_TYPES: tuple[str, ...] = tuple(DATA_MODELS)
