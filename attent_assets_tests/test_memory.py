"""Peak memory of a full sync stays flat as the number of events grows (exact figures: bench/).

Each sync runs in a fresh process (`python -m bench.memory`), so the figure holds the sync alone,
with batches and commits small enough that both sizes span many of them (what a sync holds is
bounded by `SyncSettings.commit_bytes`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from attent_assets.simulator import SimulatorServer, World
from attent_assets_tests.harness import SIMULATOR_KEY
from bench.memory import PeakRss, peak_rss


def _peak(events_per_lead: int) -> PeakRss:
    world = World(
        seed=3, leads=150, events_per_lead=events_per_lead, start=datetime(2026, 3, 1, tzinfo=UTC)
    )
    with SimulatorServer(world, api_key=SIMULATOR_KEY) as server:
        return peak_rss(
            server.url,
            concurrency=8,
            page_size=200,
            api_key=SIMULATOR_KEY,
            batch_rows=2_000,
            commit_bytes=256 * 1024,
        )


def test_peak_memory_does_not_grow_with_the_number_of_events() -> None:
    small = _peak(20)
    large = _peak(80)
    assert large.events >= 3.5 * small.events
    # Generous: a sync that held every event in memory would grow by far more than this.
    assert large.peak_mib <= 1.3 * small.peak_mib, (small, large)
