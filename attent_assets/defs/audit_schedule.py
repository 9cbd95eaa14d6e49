"""`<prefix>_audit_schedule`: the whole-history audit, off the sensor's path.

Checks in a sync run look only at what that run wrote, so their cost follows the change. This
schedule runs `<prefix>_audit` (every check over every table row and lake file) on its own cron
(the project's: `ATTENT_AUDIT_CRON`, default daily at 04:00 UTC, after the reconciliation): its
cost grows with the history, which is why it is not on every run.
"""

import os

import dagster as dg
from dagster._utils.schedules import is_valid_cron_string

from attent_assets.defs.naming import Naming

AUDIT_CRON_VAR = "ATTENT_AUDIT_CRON"
DEFAULT_AUDIT_CRON = "0 4 * * *"


def check_cron(cron: str, setting: str) -> str:
    """`cron` when it is a cron schedule; errors name `setting`."""
    if not is_valid_cron_string(cron):
        raise ValueError(f"{setting}={cron!r} is not a cron schedule like '0 4 * * 0'")
    return cron


def audit_cron_from_env() -> str:
    """ATTENT_AUDIT_CRON, checked when definitions load."""
    return check_cron(os.environ.get(AUDIT_CRON_VAR) or DEFAULT_AUDIT_CRON, AUDIT_CRON_VAR)


def build_audit_schedule(
    names: Naming,
    *,
    cron: str = DEFAULT_AUDIT_CRON,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.RUNNING,
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=names.audit_schedule,
        job_name=names.audit_job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=default_status,
        description=f"The whole-history audit (every check of {names.audit_job}) on `{cron}` "
        "(UTC).",
    )
    def audit(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(run_key=f"audit:{context.scheduled_execution_time.isoformat()}")

    return audit
