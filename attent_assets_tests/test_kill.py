"""A sync process SIGKILLed anywhere (fetching, writing Parquet, merging, committing cursors,
renaming, recovering) loses and duplicates nothing: the next run ends equal to the truth.

The runs that get killed are real processes (`crash_probe`); the run after them is the engine in
this process. `make test` kills at every point twice; `make soak` (ATTENT_SOAK_ROUNDS) draws
points, call counts, modes and world changes at random for as many rounds as asked.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest

from attent_assets.simulator import SimulatorServer, World
from attent_assets.sync import Mode
from attent_assets_tests import crash_probe
from attent_assets_tests.conftest import SIMULATOR_KEY, WORLD_START
from attent_assets_tests.crash_probe import KillAt
from attent_assets_tests.harness import Harness

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SOAK_ROUNDS = int(os.environ.get("ATTENT_SOAK_ROUNDS") or 0)
ROUNDS_PER_WORLD = 10


@dataclass(frozen=True)
class KillPoint:
    """A call to kill at; `calls` is about how often one run of a small world makes it."""

    module: str
    attribute: str
    when: Literal["before", "after"]
    calls: int

    def at(self, call: int) -> KillAt:
        return KillAt(self.module, self.attribute, call, self.when)


KILL_POINTS = {
    # A request in flight on one of the fetch threads.
    "fetch": KillPoint("attent_assets.api.client", "AttentClient._get_page", "before", 10),
    # A staged Parquet file written but not yet fsynced; another fsynced, the batch not committed.
    "parquet-write": KillPoint("pyarrow.parquet", "write_table", "after", 16),
    "parquet-fsync": KillPoint("attent_assets.storage.local_lake", "fsync", "after", 50),
    # Inside the commit transaction: the lead merge, the watermark, the events cursors.
    "lead-merge": KillPoint("attent_assets.storage.store", "upsert_leads", "after", 1),
    "watermark-commit": KillPoint("attent_assets.storage.state", "raise_watermark", "after", 1),
    "cursor-commit": KillPoint("attent_assets.storage.state", "advance_cursors", "after", 2),
    # Committed, staged files not moved yet; or killed between two moves (also in recovery).
    "before-rename": KillPoint("attent_assets.storage.lake", "Lake.publish", "before", 4),
    "between-renames": KillPoint("pathlib", "Path.replace", "after", 16),
    # Inside a typed merge transaction, one table merged of seven.
    "typed-merge": KillPoint("attent_assets.storage.typed", "_upsert_pending", "after", 7),
    # Compaction: a merged file staged, not committed; committed, the folders not exchanged
    # (also during the next open's recovery); exchanged, the old folder not yet deleted.
    "compaction-staged": KillPoint(
        "attent_assets.storage.compaction", "_write_merged", "after", 20
    ),
    "compaction-committed": KillPoint(
        "attent_assets.storage.local_lake", "LocalLake.finish_swap", "before", 20
    ),
    "compaction-exchanged": KillPoint("attent_assets.storage.local_lake", "_exchange", "after", 20),
}


def _probe(
    server: SimulatorServer,
    data_dir: Path,
    mode: Mode,
    kill: KillAt,
    window_start: datetime | None = None,
    lake_url: str | None = None,
) -> int:
    """Run one sync in a child process; its return code (-SIGKILL when the hook fired)."""
    command = crash_probe.command(
        server.url, data_dir, mode, kill=kill, window_start=window_start, lake_url=lake_url
    )
    child = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode in (0, -signal.SIGKILL), child.stderr
    return child.returncode


def _assert_intact(harness: Harness) -> None:
    """Equal to the truth, each version once, nothing staged, and the manifest names every file."""
    harness.assert_converged()
    harness.assert_lake_matches_manifest()


def _small_world(seed: int) -> World:
    return World(seed=seed, leads=12, events_per_lead=6, start=WORLD_START)


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_run_killed_at_each_point_then_run_again_equals_the_truth(
    point: str, tmp_path: Path
) -> None:
    """Killed in the first sync, then killed again at the same point while catching up with
    changes (now also finding the first run's leftovers), then one clean run."""
    kill = KILL_POINTS[point]
    world = _small_world(seed=len(point))
    with SimulatorServer(world, api_key=SIMULATOR_KEY) as server:
        harness = Harness(server=server, data_dir=tmp_path / "data")
        first = _probe(server, harness.data_dir, Mode.INCREMENTAL, kill.at(kill.calls // 2 + 1))
        world.advance(15)
        second = _probe(server, harness.data_dir, Mode.INCREMENTAL, kill.at(1))
        assert first == second == -signal.SIGKILL
        harness.run(Mode.INCREMENTAL)
        _assert_intact(harness)


def _random_round(rng: random.Random, harness: Harness) -> tuple[int, int]:
    """World changes, then one to three syncs (random mode) killed at random points, then a
    clean incremental run. Returns (kills that fired, syncs started)."""
    harness.world.advance(rng.randint(0, 25))
    probes = rng.randint(1, 3)
    kills = 0
    for _ in range(probes):
        point = KILL_POINTS[rng.choice(sorted(KILL_POINTS))]
        mode = rng.choice([Mode.INCREMENTAL, Mode.REPLAY, Mode.RECONCILE])
        kill = point.at(rng.randint(1, point.calls))
        # A replay of the last hours, or of everything.
        start = harness.world.now() - timedelta(hours=rng.randint(1, 96))
        window_start = start if mode is Mode.REPLAY and rng.random() < 0.5 else None
        code = _probe(harness.server, harness.data_dir, mode, kill, window_start)
        kills += code == -signal.SIGKILL
    harness.run(Mode.INCREMENTAL)
    _assert_intact(harness)
    return kills, probes


def _random_rounds(seed: int, rounds: int, data_dir: Path) -> tuple[int, int]:
    rng = random.Random(seed)
    with SimulatorServer(_small_world(seed), api_key=SIMULATOR_KEY) as server:
        harness = Harness(server=server, data_dir=data_dir)
        results = [_random_round(rng, harness) for _ in range(rounds)]
    return sum(k for k, _ in results), sum(p for _, p in results)


def test_random_kills_with_a_fixed_seed(tmp_path: Path) -> None:
    """A few random rounds (how many calls a point sees varies with batching, so not every
    drawn kill fires; the per-point test above makes sure each point does)."""
    kills, probes = _random_rounds(seed=2026, rounds=4, data_dir=tmp_path / "data")
    assert kills >= 1, (kills, probes)


@pytest.mark.parametrize("world_index", range(max(1, math.ceil(SOAK_ROUNDS / ROUNDS_PER_WORLD))))
def test_soak_random_kills(world_index: int, tmp_path: Path) -> None:
    """`make soak`: ATTENT_SOAK_ROUNDS rounds in worlds of ROUNDS_PER_WORLD rounds each."""
    if not SOAK_ROUNDS:
        pytest.skip("set ATTENT_SOAK_ROUNDS (make soak) for the long randomized kill test")
    rounds = min(ROUNDS_PER_WORLD, SOAK_ROUNDS - world_index * ROUNDS_PER_WORLD)
    kills, probes = _random_rounds(10_000 + world_index, rounds, tmp_path / "data")
    sys.stderr.write(f"soak world {world_index}: {rounds} rounds, {kills} of {probes} killed\n")
    assert kills >= probes // 3
