"""Client-side rate limiting that adapts to the server's 429s (AIMD), shared by a client's threads.

The API publishes no rate limits, so the limiter starts unlimited and learns from throttling:
- a 429 with Retry-After blocks every thread until that deadline, not just the one that was told;
- a 429 also caps the send rate at half the demand observed just before it (never below
  `min_rate`), and a further 429 halves the cap again;
- each success raises the cap by a fixed step (additive increase) until it is back at the demand
  that was throttled, and then the limiter is unlimited again.

A 429 answering a request that was sent before the latest decrease says nothing about the new rate
(with 16 threads, up to 16 such answers arrive at once), so `on_throttle` takes the ticket returned
by `acquire` and ignores those for the rate, while still honouring their Retry-After.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

Sleep = Callable[[float], None]


class AdaptiveRateLimiter:
    """Blocks senders as needed; `clock` and `sleep` are injectable so tests need no real time.

    `window` is how far back sends count towards the observed demand; `recovery_requests` is how
    many successes take the cap from half the demand back to the full demand.
    """

    def __init__(
        self,
        *,
        min_rate: float = 1.0,
        window: float = 5.0,
        recovery_requests: int = 10,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self._min_rate = min_rate
        self._window = window
        self._recovery_requests = recovery_requests
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._rate: float | None = None
        self._target = min_rate
        self._step = 0.0
        self._next_slot = -math.inf
        self._blocked_until = -math.inf
        self._sends: deque[float] = deque()
        self._first_send: float | None = None
        self._tickets = 0
        self._decrease_ticket = 0

    @property
    def rate(self) -> float | None:
        """The current cap in requests per second; None when unlimited."""
        return self._rate

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
        while True:
            with self._lock:
                now = self._clock()
                ticket: int | None = None
                if now < self._blocked_until:
                    wait = self._blocked_until - now
                else:
                    slot = now
                    if self._rate is not None:
                        slot = max(now, self._next_slot)
                        self._next_slot = slot + 1.0 / self._rate
                    ticket = self._issue(slot)
                    wait = slot - now
                    if wait <= 0:
                        return ticket
            pause(wait)
            # A Retry-After that arrived while this caller waited for its slot still applies.
            if ticket is not None and self._clock() >= self._blocked_until:
                return ticket

    def on_success(self) -> None:
        """Additive increase: a step towards the throttled demand, then unlimited again."""
        with self._lock:
            if self._rate is None:
                return
            self._rate += self._step
            # Within half a step of the target counts as there (float sums rarely land on it).
            if self._rate + self._step / 2 >= self._target:
                self._rate = None

    def on_throttle(self, retry_after: float | None, ticket: int | None = None) -> None:
        """Record a 429: block everyone for `retry_after` seconds if given, and halve the rate
        unless `ticket` shows the request was sent before the latest decrease."""
        with self._lock:
            now = self._clock()
            if retry_after is not None and retry_after > 0:
                self._blocked_until = max(self._blocked_until, now + retry_after)
            if ticket is not None and ticket < self._decrease_ticket:
                return
            if self._rate is None:
                self._target = max(self._min_rate, self._demand(now))
                self._step = self._target / (2 * self._recovery_requests)
                halved = self._target / 2
            else:
                halved = self._rate / 2
            self._rate = max(self._min_rate, halved)
            self._decrease_ticket = self._tickets

    def _issue(self, slot: float) -> int:
        if self._first_send is None:
            self._first_send = slot
        self._sends.append(slot)
        ticket = self._tickets
        self._tickets += 1
        return ticket

    def _demand(self, now: float) -> float:
        """Requests per second sent over the last `window` (or since the first send, if sooner;
        at least a tenth of a second so a burst at start-up does not read as infinite)."""
        horizon = now - self._window
        while self._sends and self._sends[0] < horizon:
            self._sends.popleft()
        start = self._first_send if self._first_send is not None else now
        span = max(min(self._window, now - start), 0.1)
        return len(self._sends) / span
