"""The lead-change sensor and the daily reconciliation, ticked like the daemon does against the
simulator with a real Dagster instance; the runs they request are executed in process.

Expected cursors are what `LeadChangeCursor.advance` makes of the simulator's truth (its unit
tests pin down the semantics): so a tick is checked for reading the right window, within its
budget, from the right starting point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

# What the public `SensorDefinition.evaluate_tick` returns; dagster does not export its name.
from dagster._core.definitions.sensor_definition import SensorExecutionData

from attent_assets.api import (
    AttentClient,
    AttentUnavailableError,
    Lead,
    format_timestamp,
    parse_timestamp,
)
from attent_assets.definitions import defs
from attent_assets.defs import run_history, sensors
from attent_assets.defs.audit_schedule import audit_cron_from_env
from attent_assets.defs.changes import PollBudget, poll_changes
from attent_assets.defs.cursor import LeadChangeCursor
from attent_assets.defs.resources import (
    AttentResource,
    RetryConfig,
    SyncResource,
    WarehouseResource,
)
from attent_assets.defs.run_requests import PartitionRange, run_config, sync_request
from attent_assets.defs.sensors import BUDGET, interval_from_env
from attent_assets.simulator import SimulatorServer, World
from attent_assets.sync import EPOCH, Mode
from attent_assets_tests.conftest import WORLD_START
from attent_assets_tests.harness import SIMULATOR_KEY, Harness, fast_client_settings
from attent_assets_tests.surface import NAMES, PARTITIONS, partitions

LOOKBACK = timedelta(seconds=SyncResource().lookback_seconds)
PAGE_SIZE = 7
TICK_LEADS = BUDGET.max_pages * PAGE_SIZE
INCREMENTAL = run_config(NAMES, Mode.INCREMENTAL)


def _resources(url: str, data_dir: Path, **retry: Any) -> dict[str, Any]:
    return {
        "attent": AttentResource(
            base_url=url, api_key=SIMULATOR_KEY, page_size=PAGE_SIZE, retry=RetryConfig(**retry)
        ),
        "warehouse": WarehouseResource(data_dir=str(data_dir)),
        "sync": SyncResource(),
    }


def _tick(
    instance: dg.DagsterInstance, resources: dict[str, Any], cursor: str | None
) -> SensorExecutionData:
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=resources, definitions=defs
    ) as context:
        return defs.get_sensor_def(NAMES.sensor).evaluate_tick(context)


def _execute(
    instance: dg.DagsterInstance, resources: dict[str, Any], request: dg.RunRequest
) -> dg.ExecuteInProcessResult:
    return defs.get_job_def("attent_sync").execute_in_process(
        run_config=request.run_config,
        tags=request.tags,
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )


def _only(data: SensorExecutionData) -> dg.RunRequest:
    assert data.run_requests is not None
    assert len(data.run_requests) == 1, data.skip_message
    return data.run_requests[0]


def _listing(world: World, since: datetime) -> list[Lead]:
    """What GET /leads?updatedSince=since lists, in order."""
    leads = [Lead.from_json(raw) for raw in world.truth_leads()]
    return [x for x in leads if x.updated_at is not None and x.updated_at >= since]


def _expected(cursor: LeadChangeCursor, world: World) -> LeadChangeCursor:
    """The cursor after one tick from `cursor`: at most TICK_LEADS leads from its start."""
    leads = _listing(world, cursor.since(LOOKBACK))
    read = leads[:TICK_LEADS]
    return cursor.advance(read, lookback=LOOKBACK, read_to_end=len(leads) <= TICK_LEADS)


def _new_days(cursor: LeadChangeCursor, world: World) -> PartitionRange:
    read = _listing(world, cursor.since(LOOKBACK))[:TICK_LEADS]
    days = [x.updated_at.date() for x in read if x.updated_at and cursor.is_new(x)]
    return PartitionRange.of_days(PARTITIONS, min(days), max(days))


def _caught_up(world: World) -> LeadChangeCursor:
    """The cursor of a poll that read the whole (small) listing."""
    return _expected(LeadChangeCursor(watermark=EPOCH), world)


def _newest(world: World) -> datetime:
    newest = parse_timestamp(world.truth_leads()[-1]["updatedAt"])
    assert newest is not None
    return newest


def _put_leads(world: World, prefix: str, stamps: list[datetime]) -> None:
    """New leads (copies of an existing one) with these `updatedAt`s."""
    template = world.truth_leads()[0]
    for n, stamp in enumerate(stamps):
        when = format_timestamp(stamp)
        world.put_lead(
            {**template, "id": f"{prefix}-{n:02d}", "updatedAt": when, "lastActivityAt": when}
        )


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


# --- ticks from a caught-up cursor --------------------------------------------------------------


def _nothing(world: World, cursor: LeadChangeCursor) -> PartitionRange | None:
    return None


def _world_changes(world: World, cursor: LeadChangeCursor) -> PartitionRange | None:
    world.advance(6)
    return _new_days(cursor, world)


def _one_millisecond_across_pages(world: World, cursor: LeadChangeCursor) -> PartitionRange | None:
    """30 leads at one millisecond span five pages of 7."""
    stamp = cursor.watermark + timedelta(minutes=1)
    _put_leads(world, "burst", [stamp] * 30)
    return PartitionRange.of_days(PARTITIONS, stamp.date(), stamp.date())


def _visible_late_in_the_window(world: World, cursor: LeadChangeCursor) -> PartitionRange | None:
    """A lead written a minute before the watermark that the last poll could not see yet."""
    _put_leads(world, "late", [cursor.watermark - timedelta(minutes=1)])
    return PartitionRange.of_days(
        PARTITIONS, (cursor.watermark - LOOKBACK).date(), cursor.watermark.date()
    )


@dataclass(frozen=True)
class Case:
    change: Callable[[World, LeadChangeCursor], PartitionRange | None]
    reason: str


CASES = {
    "nothing new": Case(_nothing, "no lead changed since"),
    "new changes": Case(_world_changes, "lead versions new since"),
    "one millisecond across pages": Case(_one_millisecond_across_pages, "30 lead versions new"),
    "visible late in the window": Case(_visible_late_in_the_window, "a lead visible late"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_tick_from_a_caught_up_cursor(
    case: Case, simulator: SimulatorServer, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    world = simulator.world
    resources = _resources(simulator.url, tmp_path)
    cursor = _caught_up(world)
    expected_range = case.change(world, cursor)
    expected = _expected(cursor, world)
    requests_before = simulator.stats.requests_total

    data = _tick(instance, resources, cursor.encode())

    assert data.cursor == expected.encode()
    if expected_range is None:
        assert data.run_requests == []
        assert data.skip_message is not None
        assert data.skip_message.startswith(case.reason)
        assert expected == cursor
        assert simulator.stats.requests_total - requests_before == 1
        return
    request = _only(data)
    assert request.run_config == INCREMENTAL
    assert PartitionRange.from_tags(request.tags) == expected_range
    assert request.run_key is not None
    assert request.run_key.startswith(
        f"leads:{cursor.watermark.isoformat()}..{expected.watermark.isoformat()}:"
    )
    # A repeated tick asks for the same run key: Dagster launches it once.
    assert _only(_tick(instance, resources, cursor.encode())).run_key == request.run_key
    # What was noticed stays noticed, also when it spanned pages.
    again = _tick(instance, resources, data.cursor)
    assert again.run_requests == []
    assert again.cursor == data.cursor


def test_the_page_cap_and_its_continuation(
    simulator: SimulatorServer, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    world = simulator.world
    resources = _resources(simulator.url, tmp_path)
    cursor = _caught_up(world)
    _put_leads(world, "backlog", [cursor.watermark + timedelta(seconds=n) for n in range(1, 51)])

    first = _tick(instance, resources, cursor.encode())
    capped = _expected(cursor, world)
    assert capped.backlog
    assert first.cursor == capped.encode()
    assert PartitionRange.from_tags(_only(first).tags) == _new_days(cursor, world)

    second = _tick(instance, resources, first.cursor)
    finished = _expected(capped, world)
    assert not finished.backlog
    assert finished.watermark == _newest(world)
    assert second.cursor == finished.encode()
    assert _only(second).run_key != _only(first).run_key

    assert _tick(instance, resources, second.cursor).run_requests == []


def test_the_time_budget_ends_a_poll_after_one_page(simulator: SimulatorServer) -> None:
    cursor = LeadChangeCursor(watermark=EPOCH)
    with AttentClient(fast_client_settings(simulator.url)) as api:
        found = poll_changes(api, cursor, lookback=LOOKBACK, budget=PollBudget(seconds=0))
    assert simulator.stats.leads == 1
    assert found.cursor.backlog
    assert found.changed


# --- no cursor, a broken cursor: start from the last successful run ---------------------------


@dataclass
class Synced:
    """A simulator, an instance and a warehouse after one successful incremental run."""

    server: SimulatorServer
    instance: dg.DagsterInstance
    resources: dict[str, Any]


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    world = World(seed=11, leads=20, events_per_lead=4, start=WORLD_START)
    with SimulatorServer(world, api_key=SIMULATOR_KEY) as server, dg.instance_for_test() as inst:
        resources = _resources(server.url, tmp_path_factory.mktemp("synced"))
        today = datetime.now(UTC).date()
        setup = sync_request(
            NAMES, Mode.INCREMENTAL, PartitionRange.of_days(PARTITIONS, today, today), "setup"
        )
        assert _execute(inst, resources, setup).success
        yield Synced(server, inst, resources)


STORED_CURSORS = {
    "no cursor": None,
    "corrupt cursor": "{not json",
    "old-version cursor": '{"version":0,"watermark":"2026-03-01T00:00:00+00:00"}',
}


@pytest.mark.parametrize("stored", STORED_CURSORS.values(), ids=STORED_CURSORS.keys())
def test_without_a_usable_cursor_a_tick_starts_after_the_last_run_watermark(
    stored: str | None, synced: Synced
) -> None:
    world = synced.server.world
    start = LeadChangeCursor.after(_newest(world))

    data = _tick(synced.instance, synced.resources, stored)

    assert data.run_requests == []
    assert data.skip_message == f"no lead changed since {format_timestamp(start.watermark)}"
    assert data.cursor == _expected(start, world).encode()


def test_the_first_tick_with_nothing_synced_requests_the_first_sync(
    simulator: SimulatorServer, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    data = _tick(instance, _resources(simulator.url, tmp_path), None)
    request = _only(data)
    assert request.run_key == "first-sync:none"
    assert request.run_config == INCREMENTAL
    assert PartitionRange.from_tags(request.tags) == PartitionRange.everything(PARTITIONS)
    assert data.cursor is None
    assert simulator.stats.requests_total == 0


# --- runs in flight, failed runs, the API down --------------------------------------------------


def test_a_run_in_flight_skips_without_polling(
    simulator: SimulatorServer, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    running = instance.create_run_for_job(
        job_def=defs.get_job_def("attent_sync"), status=dg.DagsterRunStatus.STARTED
    )
    simulator.world.advance(5)
    cursor = _caught_up(simulator.world).encode()

    data = _tick(instance, _resources(simulator.url, tmp_path), cursor)

    assert data.run_requests == []
    assert data.skip_message is not None
    assert running.run_id in data.skip_message
    assert data.cursor == cursor
    assert simulator.stats.requests_total == 0


def test_after_a_failed_run_the_sensor_launches_again(
    simulator: SimulatorServer, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    world = simulator.world
    resources = _resources(simulator.url, tmp_path)
    cursor = _caught_up(world)
    day = cursor.watermark.date()
    simulator.faults.fail_first_n, simulator.faults.fail_status = 1, 500
    doomed = sync_request(
        NAMES, Mode.INCREMENTAL, PartitionRange.of_days(PARTITIONS, day, day), "doomed"
    )
    failed = _execute(instance, _resources(simulator.url, tmp_path, max_attempts=1), doomed)
    assert not failed.success
    world.advance(4)

    data = _tick(instance, resources, cursor.encode())

    retry = _only(data)
    assert retry.run_key == f"retry:{failed.run_id}"
    assert retry.run_config == INCREMENTAL
    expected_range = _new_days(cursor, world).union(PartitionRange.of_days(PARTITIONS, day, day))
    assert PartitionRange.from_tags(retry.tags) == expected_range
    assert data.cursor == _expected(cursor, world).encode()
    assert _execute(instance, resources, retry).success
    assert _tick(instance, resources, data.cursor).run_requests == []


@pytest.mark.parametrize("outage", ["HTTP 500", "server stopped"])
def test_an_api_error_fails_the_tick(
    outage: str, simulator: SimulatorServer, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    cursor = _caught_up(simulator.world).encode()
    resources = _resources(simulator.url, tmp_path, max_attempts=1)
    if outage == "server stopped":
        simulator.stop()
    else:
        simulator.faults.fail_first_n, simulator.faults.fail_status = 1, 500

    with pytest.raises(AttentUnavailableError):
        _tick(instance, resources, cursor)

    # A failed tick stores no cursor; the same one works once the API answers again.
    if outage == "HTTP 500":
        assert _tick(instance, resources, cursor).cursor == cursor


# --- convergence through the sensor, and the daily reconciliation --------------------------------


def test_the_sensor_and_the_schedule_are_registered_running() -> None:
    sensor = defs.get_sensor_def("attent_lead_changes")
    assert sensor.job_name == "attent_sync"
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == interval_from_env()
    schedule = defs.get_schedule_def("attent_daily_reconciliation")
    assert schedule.job_name == "attent_sync"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.cron_schedule == "0 3 * * *"
    assert schedule.execution_timezone == "UTC"
    audit = defs.get_schedule_def("attent_audit_schedule")
    assert audit.job_name == "attent_audit"
    assert audit.default_status == dg.DefaultScheduleStatus.RUNNING
    assert audit.cron_schedule == audit_cron_from_env()


def _reconciliation(instance: dg.DagsterInstance, moment: datetime) -> dg.RunRequest:
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=moment) as context:
        scheduled = defs.get_schedule_def(NAMES.reconciliation_schedule).evaluate_tick(context)
    assert scheduled.run_requests is not None
    [request] = scheduled.run_requests
    return request


def test_the_daily_reconciliation_requests_a_reconcile_run_of_its_day(
    instance: dg.DagsterInstance,
) -> None:
    request = _reconciliation(instance, datetime(2026, 5, 14, 3, tzinfo=UTC))
    assert request.run_config == run_config(NAMES, Mode.RECONCILE)
    # 2026-05-14 is a Thursday: its partition is the week starting Monday 2026-05-11.
    assert PartitionRange.from_tags(request.tags) == PartitionRange("2026-05-11", "2026-05-11")
    assert "2026-05-11" in partitions.get_partition_keys()
    assert request.run_key == "reconcile:2026-05-14"


def test_rounds_of_changes_each_ticked_and_run_converge(
    simulator: SimulatorServer, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    world = simulator.world
    data_dir = tmp_path / "data"
    resources = _resources(simulator.url, data_dir)
    cursor: str | None = None
    keys = []
    for changes in (0, 12, 25, 8):
        world.advance(changes)
        data = _tick(instance, resources, cursor)
        request = _only(data)
        keys.append(request.run_key)
        assert _execute(instance, resources, request).success
        cursor = data.cursor
    assert keys[0] == "first-sync:none"
    assert len(set(keys)) == len(keys)
    assert _tick(instance, resources, cursor).run_requests == []
    Harness(server=simulator, data_dir=data_dir).assert_converged()

    # Visible only now but written days before the watermark, beyond any lookback: the sensor
    # cannot notice it; the daily reconciliation syncs it.
    _put_leads(world, "hidden", [_newest(world) - timedelta(days=3)])
    assert _tick(instance, resources, cursor).run_requests == []
    request = _reconciliation(instance, datetime.now(UTC))
    assert _execute(instance, resources, request).success
    Harness(server=simulator, data_dir=data_dir).assert_converged()


@pytest.mark.parametrize(
    ("failures", "backoff"),
    [(1, timedelta(0)), (2, timedelta(minutes=1)), (3, timedelta(minutes=2)),
     (4, timedelta(minutes=4)), (8, timedelta(hours=1)), (10, timedelta(hours=1))],
)  # fmt: skip
def test_relaunches_back_off_exponentially_up_to_an_hour(failures: int, backoff: timedelta) -> None:
    run = dg.DagsterRun(job_name="attent_sync")
    ended = datetime(2026, 5, 14, 12, tzinfo=UTC)
    state = run_history.Failures(run, failures, ended)
    assert state.backoff == backoff
    assert state.retry_at == ended + backoff


def test_repeated_failed_runs_back_off_and_a_success_resets(
    simulator: SimulatorServer,
    tmp_path: Path,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three failed runs in a row: the next tick waits (no request, the due time in its reason);
    once that time has passed it relaunches; after a success one failure relaunches at once."""
    resources = _resources(simulator.url, tmp_path)
    cursor = _caught_up(simulator.world)
    day = cursor.watermark.date()
    doomed = sync_request(
        NAMES, Mode.INCREMENTAL, PartitionRange.of_days(PARTITIONS, day, day), "doomed"
    )
    failing = _resources(simulator.url, tmp_path, max_attempts=1)
    simulator.faults.fail_first_n, simulator.faults.fail_status = 3, 500
    failed = [_execute(instance, failing, doomed) for _ in range(3)]
    assert not any(run.success for run in failed)
    simulator.stats.reset()

    waiting = _tick(instance, resources, cursor.encode())

    assert waiting.run_requests == []
    assert waiting.skip_message is not None
    assert "failed 3 times in a row" in waiting.skip_message
    assert failed[-1].run_id in waiting.skip_message
    assert "next try at" in waiting.skip_message
    assert simulator.stats.requests_total == 0
    later = datetime.now(UTC) + timedelta(minutes=2, seconds=5)
    monkeypatch.setattr(sensors, "_now", lambda: later)

    retry = _only(_tick(instance, resources, cursor.encode()))

    assert retry.run_key == f"retry:{failed[-1].run_id}"
    assert _execute(instance, resources, retry).success
    monkeypatch.undo()
    simulator.faults.fail_first_n = 1
    again = _execute(instance, failing, doomed)
    assert not again.success
    assert _only(_tick(instance, resources, cursor.encode())).run_key == f"retry:{again.run_id}"
