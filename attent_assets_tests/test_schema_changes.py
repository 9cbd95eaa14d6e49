"""A warehouse written by an older declaration follows the current one: a type that gets its own
table has its rows moved out of `other_events` (exactly once, also when killed mid-move), and the
unknown-types check stops naming it."""

from __future__ import annotations

import signal
import subprocess
from dataclasses import replace
from pathlib import Path

from attent_assets.simulator import SimulatorServer, World
from attent_assets.storage import Store
from attent_assets.sync import LAYOUT, Mode, SyncEngine, Window
from attent_assets_tests import crash_probe
from attent_assets_tests.conftest import WORLD_START
from attent_assets_tests.harness import SIMULATOR_KEY, Harness

PROJECT_ROOT = Path(__file__).parents[1]
#: The declaration before CALL had a table: its events landed in other_events.
WITHOUT_CALLS = replace(
    LAYOUT, event_tables=tuple(t for t in LAYOUT.event_tables if t.event_type != "CALL")
)


def _synced_by_the_old_declaration(harness: Harness) -> int:
    """A full sync through WITHOUT_CALLS; how many CALL events other_events holds."""
    with harness.client() as client, Store.open(harness.data_dir, WITHOUT_CALLS, "old") as store:
        SyncEngine(client, store, harness.settings).sync(Mode.REPLAY, Window(start=None))
        assert "CALL" in {kind for kind, _, _ in store.unknown_types()}
    return _calls_in(harness, "other_events")


def _calls_in(harness: Harness, table: str) -> int:
    return int(harness.query(f"SELECT count(*) FROM attent.{table} WHERE type = 'CALL'")[0][0])


def _world() -> World:
    return World(seed=5, leads=12, events_per_lead=8, start=WORLD_START)


def test_a_type_given_a_table_moves_out_of_other_events(tmp_path: Path) -> None:
    with SimulatorServer(_world(), api_key=SIMULATOR_KEY) as server:
        harness = Harness(server=server, data_dir=tmp_path / "data")
        calls = _synced_by_the_old_declaration(harness)
        assert calls > 0
        with harness.open() as store:  # the current declaration
            assert "CALL" not in {kind for kind, _, _ in store.unknown_types()}
        assert _calls_in(harness, "other_events") == 0
        assert _calls_in(harness, "calls") == calls
        typed = harness.query("SELECT count(*) FROM attent.calls WHERE call_status IS NOT NULL")
        assert typed[0][0] > 0  # typed from the stored data, not only copied
        harness.run(Mode.INCREMENTAL)
        harness.assert_converged()  # every (type, id) once, in the table its type routes to


def test_killed_in_the_middle_of_the_move_the_next_open_moves_every_row_once(
    tmp_path: Path,
) -> None:
    with SimulatorServer(_world(), api_key=SIMULATOR_KEY) as server:
        harness = Harness(server=server, data_dir=tmp_path / "data")
        calls = _synced_by_the_old_declaration(harness)
        kill = crash_probe.KillAt("attent_assets.storage.ddl", "_copy_from_catch_all", 1, "after")
        child = subprocess.run(
            crash_probe.command(server.url, harness.data_dir, Mode.INCREMENTAL, kill=kill),
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert child.returncode == -signal.SIGKILL, child.stderr
        # Rolled back whole (the new table included): the rows are where they were, once.
        assert _calls_in(harness, "other_events") == calls
        tables = "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'attent'"
        assert ("calls",) not in harness.query(tables)
        harness.run(Mode.INCREMENTAL)
        assert (_calls_in(harness, "other_events"), _calls_in(harness, "calls")) == (0, calls)
        harness.assert_converged()
