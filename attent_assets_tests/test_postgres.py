"""The production instance (deploy/dagster.yaml) on a real PostgreSQL server: its storage, run
queue and pool limit; the sensor ticked by the daemon's own code, its ticks and cursor stored and
read back, the runs it requests queued, launched through a gRPC code server and succeeding; and
the database password nowhere in what the instance stores. test_topology.py runs the same instance
with the webserver, the daemon and the code server as separate processes, and two runs competing
for the warehouse pool.

Each test process (pytest-xdist worker) starts its own server (a few seconds; conftest.py); the
instance's tables and the pool limit are set up once per server in a template database, the way
README's "Deploying" says, and every test gets a fresh copy of it, so tests share no runs or ticks.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.remote_representation.external import RemoteSensor
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.scheduler.instigation import InstigatorTick, TickStatus
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)
from dagster._daemon.sensor import execute_sensor_iteration
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from attent_assets.defs.cursor import LeadChangeCursor
from attent_assets.defs.run_requests import PartitionRange, sync_request
from attent_assets.simulator import SimulatorServer
from attent_assets.sync import Mode
from attent_assets_tests.harness import SIMULATOR_KEY, Harness
from attent_assets_tests.postgres_server import PostgresServer
from attent_assets_tests.surface import NAMES, PARTITIONS

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_YAML = ROOT / "deploy" / "dagster.yaml"
TEMPLATE = "attent_template"
LOCATION = "attent_assets"
SENSOR = "attent_lead_changes"
RUN_SECONDS = 90.0
LOG = logging.getLogger("attent_assets_tests.postgres")
POOL = NAMES.default_pool


def _dagster_home(folder: Path) -> Path:
    """A DAGSTER_HOME holding the production dagster.yaml, as a deployment copies it."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEPLOY_YAML, folder / "dagster.yaml")
    return folder


@pytest.fixture(scope="session")
def template(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database set up as README's "Deploying" says: the instance creates its tables when it
    first opens the database, and `dagster instance concurrency set` gives the pool its limit."""
    postgres.create_database(TEMPLATE)
    home = _dagster_home(tmp_path_factory.mktemp("template") / "dagster_home")
    env = {**os.environ, **postgres.environment(TEMPLATE), "DAGSTER_HOME": str(home)}
    subprocess.run(
        [sys.executable, "-m", "dagster", "instance", "concurrency", "set", POOL, "1"],
        env=env,
        check=True,
        capture_output=True,
    )
    return TEMPLATE


@pytest.fixture
def instance(
    postgres: PostgresServer, template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    """The instance loaded from deploy/dagster.yaml, on a fresh copy of the template database;
    the DAGSTER_PG_* variables stay set for the processes the test starts."""
    database = f"attent_{uuid.uuid4().hex[:12]}"
    postgres.create_database(database, template=template)
    home = _dagster_home(tmp_path / "dagster_home")
    for name, value in {**postgres.environment(database), "DAGSTER_HOME": str(home)}.items():
        monkeypatch.setenv(name, value)
    instance = dg.DagsterInstance.get()
    try:
        yield instance
    finally:
        instance.dispose()


@pytest.fixture
def attent_env(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project's settings (DESIGN section 5) for this process and the processes it starts:
    the simulator, a one-second sensor interval, a data folder; returns the data folder."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("ATTENT_BASE_URL", simulator.url)
    monkeypatch.setenv("ATTENT_API_KEY", SIMULATOR_KEY)
    monkeypatch.setenv("ATTENT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ATTENT_SENSOR_INTERVAL_SECONDS", "1")
    return data_dir


def test_the_production_instance_keeps_everything_in_postgres_and_limits_only_this_pool(
    instance: dg.DagsterInstance,
) -> None:
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    assert instance.event_log_storage.get_concurrency_info(POOL).slot_count == 1
    # Other projects' pools in the same instance keep whatever limit they set themselves.
    assert instance.global_op_concurrency_default_limit is None
    assert instance.event_log_storage.get_concurrency_info("another_pool").slot_count == 0
    for kind in (InstigatorType.SENSOR, InstigatorType.SCHEDULE):
        retained = instance.get_tick_retention_settings(kind)
        assert retained[TickStatus.SUCCESS] == 7


# --- the sensor and its runs, through the daemon's code ------------------------------------------


def _tick(workspace: WorkspaceProcessContext) -> None:
    """One sensor daemon iteration: evaluates the sensor in the code server, stores the tick and
    its cursor, submits the requested runs to the run queue."""
    list(execute_sensor_iteration(workspace, LOG, None, None))


def _launch_queued(workspace: WorkspaceProcessContext, instance: dg.DagsterInstance) -> list[str]:
    """One run queue daemon iteration (launches the queued runs through the code server, each
    in its own process), then waits for those runs to end; returns their ids."""
    queued = [
        r.run_id for r in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))
    ]
    list(QueuedRunCoordinatorDaemon(interval_seconds=1).run_iteration(workspace))
    deadline = time.monotonic() + RUN_SECONDS
    for run_id in queued:
        while not _run(instance, run_id).is_finished:
            assert time.monotonic() < deadline, f"run {run_id} did not finish"
            time.sleep(0.2)
    return queued


def _run(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run


def _sensor(workspace: WorkspaceProcessContext) -> RemoteSensor:
    location = workspace.create_request_context().get_code_location(LOCATION)
    (repository,) = location.get_repositories().values()
    return repository.get_sensor(SENSOR)


def _ticks(instance: dg.DagsterInstance, sensor: RemoteSensor) -> list[InstigatorTick]:
    """The sensor's stored ticks, oldest first."""
    return list(reversed(instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id)))


def _pause_for_the_interval(ticks: list[InstigatorTick]) -> None:
    """The daemon ticks a sensor at most once per interval (one second here)."""
    wait = ticks[-1].timestamp + 1.05 - time.time()
    if wait > 0:
        time.sleep(wait)


def test_sensor_ticks_and_cursor_are_stored_and_its_runs_succeed(
    instance: dg.DagsterInstance,
    attent_env: Path,
    simulator: SimulatorServer,
    postgres: PostgresServer,
) -> None:
    harness = Harness(server=simulator, data_dir=attent_env)
    target = ModuleTarget(
        module_name="attent_assets.definitions",
        attribute=None,
        working_directory=str(ROOT),
        location_name=LOCATION,
    )
    with create_test_daemon_workspace_context(target, instance) as workspace:
        sensor = _sensor(workspace)

        _tick(workspace)  # nothing synced yet: the first sync
        (first,) = _launch_queued(workspace, instance)
        harness.assert_converged()

        _pause_for_the_interval(_ticks(instance, sensor))
        _tick(workspace)  # caught up: skipped, but the cursor moves to what it read
        caught_up = _ticks(instance, sensor)[-1]

        simulator.world.advance(6)
        _pause_for_the_interval(_ticks(instance, sensor))
        _tick(workspace)  # changes: one incremental run from the stored cursor
        (incremental,) = _launch_queued(workspace, instance)
        harness.assert_converged()

    ticks = _ticks(instance, sensor)
    assert [t.status for t in ticks] == [TickStatus.SUCCESS, TickStatus.SKIPPED, TickStatus.SUCCESS]
    assert [t.run_ids for t in ticks] == [[first], [], [incremental]]
    assert caught_up.cursor is not None
    stored = LeadChangeCursor.decode(caught_up.cursor, LOG)
    assert stored is not None
    # The third tick read the second tick's cursor back: its run key names that watermark.
    run = _run(instance, incremental)
    assert run.tags["dagster/run_key"].startswith(f"leads:{stored.watermark.isoformat()}..")
    assert (
        run.run_config
        == sync_request(
            NAMES, Mode.INCREMENTAL, PartitionRange.everything(PARTITIONS), ""
        ).run_config
    )
    for run_id in (first, incremental):
        assert _run(instance, run_id).status == dg.DagsterRunStatus.SUCCESS
    state = instance.get_instigator_state(sensor.get_remote_origin_id(), sensor.selector_id)
    assert state is not None
    assert state.instigator_data.cursor == ticks[-1].cursor  # type: ignore[union-attr]
    _assert_password_nowhere(postgres, instance)


def _assert_password_nowhere(postgres: PostgresServer, instance: dg.DagsterInstance) -> None:
    """Not in the database (runs with their config, event logs, ticks), not in the instance's
    folder (compute logs), not in the server's log."""
    database = os.environ["DAGSTER_PG_DB"]
    dump = postgres.dump(database)
    assert "attent_sync" in dump  # the dump holds the runs
    assert postgres.password not in dump
    home = Path(instance.root_directory)
    for path in [postgres.log, *(p for p in home.rglob("*") if p.is_file())]:
        assert postgres.password not in path.read_text(errors="replace"), path
