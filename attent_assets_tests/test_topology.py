"""The production topology on one machine, as README's "Deploying" describes it: the gRPC code
server (`dagster code-server start`), `dagster-webserver` and `dagster-daemon run` as separate OS
processes, each with deploy/dagster.yaml in DAGSTER_HOME and a workspace.yaml naming the code
server, sharing one instance on a PostgreSQL server and the lake in a bucket of the S3-compatible
server, against the simulator on loopback. Runs go
through the queued run coordinator; the daemon launches each through the code server, in a
process of its own.

- Two runs that write the warehouse, submitted together through the webserver, take the
  `warehouse` pool's one slot in turn (the limit stored in PostgreSQL): their steps never overlap.
- A change made in the simulator reaches the warehouse through a run the sensor launched, and
  the warehouse then equals the simulator's truth. Every process stops on SIGTERM with status 0,
  leaving no process and no listening port behind, and neither the database password nor the
  object store's secret key is in their logs.

The tests share one topology per test process (a module fixture; starting it takes about twenty
seconds on two busy cores). The second test stops it, so it comes last. What the processes are
told comes from one function, `deployment_environment`.
"""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
import pytest

from attent_assets.definitions import defs
from attent_assets.defs.partitions import START_DATE_VAR, SyncPartitions
from attent_assets.defs.run_history import IN_FLIGHT
from attent_assets.defs.run_requests import PartitionRange, sync_request
from attent_assets.demo.stack import LOOPBACK, Child
from attent_assets.demo.webserver import Webserver, WebserverError
from attent_assets.simulator import SimulatorServer, World
from attent_assets.sync import Mode
from attent_assets_tests.conftest import SIMULATOR_KEY, WORLD_START
from attent_assets_tests.harness import Harness
from attent_assets_tests.postgres_server import PostgresServer
from attent_assets_tests.s3_server import S3Server
from attent_assets_tests.surface import NAMES
from attent_assets_tests.topology import (
    LOCATION,
    base_environment,
    busy_ports,
    code_server_answers,
    dagster_home,
    free_port,
    start_code_server,
    start_daemon,
    start_webserver,
    tails,
    terminate,
    wait_for,
    wait_for_sensor_run,
    write_workspace,
)

#: Beyond pytest's default 300 s: the first test also starts the topology, and four runs in all
#: go one after the other on two cores shared with the rest of the suite; every wait has its own
#: deadline below.
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]

JOB = NAMES.sync_job
SENSOR = NAMES.sensor
POOL = NAMES.default_pool
#: Generous: two cores, shared with the rest of the suite.
STARTUP_SECONDS = 180.0
RUN_SECONDS = 180.0
STOP_SECONDS = 60.0
#: Tags the runs this module launches itself, to tell them from the sensor's.
LABEL = "attent_test/label"

_LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}
"""

_SENSORS = """
query Sensors {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes { name location { name } sensors { name sensorState { status } } }
    }
    ... on PythonError { message }
  }
}
"""

_DAEMONS = """
query Daemons {
  instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } }
}
"""


# --- the deployment ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """What the processes of a deployment are told: where the instance's database is, where
    DAGSTER_HOME is, which API to sync from and where the data lives (the warehouse in a folder
    every process reaches, the lake in a bucket, reached with `storage`'s AWS settings)."""

    postgres: PostgresServer
    database: str
    home: Path
    api_url: str
    data_dir: Path
    lake_url: str
    storage: Mapping[str, str]


def deployment_environment(deployment: Deployment) -> dict[str, str]:
    """The environment of every process of the deployment (the code server, the webserver, the
    daemon, `dagster instance`, and through them the run workers): this process's environment
    without its own DAGSTER_* and ATTENT_* variables, then the instance's DAGSTER_PG_* variables
    and the project's settings (README, configuration). The one place to add a setting that every
    process must share, such as where the lake is."""
    return {
        **base_environment(),
        **deployment.postgres.environment(deployment.database),
        "DAGSTER_HOME": str(deployment.home),
        "ATTENT_BASE_URL": deployment.api_url,
        "ATTENT_API_KEY": SIMULATOR_KEY,
        "ATTENT_DATA_DIR": str(deployment.data_dir),
        "ATTENT_LAKE_URL": deployment.lake_url,
        **deployment.storage,
        START_DATE_VAR: WORLD_START.date().isoformat(),
        "ATTENT_SENSOR_INTERVAL_SECONDS": "1",
    }


@dataclass(frozen=True)
class Topology:
    simulator: SimulatorServer
    deployment: Deployment
    code_server: Child
    webserver_process: Child
    daemon: Child
    ports: tuple[int, ...]
    #: The output of every process this module started, one file each.
    logs: tuple[Path, ...]
    webserver: Webserver
    #: The same instance, opened by this process to read runs and events.
    instance: dg.DagsterInstance

    @property
    def children(self) -> list[Child]:
        return [self.code_server, self.webserver_process, self.daemon]

    @property
    def harness(self) -> Harness:
        """Reads the warehouse and the bucket (the fixture sets the AWS settings here too)."""
        return Harness(
            server=self.simulator,
            data_dir=self.deployment.data_dir,
            lake_url=self.deployment.lake_url,
        )

    def logs_tail(self) -> str:
        return tails(self.children, lines=40)


@pytest.fixture(scope="module")
def topology(
    postgres: PostgresServer, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Topology]:
    """The simulator (20 leads), a fresh database on the test process's PostgreSQL server with
    the pool limit set as README says, a new bucket on its S3 server, then the code server, and
    once it serves the definitions the webserver and the daemon; ready when the webserver has
    loaded the code location and every daemon the instance needs is healthy. Whatever is still
    running at the end is stopped (and killed if it does not stop)."""
    root = tmp_path_factory.mktemp("topology")
    logs = root / "logs"
    database = f"attent_{uuid.uuid4().hex[:12]}"
    postgres.create_database(database)
    world = World(seed=7, leads=20, events_per_lead=8, start=WORLD_START)
    bucket = f"topology-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    storage = s3_server.environment()
    with contextlib.ExitStack() as cleanup:
        patch = cleanup.enter_context(pytest.MonkeyPatch.context())
        for name, value in storage.items():
            patch.setenv(name, value)
        simulator = cleanup.enter_context(SimulatorServer(world, api_key=SIMULATOR_KEY))
        deployment = Deployment(
            postgres,
            database,
            dagster_home(root / "dagster_home"),
            simulator.url,
            root / "data",
            f"s3://{bucket}/attent",
            storage,
        )
        env = deployment_environment(deployment)
        _limit_pool(env, logs / "concurrency-set.log")
        grpc_port, web_port = free_port(), free_port()
        workspace = write_workspace(root / "workspace.yaml", grpc_port)

        code_server = start_code_server(grpc_port, env, logs / "code-server.log")
        cleanup.callback(terminate, code_server, STOP_SECONDS)
        wait_for(
            lambda: code_server_answers(grpc_port),
            STARTUP_SECONDS,
            [code_server],
            "code server serving the definitions",
        )
        webserver_process = start_webserver(web_port, workspace, env, logs / "webserver.log")
        cleanup.callback(terminate, webserver_process, STOP_SECONDS)
        daemon = start_daemon(workspace, env, logs / "daemon.log")
        cleanup.callback(terminate, daemon, STOP_SECONDS)
        webserver = Webserver(f"http://{LOOPBACK}:{web_port}")
        wait_for(
            lambda: _loaded_with_healthy_daemons(webserver),
            STARTUP_SECONDS,
            [code_server, webserver_process, daemon],
            "code location loaded in the webserver and healthy daemons",
        )
        instance = cleanup.enter_context(_open_instance(env))
        yield Topology(
            simulator=simulator,
            deployment=deployment,
            code_server=code_server,
            webserver_process=webserver_process,
            daemon=daemon,
            ports=(grpc_port, web_port),
            logs=tuple(sorted(logs.glob("*.log"))),
            webserver=webserver,
            instance=instance,
        )


def _limit_pool(env: Mapping[str, str], log: Path) -> None:
    """Once, after the database exists: `dagster instance concurrency set warehouse 1`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        subprocess.run(
            [sys.executable, "-m", "dagster", "instance", "concurrency", "set", POOL, "1"],
            env=dict(env),
            cwd=env["DAGSTER_HOME"],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=STARTUP_SECONDS,
        )


def _loaded_with_healthy_daemons(webserver: Webserver) -> bool:
    if not webserver.is_up():
        return False
    try:
        if webserver.location_status(LOCATION) != "LOADED":
            return False
        statuses = webserver.graphql(_DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
    except WebserverError:
        return False  # still starting
    return all(status["healthy"] for status in statuses if status["required"])


@contextlib.contextmanager
def _open_instance(env: Mapping[str, str]) -> Iterator[dg.DagsterInstance]:
    """The instance of DAGSTER_HOME, its `env:` references resolved from ``env`` (read once, when
    the storage opens; this process's environment is restored right after)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            if name.startswith("DAGSTER_"):
                patch.setenv(name, value)
        instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    try:
        yield instance
    finally:
        instance.dispose()


# --- the pool ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepWindow:
    run_id: str
    step: str
    start: float
    end: float


def test_two_runs_writing_the_warehouse_take_the_pools_one_slot_in_turn(
    topology: Topology,
) -> None:
    """Submitted together, both runs are launched by the daemon as processes of their own, and
    the step that writes the warehouse runs in one at a time. (Dagster's run queue does this by
    keeping a run queued while the slot its first step needs is taken, so here the runs go one
    after the other.) Every sync step in the instance is compared, the sensor's included: on a
    fresh topology it launches the first sync meanwhile."""
    instance = topology.instance
    repository = _repository(topology.webserver)
    everything = PartitionRange.everything(SyncPartitions(WORLD_START.date()))
    request = sync_request(NAMES, Mode.INCREMENTAL, everything, run_key="")
    ours = [_launch(topology.webserver, repository, request, f"pool-{n}") for n in range(2)]
    submitted = time.time()

    _wait_until_quiet(topology)
    statuses = [_run(instance, run_id).status for run_id in ours]
    assert statuses == [dg.DagsterRunStatus.SUCCESS] * 2, topology.logs_tail()

    pooled = {
        node.name for node in defs.resolve_job_def(JOB).graph.nodes if POOL in node.definition.pools
    }
    assert pooled, f"no step of {JOB} is in pool {POOL}"
    runs = instance.get_runs(dg.RunsFilter(job_name=JOB))
    windows = sorted(
        (window for run in runs for window in _step_windows(instance, run.run_id)),
        key=lambda w: w.start,
    )
    assert {w.step for w in windows} == pooled
    mine = [w for w in windows if w.run_id in ours]
    assert sorted(w.run_id for w in mine) == sorted(ours)
    # Both runs were waiting for the slot at once: the first pool step ended after both existed.
    assert submitted < min(w.end for w in mine)
    overlapping = [(a, b) for a, b in itertools.pairwise(windows) if b.start < a.end]
    assert not overlapping, f"steps in pool {POOL} overlapped: {overlapping}"
    # The limit was the one stored in PostgreSQL, and every slot was given back.
    info = instance.event_log_storage.get_concurrency_info(POOL)
    assert (info.slot_count, info.active_slot_count) == (1, 0)
    topology.harness.assert_converged()


def _repository(webserver: Webserver) -> str:
    """The name of the code location's one repository (the Definitions of a `dg` project)."""
    data = webserver.graphql(_SENSORS)["repositoriesOrError"]
    (name,) = [n["name"] for n in data["nodes"] if n["location"]["name"] == LOCATION]
    return str(name)


def _launch(webserver: Webserver, repository: str, request: dg.RunRequest, label: str) -> str:
    """Submit a run of the sync job through the webserver (what the launchpad does): it goes to
    the run queue, and the daemon launches it. Returns its id."""
    tags = {**request.tags, LABEL: label}
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": repository,
            "jobName": JOB,
        },
        "runConfigData": request.run_config,
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }
    result = webserver.graphql(_LAUNCH_RUN, {"executionParams": params})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return str(result["run"]["runId"])


def _run(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
    run = instance.get_run_by_id(run_id)
    assert run is not None, run_id
    return run


def _in_flight(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(job_name=JOB, statuses=list(IN_FLIGHT))))


def _wait_until_quiet(topology: Topology) -> None:
    """Until some sync run has ended and none is queued, starting or running."""
    instance = topology.instance
    wait_for(
        lambda: (
            bool(instance.get_runs(dg.RunsFilter(job_name=JOB), limit=1))
            and not _in_flight(instance)
        ),
        RUN_SECONDS,
        topology.children,
        "end of every sync run",
    )


def _step_windows(instance: dg.DagsterInstance, run_id: str) -> list[StepWindow]:
    """Each step's start and end (success or failure) as the run worker recorded them."""
    ends = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
    events = instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_START, *ends})
    starts = {
        e.step_key: e.timestamp
        for e in events
        if e.dagster_event_type == dg.DagsterEventType.STEP_START
    }
    finished = {e.step_key: e.timestamp for e in events if e.dagster_event_type in ends}
    assert starts.keys() == finished.keys(), f"run {run_id}: steps started but not ended"
    return [StepWindow(run_id, str(step), start, finished[step]) for step, start in starts.items()]


# --- the sensor, end to end; stopping --------------------------------------------------------


def test_a_change_reaches_the_warehouse_through_a_sensor_run_then_every_process_stops_cleanly(
    topology: Topology,
) -> None:
    """The sensor is running as declared in code; after the world changes, the run it launches
    brings the warehouse to the simulator's truth. Then SIGTERM to each process, daemon first
    (no new runs), code server last (it runs the run workers)."""
    assert _sensor_status(topology.webserver) == "RUNNING"
    _wait_until_quiet(topology)  # the first sync, by the sensor or by the test before
    harness = topology.harness
    harness.assert_converged()

    changed_at = time.time()
    _advance(topology.simulator, changes=6)
    assert not _passes(harness.assert_converged), "the change is already in the warehouse"
    run = wait_for_sensor_run(
        topology.webserver, JOB, SENSOR, changed_at, RUN_SECONDS, topology.children
    )
    assert run.tags["dagster/sensor_name"] == SENSOR
    harness.assert_converged()

    # A process that has not exited within STOP_SECONDS has no return code (and is then killed).
    stopped = [terminate(child, STOP_SECONDS) for child in _stop_order(topology)]
    assert [(s.name, s.returncode, s.left_behind) for s in stopped] == [
        (s.name, 0, ()) for s in stopped
    ], f"{stopped}\n{topology.logs_tail()}"
    assert not busy_ports(topology.ports)

    # The run workers are the code server's children and print into its log.
    assert run.id in topology.code_server.log.read_text(errors="replace")
    assert not (topology.deployment.data_dir / "lake").exists()  # the lake is in the bucket
    _assert_secrets_absent(topology)


def _stop_order(topology: Topology) -> list[Child]:
    return [topology.daemon, topology.webserver_process, topology.code_server]


def _sensor_status(webserver: Webserver) -> str:
    data = webserver.graphql(_SENSORS)["repositoriesOrError"]
    statuses = [
        sensor["sensorState"]["status"]
        for node in data["nodes"]
        for sensor in node["sensors"]
        if sensor["name"] == SENSOR
    ]
    assert len(statuses) == 1, data
    return str(statuses[0])


def _advance(simulator: SimulatorServer, changes: int) -> None:
    """`POST /_sim/advance`: changes in the world, through the simulator's control endpoint."""
    response = httpx.post(
        f"http://{LOOPBACK}:{simulator.port}/_sim/advance",
        params={"changes": changes},
        headers={"x-api-key": SIMULATOR_KEY},
        timeout=30.0,
    )
    response.raise_for_status()


def _passes(check: Callable[[], None]) -> bool:
    try:
        check()
    except AssertionError:
        return False
    return True


def _assert_secrets_absent(topology: Topology) -> None:
    """The database password and the object store's secret key: not in what any process
    printed (the run workers' output included), nor in the instance's folder (compute logs,
    written by the run workers)."""
    secrets = [
        topology.deployment.postgres.password,
        topology.deployment.storage["AWS_SECRET_ACCESS_KEY"],
    ]
    home_files = [p for p in topology.deployment.home.rglob("*") if p.is_file()]
    assert topology.logs
    assert home_files
    for path in [*topology.logs, *home_files]:
        text = path.read_text(errors="replace")
        assert not [secret for secret in secrets if secret in text], path
