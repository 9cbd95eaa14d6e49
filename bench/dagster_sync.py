"""The Dagster surface run in process, as the daemon and a backfill run it: the full sync as one run
over every partition, the lead-change sensor's tick, and the run it requests."""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from attent_assets.definitions import defs
from attent_assets.defs.naming import Naming
from attent_assets.defs.partitions import SyncPartitions, start_date_from_env
from attent_assets.defs.resources import AttentResource, SyncResource, WarehouseResource
from bench.patching import patched
from bench.simulator_process import API_KEY

NAMES = Naming()

#: The tags of the one run a backfill of every partition launches (single-run backfill policy).
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
BACKFILL = "dagster/backfill"


def resources(url: str, data_dir: Path, *, concurrency: int, page_size: int) -> dict[str, Any]:
    return {
        "attent": AttentResource(
            base_url=url, api_key=API_KEY, concurrency=concurrency, page_size=page_size
        ),
        "warehouse": WarehouseResource(data_dir=str(data_dir)),
        "sync": SyncResource(),
    }


def fresh_instance(home: Path) -> dg.DagsterInstance:
    """A fresh instance with the default (SQLite) storage, as `dagster dev` creates one."""
    home.mkdir()
    return dg.DagsterInstance.local_temp(str(home))


@contextmanager
def quiet() -> Iterator[None]:
    """Dagster's console logger prints every event; it still runs, into /dev/null."""
    with Path(os.devnull).open("w") as sink, contextlib.redirect_stderr(sink):
        yield


def events_read(result: dg.ExecuteInProcessResult) -> int:
    """The events a sync run read from the API (its observation's `records_fetched`)."""
    for event in result.get_asset_observation_events():
        observation = event.asset_observation_data.asset_observation
        if observation.asset_key == NAMES.raw_events:
            value = observation.metadata["records_fetched"].value
            return int(value) if isinstance(value, int | float) else 0
    return 0


def partition_keys() -> Sequence[str]:
    """Every partition, from ATTENT_START_DATE (read when the definitions load) to this week."""
    return SyncPartitions(start_date_from_env()).keys()


def full_sync(instance: dg.DagsterInstance, bound: dict[str, Any]) -> dg.ExecuteInProcessResult:
    """A backfill of every partition of `attent_sync`: one replay run from the first day, tagged
    as the backfill daemon tags it (it then records every partition of its range)."""
    keys = partition_keys()
    return defs.get_job_def("attent_sync").execute_in_process(
        instance=instance,
        resources=bound,
        tags={RANGE_START: keys[0], RANGE_END: keys[-1], BACKFILL: "bench"},
    )


def sensor_tick(
    instance: dg.DagsterInstance, bound: dict[str, Any], cursor: str | None
) -> dg.SensorResult:
    """One evaluation of `attent_lead_changes`, as the daemon makes it; its run requests, skip
    reason and next cursor."""
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=bound, definitions=defs
    ) as context:
        data = defs.get_sensor_def(NAMES.sensor).evaluate_tick(context)
    return dg.SensorResult(
        run_requests=data.run_requests or None,
        skip_reason=data.skip_message,
        cursor=data.cursor,
    )


def requested_run(tick: dg.SensorResult) -> dg.RunRequest:
    """The one run a tick after world changes must request."""
    requests = tick.run_requests or []
    if len(requests) != 1:
        raise RuntimeError(f"the sensor requested {len(requests)} runs after changes")
    return requests[0]


def execute(
    instance: dg.DagsterInstance, bound: dict[str, Any], request: dg.RunRequest
) -> dg.ExecuteInProcessResult:
    """Run what the sensor requested: its run config (the sync mode) and its partition tags."""
    return defs.get_job_def("attent_sync").execute_in_process(
        run_config=request.run_config, tags=request.tags, instance=instance, resources=bound
    )


@dataclass(slots=True)
class EventLogCost:
    """Events a run wrote to the instance (planned, materializations, checks, steps), how many of
    each type, and the wall time spent writing them."""

    events: int = 0
    seconds: float = 0.0
    by_type: Counter[str] = field(default_factory=Counter)

    @property
    def planned(self) -> int:
        return self.by_type[dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value]

    @property
    def materializations(self) -> int:
        return self.by_type[dg.DagsterEventType.ASSET_MATERIALIZATION.value]


@contextmanager
def event_log_cost() -> Iterator[EventLogCost]:
    """Count and time every event the instance stores during the block."""
    cost = EventLogCost()
    store = dg.DagsterInstance.handle_new_event

    def timed(instance: dg.DagsterInstance, event: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return store(instance, event, *args, **kwargs)
        finally:
            cost.events += 1
            cost.seconds += time.perf_counter() - started
            if event.dagster_event_type is not None:
                cost.by_type[event.dagster_event_type.value] += 1

    with patched(dg.DagsterInstance, "handle_new_event", timed):
        yield cost
