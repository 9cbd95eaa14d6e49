"""Syncs under every fault the API can throw end equal to its truth, and late-visible writes are
caught: within the lookback by the next incremental run, beyond it by a reconcile run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from attent_assets.api import format_timestamp
from attent_assets.simulator import Faults, SimulatorServer, World
from attent_assets.sync import Mode, SyncEngine, SyncReport, Window
from attent_assets_tests.conftest import SIMULATOR_KEY
from attent_assets_tests.harness import Harness

PAGE_SIZE = 7  # harness.fast_client_settings


@dataclass(frozen=True)
class FaultCase:
    faults: dict[str, Any]
    #: The client counter the fault must have moved (`retries_<cause>`), None for faults that
    #: are legal answers rather than failures.
    retried_as: str | None
    client: dict[str, Any] = field(default_factory=dict)


FAULT_CASES = {
    # Throttling at random (every 429 carries a short Retry-After): see also the storm below.
    "429-with-retry-after": FaultCase({"rate_429": 0.1, "retry_after": 0.02}, "retries_429"),
    "random-5xx": FaultCase({"rate_5xx": 0.35}, "retries_5xx"),
    "slower-than-read-timeout": FaultCase(
        {"slow_probability": 0.2, "slow_seconds": 0.5}, "retries_timeout", {"read_timeout": 0.15}
    ),
    "connection-dropped-mid-body": FaultCase({"drop_probability": 0.3}, "retries_connection"),
    "truncated-200-body": FaultCase({"truncate_probability": 0.3}, "retries_invalid_body"),
    "non-json-200-body": FaultCase({"garbage_probability": 0.3}, "retries_invalid_body"),
    "empty-pages-with-a-token": FaultCase({"empty_page_probability": 0.4}, None),
}


def _client_total(reports: list[SyncReport], counter: str) -> float:
    return sum(
        step.client.get(counter, 0) for report in reports for step in (report.leads, report.events)
    )


def _pages_beyond_full_ones(report: SyncReport) -> float:
    """Pages fetched beyond what full pages would need: each listing may end with one short
    page, so anything more is an empty or short page in the middle of a listing."""
    extra = 0.0
    for step, listings in ((report.leads, 1), (report.events, report.events.leads_done)):
        extra += step.client["pages"] - (step.records_fetched // PAGE_SIZE + listings)
    return extra


@pytest.mark.parametrize("name", list(FAULT_CASES))
def test_full_then_incremental_sync_under_a_fault_equals_the_truth(
    name: str, world: World, tmp_path: Path
) -> None:
    case = FAULT_CASES[name]
    faults = Faults(seed=sum(map(ord, name)), **case.faults)
    with SimulatorServer(world, api_key=SIMULATOR_KEY, faults=faults) as server:
        harness = Harness(
            server=server,
            data_dir=tmp_path / "data",
            client_overrides={"max_attempts": 25, **case.client},
        )
        reports = [harness.backfill()]
        harness.assert_converged()
        world.advance(40)
        reports.append(harness.run(Mode.INCREMENTAL))
        harness.assert_converged()

    if case.retried_as is not None:
        assert _client_total(reports, case.retried_as) > 0
    else:
        assert _client_total(reports, "retries") == 0
        assert all(_pages_beyond_full_ones(report) > 0 for report in reports)


def test_a_429_storm_with_retry_after_in_the_middle_of_a_run_equals_the_truth(
    world: World, tmp_path: Path
) -> None:
    """Every request of the concurrent events fetch is throttled for a while: all threads wait
    out each Retry-After, back off, and the run completes with nothing lost or doubled."""
    storm = 6
    hint = 0.03
    faults = Faults(seed=5, fail_status=429, retry_after=hint)
    with SimulatorServer(world, api_key=SIMULATOR_KEY, faults=faults) as server:
        harness = Harness(
            server=server, data_dir=tmp_path / "data", client_overrides={"max_attempts": 25}
        )
        throttled = waited = 0.0
        for mode, window in ((Mode.REPLAY, Window(start=None)), (Mode.INCREMENTAL, None)):
            with harness.client() as client, harness.open() as store:
                engine = SyncEngine(client, store, harness.settings)
                engine.sync_leads(mode, window)
                faults.fail_first_n = storm
                events = engine.sync_events(mode, window)
                engine.merge_typed(mode, window)
            throttled += events.client["throttled"]
            waited += events.client["retry_wait_seconds"]
            harness.assert_converged()
            world.advance(40)

    assert throttled == 2 * storm
    # Each retry after a 429 waited at least the server's hint.
    assert waited >= hint * throttled * 0.99


# --- late-visible writes ------------------------------------------------------------------------


@pytest.fixture
def harness(simulator: SimulatorServer, tmp_path: Path) -> Harness:
    return Harness(server=simulator, data_dir=tmp_path / "data")


def _stamp(at: datetime) -> str:
    return format_timestamp(at)


def _serve_newer_data(world: World, at: datetime) -> None:
    """Another lead changes at `at`: the next run's leads watermark reaches `at`."""
    record = world.truth_leads()[-1]
    world.put_lead({**record, "updatedAt": _stamp(at), "summary": "changed later"})


def _late_write(world: World, lead_id: str, at: datetime, event_id: str) -> None:
    """A new event and the lead's activity, both stamped `at`, that the API starts serving only
    now (an index that lagged behind the write)."""
    lead = next(r for r in world.truth_leads() if r["id"] == lead_id)
    world.put_lead({**lead, "updatedAt": _stamp(at), "lastActivityAt": _stamp(at)})
    world.put_event(
        lead_id,
        {
            "id": event_id,
            "roomId": lead_id,
            "type": "MESSAGE",
            "timestamp": _stamp(at),
            "updatedAt": _stamp(at),
            "data": {"direction": "INBOUND", "content": {"text": "late"}},
        },
        touch_lead=False,
    )


def _stored(harness: Harness, event_id: str) -> int:
    return int(harness.query("SELECT count(*) FROM attent.messages WHERE id = ?", [event_id])[0][0])


def _oldest_lead_with_events(world: World) -> str:
    with_events = Counter(r["roomId"] for r in world.truth_events())
    leads = world.truth_leads()
    return str(next(r["id"] for r in leads if with_events[r["id"]] and not r.get("deleted")))


def test_a_write_visible_late_but_within_the_lookback_is_caught_by_the_next_incremental_run(
    harness: Harness,
) -> None:
    world = harness.world
    harness.backfill()
    written_at = world.now() + timedelta(seconds=1)
    _serve_newer_data(world, written_at + harness.settings.lookback - timedelta(seconds=30))
    harness.run(Mode.INCREMENTAL)
    lead = _oldest_lead_with_events(world)

    _late_write(world, lead, written_at, "late-within")
    report = harness.run(Mode.INCREMENTAL)

    assert report.events.leads_needing_events == 1
    assert _stored(harness, "late-within") == 1
    harness.assert_converged()


def test_a_write_visible_later_than_the_lookback_is_missed_by_incremental_and_reconciled(
    harness: Harness,
) -> None:
    world = harness.world
    harness.backfill()
    written_at = world.now() + timedelta(seconds=1)
    _serve_newer_data(world, written_at + harness.settings.lookback + timedelta(minutes=10))
    harness.run(Mode.INCREMENTAL)
    lead = _oldest_lead_with_events(world)

    _late_write(world, lead, written_at, "late-beyond")
    incremental = harness.run(Mode.INCREMENTAL)
    assert incremental.leads.records_fetched == 1  # only the boundary lead, re-read
    assert _stored(harness, "late-beyond") == 0

    reconcile = harness.run(Mode.RECONCILE)
    assert reconcile.events.leads_needing_events == 1
    assert _stored(harness, "late-beyond") == 1
    harness.assert_converged()


def test_an_event_visible_after_its_leads_activity_is_reconciled(harness: Harness) -> None:
    """The lead listing showed the new `lastActivityAt` before the events index served the event
    behind it: the incremental run saw the activity but not the event. Reconcile compares each
    lead's activity with the newest event actually read, so it fetches that lead again."""
    world = harness.world
    harness.backfill()
    lead = _oldest_lead_with_events(world)
    at = world.now() + timedelta(seconds=1)
    record = next(r for r in world.truth_leads() if r["id"] == lead)
    world.put_lead({**record, "updatedAt": _stamp(at), "lastActivityAt": _stamp(at)})
    harness.run(Mode.INCREMENTAL)
    event = {
        "id": "lagging-event",
        "roomId": lead,
        "type": "MESSAGE",
        "timestamp": _stamp(at),
        "updatedAt": _stamp(at),
        "data": {"content": {"text": "indexed late"}},
    }
    world.put_event(lead, event, touch_lead=False)

    assert harness.run(Mode.INCREMENTAL).events.leads_needing_events == 0
    reconcile = harness.run(Mode.RECONCILE)
    assert reconcile.events.leads_needing_events == 1
    assert _stored(harness, "lagging-event") == 1
    harness.assert_converged()
    # Once read, the lead is caught up: the next reconcile fetches nothing.
    assert harness.run(Mode.RECONCILE).events.leads_needing_events == 0
