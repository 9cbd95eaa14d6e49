"""Daily partitions keyed on `updatedAt` (UTC), from ATTENT_START_DATE to today inclusive."""

import os
from datetime import UTC, date, datetime

import dagster as dg

from attent_assets.sync import Window

START_DATE_VAR = "ATTENT_START_DATE"
#: The documented default first day. Older versions are still synced and attributed to it.
DEFAULT_START_DATE = "2026-01-01"


def start_date_from_env() -> date:
    """ATTENT_START_DATE as a date, checked before anything runs."""
    value = os.environ.get(START_DATE_VAR) or DEFAULT_START_DATE
    try:
        start = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{START_DATE_VAR}={value!r} is not a date like 2026-01-01") from None
    if start > datetime.now(UTC).date():
        raise ValueError(f"{START_DATE_VAR}={value} is in the future; nothing could be synced")
    return start


START_DATE = start_date_from_env()

#: `end_offset=1` makes today's still-open day a partition too, so fresh data has a home.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=START_DATE.isoformat(), timezone="UTC", end_offset=1
)


def partition_key_for(day: date) -> str:
    """The partition a version of that `updatedAt` day belongs to: versions from before the first
    partition are attributed to it, and nothing is attributed past the last one."""
    keys_start = START_DATE
    last = date.fromisoformat(daily_partitions.get_last_partition_key() or START_DATE.isoformat())
    return min(max(day, keys_start), last).isoformat()


def replay_window(context: dg.AssetExecutionContext) -> Window:
    """The run's partition range as a replay window; the first partition covers all history.

    A run without partitions (only typed tables selected) replays from the beginning: it rebuilds
    those tables from the lake."""
    if not context.has_partition_key_range:
        return Window(start=None)
    window = context.partition_time_window
    start = window.start.astimezone(UTC)
    first = datetime(START_DATE.year, START_DATE.month, START_DATE.day, tzinfo=UTC)
    return Window(start=None if start <= first else start, end=window.end.astimezone(UTC))
