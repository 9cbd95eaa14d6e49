"""Weekly partitions keyed on `updatedAt` (UTC, weeks start on Monday), from the start date to the
current week inclusive.

Why weeks, when the lake's folders are days: a run over a range of partitions makes Dagster write
one "planned" event per partition per partitioned asset, and a backfill one materialization per
partition too (dagster-io/dagster#34219), about 11 ms each on the default SQLite instance storage.
With a year of daily partitions that bookkeeping alone took 17 s of a first full sync; with weeks
it is 53 partitions instead of 366, and a year costs per event what a month does. A week is also
the grain of a repair: backfilling a partition replays that week from the API.

Each organisation has its own start date, so the partitions are an object per component instance,
not module state.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property

import dagster as dg

from attent_assets.sync import Window

START_DATE_VAR = "ATTENT_START_DATE"
#: The documented default first day. Older versions are still synced and attributed to it.
DEFAULT_START_DATE = "2026-01-01"


def parse_start_date(value: str, setting: str) -> date:
    """A first day to sync, checked before anything runs; errors name `setting`."""
    try:
        start = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{setting}={value!r} is not a date like 2026-01-01") from None
    if start > datetime.now(UTC).date():
        raise ValueError(f"{setting}={value} is in the future; nothing could be synced")
    return start


def start_date_from_env() -> date:
    """ATTENT_START_DATE as a date (the default when unset)."""
    return parse_start_date(os.environ.get(START_DATE_VAR) or DEFAULT_START_DATE, START_DATE_VAR)


def week_of(day: date) -> date:
    """The Monday that starts `day`'s week."""
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class SyncPartitions:
    """The partitions of one organisation's `leads` and `raw_events`, from its first day."""

    start: date

    @cached_property
    def definition(self) -> dg.WeeklyPartitionsDefinition:
        """The week holding the start date is the first partition; `end_offset=1` makes the
        current, still-open week a partition too, so fresh data has a home."""
        return dg.WeeklyPartitionsDefinition(
            start_date=week_of(self.start).isoformat(), timezone="UTC", day_offset=1, end_offset=1
        )

    def keys(self) -> Sequence[str]:
        return self.definition.get_partition_keys()

    def key_for(self, day: date) -> str:
        """The partition a version of that `updatedAt` day belongs to (its week): versions from
        before the first partition are attributed to it, and nothing is attributed past the
        last."""
        first = self.definition.get_first_partition_key() or week_of(self.start).isoformat()
        last = self.definition.get_last_partition_key() or first
        # ISO dates order as strings.
        return min(max(week_of(day).isoformat(), first), last)

    def replay_window(self, context: dg.AssetExecutionContext) -> Window:
        """The run's partition range as a replay window; the first partition covers all history.

        A run without partitions (only typed tables selected) replays from the beginning: it
        rebuilds those tables from the lake."""
        if not context.has_partition_key_range:
            return Window(start=None)
        window = context.partition_time_window
        start = window.start.astimezone(UTC)
        first = week_of(self.start)
        first_start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        return Window(start=None if start <= first_start else start, end=window.end.astimezone(UTC))
