"""The client's pacing: one limiter shared by every request of a client (leads listing and events
fan-out alike), so the process sends at one rate whatever its threads do.

Requests leave at evenly spaced slots of the current rate:
- `max_requests_per_second` set: that fixed rate, whatever the server says;
- unset: unlimited until the server shows its limit, then the rate the server's headers give
  (`QUOTA_HEADROOM` of their quota per window, see `quota.py`) or, without headers, the rate
  learned from 429s (`congestion.py`), whichever is lower.
Whatever the rate, no request leaves before a Retry-After has passed (it blocks every thread, not
just the one that was told), nor, when the headers give no quota per window to pace with, while
they say the quota is spent (`Remaining: 0`) until its reset. (With a known quota the pace already
keeps within it, and a `Remaining: 0` is stale by the time it arrives: a token bucket has
refilled during the answer's latency.)
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Final

from attent_assets.api.congestion import AdaptiveRate
from attent_assets.api.quota import Quota

Sleep = Callable[[float], None]

#: Pace at this fraction of a quota the server announces: against a bucket without burst, the
#: jitter in arrival times would otherwise turn a pace just under the limit into 429s.
QUOTA_HEADROOM: Final = 0.9
#: How much of an interval a late sender may make up on the next one.
_LATE_CREDIT: Final = 0.25
#: Seconds between checks for a cancellation while queueing for the next slot.
_TURN_POLL: Final = 0.05


class RateLimiter:
    """Blocks senders as needed; `clock` and `sleep` are injectable so tests need no real time.

    `fixed_rate` is the user's cap (None: adaptive); `max_hold` bounds how long a spent quota
    blocks senders (a Retry-After arrives already clamped by the retry policy).
    """

    def __init__(
        self,
        *,
        fixed_rate: float | None = None,
        max_hold: float = math.inf,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self._fixed_rate = fixed_rate
        self._max_hold = max_hold
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._turn = threading.Lock()
        self._adaptive = AdaptiveRate()
        self._quota_rate: float | None = None
        self._next_slot = -math.inf
        self._blocked_until = -math.inf
        self._tickets = 0
        self._decrease_ticket = 0

    @property
    def rate(self) -> float | None:
        """The current pace in requests per second; None when unlimited."""
        with self._lock:
            return self._rate()

    @property
    def blocked_until(self) -> float:
        """The clock time before which no request may be sent (a past time when not blocked)."""
        return self._blocked_until

    def acquire(self, sleep: Sleep | None = None) -> int:
        """Wait until the caller may send one request; returns its ticket for `on_throttle`.

        `sleep` replaces the limiter's sleep for this call (e.g. one that a cancellation
        interrupts by raising).
        """
        pause = sleep or self._sleep
        paced = False
        # One sender at a time waits for the next slot, the others queue behind it: a herd of
        # threads waking at every slot would delay the one that takes it, and the jitter in
        # arrival times is what makes a server with a small burst answer 429 below its limit.
        while not self._turn.acquire(timeout=_TURN_POLL):
            pause(0)  # lets a cancellation interrupt the queue
        try:
            while True:
                with self._lock:
                    now = self._clock()
                    rate = self._rate()
                    wait = self._blocked_until - now
                    if rate is not None:
                        wait = max(wait, self._next_slot - now)
                    if wait <= 0:
                        return self._claim(now, rate, paced)
                    # Waiting for a slot is pacing; waiting for a Retry-After is not.
                    paced = wait > self._blocked_until - now
                # The slot is claimed after the wait, not before: a rate that changes meanwhile
                # (or a Retry-After that arrives) applies to the waiting sender.
                pause(wait)
        finally:
            self._turn.release()

    def on_success(self, quota: Quota | None = None) -> None:
        """A 200: the learned rate may grow; the headers, if any, are taken into account."""
        with self._lock:
            now = self._clock()
            self._adaptive.succeeded(now)
            self._take_quota(quota, now)

    def on_throttle(
        self, retry_after: float | None, ticket: int | None = None, quota: Quota | None = None
    ) -> None:
        """A 429: block everyone for `retry_after` seconds if given, and lower the learned rate
        unless `ticket` shows the request was sent before the latest decrease or the answer
        gives the quota (whose pace then stands)."""
        with self._lock:
            now = self._clock()
            if retry_after is not None and retry_after > 0:
                self._block(now + retry_after)
            self._take_quota(quota, now)
            if quota is not None and quota.rate is not None:
                return  # the server's own figures pace the client; nothing to learn
            if ticket is not None and ticket < self._decrease_ticket:
                return
            if self._adaptive.congested(now, self._rate()):
                self._decrease_ticket = self._tickets

    def _claim(self, now: float, rate: float | None, paced: bool) -> int:
        if rate is not None:
            # A sender woken a little late keeps the grid, so wake-up delays do not add up to a
            # lower rate; after an idle spell the grid restarts (no burst of saved-up slots).
            late = now - self._next_slot
            credit = late if 0 < late <= _LATE_CREDIT / rate else 0.0
            self._next_slot = now - credit + 1.0 / rate
        self._adaptive.sent(now, paced=paced)
        ticket = self._tickets
        self._tickets += 1
        return ticket

    def _rate(self) -> float | None:
        if self._fixed_rate is not None:
            return self._fixed_rate
        rates = [r for r in (self._adaptive.rate, self._quota_rate) if r is not None]
        return min(rates) if rates else None

    def _take_quota(self, quota: Quota | None, now: float) -> None:
        if quota is None:
            return
        if quota.rate is not None:
            self._quota_rate = QUOTA_HEADROOM * quota.rate
        if quota.spent and quota.reset is not None and quota.rate is None:
            self._block(now + min(quota.reset, self._max_hold))

    def _block(self, until: float) -> None:
        self._blocked_until = max(self._blocked_until, until)
