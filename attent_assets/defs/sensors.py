"""`<prefix>_lead_changes`: notices lead changes with one cheap poll per tick and launches one
incremental `<prefix>_sync` run for them.

Incremental runs decide what to fetch from the cursors stored with the data, so any run catches up
on everything not yet synced: the sensor only has to notice change and launch. Its cursor moves
past a change only in the tick that requests a run for it, and a run that fails (or is cancelled)
is launched again, so a change is never left unsynced.
"""

import hashlib
import os
from datetime import UTC, datetime, timedelta

import dagster as dg

from attent_assets.api import AttentClient
from attent_assets.defs import run_history
from attent_assets.defs.changes import Detection, PollBudget, poll_changes
from attent_assets.defs.cursor import LeadChangeCursor, resume
from attent_assets.defs.naming import Naming
from attent_assets.defs.partitions import SyncPartitions
from attent_assets.defs.resources import AttentResource, SyncResource
from attent_assets.defs.run_requests import PartitionRange, sync_request
from attent_assets.sync import Mode

INTERVAL_VAR = "ATTENT_SENSOR_INTERVAL_SECONDS"
DEFAULT_INTERVAL_SECONDS = 60
BUDGET = PollBudget()


def interval_from_env() -> int:
    """ATTENT_SENSOR_INTERVAL_SECONDS as whole seconds (at least 1), checked when definitions
    load (the default of the component's `sensor_interval_seconds`)."""
    value = os.environ.get(INTERVAL_VAR) or str(DEFAULT_INTERVAL_SECONDS)
    try:
        seconds = int(value)
    except ValueError:
        raise ValueError(f"{INTERVAL_VAR}={value!r} is not a whole number of seconds") from None
    if seconds < 1:
        raise ValueError(f"{INTERVAL_VAR}={value!r} must be at least 1 second")
    return seconds


def build_lead_change_sensor(
    names: Naming,
    partitions: SyncPartitions,
    *,
    interval_seconds: int,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """The sensor of one organisation, using its own API and sync resources."""

    @dg.sensor(
        name=names.sensor,
        job_name=names.sync_job,
        minimum_interval_seconds=interval_seconds,
        default_status=default_status,
        required_resource_keys={names.api_resource, names.sync_resource},
        description=f"Polls GET /leads from its cursor and launches one incremental "
        f"{names.sync_job} run when leads changed, or again after a failed run (after repeated "
        "failures, with exponential backoff up to an hour). Waits while a sync run is in "
        "flight.",
    )
    def lead_changes(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        attent: AttentResource = getattr(context.resources, names.api_resource)
        sync: SyncResource = getattr(context.resources, names.sync_resource)
        return _tick(context, names, partitions, attent, sync)

    return lead_changes


def _tick(
    context: dg.SensorEvaluationContext,
    names: Naming,
    partitions: SyncPartitions,
    attent: AttentResource,
    sync: SyncResource,
) -> dg.SensorResult:
    instance = context.instance
    busy = run_history.run_in_flight(instance, names)
    if busy is not None:
        return dg.SensorResult(
            skip_reason=f"{names.sync_job} run {busy.run_id} is {busy.status.value.lower()}; "
            "checking for changes once it ends"
        )
    latest = run_history.latest_run(instance, names)
    failures = run_history.recent_failures(instance, names)
    if failures is not None and _now() < failures.retry_at:
        return dg.SensorResult(
            skip_reason=f"{names.sync_job} failed {failures.count} times in a row (last: run "
            f"{failures.latest.run_id}); backing off {failures.backoff}, next try at "
            f"{failures.retry_at.isoformat(timespec='seconds')}"
        )
    failed = failures.latest if failures is not None else None
    stored = LeadChangeCursor.decode(context.cursor, context.log)
    cursor = resume(stored, run_history.synced_through(instance, names))
    if cursor is None:
        # Nothing synced yet: an incremental run from empty state is the full first sync. The key
        # names the latest run, so the request is repeated only after another run ended.
        key = f"first-sync:{latest.run_id if latest else 'none'}"
        context.log.info("no successful sync recorded yet; requesting the first sync (%s)", key)
        everything = PartitionRange.everything(partitions)
        return dg.SensorResult(
            run_requests=[sync_request(names, Mode.INCREMENTAL, everything, key)]
        )
    lookback = timedelta(seconds=sync.lookback_seconds)
    with AttentClient(BUDGET.client_settings(attent.client_settings()), logger=context.log) as api:
        detection = poll_changes(api, cursor, lookback=lookback, budget=BUDGET)
    context.log.info(detection.reason)
    if failed is not None:
        context.log.info(
            "the last %s run %s did not finish; launching again", names.sync_job, failed.run_id
        )
    planned = _plan(partitions, cursor, detection, failed)
    if planned is None:
        return dg.SensorResult(skip_reason=detection.reason, cursor=detection.cursor.encode())
    targets, key = planned
    return dg.SensorResult(
        run_requests=[sync_request(names, Mode.INCREMENTAL, targets, key)],
        cursor=detection.cursor.encode(),
    )


def _now() -> datetime:
    """The tick's clock (one place, so a test can move it past a backoff)."""
    return datetime.now(UTC)


def _plan(
    partitions: SyncPartitions,
    cursor: LeadChangeCursor,
    detection: Detection,
    failed: dg.DagsterRun | None,
) -> tuple[PartitionRange, str] | None:
    """The partitions and run key of the one run to request, if any: for the changes found and,
    after a failed run, for what that run targeted too. The key is derived from the cursor window
    (or the failed run), so a repeated tick cannot launch twice."""
    found = PartitionRange.of_days(partitions, *detection.days) if detection.days else None
    if failed is not None:
        retry = PartitionRange.from_tags(failed.tags) or _today(partitions)
        return retry.union(found), f"retry:{failed.run_id}"
    if found is not None:
        return found, _window_key(cursor, detection.cursor)
    return None


def _window_key(before: LeadChangeCursor, after: LeadChangeCursor) -> str:
    """`leads:<old watermark>..<new watermark>:<hash of both cursors>`: the hash tells apart two
    windows between the same watermarks (new ids at one millisecond, a late-visible lead)."""
    both = hashlib.blake2b(f"{before.encode()}\n{after.encode()}".encode(), digest_size=6)
    return f"leads:{before.watermark.isoformat()}..{after.watermark.isoformat()}:{both.hexdigest()}"


def _today(partitions: SyncPartitions) -> PartitionRange:
    today = datetime.now(UTC).date()
    return PartitionRange.of_days(partitions, today, today)
