"""What one benchmark invocation measures: the world, the transport and the sync's knobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


@dataclass(frozen=True, slots=True)
class BenchSettings:
    """Defaults: about 5,000 leads and 100,000 events behind 20 ms (+ up to 10 ms) per request;
    for the long life 10,000 leads and 300,000 events over a year, then 500 sensor runs; for the
    rate limit 2,000 leads against 100 requests per second."""

    leads: int = 5000
    events_per_lead: int = 20
    latency_ms: float = 20.0
    latency_jitter_ms: float = 10.0
    concurrency: int = 16
    page_size: int = 1000
    #: World changes applied before the incremental run.
    changes: int = 500
    #: The peak RSS is measured with 1x and this many times the events per lead.
    memory_factor: int = 4
    #: Days of history in the world; the Dagster partitions start on its first day.
    history_days: int = 30
    seed: int = 11
    #: Long life (bench/longlife.py): an organisation's world, events per lead skewed around this
    #: mean, over this many days; the year's full sync is compared with a month of partitions.
    longlife_leads: int = 10000
    longlife_events_per_lead: int = 30
    longlife_days: int = 365
    longlife_month_days: int = 30
    #: Consecutive sensor-launched runs after the full sync, each after this many world changes.
    longlife_runs: int = 500
    longlife_changes: int = 20
    #: Simulated time each run's changes are spread over: the sensor's interval, so a run's
    #: lookback re-reads what it would in operation (5 minutes: the last five runs' changes).
    longlife_interval_seconds: float = 60.0
    #: The same runs over a smaller history (same mean and days), to see what history size costs.
    longlife_small_leads: int = 1000
    #: Runs in each median: the first ones, and the last ones.
    longlife_window: int = 21
    #: Rate limit (bench/ratelimit.py): the simulator's limit in requests per second, the world
    #: crawled against it (leads, each with `events_per_lead` events), and the seconds the
    #: client may take to learn the limit before the converged figures count.
    ratelimit_rps: float = 100.0
    ratelimit_leads: int = 2000
    ratelimit_warm_up: float = 3.0
    #: Placement (bench/placement.py): the world each placement syncs, and its sensor runs.
    placement_leads: int = 1000
    placement_runs: int = 20

    @property
    def first_day(self) -> date:
        """The world's first day, which is also ATTENT_START_DATE (the first partition)."""
        return days_ago(self.history_days)


def days_ago(days: int) -> date:
    """The UTC day `days` before today: a simulator's first day for `--start-days-ago=days`."""
    return datetime.now(UTC).date() - timedelta(days=days)
