"""Counters of what one client did, shared by all its threads (for run metadata and benchmarks)."""

from __future__ import annotations

import threading
from collections import Counter

RETRY_CAUSES = ("429", "5xx", "4xx", "timeout", "connection", "invalid_body")
"""Why a request was retried: throttled, server error, read/connect timeout, dropped or refused
connection, or a 200 whose body was truncated, not JSON, or not the expected shape."""


class ClientStats:
    """Thread-safe totals. Attributes may be read at any time; `snapshot()` reads them all at
    one instant."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.pages = 0
        self.records = 0
        self.bytes_received = 0
        self.retries: Counter[str] = Counter()
        self.throttled = 0
        self.request_seconds = 0.0
        self.retry_wait_seconds = 0.0

    def record_request(self, seconds: float, bytes_received: int) -> None:
        """One HTTP exchange, whatever its outcome."""
        with self._lock:
            self.requests += 1
            self.request_seconds += seconds
            self.bytes_received += bytes_received

    def record_page(self, records: int) -> None:
        """One page accepted and parsed."""
        with self._lock:
            self.pages += 1
            self.records += records

    def record_throttled(self) -> None:
        """One 429 answer (counted even when it was the last attempt)."""
        with self._lock:
            self.throttled += 1

    def record_retry(self, cause: str, wait_seconds: float) -> None:
        """One retry about to happen after `wait_seconds`."""
        with self._lock:
            self.retries[cause] += 1
            self.retry_wait_seconds += wait_seconds

    def snapshot(self) -> dict[str, int | float]:
        """A consistent copy with stable keys (`retries_<cause>` for every cause, even if 0)."""
        with self._lock:
            return {
                "requests": self.requests,
                "pages": self.pages,
                "records": self.records,
                "bytes_received": self.bytes_received,
                "retries": sum(self.retries.values()),
                **{f"retries_{cause}": self.retries[cause] for cause in RETRY_CAUSES},
                "throttled": self.throttled,
                "request_seconds": round(self.request_seconds, 6),
                "retry_wait_seconds": round(self.retry_wait_seconds, 6),
            }
