"""The readers' views.duckdb: a reader in another process keeps it open through several syncs,
blocks none of them, and sees each table exactly as the warehouse has it after every run."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import duckdb
import pytest

from attent_assets.simulator import SimulatorServer, World
from attent_assets.storage import VIEWS_FILE, CompactionPolicy, Store, WarehouseLockedError
from attent_assets.sync import LAYOUT, Mode, SyncEngine
from attent_assets_tests.conftest import WORLD_START
from attent_assets_tests.harness import SIMULATOR_KEY, Harness

TABLES = ["leads", *(table.name for table in LAYOUT.event_tables)]
#: Seconds a sync waits for a held DuckDB lock here: a reader that blocked it would fail it.
LOCK_TIMEOUT = 0.5

#: A reader process: holds one read-only connection open and answers a SQL query per input line
#: with its rows as one JSON line.
_READER = """
import json, sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("SET TimeZone = 'UTC'")
print("ready", flush=True)
for line in sys.stdin:
    try:
        rows = con.execute(line).fetchall()
        print(json.dumps({"rows": rows}, default=str), flush=True)
    except Exception as error:
        print(json.dumps({"error": str(error)}), flush=True)
"""


class Reader:
    """A notebook in another process, connected all along to one DuckDB file."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._process = process
        self._stdin: IO[str] = process.stdin  # type: ignore[assignment]
        self._stdout: IO[str] = process.stdout  # type: ignore[assignment]
        assert self._stdout.readline().strip() == "ready"

    def query(self, sql: str) -> list[list[Any]]:
        self._stdin.write(" ".join(sql.split()) + "\n")
        self._stdin.flush()
        answer = json.loads(self._stdout.readline())
        assert "error" not in answer, answer.get("error")
        rows: list[list[Any]] = answer["rows"]
        return rows


@contextmanager
def reader(path: Path) -> Iterator[Reader]:
    process = subprocess.Popen(
        [sys.executable, "-c", _READER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield Reader(process)
    finally:
        process.kill()
        process.wait()


def _ordered(table: str) -> str:
    keys = "id" if table == "leads" else "type, id"
    return f"SELECT * FROM attent.{table} ORDER BY {keys}"


def _warehouse(harness: Harness, table: str) -> list[list[Any]]:
    """The table as the warehouse has it, in the reader's JSON form."""
    with duckdb.connect(str(harness.data_dir / "warehouse.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(_ordered(table)).fetchall()
    decoded: list[list[Any]] = json.loads(json.dumps(rows, default=str))
    return decoded


def _sync_without_waiting(harness: Harness) -> None:
    """An incremental run and an eager compaction that give up at once on a held lock."""
    with (
        harness.client() as client,
        Store.open(harness.data_dir, LAYOUT, "run", lock_timeout=LOCK_TIMEOUT) as store,
    ):
        SyncEngine(client, store, harness.settings).sync(Mode.INCREMENTAL)
        store.compact(policy=CompactionPolicy(closed_day_files=2, open_day_files=2))


def _world() -> World:
    return World(seed=8, leads=15, events_per_lead=10, start=WORLD_START)


def test_a_reader_holding_the_views_blocks_no_sync_and_sees_every_run(tmp_path: Path) -> None:
    with SimulatorServer(_world(), api_key=SIMULATOR_KEY) as server:
        harness = Harness(server=server, data_dir=tmp_path / "data")
        harness.backfill()
        with reader(harness.data_dir / VIEWS_FILE) as notebook:
            for round_ in range(4):
                if round_:
                    harness.world.advance(25)
                    _sync_without_waiting(harness)
                for table in TABLES:
                    assert notebook.query(_ordered(table)) == _warehouse(harness, table), table
            assert notebook.query("SELECT count(*) FROM attent.leads")[0][0] == len(
                harness.world.lead_ids()
            )
        harness.assert_converged()


def test_a_reader_of_the_warehouse_file_itself_does_block_a_sync(tmp_path: Path) -> None:
    """What the views are for: DuckDB admits no writer while another process reads the file."""
    with SimulatorServer(_world(), api_key=SIMULATOR_KEY) as server:
        harness = Harness(server=server, data_dir=tmp_path / "data")
        harness.backfill()
        with reader(harness.data_dir / "warehouse.duckdb"):
            opening = Store.open(harness.data_dir, LAYOUT, "blocked", lock_timeout=LOCK_TIMEOUT)
            with pytest.raises(WarehouseLockedError), opening:
                pass


def test_views_of_an_empty_lake_have_the_tables_columns(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with Store.open(data_dir, LAYOUT, "empty"):
        pass
    with (
        duckdb.connect(str(data_dir / VIEWS_FILE), read_only=True) as views,
        duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as warehouse,
    ):
        for table in TABLES:
            shape = f"DESCRIBE attent.{table}"
            columns = [row[:2] for row in views.execute(shape).fetchall()]
            assert columns == [row[:2] for row in warehouse.execute(shape).fetchall()]
            assert views.execute(f"SELECT count(*) FROM attent.{table}").fetchone() == (0,)


def test_a_new_declaration_replaces_the_views_under_a_connected_reader(tmp_path: Path) -> None:
    """A type given a table: the sync writes new views beside the old and renames them into place;
    the connected reader keeps working on the old ones, a new connection sees the new table."""
    without_calls = replace(
        LAYOUT, event_tables=tuple(t for t in LAYOUT.event_tables if t.event_type != "CALL")
    )
    with SimulatorServer(_world(), api_key=SIMULATOR_KEY) as server:
        harness = Harness(server=server, data_dir=tmp_path / "data")
        with Store.open(harness.data_dir, without_calls, "old"):
            pass
        views = harness.data_dir / VIEWS_FILE
        with reader(views) as notebook:
            old = notebook.query("SELECT view_name FROM duckdb_views() WHERE NOT internal")
            assert ["calls"] not in old
            harness.backfill()  # the current declaration: calls has a table
            assert notebook.query("SELECT count(*) FROM attent.leads")[0][0] > 0
            with reader(views) as newcomer:
                calls = newcomer.query("SELECT count(*) FROM attent.calls")[0][0]
                assert calls == harness.query("SELECT count(*) FROM attent.calls")[0][0] > 0
        modified = views.stat().st_mtime_ns
        harness.run(Mode.INCREMENTAL)
        assert views.stat().st_mtime_ns == modified  # unchanged definition: not rewritten


def test_a_build_killed_midway_leaves_nothing_behind_after_the_next_open(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with Store.open(data_dir, LAYOUT, "first"):
        pass
    leftovers = [data_dir / f".{VIEWS_FILE}.dead", data_dir / f".{VIEWS_FILE}.dead.wal"]
    for leftover in leftovers:
        leftover.write_bytes(b"half a database")
    with Store.open(data_dir, LAYOUT, "next"):
        pass
    assert not [path for path in leftovers if path.exists()]
    assert (data_dir / VIEWS_FILE).exists()
