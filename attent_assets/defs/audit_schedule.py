"""`attent_audit_schedule`: the whole-history audit, off the sensor's path.

Checks in a sync run look only at what that run wrote, so their cost follows the change. This
schedule runs `attent_audit` (every check over every table row and lake file) on its own cron,
`ATTENT_AUDIT_CRON` (default daily at 04:00 UTC, after the reconciliation): its cost grows with
the history, which is why it is not on every run.
"""

import os

import dagster as dg
from dagster._utils.schedules import is_valid_cron_string

from attent_assets.defs.jobs import attent_audit

AUDIT_CRON_VAR = "ATTENT_AUDIT_CRON"
DEFAULT_AUDIT_CRON = "0 4 * * *"


def audit_cron_from_env() -> str:
    """ATTENT_AUDIT_CRON, checked when definitions load."""
    cron = os.environ.get(AUDIT_CRON_VAR) or DEFAULT_AUDIT_CRON
    if not is_valid_cron_string(cron):
        raise ValueError(f"{AUDIT_CRON_VAR}={cron!r} is not a cron schedule like '0 4 * * 0'")
    return cron


@dg.schedule(
    job=attent_audit,
    cron_schedule=audit_cron_from_env(),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The whole-history audit (every check of attent_audit) on ATTENT_AUDIT_CRON, "
    "default daily at 04:00 UTC.",
)
def attent_audit_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=f"audit:{context.scheduled_execution_time.isoformat()}")
