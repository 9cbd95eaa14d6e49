"""End to end, headless: the real `dagster dev` (webserver, daemon, code server, run workers) with
a temporary DAGSTER_HOME against a live simulator, observed only through the webserver's GraphQL
API (what the UI shows) and the warehouse file. `pytest -m end_to_end` selects this module. Its
tests share one stack per test process (a module fixture): starting one takes about ten seconds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from attent_assets.defs.partitions import week_of
from attent_assets.demo.stack import Child, attent_environment, start_dagster
from attent_assets.demo.webserver import Run, Webserver
from attent_assets.simulator import SimulatorServer, World
from attent_assets.simulator.live import LiveActivity
from attent_assets_tests.harness import SIMULATOR_KEY, Harness
from attent_assets_tests.topology import free_port, wait_for, wait_for_sensor_run

pytestmark = pytest.mark.end_to_end

SENSOR = "attent_lead_changes"
JOB = "attent_sync"
LOCATION = "attent_assets"
TYPED = [
    f"attent/{name}"
    for name in (
        "messages",
        "calls",
        "emails",
        "tool_calls",
        "custom_events",
        "compliance_blocks",
        "other_events",
    )
]
HISTORY_DAYS = 2
STARTUP_SECONDS = 60.0
RUN_SECONDS = 60.0

SURFACE = """
query Surface {
  assetNodes {
    assetKey { path }
    isPartitioned
    partitionKeys
    dependencyKeys { path }
    assetChecksOrError { __typename ... on AssetChecks { checks { name } } }
  }
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes { jobs { name } sensors { name sensorState { status } targets { pipelineName } } }
    }
  }
}
"""


@dataclass(frozen=True)
class Stack:
    server: SimulatorServer
    live: LiveActivity
    data_dir: Path
    dagster: Child
    webserver: Webserver
    first_day: date


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A simulator (12 leads over two days, about one change a second) and `dagster dev` with a
    5-second sensor interval, up and with the code location loaded."""
    root = tmp_path_factory.mktemp("end_to_end")
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight - timedelta(days=HISTORY_DAYS)
    world = World(seed=5, leads=12, events_per_lead=4, start=start, live=True)
    server = SimulatorServer(world, api_key=SIMULATOR_KEY).start()
    live = LiveActivity(world, changes_per_second=1.0).start()
    port = free_port()
    env = attent_environment(
        base_url=server.url,
        api_key=SIMULATOR_KEY,
        data_dir=root / "data",
        start_date=start.date(),
        sensor_interval_seconds="5",
    )
    dagster = start_dagster(
        home=root / "dagster_home", port=port, env=env, log=root / "dagster.log"
    )
    webserver = Webserver(f"http://127.0.0.1:{port}")
    try:
        wait_for(
            lambda: webserver.is_up() and webserver.location_status(LOCATION) == "LOADED",
            STARTUP_SECONDS,
            [dagster],
            "the webserver with the code location loaded",
        )
        yield Stack(server, live, root / "data", dagster, webserver, start.date())
    finally:
        dagster.stop()
        live.stop()
        server.stop()


def test_graphql_shows_assets_lineage_partitions_checks_sensor_and_job(stack: Stack) -> None:
    data = stack.webserver.graphql(SURFACE)
    nodes = {"/".join(node["assetKey"]["path"]): node for node in data["assetNodes"]}
    engagement = "attent/lead_engagement"
    assert sorted(nodes) == sorted(["attent/leads", "attent/raw_events", *TYPED, engagement])

    parents = {
        key: sorted("/".join(dep["path"]) for dep in node["dependencyKeys"])
        for key, node in nodes.items()
    }
    assert parents == {
        "attent/leads": [],
        "attent/raw_events": ["attent/leads"],
        **{key: ["attent/raw_events"] for key in TYPED},
        # The example downstream asset, after the typed tables it reads.
        engagement: [f"attent/{t}" for t in ("calls", "compliance_blocks", "emails", "messages")],
    }

    for key in ("attent/leads", "attent/raw_events"):
        assert nodes[key]["isPartitioned"]
        weeks = [date.fromisoformat(k) for k in nodes[key]["partitionKeys"]]
        assert weeks[0] == week_of(stack.first_day)
        assert weeks == [weeks[0] + timedelta(weeks=n) for n in range(len(weeks))]
        # This week is a partition.
        assert weeks[-1] == week_of(datetime.now(UTC).date())
    assert not any(nodes[key]["isPartitioned"] for key in TYPED)

    checks = {
        key: sorted(check["name"] for check in node["assetChecksOrError"]["checks"])
        for key, node in nodes.items()
    }
    assert checks == {
        "attent/leads": ["matches_lake", "one_row_per_key", "sync_lag"],
        "attent/raw_events": ["lake_matches_manifest", "unknown_types_and_fields"],
        **{key: ["matches_lake", "one_row_per_key"] for key in TYPED},
        engagement: ["messages_add_up", "one_row_per_lead_and_day"],
    }

    (repository,) = data["repositoriesOrError"]["nodes"]
    assert JOB in {job["name"] for job in repository["jobs"]}
    sensors = {sensor["name"]: sensor for sensor in repository["sensors"]}
    assert sensors[SENSOR]["sensorState"]["status"] == "RUNNING"
    assert [target["pipelineName"] for target in sensors[SENSOR]["targets"]] == [JOB]


def test_sensor_runs_keep_the_warehouse_equal_to_the_simulator(stack: Stack) -> None:
    # The first tick finds no sync recorded and launches the first sync; the world keeps changing.
    _sensor_run(stack, started_after=0.0)

    # One last change once the activity stopped: a sensor run that started after it read it.
    stack.live.stop()
    stack.server.world.tick(1)  # a later millisecond than every earlier change
    stack.server.world.advance(1)
    last_change = time.time()
    run = _sensor_run(stack, started_after=last_change)
    assert run.tags["dagster/sensor_name"] == SENSOR

    harness = Harness(server=stack.server, data_dir=stack.data_dir)
    ((rows, ids),) = harness.query("SELECT count(*), count(DISTINCT id) FROM attent.leads")
    assert rows == ids == len(stack.server.world.truth_leads())
    harness.assert_converged()


def test_stopping_dagster_leaves_no_process_behind(stack: Stack) -> None:
    group = stack.dagster.process.pid
    started = psutil.Process(group).children(recursive=True)
    assert len(started) >= 3  # at least the webserver, the daemon and the code server

    stack.dagster.stop()

    assert stack.dagster.process.returncode is not None
    assert not [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not [p.pid for p in psutil.process_iter() if _group_of(p) == group]


def _sensor_run(stack: Stack, started_after: float) -> Run:
    return wait_for_sensor_run(
        stack.webserver, JOB, SENSOR, started_after, RUN_SECONDS, [stack.dagster]
    )


def _group_of(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except (ProcessLookupError, psutil.Error):
        return None
