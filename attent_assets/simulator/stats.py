"""What the server was asked, for tests that assert on request counts ("an incremental run made
exactly N events requests"). A request is recorded before its response is sent, so once a client
holds a response the counts already include it."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Final, Literal

Endpoint = Literal["leads", "events", "other"]
_RECENT_LIMIT: Final = 1000


@dataclass(frozen=True, slots=True)
class RequestRecord:
    path: str
    """The path as sent (percent-encoded), without the query."""
    query: str
    status: int
    at: float
    """``time.monotonic()`` when the response was decided."""
    arrived: float
    """``time.monotonic()`` when the request arrived (before any injected latency)."""
    retry_after: str | None = None
    """The Retry-After header sent with the answer, if any."""


class ServerStats:
    """Thread-safe request counts: in total, per endpoint, per lead for the events endpoint, and
    the most recent requests."""

    def __init__(self, recent_limit: int = _RECENT_LIMIT) -> None:
        self._lock = threading.Lock()
        self._endpoints: Counter[Endpoint] = Counter()
        self._events_by_lead: Counter[str] = Counter()
        self._recent: deque[RequestRecord] = deque(maxlen=recent_limit)

    def record(
        self,
        endpoint: Endpoint,
        lead_id: str | None,
        path: str,
        query: str,
        status: int,
        *,
        arrived: float | None = None,
        retry_after: str | None = None,
    ) -> None:
        now = time.monotonic()
        arrived = now if arrived is None else arrived
        entry = RequestRecord(path, query, status, now, arrived, retry_after)
        with self._lock:
            self._endpoints[endpoint] += 1
            if lead_id is not None:
                self._events_by_lead[lead_id] += 1
            self._recent.append(entry)

    @property
    def requests_total(self) -> int:
        with self._lock:
            return self._endpoints.total()

    @property
    def leads(self) -> int:
        """Requests to ``GET /v1/leads``."""
        with self._lock:
            return self._endpoints["leads"]

    @property
    def events(self) -> int:
        """Requests to ``GET /v1/leads/{leadId}/events``, any lead."""
        with self._lock:
            return self._endpoints["events"]

    def events_requests_for(self, lead_id: str) -> int:
        with self._lock:
            return self._events_by_lead[lead_id]

    def snapshot(self) -> dict[str, Any]:
        """The counts as JSON-ready data: totals per endpoint and events requests per lead."""
        with self._lock:
            return {
                "requests": self._endpoints.total(),
                "leads": self._endpoints["leads"],
                "events": self._endpoints["events"],
                "events_by_lead": dict(self._events_by_lead),
            }

    def recent(self) -> list[RequestRecord]:
        """The latest requests (bounded), oldest first."""
        with self._lock:
            return list(self._recent)

    def reset(self) -> None:
        with self._lock:
            self._endpoints.clear()
            self._events_by_lead.clear()
            self._recent.clear()
