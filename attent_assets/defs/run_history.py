"""What the Dagster instance knows about past `attent_sync` runs: the sensor decides from this and
its cursor alone, and never opens the warehouse file, which the runs write."""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from attent_assets.api import parse_timestamp
from attent_assets.defs.jobs import attent_sync
from attent_assets.defs.keys import LEADS
from attent_assets.sync import EPOCH

WATERMARK_KEY = "leads_watermark"
IN_FLIGHT = (
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)
#: A run that ended like this may have left changes unsynced after the sensor's cursor moved past
#: them: a cancelled run as much as a failed one.
UNFINISHED = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
#: Recent `attent/leads` observations searched for one recorded by a successful run.
OBSERVATIONS_SEARCHED = 20


def run_in_flight(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    """A sync run that is queued, starting, running or being cancelled, if any."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=attent_sync.name, statuses=list(IN_FLIGHT)), limit=1
    )
    return runs[0] if runs else None


def latest_run(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    """The sync run launched last, whatever its status."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=attent_sync.name), limit=1)
    return runs[0] if runs else None


def synced_through(instance: dg.DagsterInstance) -> datetime | None:
    """The leads watermark of the latest `attent/leads` observation recorded by a successful run:
    every lead updated at or before it is in the warehouse. An empty watermark (the run found no
    leads) is the beginning of time; None when no successful run recorded one."""
    records = instance.fetch_observations(LEADS, limit=OBSERVATIONS_SEARCHED).records
    watermarks: list[tuple[str, datetime]] = []
    for record in records:
        observation = record.asset_observation
        value = observation.metadata.get(WATERMARK_KEY) if observation else None
        text = value.value if value is not None else None
        if isinstance(text, str):
            watermark = parse_timestamp(text) if text else EPOCH
            if watermark is not None:
                watermarks.append((record.run_id, watermark))
    if not watermarks:
        return None
    succeeded = {
        run.run_id
        for run in instance.get_runs(
            filters=dg.RunsFilter(
                run_ids=[run_id for run_id, _ in watermarks],
                statuses=[dg.DagsterRunStatus.SUCCESS],
            )
        )
    }
    return next((mark for run_id, mark in watermarks if run_id in succeeded), None)
