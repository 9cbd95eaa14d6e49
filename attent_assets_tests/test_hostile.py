"""Hostile and malformed records: each is stored verbatim or quarantined raw with a warning that
names what is wrong; none is dropped, and none can reach SQL, a file path or another row.

test_sync.py already round-trips one hostile lead with SQL- and path-like type names, 1 MB of
text, NUL, emoji and RTL marks; this extends it to many hostile lead ids at once, wrong JSON
types, broken and far-future timestamps, missing envelope fields and a very large import.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from attent_assets.api import format_timestamp
from attent_assets.simulator import SimulatorServer, World
from attent_assets.sync import TABLE_NAMES, Mode, SyncSettings
from attent_assets_tests.conftest import SIMULATOR_KEY
from attent_assets_tests.harness import Harness

HOSTILE_IDS = [
    "..",
    ".",
    "../../etc/passwd",
    "a/b",
    "q?x=1&limit=1",
    "h#frag",
    "50%",
    "%2E%2E",
    "a+b",
    "sp ace",
    " leading and trailing ",
    "tab\tnew\nline",
    "nul\u0000id",
    "rtl\u202eid\u200f",
    "ünïcødé 😀",
    "X'); DROP TABLE leads;--",
    '"quoted"',
    "back\\slash",
]


@pytest.fixture
def harness(simulator: SimulatorServer, tmp_path: Path) -> Harness:
    return Harness(server=simulator, data_dir=tmp_path / "data")


def _event(lead_id: str, event_id: Any, at: str, **fields: Any) -> dict[str, Any]:
    """A MESSAGE of the lead at `at`; `fields` replace envelope fields, `field=...` drops one."""
    record = {
        "id": event_id,
        "roomId": lead_id,
        "orgId": "org",
        "type": "MESSAGE",
        "timestamp": at,
        "updatedAt": at,
        "data": {"direction": "INBOUND", "content": {"text": f"to {lead_id}"}},
    }
    record.update(fields)
    return {key: value for key, value in record.items() if value is not ...}


def _tick(world: World) -> str:
    world.tick(1)
    return format_timestamp(world.now())


def test_hostile_lead_ids_each_sync_their_own_events(harness: Harness) -> None:
    world = harness.world
    for lead_id in HOSTILE_IDS:
        at = _tick(world)
        world.put_lead({"id": lead_id, "updatedAt": at, "firstName": lead_id})
        world.put_event(lead_id, _event(lead_id, f"e-{lead_id}", _tick(world)))
    harness.backfill()
    for lead_id in HOSTILE_IDS:
        world.put_event(lead_id, _event(lead_id, f"later-{lead_id}", _tick(world)))
    harness.run(Mode.INCREMENTAL)

    harness.assert_converged()
    for lead_id in HOSTILE_IDS:
        rows = harness.query(
            "SELECT id FROM attent.messages WHERE room_id = ? ORDER BY id", [lead_id]
        )
        assert rows == [(f"e-{lead_id}",), (f"later-{lead_id}",)], lead_id
    tables = harness.query(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'attent' ORDER BY 1"
    )
    assert [t for (t,) in tables] == sorted([*TABLE_NAMES, "leads", "quarantine"])
    lake = harness.data_dir / "lake"
    assert {p.name for p in lake.iterdir()} <= {"leads", "events", "_staging"}
    lake_dirs = {p.name for kind in ("leads", "events") for p in (lake / kind).iterdir()}
    assert all(name.startswith("date=") for name in lake_dirs)
    harness.assert_lake_matches_manifest()


def test_wrong_json_types_are_stored_verbatim_with_null_typed_columns(harness: Harness) -> None:
    world = harness.world
    at = _tick(world)
    lead = {
        "id": 4242,  # a number where the id string should be: the same id, as text
        "updatedAt": at,
        "firstName": 42,
        "createdAt": "not a time",
        "lastActivityAt": at,
        "hasReplied": "yes",
        "tags": {"name": "an object where a list should be"},
        "additionalInfo": ["a list where an object should be"],
        "deleted": "false",
    }
    world.put_lead(lead)
    events = [
        _event("4242", 777, at),  # a numeric event id
        _event("4242", "list-data", at, data=["a", "list"]),
        _event("4242", "content-list", at, data={"content": ["not", "an", "object"]}),
        _event("4242", "bad-happened-at", at, timestamp="2026-02-30T25:61:00Z"),
        _event("4242", "no-envelope", at, roomId=..., orgId=..., timestamp=..., data=...),
        _event("4242", "numbers", at, type="CALL", data={"durationSeconds": "12", "isTransfer": 1}),
    ]
    for record in events:
        world.put_event("4242", record, touch_lead=False)
    harness.backfill()

    # Kept exactly as sent: the raw JSON of every record (numeric ids become their text).
    assert harness.warehouse_leads()["4242"][1] == lead
    stored = harness.warehouse_events()
    for record in events:
        key = (record["type"], str(record["id"]))
        assert stored[key][2] == record.get("data"), key
    # Typed columns hold only values of the right JSON type.
    row = harness.query(
        "SELECT first_name, created_at, has_replied, tags->>'name', additional_info->>0, deleted "
        "FROM attent.leads WHERE id = '4242'"
    )
    assert row == [
        (
            None,
            None,
            None,
            "an object where a list should be",
            "a list where an object should be",
            None,
        )
    ]
    messages = dict(
        harness.query("SELECT id, text FROM attent.messages WHERE id <> 'numbers' ORDER BY id")
    )
    assert messages["777"] == "to 4242"
    assert messages["list-data"] is None
    assert messages["content-list"] is None
    assert harness.query(
        "SELECT room_id, org_id, timestamp, data FROM attent.messages WHERE id = 'no-envelope'"
    ) == [(None, None, None, None)]
    assert harness.query("SELECT timestamp FROM attent.messages WHERE id = 'bad-happened-at'") == [
        (None,)
    ]
    assert harness.query(
        "SELECT duration_seconds, is_transfer FROM attent.calls WHERE id = 'numbers'"
    ) == [(None, None)]


def test_unkeyable_records_are_quarantined_with_a_warning_naming_the_problem(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    world = harness.world
    lead = world.lead_ids()[0]
    at = _tick(world)
    bad_events = {
        "no-type": _event(lead, "no-type", at, type=...),
        "numeric-type": _event(lead, "numeric-type", at, type=5),
        "float-id": _event(lead, 1.5, at),
        "epoch-updated-at": _event(lead, "epoch", at, updatedAt=1767225600000),
        "impossible-date": _event(lead, "feb-30", at, updatedAt="2026-02-30T00:00:00Z"),
        "no-updated-at": _event(lead, "no-updated", at, updatedAt=...),
    }
    for record in bad_events.values():
        world.put_event(lead, record, touch_lead=False)
    world.put_lead({"id": "lead-without-version", "firstName": "Nobody"})
    world.put_lead({"id": "", "updatedAt": at})

    with caplog.at_level(logging.WARNING, logger="attent_assets.sync.engine"):
        report = harness.backfill()

    assert report.events.quarantined == len(bad_events)
    assert report.leads.quarantined == 2
    reasons = {
        json.loads(raw).get("id"): list(why)
        for raw, why in harness.query("SELECT raw, reasons FROM attent.quarantine")
    }
    assert reasons["no-type"] == ["missing type"]
    assert reasons["numeric-type"] == ["invalid type: 5"]
    assert reasons[1.5] == ["invalid id: 1.5"]
    assert reasons["epoch"] == ["invalid updatedAt: 1767225600000"]
    assert reasons["feb-30"] == ["invalid updatedAt: '2026-02-30T00:00:00Z'"]
    assert reasons["no-updated"] == ["missing updatedAt"]
    assert reasons["lead-without-version"] == ["missing updatedAt"]
    assert reasons[""] == ["invalid id: ''"]
    warnings = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "quarantined" in warnings
    assert "invalid updatedAt: 1767225600000" in warnings
    assert "missing updatedAt" in warnings

    # Nothing dropped: every served record is a row of a table or of the quarantine.
    stored_events = sum(
        harness.query(f"SELECT count(*) FROM attent.{table}")[0][0] for table in TABLE_NAMES
    )
    assert stored_events + len(bad_events) == len(world.truth_events())
    leads = harness.query("SELECT count(*) FROM attent.leads")[0][0]
    assert leads + 2 == len(world.truth_leads())


def test_megabytes_of_text_in_a_lead_and_an_undocumented_event_are_kept_whole(
    harness: Harness,
) -> None:
    world = harness.world
    big = "ü😀\u202e\u0000" * 250_000  # one million characters, four bytes at most each
    lead = world.lead_ids()[3]
    record = next(r for r in world.truth_leads() if r["id"] == lead)
    world.put_lead({**record, "summary": big, "updatedAt": _tick(world)})
    world.put_event(lead, _event(lead, "huge", _tick(world), type="TRANSCRIPT", data={"t": big}))
    harness.backfill()
    harness.assert_converged()
    assert harness.query("SELECT summary = ? FROM attent.leads WHERE id = ?", [big, lead]) == [
        (True,)
    ]
    assert harness.query(
        "SELECT data->>'t' = ? FROM attent.other_events WHERE id = 'huge'", [big]
    ) == [(True,)]


def test_a_far_future_updated_at_does_not_stop_later_changes_from_syncing(
    tmp_path: Path,
) -> None:
    """A lead and an event stamped in year 9999 are stored as sent, but the leads watermark and
    the lead's cursors never move past the instant they were read: later changes of other leads
    and later events of that lead still sync. (The world keeps real time here, as the API does.)
    """
    world = World(
        seed=5, leads=10, events_per_lead=5, start=datetime.now(UTC) - timedelta(days=2), live=True
    )
    far = "9999-12-31T23:59:59.999Z"
    with SimulatorServer(world, api_key=SIMULATOR_KEY) as server:
        harness = Harness(server=server, data_dir=tmp_path / "data")
        world.put_lead({"id": "from-the-future", "updatedAt": far, "lastActivityAt": far})
        future = _event("from-the-future", "future", far)
        world.put_event("from-the-future", future, touch_lead=False)
        harness.backfill()

        # Later changes, stamped by the clock (world.advance might move the 9999 lead back).
        for lead in world.lead_ids()[:3]:
            world.put_event(lead, _event(lead, f"after-the-future-{lead}", _tick(world)))
        real = _event("from-the-future", "real", _tick(world))
        world.put_event("from-the-future", real, touch_lead=False)
        harness.run(Mode.INCREMENTAL)

        harness.assert_converged()
        with harness.open() as store:
            watermark = store.leads_watermark()
        assert watermark is not None
        assert watermark < datetime.now(UTC)


def test_ten_thousand_events_in_one_millisecond_arrive_whole(
    harness: Harness,
) -> None:
    """One lead imports 10,000 events stamped with one identical `updatedAt`: ten pages of the
    API's largest size, every page boundary a tie on the cursor, several commits."""
    world = harness.world
    lead = world.lead_ids()[2]
    at = _tick(world)
    for n in range(10_000):
        world.put_event(lead, _event(lead, f"bulk-{n:05d}", at, data={"n": n}), touch_lead=False)
    world.put_event(lead, _event(lead, "after-bulk", _tick(world)))
    harness.client_overrides = {"page_size": 1000}
    harness.settings = SyncSettings(batch_rows=3000, batch_leads=5, commit_bytes=0)
    harness.backfill()
    harness.assert_converged()
    assert harness.query("SELECT count(*) FROM attent.messages WHERE id LIKE 'bulk-%'") == [
        (10_000,)
    ]
