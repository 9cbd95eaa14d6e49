"""What a user launches from the UI: a backfill whose run config picks the sync mode, and the
example downstream asset `attent/lead_engagement` over the synced tables."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from attent_assets.definitions import defs
from attent_assets.defs.lead_engagement import TABLE
from attent_assets.defs.resources import AttentResource, WarehouseResource
from attent_assets.simulator import SimulatorServer
from attent_assets_tests.harness import SIMULATOR_KEY, Harness
from attent_assets_tests.surface import LEADS, TYPED_KEYS, partitions

ENGAGEMENT = dg.AssetKey(["attent", "lead_engagement"])


@pytest.fixture
def instance() -> Any:
    with dg.instance_for_test() as instance:
        yield instance


def _backfill(
    server: SimulatorServer,
    data_dir: Path,
    instance: dg.DagsterInstance,
    run_config: dict[str, Any] | None = None,
) -> str:
    """A backfill run of every partition (as the daemon tags it) with the job's own `sync`
    resource: the mode comes from the job's launchpad config or `run_config`. Returns the mode
    the run recorded."""
    keys = partitions.get_partition_keys()
    result = defs.get_job_def("attent_sync").execute_in_process(
        instance=instance,
        resources={
            "attent": AttentResource(base_url=server.url, api_key=SIMULATOR_KEY, page_size=50),
            "warehouse": WarehouseResource(data_dir=str(data_dir)),
        },
        run_config=run_config,
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
            "dagster/backfill": "from-the-ui",
        },
    )
    assert result.success
    observation = instance.fetch_observations(LEADS, limit=1).records[0].asset_observation
    assert observation is not None
    mode = observation.metadata["mode"].value
    assert isinstance(mode, str)
    return mode


def test_a_backfill_runs_in_the_mode_its_run_config_names(
    simulator: SimulatorServer, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    data_dir = tmp_path / "data"
    assert _backfill(simulator, data_dir, instance) == "replay"
    simulator.world.tick(1)
    simulator.world.advance(10)
    before = simulator.stats.requests_total
    incremental = {"resources": {"sync": {"config": {"mode": "incremental"}}}}
    assert _backfill(simulator, data_dir, instance, incremental) == "incremental"
    Harness(server=simulator, data_dir=data_dir).assert_converged()
    # Incremental: the changed leads and their events, not every lead's events again.
    leads = len(simulator.world.truth_leads())
    assert simulator.stats.requests_total - before < leads


def test_the_catalogs_columns_are_the_materialized_ones(
    simulator: SimulatorServer, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """The column schema on the specs (before any run) equals what a sync reports after it."""
    _backfill(simulator, tmp_path / "data", instance)
    specs = defs.get_assets_def(LEADS).specs_by_key
    observed = instance.fetch_observations(LEADS, limit=1).records[0].asset_observation
    assert observed is not None
    reported = {LEADS: observed.metadata}
    for key in TYPED_KEYS.values():
        event = instance.get_latest_materialization_event(key)
        assert event is not None
        assert event.asset_materialization is not None
        reported[key] = event.asset_materialization.metadata

    def columns(schema: Any) -> list[tuple[str, str]]:
        return [(column.name, column.type) for column in schema.columns]

    for key, metadata in reported.items():
        schema = "dagster/column_schema"
        assert columns(specs[key].metadata[schema]) == columns(metadata[schema].value), key
        assert specs[key].metadata["dagster/table_name"] == metadata["dagster/table_name"].value


def _expected_engagement(harness: Harness) -> list[tuple[Any, ...]]:
    """Per lead and UTC day, computed in Python from the typed tables' rows."""
    counts: dict[tuple[str, date], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    inbound: dict[tuple[str, date], list[datetime]] = defaultdict(list)
    outbound: dict[tuple[str, date], list[datetime]] = defaultdict(list)

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [r for r in harness.query(sql) if r[0] is not None and r[1] is not None]

    def day(at: datetime) -> date:
        return at.astimezone(UTC).date()

    for lead, at, direction in rows('SELECT room_id, "timestamp", direction FROM attent.messages'):
        key = (lead, day(at))
        values = counts[key]  # a message of neither direction still makes the lead's day a row
        if direction == "INBOUND":
            values["inbound_messages"] += 1
            inbound[key].append(at)
        elif direction == "OUTBOUND":
            values["outbound_messages"] += 1
            outbound[key].append(at)
    for lead, at, seconds in rows(
        'SELECT room_id, "timestamp", duration_seconds FROM attent.calls'
    ):
        key = (lead, day(at))
        counts[key]["calls"] += 1
        counts[key]["call_minutes"] += (seconds or 0) / 60
    for table, column in (("emails", "emails"), ("compliance_blocks", "compliance_blocks")):
        for lead, at in rows(f'SELECT room_id, "timestamp" FROM attent.{table}'):
            counts[(lead, day(at))][column] += 1
    expected = []
    for key in sorted(counts):
        first_in = min(inbound[key], default=None)
        replies = [at for at in outbound[key] if first_in is not None and at >= first_in]
        response = (min(replies) - first_in).total_seconds() if replies and first_in else None
        values = counts[key]
        expected.append(
            (
                *key,
                *(int(values[c]) for c in ("inbound_messages", "outbound_messages", "calls")),
                pytest.approx(values["call_minutes"]),
                int(values["emails"]),
                int(values["compliance_blocks"]),
                None if response is None else pytest.approx(response),
            )
        )
    return expected


def test_lead_engagement_equals_a_direct_computation_over_the_typed_tables(
    simulator: SimulatorServer, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    data_dir = tmp_path / "data"
    _backfill(simulator, data_dir, instance)
    spec = defs.get_assets_def(ENGAGEMENT).specs_by_key[ENGAGEMENT]
    assert spec.automation_condition == dg.AutomationCondition.eager()
    result = dg.materialize(
        [defs.get_assets_def(ENGAGEMENT)],
        instance=instance,
        resources={"warehouse": WarehouseResource(data_dir=str(data_dir))},
    )
    assert result.success
    assert all(check.passed for check in result.get_asset_check_evaluations())
    harness = Harness(server=simulator, data_dir=data_dir)
    stored = harness.query(f"SELECT * FROM {TABLE} ORDER BY lead_id, day")
    expected = _expected_engagement(harness)
    assert stored == expected
    assert any(row[2] and row[3] for row in stored), "some lead had messages both ways"
    assert any(row[-1] is not None for row in stored), "some first response was measured"
