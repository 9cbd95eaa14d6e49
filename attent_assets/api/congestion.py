"""The send rate learned from 429s alone: one decrease per congestion event, then probing upward.

A server that publishes no limit still shows it: the rate at which it *accepts* requests cannot
exceed its limit for long. So a congestion event (a 429) measures the rate of the last
`SAMPLES` accepted requests and drops to `BACKOFF` of it — not to a fraction of the previous rate,
which a burst of 429s from many threads would compound towards nothing; a burst of 429s that
follows a good stretch measures that stretch. From there the rate follows CUBIC's curve (TCP's
default congestion control): back to the measured rate within `PLATEAU_AT` seconds, level around
it for a while, then probing beyond it faster and faster, so a lifted limit is found within a few
seconds while a steady one is crossed only every second or two, costing a 429 or so each time.

One event per reaction: a 429 answering a request sent before the latest decrease says nothing
about the new rate (the limiter filters those by ticket), and 429s closer than `REACTION_GAP` are
one event. When no accepted rate can be measured (no recent successes), the rate is halved. The
curve only advances while the limiter is actually pacing requests: a rate the client does not
reach has not been shown to be accepted.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final

#: On congestion, the rate drops to this fraction of the accepted rate just measured.
BACKOFF: Final = 0.9
#: Seconds after an event at which the curve is back at the measured rate.
PLATEAU_AT: Final = 0.75
#: The curve: measured * (1 + _CUBIC * (t - PLATEAU_AT) ** 3), `BACKOFF` of it at t = 0.
_CUBIC: Final = (1 - BACKOFF) / PLATEAU_AT**3
#: Seconds of accepted requests the accepted rate is measured over, and how many it needs.
WINDOW: Final = 1.0
MIN_SAMPLES: Final = 4
#: Until the first real measurement (or after a long storm of 429s), the rate doubles this often
#: (seconds of pacing), like TCP's slow start.
DOUBLING: Final = 0.25
#: 429s closer together than this (seconds) are one congestion event.
REACTION_GAP: Final = 0.25
#: The curve advances only while the limiter paced a request this recently (seconds).
PACED_RECENTLY: Final = 1.0
MIN_RATE: Final = 0.5


class AdaptiveRate:
    """The learned rate. Not thread-safe: the limiter calls it under its lock, with its clock's
    `now`."""

    def __init__(self) -> None:
        self._measured: float | None = None
        self._provisional = False
        self._probing = 0.0
        self._successes: deque[float] = deque()
        self._first_send: float | None = None
        self._last_event = -math.inf
        self._last_update = 0.0
        self._paced_at = -math.inf

    @property
    def rate(self) -> float | None:
        """Requests per second; None until the first congestion event."""
        if self._measured is None:
            return None
        if self._provisional:
            growth = 2 ** (self._probing / DOUBLING)
        else:
            growth = 1 + _CUBIC * (self._probing - PLATEAU_AT) ** 3
        return max(MIN_RATE, self._measured * growth)

    def sent(self, now: float, *, paced: bool) -> None:
        """A request is being sent; `paced` when the limiter delayed it for its slot."""
        if self._first_send is None:
            self._first_send = now
        if paced:
            self._paced_at = now

    def succeeded(self, now: float) -> None:
        """A 200: count it, and advance the curve if the client is using the whole rate."""
        self._successes.append(now)
        if now - self._paced_at <= PACED_RECENTLY:
            self._probing += max(0.0, now - self._last_update)
        self._last_update = now

    def congested(self, now: float, pace: float | None) -> bool:
        """A 429 (from a request sent after the latest decrease) while the limiter sends at
        `pace` (None: unlimited): decrease unless this is the event already reacted to. Returns
        whether the rate was decreased."""
        if now - self._last_event < REACTION_GAP:
            return False
        while self._successes and self._successes[0] < now - WINDOW:
            self._successes.popleft()
        recent = self._successes
        accepted = self._latest_rate()
        if accepted is not None:
            self._measured = accepted if pace is None else min(accepted, pace)
            self._provisional = False
        elif pace is not None:
            self._measured, self._provisional = pace / 2, True
        elif recent and self._first_send is not None:
            # The first 429s: what was accepted so far, a floor to grow from quickly.
            span = max(REACTION_GAP, now - max(self._first_send, now - WINDOW))
            self._measured, self._provisional = len(recent) / span, True
        else:
            return False  # nothing accepted yet; the Retry-After hints pace meanwhile
        self._probing = 0.0
        self._last_event = now
        self._last_update = now
        return True

    def _latest_rate(self) -> float | None:
        """The accepted rate over the latest `REACTION_GAP` of successes (or the latest
        `MIN_SAMPLES` of them, if that is longer); a longer span would lag behind a rising rate.
        None when the window holds too few, or they came in one burst."""
        recent = self._successes
        if len(recent) < MIN_SAMPLES:
            return None
        latest = recent[-1]
        count = sum(1 for at in recent if at >= latest - REACTION_GAP)
        first = recent[-max(count, MIN_SAMPLES)]
        if latest - first < REACTION_GAP / 2:
            return None
        return (max(count, MIN_SAMPLES) - 1) / (latest - first)
