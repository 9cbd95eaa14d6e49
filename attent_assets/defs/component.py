"""`AttentComponent`: one Attent organisation's whole Dagster surface, from a `defs.yaml`.

    type: attent_assets.AttentComponent
    attributes:
      key_prefix: acme
      api_key: "{{ env.ACME_ATTENT_API_KEY }}"
      data_dir: /srv/attent/acme

builds the assets `acme/leads` ... `acme/other_events`, their checks, the jobs `acme_sync` and
`acme_audit`, the sensor `acme_lead_changes`, the schedules `acme_daily_reconciliation` and
`acme_audit_schedule`, the resources `acme`, `acme_warehouse` and `acme_sync_settings` and the pool
`acme_warehouse`: every name comes from `key_prefix` (see `naming.py`), so several organisations
fit in one code location. With the default prefix the names are exactly the project's own.
Settings left out fall back to the project's environment variables (`ATTENT_START_DATE`,
`ATTENT_SENSOR_INTERVAL_SECONDS`, `ATTENT_AUDIT_CRON`; `ATTENT_BASE_URL`, `ATTENT_API_KEY` and
`ATTENT_DATA_DIR` when a run starts) and then to the documented defaults.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated, Literal

import dagster as dg
from dagster.components.resolved.core_models import AssetPostProcessor

from attent_assets.defs.assets import build_sync_assets
from attent_assets.defs.audit_schedule import audit_cron_from_env, build_audit_schedule, check_cron
from attent_assets.defs.checks import registry
from attent_assets.defs.jobs import build_audit_job, build_sync_job
from attent_assets.defs.naming import DEFAULT_PREFIX, Naming
from attent_assets.defs.partitions import SyncPartitions, parse_start_date, start_date_from_env
from attent_assets.defs.resources import AttentResource, SyncResource, WarehouseResource
from attent_assets.defs.scaffolder import AttentScaffolder
from attent_assets.defs.schedules import (
    DEFAULT_RECONCILIATION_CRON,
    build_reconciliation_schedule,
)
from attent_assets.defs.sensors import build_lead_change_sensor, interval_from_env
from attent_assets.defs.specs import AssetOptions, build_specs


def _doc(description: str) -> dg.Resolver:
    """A YAML attribute resolved as is, with the description editors and `dg` show."""
    resolver: dg.Resolver = dg.Resolver.default(description=description)
    return resolver


#: `{{ env.NAME }}` or `{{ env('NAME') }}`: the only ways to give the API key.
_ENV_REFERENCE = re.compile(
    r"\{\{\s*env(?:\.(?P<attr>\w+)|\(\s*['\"](?P<call>\w+)['\"]\s*\))\s*\}\}"
)


def resolve_api_key(_: dg.ResolutionContext, value: str | None) -> dg.EnvVar | None:
    """The key as a reference to its environment variable, read when a run or tick starts.

    A key resolved when definitions load would become a default value of the resource's config,
    which Dagster shows in the launchpad and stores with every run's job snapshot; an `EnvVar`
    is stored as the variable's name only."""
    if value is None:
        return None
    found = _ENV_REFERENCE.fullmatch(value.strip())
    if found is None:
        raise ValueError(
            "api_key must name an environment variable, like "
            "'{{ env.ACME_ATTENT_API_KEY }}': a key written into defs.yaml would be stored "
            "in run configuration"
        )
    return dg.EnvVar(found["attr"] or found["call"])


@dg.scaffold_with(AttentScaffolder)
@dataclass
class AttentComponent(dg.Component, dg.Resolvable):
    """Syncs one Attent organisation (leads and every interaction event) into a Parquet lake and
    a DuckDB warehouse, kept fresh by a sensor, with checks, a daily reconciliation and a
    whole-history audit. Every name derives from `key_prefix`."""

    key_prefix: Annotated[
        str, _doc("Names every key, job, sensor, schedule, resource and the pool.")
    ] = DEFAULT_PREFIX
    group: Annotated[str | None, _doc("The asset group. Unset: the key prefix.")] = None
    api_key: Annotated[
        dg.EnvVar | None,
        dg.Resolver(
            resolve_api_key,
            model_field_type=str | None,
            inject_before_resolve=False,
            description="'{{ env.NAME }}': read from that variable when a run or tick starts. "
            "Unset: $ATTENT_API_KEY.",
            examples=["{{ env.ACME_ATTENT_API_KEY }}"],
        ),
    ] = None
    base_url: Annotated[
        str | None, _doc("API base URL. Unset: $ATTENT_BASE_URL, else https://api.attent.app/v1.")
    ] = None
    start_date: Annotated[
        str | None,
        _doc(
            "First day to sync, like '2026-01-01' (its week is the first partition). "
            "Unset: $ATTENT_START_DATE, else 2026-01-01."
        ),
    ] = None
    data_dir: Annotated[
        str | None,
        _doc("warehouse.duckdb and the local lake. Unset: $ATTENT_DATA_DIR, else ./data."),
    ] = None
    lake_url: Annotated[
        str | None,
        _doc(
            "The lake: a folder or s3://bucket/prefix. Unset: $ATTENT_LAKE_URL, else in data_dir."
        ),
    ] = None
    types: Annotated[
        list[str] | None,
        _doc("Only these event types (the API's names: MESSAGE, CALL, ...). Unset: every type."),
    ] = None
    sensor_interval_seconds: Annotated[
        int | None, _doc("Unset: $ATTENT_SENSOR_INTERVAL_SECONDS, else 60.")
    ] = None
    sensor_default_status: Annotated[
        Literal["running", "stopped"], _doc("How the sensor starts.")
    ] = "running"
    reconciliation_cron: Annotated[str, _doc("The daily reconcile run (UTC).")] = (
        DEFAULT_RECONCILIATION_CRON
    )
    audit_cron: Annotated[
        str | None,
        _doc("The whole-history audit (UTC). Unset: $ATTENT_AUDIT_CRON, else 0 4 * * *."),
    ] = None
    pool: Annotated[
        str | None,
        _doc(
            "The pool of every step that writes the warehouse; give it a limit of 1. Unset: "
            "warehouse for the default prefix, else <prefix>_warehouse."
        ),
    ] = None
    owners: Annotated[list[str], _doc("Owners of every asset.")] = field(default_factory=list)
    tags: Annotated[dict[str, str], _doc("Tags on every asset.")] = field(default_factory=dict)
    freshness_warn_hours: Annotated[
        float | None, _doc("The typed tables' FreshnessPolicy warns after this long unchanged.")
    ] = 6.0
    freshness_fail_hours: Annotated[
        float | None,
        _doc("The typed tables' FreshnessPolicy fails after this long unchanged (null: none)."),
    ] = 24.0
    asset_post_processors: Annotated[
        Sequence[AssetPostProcessor] | None,
        _doc("Applied to the built assets, as in dagster's integration components."),
    ] = None

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return self.definitions()

    def definitions(self) -> dg.Definitions:
        """Everything this organisation needs, named from `key_prefix`."""
        names = Naming(self.key_prefix)
        partitions = SyncPartitions(self._start_date())
        specs = build_specs(names, partitions, self._asset_options())
        sync_assets = build_sync_assets(
            names, partitions, specs, registry(names), self.pool or names.default_pool
        )
        defs = dg.Definitions(
            assets=[sync_assets],
            jobs=[build_sync_job(names), build_audit_job(names)],
            sensors=[
                build_lead_change_sensor(
                    names,
                    partitions,
                    interval_seconds=self._sensor_interval(),
                    default_status=dg.DefaultSensorStatus(self.sensor_default_status.upper()),
                )
            ],
            schedules=[
                build_reconciliation_schedule(
                    names,
                    partitions,
                    cron=check_cron(self.reconciliation_cron, "reconciliation_cron"),
                ),
                build_audit_schedule(names, cron=self._audit_cron()),
            ],
            resources=self._resources(names),
        )
        for post_process in self.asset_post_processors or ():
            defs = post_process(defs)
        return defs

    def _resources(self, names: Naming) -> Mapping[str, dg.ConfigurableResource]:
        return {
            names.api_resource: AttentResource(
                base_url=self.base_url, api_key=self.api_key, types=self.types
            ),
            names.warehouse_resource: WarehouseResource(
                data_dir=self.data_dir, lake_url=self.lake_url
            ),
            names.sync_resource: SyncResource(),
        }

    def _asset_options(self) -> AssetOptions:
        freshness = None
        if self.freshness_fail_hours is not None:
            freshness = dg.FreshnessPolicy.time_window(
                fail_window=timedelta(hours=self.freshness_fail_hours),
                warn_window=timedelta(hours=self.freshness_warn_hours)
                if self.freshness_warn_hours is not None
                else None,
            )
        return AssetOptions(
            group=self.group or self.key_prefix,
            owners=tuple(self.owners),
            tags=dict(self.tags),
            freshness=freshness,
        )

    def _start_date(self) -> date:
        if self.start_date is None:
            return start_date_from_env()
        return parse_start_date(str(self.start_date), "start_date")

    def _sensor_interval(self) -> int:
        if self.sensor_interval_seconds is None:
            return interval_from_env()
        if self.sensor_interval_seconds < 1:
            raise ValueError(
                f"sensor_interval_seconds={self.sensor_interval_seconds} must be at least 1"
            )
        return self.sensor_interval_seconds

    def _audit_cron(self) -> str:
        if self.audit_cron is None:
            return audit_cron_from_env()
        return check_cron(self.audit_cron, "audit_cron")
