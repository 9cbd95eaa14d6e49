"""How a JSON value becomes a typed value: one set of rules for the parser and the warehouse.

The client parses a record's envelope in Python (keys, versions: what the sync decides with) and
the warehouse reads every typed column from the stored JSON in SQL (`storage/sql.py:typed_value`).
Both follow the rules declared here, and test_typed_values.py holds them to one table of cases:

- a value of another JSON type is no value (NULL / None), never coerced: "12" is not an int,
  1 is not a bool;
- `identifier`: a string, or an integer as its decimal text (an id sent as a number is the same
  id);
- `int`: an integer within 64 bits, or a float with no fraction (12.0 is 12);
- `float`: any number;
- `timestamp`: an ISO 8601 date or date-time in the extended form (`2026-05-14T15:30:00.123Z`,
  an offset, or none, which is UTC); other spellings some parsers accept (basic or week forms,
  `24:00`, zone names) are no value, as each side would read them differently.

It is a leaf: the client and storage both import it and never each other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

ValueKind = Literal["text", "identifier", "bool", "int", "float", "timestamp", "json"]

#: The JSON types (as DuckDB's json_type names them) each kind takes; `int` also takes a DOUBLE
#: with no fraction, `json` any value but null.
ACCEPTED_JSON_TYPES: Mapping[ValueKind, tuple[str, ...]] = {
    "text": ("VARCHAR",),
    "identifier": ("VARCHAR", "BIGINT", "UBIGINT"),
    "bool": ("BOOLEAN",),
    "int": ("BIGINT", "UBIGINT"),
    "float": ("BIGINT", "UBIGINT", "DOUBLE"),
    "timestamp": ("VARCHAR",),
}

#: The timestamp spellings both sides read (as a full match; also in SQL's regexp_full_match).
TIMESTAMP_PATTERN = (
    r"\d{4}-\d{2}-\d{2}"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)?)?"
)
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)


def parse_timestamp(value: object) -> datetime | None:
    """An aware UTC datetime from a timestamp string (see the module's rules); None otherwise."""
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def parse_text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def parse_identifier(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None
