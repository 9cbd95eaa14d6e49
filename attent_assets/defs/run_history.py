"""What the Dagster instance knows about one organisation's past sync runs: the sensor decides from
this and its cursor alone, and never opens the warehouse file, which the runs write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg

from attent_assets.api import parse_timestamp
from attent_assets.defs.naming import Naming
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


def run_in_flight(instance: dg.DagsterInstance, names: Naming) -> dg.DagsterRun | None:
    """A sync run that is queued, starting, running or being cancelled, if any."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=names.sync_job, statuses=list(IN_FLIGHT)), limit=1
    )
    return runs[0] if runs else None


def latest_run(instance: dg.DagsterInstance, names: Naming) -> dg.DagsterRun | None:
    """The sync run launched last, whatever its status."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=names.sync_job), limit=1)
    return runs[0] if runs else None


#: After the second consecutive failed run, relaunches wait this long, doubling up to the cap: a
#: revoked key, an outage or a bug that fails every run costs one run an hour, not one a tick.
FIRST_BACKOFF = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=1)
#: Runs looked at when counting consecutive failures (enough to reach the cap).
FAILURES_COUNTED = 10


@dataclass(frozen=True, slots=True)
class Failures:
    """The sync runs that failed (or were cancelled) since the last one that succeeded."""

    latest: dg.DagsterRun
    count: int
    ended_at: datetime

    @property
    def backoff(self) -> timedelta:
        """No wait after one failure (most are passing); then 1 min, 2 min, 4 min, ... 1 h."""
        if self.count < 2:
            return timedelta(0)
        return min(FIRST_BACKOFF * (1 << (self.count - 2)), MAX_BACKOFF)

    @property
    def retry_at(self) -> datetime:
        return self.ended_at + self.backoff


def recent_failures(instance: dg.DagsterInstance, names: Naming) -> Failures | None:
    """The latest sync run and how many in a row did not finish, if the latest did not."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=names.sync_job), limit=FAILURES_COUNTED
    )
    count = 0
    for record in records:
        if record.dagster_run.status not in UNFINISHED:
            break
        count += 1
    if not count:
        return None
    latest = records[0]
    ended = latest.end_time or latest.update_timestamp.timestamp()
    return Failures(latest.dagster_run, count, datetime.fromtimestamp(ended, UTC))


def synced_through(instance: dg.DagsterInstance, names: Naming) -> datetime | None:
    """The leads watermark of the latest `leads` observation recorded by a successful run:
    every lead updated at or before it is in the warehouse. An empty watermark (the run found no
    leads) is the beginning of time; None when no successful run recorded one."""
    records = instance.fetch_observations(names.leads, limit=OBSERVATIONS_SEARCHED).records
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
