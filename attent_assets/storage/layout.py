"""Which typed columns the warehouse tables have, as given by the sync layer.

The storage layer does not know the Attent payload: the caller describes every typed column as a
name, a kind and a JSON path, and the warehouse extracts it from the raw JSON it keeps anyway. Names
and paths end up inside SQL text (as quoted identifiers and JSON path literals), so they are checked
here against a strict pattern once, when the layout is built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from attent_assets.values import ValueKind

#: How a typed column reads its JSON value (values.py has the rules).
ColumnKind = ValueKind

SQL_TYPES: Mapping[ColumnKind, str] = {
    "text": "VARCHAR",
    "identifier": "VARCHAR",
    "bool": "BOOLEAN",
    "int": "BIGINT",
    "float": "DOUBLE",
    "timestamp": "TIMESTAMPTZ",
    "json": "JSON",
}

LakeKind = Literal["leads", "events"]
LAKE_KINDS: tuple[LakeKind, ...] = ("leads", "events")


@dataclass(frozen=True, slots=True)
class Field:
    """A column every row of a kind has whatever its payload: keys, versions, the sync's own.

    `json_key` is where the record has it (the client's models parse it from there);
    `required` fields are NOT NULL in the lake and the tables (keys and versions: a record
    without them is quarantined before it gets here)."""

    name: str
    kind: ColumnKind
    json_key: str | None = None
    required: bool = False
    #: What a user looking the column up in the catalog needs to know.
    description: str = ""


#: The envelope of each kind: the columns the row builder fills from a parsed record, before
#: the record's JSON text (`raw`). Every lake schema, table definition and SELECT list of the
#: envelope is derived from here.
ENVELOPES: Mapping[LakeKind, tuple[Field, ...]] = {
    "leads": (
        Field("id", "identifier", "id", True, "Lead id (the room id of its events)."),
        Field("updated_at", "timestamp", "updatedAt", True, "Version: the newest is kept."),
    ),
    "events": (
        Field("type", "text", "type", True, "Event type as the API names it."),
        Field("id", "identifier", "id", True, "Event id, unique within its type."),
        Field("room_id", "identifier", "roomId", description="The lead the event belongs to."),
        Field("org_id", "identifier", "orgId", description="The organisation."),
        Field("timestamp", "timestamp", "timestamp", description="When it happened (UTC)."),
        Field("updated_at", "timestamp", "updatedAt", True, "Version: the newest is kept."),
    ),
}
#: What identifies a record; its versions are told apart by `updated_at`.
KEYS: Mapping[LakeKind, tuple[str, ...]] = {"leads": ("id",), "events": ("type", "id")}
#: Added by the sync to every lake row and table row: when, and by which run.
SYNC_FIELDS = (
    Field("synced_at", "timestamp", description="When the sync stored this version."),
    Field("run_id", "text", description="The Dagster run that stored it."),
)
#: The record's JSON text, as the lake keeps it.
RAW = "raw"
#: The JSON column each kind's tables keep, and where it is in the record: typed columns are
#: read from it (a lead's whole record; an event's `data`).
DOCUMENTS: Mapping[LakeKind, tuple[str, tuple[str, ...]]] = {
    "leads": ("raw", ()),
    "events": ("data", ("data",)),
}
_DOCUMENT_DESCRIPTIONS: Mapping[LakeKind, str] = {
    "leads": "The lead as received (JSON; see the README on numbers).",
    "events": "The event's payload as received (JSON).",
}


@dataclass(frozen=True, slots=True)
class TableColumn:
    """One column of a warehouse table, as its DDL and its Dagster column schema show it."""

    name: str
    sql_type: str
    required: bool = False
    description: str = ""


def _table_column(field: Field) -> TableColumn:
    return TableColumn(field.name, SQL_TYPES[field.kind], field.required, field.description)


def _document(kind: LakeKind) -> TableColumn:
    return TableColumn(
        DOCUMENTS[kind][0], SQL_TYPES["json"], description=_DOCUMENT_DESCRIPTIONS[kind]
    )


def fixed_columns(kind: LakeKind) -> tuple[str, ...]:
    """The columns of every table of `kind` besides its typed ones."""
    return (
        *(f.name for f in ENVELOPES[kind]),
        DOCUMENTS[kind][0],
        *(f.name for f in SYNC_FIELDS),
    )


RESERVED_TABLES = ("leads", "quarantine")
ACTIVITY_COLUMN = "last_activity_at"

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_JSON_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _check_name(what: str, name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError(f"{what} {name!r} must be snake_case ([a-z_][a-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class Column:
    """A typed column: `path` leads from the document (lead raw, or event `data`) to the value."""

    name: str
    kind: ColumnKind
    path: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_name("column name", self.name)
        if self.kind not in get_args(ColumnKind):
            raise ValueError(f"column {self.name!r}: unknown kind {self.kind!r}")
        if not self.path or not all(_JSON_KEY.fullmatch(key) for key in self.path):
            raise ValueError(f"column {self.name!r}: path {self.path!r} must be JSON keys")


def _check_columns(owner: str, columns: tuple[Column, ...], fixed: tuple[str, ...]) -> None:
    names = [column.name for column in columns]
    clashes = sorted({n for n in names if n in fixed or names.count(n) > 1})
    if clashes:
        raise ValueError(f"{owner}: duplicate or reserved column names {clashes}")


@dataclass(frozen=True, slots=True)
class EventTable:
    """One warehouse table of events; `event_type` None collects every type no table claims."""

    name: str
    event_type: str | None
    columns: tuple[Column, ...] = ()

    def __post_init__(self) -> None:
        _check_name("table name", self.name)
        if self.name in RESERVED_TABLES:
            raise ValueError(f"table name {self.name!r} is reserved")
        _check_columns(f"table {self.name!r}", self.columns, fixed_columns("events"))


@dataclass(frozen=True, slots=True)
class Layout:
    """Typed columns of `attent.leads` and the event tables, in table column order."""

    lead_columns: tuple[Column, ...]
    event_tables: tuple[EventTable, ...]

    def __post_init__(self) -> None:
        _check_columns("leads", self.lead_columns, fixed_columns("leads"))
        activity = [c for c in self.lead_columns if c.name == ACTIVITY_COLUMN]
        if not activity or activity[0].kind != "timestamp":
            # leads_needing_events compares it with each lead's activity_seen cursor.
            raise ValueError(f"lead_columns must include a timestamp column {ACTIVITY_COLUMN!r}")
        names = [table.name for table in self.event_tables]
        types = [table.event_type for table in self.event_tables]
        if len(set(names)) != len(names):
            raise ValueError(f"event table names must be unique: {names}")
        if len(set(types)) != len(types):
            raise ValueError("each event type (and the catch-all None) may have one table only")

    @property
    def claimed_types(self) -> tuple[str, ...]:
        """Event types routed to their own table; every other type goes to the catch-all."""
        return tuple(t.event_type for t in self.event_tables if t.event_type is not None)

    @property
    def catch_all(self) -> EventTable | None:
        return next((t for t in self.event_tables if t.event_type is None), None)

    def lead_table_columns(self) -> tuple[TableColumn, ...]:
        """attent.leads: its key, the typed columns, then the rest (an order existing
        warehouses have)."""
        key, *rest = ENVELOPES["leads"]
        return (
            _table_column(key),
            *(TableColumn(c.name, SQL_TYPES[c.kind]) for c in self.lead_columns),
            *map(_table_column, rest),
            _document("leads"),
            *map(_table_column, SYNC_FIELDS),
        )

    def event_table_columns(self, table: EventTable) -> tuple[TableColumn, ...]:
        """An event table: the envelope, `data`, the typed columns, then the sync's columns."""
        return (
            *map(_table_column, ENVELOPES["events"]),
            _document("events"),
            *(TableColumn(c.name, SQL_TYPES[c.kind]) for c in table.columns),
            *map(_table_column, SYNC_FIELDS),
        )

    def table_columns(self, name: str) -> tuple[TableColumn, ...]:
        """The columns of the warehouse table `name` (leads or an event table), in order."""
        if name == "leads":
            return self.lead_table_columns()
        return self.event_table_columns(self.event_table(name))

    def event_table(self, name: str) -> EventTable:
        for table in self.event_tables:
            if table.name == name:
                return table
        raise ValueError(
            f"unknown event table {name!r}; known: {[t.name for t in self.event_tables]}"
        )
