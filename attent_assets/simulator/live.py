"""Steady background changes to a World, so a demo's sync always has something new to fetch."""

from __future__ import annotations

import threading
import time
from typing import Final

from attent_assets.simulator.world import World

_MIN_INTERVAL_SECONDS: Final = 0.1


class LiveActivity:
    """Calls ``world.advance`` from a daemon thread at ``changes_per_second`` on average, waking at
    most ten times a second (fast rates apply several changes per wake)."""

    def __init__(self, world: World, changes_per_second: float) -> None:
        if changes_per_second <= 0:
            raise ValueError("changes_per_second must be > 0")
        self._world = world
        self._rate = changes_per_second
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="attent-simulator-live", daemon=True)

    def start(self) -> LiveActivity:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        interval = max(_MIN_INTERVAL_SECONDS, 1 / self._rate)
        started = time.monotonic()
        applied = 0
        while not self._stopping.wait(interval):
            due = int((time.monotonic() - started) * self._rate) - applied
            if due > 0:
                self._world.advance(due)
                applied += due
