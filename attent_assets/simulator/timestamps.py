"""Instants as integer milliseconds since the epoch, and the several ways the API writes them.

Ordering always uses the parsed instant, never the string: one instant may be written as
``2026-03-01T10:00:00.000Z``, ``2026-03-01T10:00:00Z`` or ``2026-03-01T12:00:00.000+02:00``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
DAY_MS: Final = 86_400_000
UNPARSEABLE_MS: Final = -(2**62)
"""Index position of a timestamp that does not parse: before every real instant, and treated as
matching every lower bound, so such records are served at the start of any crawl."""

_ONE_MS: Final = timedelta(milliseconds=1)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // _ONE_MS


def from_ms(ms: int) -> datetime:
    """The UTC datetime of an instant in milliseconds."""
    return EPOCH + timedelta(milliseconds=ms)


def parse_ms(value: object) -> int | None:
    """The instant of an ISO 8601 string (``Z``, offsets, any precision); None if not one."""
    if not isinstance(value, str):
        return None
    try:
        return to_ms(datetime.fromisoformat(value))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class TimeStyle:
    """How one record writes its timestamps: milliseconds with ``Z`` (the usual form), whole seconds
    with ``Z`` (only for instants that have no milliseconds, so the instant is never altered), or
    milliseconds with a UTC offset."""

    whole_seconds: bool = False
    offset_minutes: int = 0

    def render(self, ms: int) -> str:
        moment = from_ms(ms)
        if self.offset_minutes:
            zone = timezone(timedelta(minutes=self.offset_minutes))
            return moment.astimezone(zone).isoformat(timespec="milliseconds")
        spec = "seconds" if self.whole_seconds and ms % 1000 == 0 else "milliseconds"
        return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


MILLIS: Final = TimeStyle()
