"""The Dagster surface: the job run in process against the simulator, its metadata and checks."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from attent_assets.definitions import defs
from attent_assets.defs.resources import AttentResource, SyncResource, WarehouseResource
from attent_assets.simulator import SimulatorServer
from attent_assets_tests.harness import SIMULATOR_KEY, Harness
from attent_assets_tests.surface import (
    CHECK_SPECS,
    LEADS,
    RAW_EVENTS,
    TYPED_KEYS,
    partition_key_for,
    partitions,
)


def _resources(server: SimulatorServer, data_dir: Path, mode: str = "replay") -> dict[str, Any]:
    return {
        "attent": AttentResource(base_url=server.url, api_key=SIMULATOR_KEY, page_size=50),
        "warehouse": WarehouseResource(data_dir=str(data_dir)),
        "sync": SyncResource(mode=mode),  # type: ignore[arg-type]
    }


def _run(
    server: SimulatorServer,
    data_dir: Path,
    instance: dg.DagsterInstance,
    *,
    mode: str = "replay",
    start: str | None = None,
    end: str | None = None,
    selection: list[dg.AssetKey] | None = None,
    partitioned: bool = True,
    extra_tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    keys = partitions.get_partition_keys()
    job = defs.get_job_def("attent_sync")
    if selection is not None:
        subset = dg.define_asset_job("subset", selection=selection)
        job = dg.Definitions.merge(defs, dg.Definitions(jobs=[subset])).get_job_def("subset")
    tags = {
        "dagster/asset_partition_range_start": start or keys[0],
        "dagster/asset_partition_range_end": end or keys[-1],
    }
    return job.execute_in_process(
        instance=instance,
        resources=_resources(server, data_dir, mode),
        tags={**(tags if partitioned else {}), **(extra_tags or {})},
    )


@pytest.fixture
def instance() -> Any:
    with dg.instance_for_test() as instance:
        yield instance


def test_definitions_load_with_the_promised_keys_job_and_resources() -> None:
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {
        "attent/leads",
        "attent/raw_events",
        *(f"attent/{t}" for t in TYPED_KEYS),
        "attent/lead_engagement",
    }
    assert graph.get(RAW_EVENTS).parent_keys == {LEADS}
    for key in TYPED_KEYS.values():
        assert graph.get(key).parent_keys == {RAW_EVENTS}
    engagement = graph.get(dg.AssetKey(["attent", "lead_engagement"]))
    assert engagement.parent_keys == {
        TYPED_KEYS[t] for t in ("messages", "calls", "emails", "compliance_blocks")
    }
    assert defs.get_job_def("attent_sync") is not None


def test_backfill_records_only_changed_partitions_and_converges(
    simulator: SimulatorServer, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    data_dir = tmp_path / "data"
    result = _run(simulator, data_dir, instance)
    assert result.success
    harness = Harness(server=simulator, data_dir=data_dir)
    harness.assert_converged()

    lake_days = {
        date.fromisoformat(p.name.removeprefix("date="))
        for p in (data_dir / "lake" / "events").iterdir()
    }
    materialized = instance.get_materialized_partitions(RAW_EVENTS)
    # Exactly the days this run wrote to, not every partition of the backfilled range.
    assert materialized == {partition_key_for(day) for day in lake_days}
    assert len(materialized) < len(partitions.get_partition_keys())

    typed = instance.get_latest_materialization_event(TYPED_KEYS["messages"])
    assert typed is not None
    md = typed.asset_materialization.metadata  # type: ignore[union-attr]
    assert md["dagster/table_name"].value == "attent.messages"
    assert (
        md["dagster/row_count"].value == harness.query("SELECT count(*) FROM attent.messages")[0][0]
    )
    assert "dagster/column_schema" in md

    observed = instance.fetch_observations(LEADS, limit=1).records[0]
    observation = observed.asset_observation
    assert observation is not None
    assert {
        "mode",
        "window_start",
        "window_end",
        "rows_new",
        "rows_updated",
        "requests",
        "retries",
        "sync_lag_seconds",
        "leads_watermark",
        "dagster/row_count",
        "dagster/column_schema",
        "preview",
    } <= set(observation.metadata)
    assert observation.metadata["rows_new"].value == len(simulator.world.truth_leads())

    checks = result.get_asset_check_evaluations()
    failed = [c for c in checks if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR]
    assert not failed, failed
    assert len(checks) >= 2 * (len(TYPED_KEYS) + 1)

    # The same backfill again changes nothing, so it records no partition.
    before = len(instance.get_materialized_partitions(RAW_EVENTS))
    again = _run(simulator, data_dir, instance)
    assert again.success
    planned = [
        e for e in again.get_asset_materialization_events() if e.asset_key in (LEADS, RAW_EVENTS)
    ]
    assert planned == []
    assert len(instance.get_materialized_partitions(RAW_EVENTS)) == before


def test_incremental_run_and_typed_subset(
    simulator: SimulatorServer, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    data_dir = tmp_path / "data"
    assert _run(simulator, data_dir, instance, mode="incremental").success
    simulator.world.advance(20)
    today = partitions.get_last_partition_key()
    raw_only = _run(
        simulator,
        data_dir,
        instance,
        mode="incremental",
        start=today,
        end=today,
        selection=[LEADS, RAW_EVENTS],
    )
    assert raw_only.success
    typed_only = _run(
        simulator, data_dir, instance, mode="incremental", selection=[TYPED_KEYS["calls"]]
    )
    assert typed_only.success
    keys = {e.asset_key for e in typed_only.get_asset_materialization_events()}
    assert keys == {TYPED_KEYS["calls"]}
    assert _run(simulator, data_dir, instance, mode="incremental").success
    Harness(server=simulator, data_dir=data_dir).assert_converged()


def test_a_missing_api_key_fails_the_run_naming_the_variable(
    tmp_path: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ATTENT_API_KEY", raising=False)
    job = defs.get_job_def("attent_sync")
    keys = partitions.get_partition_keys()
    result = job.execute_in_process(
        instance=instance,
        resources={
            "attent": AttentResource(base_url="http://127.0.0.1:9/v1"),
            "warehouse": WarehouseResource(data_dir=str(tmp_path)),
            "sync": SyncResource(),
        },
        tags={
            "dagster/asset_partition_range_start": keys[-1],
            "dagster/asset_partition_range_end": keys[-1],
        },
        raise_on_error=False,
    )
    assert not result.success
    errors = [
        e.event_specific_data.error.to_string()  # type: ignore[union-attr]
        for e in result.all_events
        if e.is_failure and e.event_specific_data is not None
    ]
    assert any("ATTENT_API_KEY is not set" in e and "make demo" in e for e in errors), errors
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_a_backfill_records_every_partition_of_its_range(
    simulator: SimulatorServer, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    keys = partitions.get_partition_keys()
    result = _run(simulator, tmp_path / "data", instance, extra_tags={"dagster/backfill": "bf1"})
    assert result.success
    # Dagster's backfill daemon counts a targeted partition without a materialization as failed.
    assert instance.get_materialized_partitions(LEADS) == set(keys)
    assert instance.get_materialized_partitions(RAW_EVENTS) == set(keys)


def test_typed_tables_alone_rebuild_from_the_lake_without_partitions(
    simulator: SimulatorServer, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    data_dir = tmp_path / "data"
    assert _run(simulator, data_dir, instance).success
    harness = Harness(server=simulator, data_dir=data_dir)
    with harness.open() as store:
        store._con.execute("DELETE FROM attent.calls")
    only_calls = _run(
        simulator, data_dir, instance, selection=[TYPED_KEYS["calls"]], partitioned=False
    )
    assert only_calls.success
    harness.assert_converged()


def _check_results(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], Any]:
    return {
        (c.asset_key.to_user_string(), c.check_name): c
        for c in result.get_asset_check_evaluations()
    }


def test_checks_in_a_sync_run_read_only_what_it_wrote_and_the_audit_reads_everything(
    simulator: SimulatorServer, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """Damage the warehouse and the lake where the next incremental run writes nothing: its
    checks do not look there (and pass), the audit does (and fails); both record the same keys."""
    data_dir = tmp_path / "data"
    assert _run(simulator, data_dir, instance).success
    harness = Harness(server=simulator, data_dir=data_dir)
    before = set(harness.query("SELECT type, id FROM attent.messages"))
    con_rows = harness.query("SELECT path FROM attent_state.lake_files WHERE kind = 'leads'")
    (lost_file,) = con_rows[:1]
    simulator.world.advance(10)
    # A message the run will not touch, gone from the table; a leads file gone from the lake.
    untouched = sorted(before)[0]
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    con.execute("DELETE FROM attent.messages WHERE type = ? AND id = ?", list(untouched))
    con.close()
    (data_dir / lost_file[0]).unlink()

    run = _run(simulator, data_dir, instance, mode="incremental")
    assert run.success
    in_run = _check_results(run)
    assert in_run[("attent/messages", "matches_lake")].passed
    assert in_run[("attent/raw_events", "lake_matches_manifest")].passed
    meta = in_run[("attent/messages", "one_row_per_key")].metadata
    assert meta["scope"].value == "this run's writes"
    # The keys it looked at are those of its files (a compacted day's included), not the table's.
    assert 0 < meta["keys_checked"].value < len(before)

    audit = defs.get_job_def("attent_audit").execute_in_process(
        instance=instance, resources=_resources(simulator, data_dir), raise_on_error=False
    )
    found = _check_results(audit)
    # The run evaluated the checks of the tables it changed (and sync_lag); the audit all of them.
    changed = {
        e.asset_key.to_user_string() for e in run.get_asset_materialization_events() if e.asset_key
    }
    assert {asset for asset, name in in_run if name != "sync_lag"} == changed
    assert set(in_run) < set(found)
    assert len(found) == len(CHECK_SPECS)
    assert not found[("attent/messages", "matches_lake")].passed
    assert found[("attent/messages", "matches_lake")].metadata["examples"].value == [
        list(untouched)
    ]
    assert not found[("attent/raw_events", "lake_matches_manifest")].passed
    assert found[("attent/messages", "one_row_per_key")].metadata["scope"].value == "whole history"
    assert audit.get_asset_materialization_events() == []
