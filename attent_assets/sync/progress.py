"""Progress lines for long runs: a user watching a backfill sees it move and when it will end."""

from __future__ import annotations

import logging
import time


class Progress:
    """Logs `done / total` with rate and ETA at most every `interval` seconds."""

    def __init__(self, log: logging.Logger, what: str, total: int, interval: float = 10.0) -> None:
        self._log = log
        self._what = what
        self._total = total
        self._interval = interval
        self._started = time.monotonic()
        self._last = self._started

    def update(self, done: int, events: int) -> None:
        now = time.monotonic()
        if now - self._last < self._interval:
            return
        self._last = now
        elapsed = now - self._started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self._total - done) / rate if rate > 0 else float("inf")
        self._log.info(
            "%s: %d/%d leads, %d events, %.0f leads/s, ETA %s",
            self._what,
            done,
            self._total,
            events,
            rate,
            f"{eta:.0f}s" if eta != float("inf") else "unknown",
        )
