"""What one benchmark invocation measures: the world, the transport and the sync's knobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


@dataclass(frozen=True, slots=True)
class BenchSettings:
    """Defaults: about 5,000 leads and 100,000 events behind 20 ms (+ up to 10 ms) per request."""

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

    @property
    def first_day(self) -> date:
        """The world's first day, which is also ATTENT_START_DATE (the first partition)."""
        return datetime.now(UTC).date() - timedelta(days=self.history_days)
