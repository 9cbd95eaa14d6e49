"""Peak memory of a full sync stays flat as the number of events grows (exact figures: bench/)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from attent_assets.simulator import SimulatorServer, World
from attent_assets_tests.harness import SIMULATOR_KEY


def _peak_rss_kib(events_per_lead: int, data_dir: Path) -> tuple[int, int]:
    world = World(
        seed=3, leads=150, events_per_lead=events_per_lead, start=datetime(2026, 3, 1, tzinfo=UTC)
    )
    with SimulatorServer(world, api_key=SIMULATOR_KEY) as server:
        out = subprocess.run(
            [sys.executable, "-m", "attent_assets_tests.sync_probe", server.url, str(data_dir)],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout.split()
    return int(out[0]), int(out[1])


def test_peak_memory_does_not_grow_with_the_number_of_events(tmp_path: Path) -> None:
    small_events, small_peak = _peak_rss_kib(20, tmp_path / "small")
    large_events, large_peak = _peak_rss_kib(80, tmp_path / "large")
    assert large_events >= 3.5 * small_events
    # Generous: a sync that held every event in memory would grow by far more than this.
    assert large_peak <= 1.3 * small_peak, (small_peak, large_peak)
