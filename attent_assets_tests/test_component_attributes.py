"""What each `AttentComponent` attribute does to the definitions it builds (no run needed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dagster as dg
import pytest

from attent_assets import AttentComponent
from attent_assets.defs.resources import AttentResource, WarehouseResource
from attent_assets.sync import TABLE_NAMES


def _defs(**attributes: Any) -> dg.Definitions:
    return AttentComponent.from_attributes_dict(attributes=attributes).definitions()


def _specs(defs: dg.Definitions, prefix: str) -> dict[str, dg.AssetSpec]:
    assets = defs.get_assets_def(dg.AssetKey([prefix, "leads"]))
    return {key.path[-1]: spec for key, spec in assets.specs_by_key.items()}


def test_every_name_derives_from_the_key_prefix() -> None:
    defs = _defs(key_prefix="acme", start_date="2026-03-01")
    assets = defs.get_assets_def(dg.AssetKey(["acme", "leads"]))
    assert {k.to_user_string() for k in assets.keys} == {
        f"acme/{name}" for name in ("leads", "raw_events", *TABLE_NAMES)
    }
    assert {spec.group_name for spec in assets.specs} == {"acme"}
    assert assets.op.pool == "acme_warehouse"
    assert {job.name for job in defs.resolve_all_job_defs()} >= {"acme_sync", "acme_audit"}
    assert [sensor.name for sensor in defs.sensors or []] == ["acme_lead_changes"]
    assert {s.name for s in defs.schedules or []} == {
        "acme_daily_reconciliation",
        "acme_audit_schedule",
    }
    assert set(defs.resources or {}) == {"acme", "acme_warehouse", "acme_sync_settings"}
    sensor = defs.get_sensor_def("acme_lead_changes")
    assert sensor.job_name == "acme_sync"
    assert sensor.required_resource_keys == {"acme", "acme_sync_settings"}
    first = assets.partitions_def.get_first_partition_key()  # type: ignore[union-attr]
    assert first == "2026-02-23"  # the Monday of 2026-03-01's week


def test_the_default_prefix_keeps_the_projects_names() -> None:
    defs = _defs(start_date="2026-03-01")
    assets = defs.get_assets_def(dg.AssetKey(["attent", "leads"]))
    assert assets.op.pool == "warehouse"
    assert set(defs.resources or {}) == {"attent", "warehouse", "sync"}


def test_settings_reach_the_resources_sensor_and_schedules() -> None:
    defs = _defs(
        key_prefix="acme",
        api_key="{{ env.ACME_ATTENT_API_KEY }}",
        base_url="https://eu.attent.example/v1",
        data_dir="/srv/acme",
        types=["MESSAGE", "CALL"],
        start_date="2026-03-01",
        sensor_interval_seconds=15,
        sensor_default_status="stopped",
        reconciliation_cron="30 2 * * *",
        audit_cron="0 5 * * 0",
        pool="attent_writes",
    )
    resources = defs.resources or {}
    api = resources["acme"]
    assert isinstance(api, AttentResource)
    # A reference to the variable, resolved when a run starts: the key never enters the config.
    assert api.api_key == dg.EnvVar("ACME_ATTENT_API_KEY")
    assert (api.base_url, api.types) == ("https://eu.attent.example/v1", ["MESSAGE", "CALL"])
    warehouse = resources["acme_warehouse"]
    assert isinstance(warehouse, WarehouseResource)
    assert str(warehouse.database_path) == "/srv/acme/warehouse.duckdb"
    sensor = defs.get_sensor_def("acme_lead_changes")
    assert sensor.minimum_interval_seconds == 15
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert defs.get_schedule_def("acme_daily_reconciliation").cron_schedule == "30 2 * * *"
    assert defs.get_schedule_def("acme_audit_schedule").cron_schedule == "0 5 * * 0"
    assert defs.get_assets_def(dg.AssetKey(["acme", "leads"])).op.pool == "attent_writes"


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"api_key": "sk-literal-key"}, "api_key must name an environment variable"),
        ({"key_prefix": "acme-corp"}, "key_prefix 'acme-corp' must start with a letter"),
        ({"start_date": "2026-02-30"}, "start_date='2026-02-30' is not a date"),
        ({"audit_cron": "weekly"}, "audit_cron='weekly' is not a cron schedule"),
        ({"sensor_interval_seconds": 0}, "sensor_interval_seconds=0 must be at least 1"),
    ],
)
def test_bad_attributes_fail_loading_naming_the_attribute(
    attributes: dict[str, Any], message: str
) -> None:
    with pytest.raises(Exception, match=message) as raised:
        _defs(**attributes)
    assert "sk-literal-key" not in str(raised.value)


def test_specs_carry_columns_table_names_owners_tags_and_freshness() -> None:
    defs = _defs(
        key_prefix="acme",
        start_date="2026-03-01",
        owners=["team:revops"],
        tags={"tier": "gold"},
        freshness_warn_hours=2,
        freshness_fail_hours=12,
    )
    specs = _specs(defs, "acme")
    for spec in specs.values():
        assert spec.owners == ["team:revops"]
        assert spec.tags["tier"] == "gold"
        assert "dagster/column_schema" in spec.metadata
        assert spec.description
    assert specs["calls"].metadata["dagster/table_name"] == "attent.calls"
    columns = [c.name for c in specs["calls"].metadata["dagster/column_schema"].columns]
    assert columns[:7] == ["type", "id", "room_id", "org_id", "timestamp", "updated_at", "data"]
    assert "duration_seconds" in columns
    assert specs["calls"].freshness_policy == dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=12), warn_window=timedelta(hours=2)
    )
    assert specs["leads"].freshness_policy is None


def test_asset_post_processors_apply_as_in_dagsters_integration_components() -> None:
    defs = _defs(
        key_prefix="acme",
        start_date="2026-03-01",
        asset_post_processors=[
            {"target": "key:acme/calls", "attributes": {"tags": {"pii": "yes"}}},
        ],
    )
    specs = _specs(defs, "acme")
    assert specs["calls"].tags["pii"] == "yes"
    assert "pii" not in specs["messages"].tags
