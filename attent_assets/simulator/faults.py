"""Misbehaviour injected into responses: latency, throttling, server errors, stalls, broken bodies.

``Faults`` is mutable on purpose: tests flip its fields on a running server, and every request reads
them afresh through ``decide()``. Random choices come from the object's own seeded RNG, so a
sequence of requests meets the same faults on every run. All probabilities default to 0.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import random
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Final

from attent_assets.simulator.ratelimit import Headers, HeaderStyle, TokenBucket

GARBAGE_BODY: Final = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1><p>upstream sent an invalid response</p></body></html>"
)
_SERVER_ERRORS: Final = (500, 502, 503)


class Outcome(enum.Enum):
    """What happens to one response."""

    ANSWER = "answer"
    """The real response."""
    STATUS = "status"
    """An error status instead of the real response."""
    DROP = "drop"
    """Headers with the full Content-Length, half the body, then the connection closes."""
    TRUNCATE = "truncate"
    """200 with the body cut short and a Content-Length matching the cut body (invalid JSON)."""
    GARBAGE = "garbage"
    """200 with an HTML error page instead of JSON."""
    EMPTY_PAGE = "empty_page"
    """An empty page whose token resumes at the same position (legal per the API)."""


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """The faults chosen for one request."""

    delay_seconds: float = 0.0
    outcome: Outcome = Outcome.ANSWER
    status: int = 200
    retry_after: str | None = None
    """Value of the Retry-After header, if any."""
    headers: Headers = ()
    """Rate-limit headers to send (`rate_limit_headers`)."""


@dataclass(slots=True)
class Faults:
    """Fault configuration, read on every request.

    ``retry_after`` is the Retry-After header sent with 429s and 503s: None sends none, a number
    sends that many seconds, ``"http-date"`` sends an HTTP-date ``retry_after_seconds`` ahead
    (rounded up to the next whole second, so waiting until then waits at least that long), and any
    other string is sent verbatim (to test hints a client must ignore). ``fail_first_n`` makes the
    next N requests answer ``fail_status``; it counts down as they happen.

    ``rate_limit`` > 0 enforces a global token bucket of that many requests per second and
    ``rate_limit_burst`` tokens (see `simulator.ratelimit`): over it, a 429 whose Retry-After is
    the exact wait for the next token. ``rate_limit_headers`` (``ietf``, ``ietf-structured`` or
    ``x``) also describes the bucket in that style's headers on every answer.
    """

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    rate_429: float = 0.0
    retry_after: float | str | None = None
    retry_after_seconds: float = 1.0
    rate_5xx: float = 0.0
    slow_probability: float = 0.0
    slow_seconds: float = 5.0
    drop_probability: float = 0.0
    truncate_probability: float = 0.0
    garbage_probability: float = 0.0
    empty_page_probability: float = 0.0
    fail_first_n: int = 0
    fail_status: int = 429
    rate_limit: float = 0.0
    rate_limit_burst: float = 1.0
    rate_limit_headers: HeaderStyle | None = None
    seed: int = 0
    _bucket: TokenBucket = field(init=False, repr=False, compare=False)
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._bucket = TokenBucket()

    def decide(self) -> FaultDecision:
        """Draw this request's faults. Precedence: fail_first_n, the rate limit, 429, 5xx, drop,
        truncate, garbage, empty page; latency and slow delays add to any of them."""
        with self._lock:
            delay = self.latency_ms / 1000
            if self.latency_jitter_ms > 0:
                delay += self._rng.random() * self.latency_jitter_ms / 1000
            if self._hit(self.slow_probability):
                delay += self.slow_seconds
            headers: Headers = ()
            if self.rate_limit > 0:
                admission = self._bucket.admit(
                    self.rate_limit, self.rate_limit_burst, self.rate_limit_headers
                )
                headers = admission.headers
                if not admission.allowed and self.fail_first_n <= 0:
                    return FaultDecision(delay, Outcome.STATUS, 429, admission.retry_after, headers)
            return dataclasses.replace(self._draw(delay), headers=headers)

    def _draw(self, delay: float) -> FaultDecision:
        if self.fail_first_n > 0:
            self.fail_first_n -= 1
            return self._status(delay, self.fail_status)
        if self._hit(self.rate_429):
            return self._status(delay, 429)
        if self._hit(self.rate_5xx):
            return self._status(delay, self._rng.choice(_SERVER_ERRORS))
        for probability, outcome in (
            (self.drop_probability, Outcome.DROP),
            (self.truncate_probability, Outcome.TRUNCATE),
            (self.garbage_probability, Outcome.GARBAGE),
            (self.empty_page_probability, Outcome.EMPTY_PAGE),
        ):
            if self._hit(probability):
                return FaultDecision(delay, outcome)
        return FaultDecision(delay)

    def _hit(self, probability: float) -> bool:
        return probability > 0 and self._rng.random() < probability

    def _status(self, delay: float, status: int) -> FaultDecision:
        retry_after = self._retry_after_header() if status in (429, 503) else None
        return FaultDecision(delay, Outcome.STATUS, status, retry_after)

    def _retry_after_header(self) -> str | None:
        hint = self.retry_after
        if hint is None:
            return None
        if hint == "http-date":
            return formatdate(math.ceil(time.time() + self.retry_after_seconds), usegmt=True)
        if isinstance(hint, str):
            return hint
        return str(int(hint)) if float(hint).is_integer() else str(hint)


def truncated(body: bytes) -> bytes:
    """The first half of a body: never valid JSON when the body is a JSON object."""
    return body[: len(body) // 2]
