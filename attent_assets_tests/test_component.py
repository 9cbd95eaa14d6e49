"""`AttentComponent` as a user adopts it: `dg` on this project lists the contract, and a fresh
`dg` project scaffolds two organisations that load, sync and sense independently."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from attent_assets.simulator import SimulatorServer, World
from attent_assets.sync import TABLE_NAMES
from attent_assets_tests.harness import SIMULATOR_KEY, Harness

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PACKAGE = "orgs_project"
ORGS = ("acme", "globex")


def _dg(*args: str, cwd: Path) -> str:
    """`dg` from this environment (as `make` runs it); fails the test with its output."""
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix, "PATH": f"{BIN}:{os.environ['PATH']}"}
    done = subprocess.run(
        [str(BIN / "dg"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _asset_keys(prefix: str) -> set[str]:
    return {f"{prefix}/{name}" for name in ("leads", "raw_events", *TABLE_NAMES)}


def _surface(prefix: str, resources: tuple[str, str, str]) -> dict[str, set[str]]:
    return {
        "assets": _asset_keys(prefix),
        "jobs": {f"{prefix}_sync", f"{prefix}_audit"},
        "sensors": {f"{prefix}_lead_changes"},
        "schedules": {f"{prefix}_daily_reconciliation", f"{prefix}_audit_schedule"},
        "resources": set(resources),
    }


def _listed(project: Path) -> dict[str, set[str]]:
    listed = json.loads(_dg("list", "defs", "--json", cwd=project))
    return {
        "assets": {a["asset_key"] for a in listed["assets"]},
        "jobs": {j["name"] for j in listed["jobs"]},
        "sensors": {s["name"] for s in listed["sensors"]},
        "schedules": {s["name"] for s in listed["schedules"]},
        "resources": {r["name"] for r in listed["resources"]},
    }


def test_dg_checks_and_lists_the_projects_contract() -> None:
    _dg("check", "defs", cwd=PROJECT_ROOT)
    expected = _surface("attent", ("attent", "warehouse", "sync"))
    # The example downstream asset, and the sensor that evaluates its automation condition.
    expected["assets"].add("attent/lead_engagement")
    expected["sensors"].add("attent_lead_engagement_automation")
    assert _listed(PROJECT_ROOT) == expected
    components = _dg("list", "components", "--json", cwd=PROJECT_ROOT)
    assert "attent_assets.AttentComponent" in components


# --- a user's project with two organisations -----------------------------------------------------

DOWNSTREAM = """
import dagster as dg
from dagster_duckdb import DuckDBResource


@dg.asset(deps=[dg.AssetKey(["acme", "calls"])])
def acme_calls_by_status(acme_warehouse: DuckDBResource) -> dg.MaterializeResult:
    with acme_warehouse.get_connection() as con:
        rows = con.execute(
            "SELECT call_status, count(*) FROM attent.calls GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    return dg.MaterializeResult(metadata={"by_status": dg.MetadataValue.json(rows)})
"""


@dataclass
class Organisation:
    prefix: str
    server: SimulatorServer
    data_dir: Path

    @property
    def api_key(self) -> str:
        return f"{SIMULATOR_KEY}-{self.prefix}"

    @property
    def harness(self) -> Harness:
        return Harness(server=self.server, data_dir=self.data_dir)


@pytest.fixture
def organisations(tmp_path: Path) -> Iterator[list[Organisation]]:
    """Two simulated organisations with different worlds, each on its own port and key."""
    started = []
    for seed, prefix in enumerate(ORGS, start=11):
        world = World(seed=seed, leads=8, events_per_lead=5, start=datetime(2026, 3, 1, tzinfo=UTC))
        server = SimulatorServer(world, api_key=f"{SIMULATOR_KEY}-{prefix}").start()
        organisation = Organisation(prefix, server, tmp_path / "data" / prefix)
        assert organisation.api_key == f"{SIMULATOR_KEY}-{prefix}"
        started.append(organisation)
    yield started
    for organisation in started:
        organisation.server.stop()


def _user_project(root: Path, organisations: list[Organisation]) -> Path:
    """A fresh `dg` project: a package whose definitions load its defs folder, an organisation
    scaffolded per prefix (then pointed at its simulator and data directory), and a downstream
    asset reading one organisation's warehouse."""
    root.mkdir()
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{PACKAGE}"\nversion = "0.1.0"\n\n'
        f'[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "{PACKAGE}"\n'
    )
    package = root / PACKAGE
    (package / "defs").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "definitions.py").write_text(
        "from pathlib import Path\n\nimport dagster as dg\n\n"
        "defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)\n"
    )
    (package / "defs" / "calls_by_status.py").write_text(DOWNSTREAM)
    for organisation in organisations:
        _dg("scaffold", "defs", "attent_assets.AttentComponent", organisation.prefix, cwd=root)
        path = package / "defs" / organisation.prefix / "defs.yaml"
        scaffolded = yaml.safe_load(path.read_text())
        assert scaffolded["attributes"]["key_prefix"] == organisation.prefix
        scaffolded["attributes"].update(
            base_url=organisation.server.url,
            data_dir=str(organisation.data_dir),
            start_date="2026-03-01",
        )
        path.write_text(yaml.safe_dump(scaffolded))
    return root


@pytest.fixture
def user_defs(
    tmp_path: Path, organisations: list[Organisation], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.Definitions]:
    root = _user_project(tmp_path / "project", organisations)
    for organisation in organisations:
        # The scaffolded defs.yaml reads each organisation's key from its own variable.
        monkeypatch.setenv(f"{organisation.prefix.upper()}_ATTENT_API_KEY", organisation.api_key)
    monkeypatch.delenv("ATTENT_API_KEY", raising=False)
    monkeypatch.syspath_prepend(str(root))
    try:
        yield importlib.import_module(f"{PACKAGE}.definitions").defs
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def _full_sync(defs: dg.Definitions, prefix: str, instance: dg.DagsterInstance) -> None:
    """A backfill of every partition, as the UI launches it."""
    job = defs.get_job_def(f"{prefix}_sync")
    keys = defs.get_assets_def(dg.AssetKey([prefix, "leads"])).partitions_def
    assert keys is not None
    partitions = keys.get_partition_keys()
    result = job.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": partitions[0],
            "dagster/asset_partition_range_end": partitions[-1],
            "dagster/backfill": f"{prefix}-first",
        },
    )
    assert result.success


def _tick(defs: dg.Definitions, prefix: str, instance: dg.DagsterInstance) -> Any:
    with dg.build_sensor_context(
        instance=instance, definitions=defs, resources=defs.resources
    ) as context:
        return defs.get_sensor_def(f"{prefix}_lead_changes").evaluate_tick(context)


def test_two_organisations_load_sync_and_sense_independently(
    user_defs: dg.Definitions, organisations: list[Organisation]
) -> None:
    assert {k.to_user_string() for k in user_defs.resolve_asset_graph().get_all_asset_keys()} == {
        *(key for org in organisations for key in _asset_keys(org.prefix)),
        "acme_calls_by_status",
    }
    acme, globex = organisations
    with dg.instance_for_test() as instance:
        for organisation in organisations:
            _full_sync(user_defs, organisation.prefix, instance)
        # Each warehouse equals its own organisation's truth, and so holds nothing of the other.
        for organisation in organisations:
            organisation.harness.assert_converged()
        assert acme.harness.warehouse_leads().keys().isdisjoint(globex.harness.warehouse_leads())

        # Only acme changes: only acme's sensor asks for a run, and that run catches acme up.
        acme.server.world.tick(1)
        acme.server.world.advance(6)
        acme_tick = _tick(user_defs, "acme", instance)
        globex_tick = _tick(user_defs, "globex", instance)
        assert not globex_tick.run_requests, globex_tick.skip_message
        [request] = acme_tick.run_requests
        assert request.job_name == "acme_sync"
        assert request.run_config == {
            "resources": {"acme_sync_settings": {"config": {"mode": "incremental"}}}
        }
        result = user_defs.get_job_def("acme_sync").execute_in_process(
            instance=instance, run_config=request.run_config, tags=request.tags
        )
        assert result.success
        acme.harness.assert_converged()
        globex.harness.assert_converged()

        # A user's asset reads acme's warehouse through DuckDBResource.
        downstream = user_defs.get_assets_def(dg.AssetKey("acme_calls_by_status"))
        materialized = dg.materialize(
            [downstream], instance=instance, resources=user_defs.resources
        )
        assert materialized.success
        [event] = materialized.get_asset_materialization_events()
        by_status = event.materialization.metadata["by_status"].value
        expected = acme.harness.query(
            "SELECT call_status, count(*) FROM attent.calls GROUP BY ALL ORDER BY ALL"
        )
        assert isinstance(by_status, list)
        assert [tuple(row) for row in by_status] == expected
        assert expected
