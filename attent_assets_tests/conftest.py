"""Shared fixtures: a small seeded simulated world and a simulator serving it on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from attent_assets.simulator import SimulatorServer, World

WORLD_START = datetime(2026, 3, 1, tzinfo=UTC)
SIMULATOR_KEY = "test-key"


@pytest.fixture
def world() -> World:
    """20 leads with 8 events each, history from 2026-03-01 over about 20 days."""
    return World(seed=7, leads=20, events_per_lead=8, start=WORLD_START)


@pytest.fixture
def simulator(world: World) -> Iterator[SimulatorServer]:
    """A started simulator over ``world`` with api key "test-key"; stopped afterwards."""
    server = SimulatorServer(world, api_key=SIMULATOR_KEY).start()
    yield server
    server.stop()
