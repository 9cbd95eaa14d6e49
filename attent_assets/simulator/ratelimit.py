"""A global token-bucket rate limit, as a real API enforces one, and the headers that describe it.

The bucket holds up to `burst` tokens and refills at `rate` per second; a request that finds a
whole token takes it, one that does not is answered 429 with a Retry-After of exactly the time
until the next token (in seconds, to the millisecond: a whole-second hint would idle a client for a
second per 429 at rates of tens per second). Requests are counted when they arrive, before any
injected latency.

Header styles, sent with every answer while the limit is on (the limit is told as a quota of
`rate` per one-second window; remaining is the whole tokens left, reset the seconds until the
bucket is full again):
- ``ietf``: the draft's separate fields `RateLimit-Limit`, `RateLimit-Remaining`,
  `RateLimit-Reset` (whole seconds) and `RateLimit-Policy: R;w=1`;
- ``ietf-structured``: the later draft's `RateLimit: "default";r=N;t=S` and
  `RateLimit-Policy: "default";q=R;w=1`;
- ``x``: the common `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (whole
  seconds), the limit in Envoy's form with its window (`R, R;w=1`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Final, Literal, get_args

HeaderStyle = Literal["ietf", "ietf-structured", "x"]
HEADER_STYLES: Final = get_args(HeaderStyle)
Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Admission:
    """The bucket's answer to one request."""

    allowed: bool
    retry_after: str | None
    headers: Headers


class TokenBucket:
    """Token-bucket state; not thread-safe on its own (`Faults` calls it under its lock)."""

    def __init__(self) -> None:
        self._tokens: float | None = None
        self._refilled_at = 0.0

    def admit(
        self, rate: float, burst: float, style: HeaderStyle | None, now: float | None = None
    ) -> Admission:
        """Take a token if there is one at `now` (monotonic seconds), under the current settings
        (a test may change them between requests: the bucket keeps its tokens)."""
        now = time.monotonic() if now is None else now
        capacity = max(burst, 1.0)
        if self._tokens is None:
            self._tokens = capacity
        else:
            elapsed = max(0.0, now - self._refilled_at)
            self._tokens = min(capacity, self._tokens + elapsed * rate)
        self._refilled_at = now
        allowed = self._tokens >= 1.0
        retry_after = None
        if allowed:
            self._tokens -= 1.0
        else:
            retry_after = f"{math.ceil(1000 * (1.0 - self._tokens) / rate) / 1000:.3f}"
        full_in = (capacity - self._tokens) / rate
        headers = _headers(style, rate, math.floor(self._tokens), full_in) if style else ()
        return Admission(allowed, retry_after, headers)


def _headers(style: HeaderStyle, rate: float, remaining: int, full_in: float) -> Headers:
    limit = f"{rate:g}"
    reset = str(math.ceil(full_in))
    if style == "ietf":
        return (
            ("RateLimit-Limit", limit),
            ("RateLimit-Remaining", str(remaining)),
            ("RateLimit-Reset", reset),
            ("RateLimit-Policy", f"{limit};w=1"),
        )
    if style == "ietf-structured":
        return (
            ("RateLimit", f'"default";r={remaining};t={reset}'),
            ("RateLimit-Policy", f'"default";q={limit};w=1'),
        )
    return (
        ("X-RateLimit-Limit", f"{limit}, {limit};w=1"),
        ("X-RateLimit-Remaining", str(remaining)),
        ("X-RateLimit-Reset", reset),
    )
