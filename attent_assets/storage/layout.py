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

ColumnKind = Literal["text", "bool", "int", "float", "timestamp", "json"]

SQL_TYPES: Mapping[ColumnKind, str] = {
    "text": "VARCHAR",
    "bool": "BOOLEAN",
    "int": "BIGINT",
    "float": "DOUBLE",
    "timestamp": "TIMESTAMPTZ",
    "json": "JSON",
}

LEAD_FIXED_COLUMNS = ("id", "updated_at", "raw", "synced_at", "run_id")
EVENT_FIXED_COLUMNS = (
    "type",
    "id",
    "room_id",
    "org_id",
    "timestamp",
    "updated_at",
    "data",
    "synced_at",
    "run_id",
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
        _check_columns(f"table {self.name!r}", self.columns, EVENT_FIXED_COLUMNS)


@dataclass(frozen=True, slots=True)
class Layout:
    """Typed columns of `attent.leads` and the event tables, in table column order."""

    lead_columns: tuple[Column, ...]
    event_tables: tuple[EventTable, ...]

    def __post_init__(self) -> None:
        _check_columns("leads", self.lead_columns, LEAD_FIXED_COLUMNS)
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

    def event_table(self, name: str) -> EventTable:
        for table in self.event_tables:
            if table.name == name:
                return table
        raise ValueError(
            f"unknown event table {name!r}; known: {[t.name for t in self.event_tables]}"
        )
