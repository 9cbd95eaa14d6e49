"""Two syncs at once, and a notebook holding warehouse.duckdb while a sync runs.

DuckDB lets one process write the file: a sync that finds it held waits (logging why) and then
runs, or gives up after its lock timeout with an error naming the file, before it has fetched or
written anything. Either way nothing is corrupted and nothing is half-applied.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from attent_assets.simulator import Faults, SimulatorServer, World
from attent_assets.storage import WAREHOUSE_FILE, Store, WarehouseLockedError
from attent_assets.sync import LAYOUT, Mode, SyncEngine
from attent_assets_tests import crash_probe
from attent_assets_tests.conftest import SIMULATOR_KEY
from attent_assets_tests.harness import Harness

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCK_WAIT = "is locked; retrying"


@pytest.fixture
def harness(simulator: SimulatorServer, tmp_path: Path) -> Harness:
    return Harness(server=simulator, data_dir=tmp_path / "data")


def test_an_incremental_run_and_an_overlapping_replay_at_once_both_succeed_and_converge(
    world: World, tmp_path: Path
) -> None:
    """What a sensor-launched run and a manual backfill of the last days do when they start
    together outside the Dagster pool: one waits for the other's lock, then both complete."""
    # Latency makes each run last long enough for the two to overlap.
    with SimulatorServer(world, api_key=SIMULATOR_KEY, faults=Faults(latency_ms=25)) as server:
        harness = Harness(server=server, data_dir=tmp_path / "data")
        harness.backfill()
        world.advance(40)
        replay_from = world.now() - timedelta(days=3)
        runs = [
            crash_probe.command(server.url, harness.data_dir, Mode.INCREMENTAL, run_id="sensor"),
            crash_probe.command(
                server.url,
                harness.data_dir,
                Mode.REPLAY,
                window_start=replay_from,
                run_id="backfill",
            ),
        ]
        children = [
            subprocess.Popen(
                run, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for run in runs
        ]
        outputs = [child.communicate(timeout=120) for child in children]
        assert [child.returncode for child in children] == [0, 0], outputs
        assert any(LOCK_WAIT in stderr for _, stderr in outputs)
        harness.assert_converged()


@contextmanager
def _notebook(data_dir: Path, *, read_only: bool, seconds: float) -> Iterator[None]:
    """Another process (a user's notebook) with warehouse.duckdb open for `seconds`, having
    just read from it; killed at the end of the block if still there."""
    code = (
        "import sys, time, duckdb\n"
        "con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == 'ro')\n"
        "con.execute('SELECT count(*) FROM attent.leads').fetchall()\n"
        "print('holding', flush=True)\n"
        "time.sleep(float(sys.argv[3]))\n"
        "con.close()\n"
    )
    mode = "ro" if read_only else "rw"
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(data_dir / WAREHOUSE_FILE), mode, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "holding"
        yield
    finally:
        holder.kill()
        holder.wait()


def _fingerprint(data_dir: Path) -> tuple[str, frozenset[str]]:
    """The warehouse file's bytes and the lake's file names."""
    digest = hashlib.sha256((data_dir / WAREHOUSE_FILE).read_bytes()).hexdigest()
    lake = frozenset(p.relative_to(data_dir).as_posix() for p in (data_dir / "lake").rglob("*"))
    return digest, lake


@pytest.mark.parametrize("read_only", [True, False], ids=["read-only", "read-write"])
def test_a_sync_waits_for_a_notebook_then_succeeds(
    harness: Harness, read_only: bool, caplog: pytest.LogCaptureFixture
) -> None:
    harness.backfill()
    harness.world.advance(30)
    with (
        _notebook(harness.data_dir, read_only=read_only, seconds=0.8),
        caplog.at_level(logging.WARNING, logger="attent_assets.storage.connection"),
    ):
        harness.run(Mode.INCREMENTAL)
    waits = [r.getMessage() for r in caplog.records if LOCK_WAIT in r.getMessage()]
    assert waits
    assert all(WAREHOUSE_FILE in line and "Conflicting lock" in line for line in waits)
    harness.assert_converged()


@pytest.mark.parametrize("read_only", [True, False], ids=["read-only", "read-write"])
def test_a_sync_gives_up_on_a_held_warehouse_naming_it_and_changes_nothing(
    harness: Harness, read_only: bool
) -> None:
    harness.backfill()
    harness.world.advance(30)
    before = _fingerprint(harness.data_dir)
    harness.server.stats.reset()
    with _notebook(harness.data_dir, read_only=read_only, seconds=60):
        with (
            pytest.raises(WarehouseLockedError, match=r"warehouse\.duckdb.*another") as error,
            harness.client() as client,
            Store.open(harness.data_dir, LAYOUT, "blocked", lock_timeout=0.5) as store,
        ):
            SyncEngine(client, store, harness.settings).sync(Mode.INCREMENTAL)
        assert str(harness.data_dir) in str(error.value)
        assert harness.server.stats.requests_total == 0
    assert _fingerprint(harness.data_dir) == before

    harness.run(Mode.INCREMENTAL)
    harness.assert_converged()
