"""`attent_daily_reconciliation`: the daily safety net behind the sensor.

A reconcile run re-reads every lead from the beginning (a few pages) and fetches events for every
lead whose `lastActivityAt` is ahead of its events cursor, catching anything the leads watermark
could not see: a write that became visible later than the lookback, a sensor that was stopped.
"""

from datetime import UTC

import dagster as dg

from attent_assets.defs.jobs import attent_sync
from attent_assets.defs.run_requests import PartitionRange, sync_request
from attent_assets.sync import Mode


@dg.schedule(
    job=attent_sync,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 03:00 UTC: a reconcile run of attent_sync (every lead re-read; events "
    "fetched for any lead whose lastActivityAt is ahead of its cursor).",
)
def attent_daily_reconciliation(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    # The run targets the day it runs: versions it finds on other days are recorded there anyway.
    day = context.scheduled_execution_time.astimezone(UTC).date()
    partitions = PartitionRange.of_days(day, day)
    # One run a day: the key names the day, not its (weekly) partition.
    return sync_request(Mode.RECONCILE, partitions, f"reconcile:{day.isoformat()}")
