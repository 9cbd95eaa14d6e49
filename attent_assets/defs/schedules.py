"""`<prefix>_daily_reconciliation`: the daily safety net behind the sensor.

A reconcile run re-reads every lead from the beginning (a few pages) and fetches events for every
lead whose `lastActivityAt` is ahead of its events cursor, catching anything the leads watermark
could not see: a write that became visible later than the lookback, a sensor that was stopped.
"""

from datetime import UTC

import dagster as dg

from attent_assets.defs.naming import Naming
from attent_assets.defs.partitions import SyncPartitions
from attent_assets.defs.run_requests import PartitionRange, sync_request
from attent_assets.sync import Mode

DEFAULT_RECONCILIATION_CRON = "0 3 * * *"


def build_reconciliation_schedule(
    names: Naming,
    partitions: SyncPartitions,
    *,
    cron: str = DEFAULT_RECONCILIATION_CRON,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.RUNNING,
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=names.reconciliation_schedule,
        job_name=names.sync_job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=default_status,
        description=f"On `{cron}` (UTC): a reconcile run of {names.sync_job} (every lead "
        "re-read; events fetched for any lead whose lastActivityAt is ahead of its cursor).",
    )
    def reconciliation(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        # The run targets the day it runs: versions it finds on other days are recorded there.
        day = context.scheduled_execution_time.astimezone(UTC).date()
        targets = PartitionRange.of_days(partitions, day, day)
        # One run a day: the key names the day, not its (weekly) partition.
        return sync_request(names, Mode.RECONCILE, targets, f"reconcile:{day.isoformat()}")

    return reconciliation
