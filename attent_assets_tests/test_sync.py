"""The sync engine end to end: simulator over real HTTP, real Parquet and DuckDB in a temp dir."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from attent_assets.api import format_timestamp, parse_timestamp
from attent_assets.simulator import SimulatorServer, World
from attent_assets.sync import LAYOUT, Mode, SyncSettings, Window
from attent_assets_tests.conftest import WORLD_START
from attent_assets_tests.harness import Harness


@pytest.fixture
def harness(simulator: SimulatorServer, tmp_path: Path) -> Harness:
    return Harness(server=simulator, data_dir=tmp_path / "data")


def _lead_activity(world: World) -> dict[str, Any]:
    return {r["id"]: r.get("lastActivityAt") for r in world.truth_leads()}


def test_backfill_then_incremental_equal_truth_and_a_rerun_changes_nothing(
    harness: Harness,
) -> None:
    report = harness.backfill()
    assert report.events.rows_written == len(harness.world.truth_events())
    harness.assert_converged()

    harness.world.advance(60)
    harness.run()
    harness.assert_converged()

    again = harness.run()
    assert again.leads.rows_written == 0
    assert again.events.rows_written == 0
    assert all(r.new == 0 and r.updated == 0 for r in again.typed)
    harness.assert_converged()


def _most_files_in_a_day(harness: Harness) -> int:
    folders = (harness.data_dir / "lake").glob("*/date=*")
    return max(len(list(folder.glob("*.parquet"))) for folder in folders)


@pytest.mark.parametrize(
    ("commit_bytes", "commit_seconds", "one_commit"),
    [
        (SyncSettings().commit_bytes, SyncSettings().commit_seconds, True),
        (0, 60, False),
        (2**30, 0, False),
    ],
    ids=["held to the end", "committed at every hand-over", "committed as time passes"],
)
def test_a_backfill_holds_its_rows_until_a_commit_is_due(
    harness: Harness, commit_bytes: int, commit_seconds: float, one_commit: bool
) -> None:
    """Small hand-overs (5 leads) still make one file per day per commit: the rows are held
    until `commit_bytes` or `commit_seconds` says a commit is due."""
    harness.settings = SyncSettings(
        batch_rows=40, batch_leads=5, commit_bytes=commit_bytes, commit_seconds=commit_seconds
    )
    harness.backfill()
    harness.assert_converged()
    assert (_most_files_in_a_day(harness) == 1) is one_commit


def test_incremental_from_empty_state_is_a_full_sync(harness: Harness) -> None:
    harness.run()
    harness.assert_converged()


def test_incremental_fetches_events_only_for_leads_whose_activity_moved(harness: Harness) -> None:
    harness.backfill()
    before = _lead_activity(harness.world)
    harness.world.advance(40)
    after = _lead_activity(harness.world)
    changed = {lead for lead, activity in after.items() if before.get(lead, "new") != activity}
    unchanged = set(after) - changed
    assert changed
    assert unchanged

    harness.server.stats.reset()
    report = harness.run()

    assert report.events.leads_needing_events == len(changed)
    for lead in unchanged:
        assert harness.server.stats.events_requests_for(lead) == 0, lead
    events_requests = harness.server.stats.events
    pages_beyond_first = events_requests - len(changed)
    # One request per changed lead, plus the extra pages of leads with long new histories.
    assert len(changed) <= events_requests
    assert pages_beyond_first <= report.events.records_fetched // 7
    harness.assert_converged()


def test_a_backfill_leaves_leads_without_activity_with_a_cursor(harness: Harness) -> None:
    """The first incremental run after a backfill fetches events only for leads that changed,
    not once more for every lead that never had an event."""
    template = harness.world.truth_leads()[0]
    stamp = format_timestamp(WORLD_START + timedelta(days=1))
    inactive = [f"quiet-{n}" for n in range(6)]
    for lead_id in inactive:
        harness.world.put_lead(
            {**template, "id": lead_id, "updatedAt": stamp, "lastActivityAt": None}
        )
    harness.backfill()
    before = _lead_activity(harness.world)
    harness.world.advance(30)
    after = _lead_activity(harness.world)
    changed = {lead for lead, activity in after.items() if before.get(lead, "new") != activity}

    harness.server.stats.reset()
    report = harness.run()

    still_inactive = [lead for lead in inactive if lead not in changed]
    assert still_inactive
    assert report.events.leads_needing_events == len(changed)
    assert all(harness.server.stats.events_requests_for(lead) == 0 for lead in still_inactive)
    harness.assert_converged()


def test_new_lead_with_history_older_than_every_cursor_gets_all_of_it(harness: Harness) -> None:
    harness.backfill()
    world = harness.world
    old = WORLD_START - timedelta(days=200)
    world.put_lead({"id": "imported/lead ?#%+ é", "updatedAt": format_timestamp(world.now())})
    for n in range(30):
        stamp = format_timestamp(old + timedelta(hours=n))
        world.put_event(
            "imported/lead ?#%+ é",
            {
                "id": f"imp-{n}",
                "roomId": "imported/lead ?#%+ é",
                "type": "MESSAGE",
                "timestamp": stamp,
                "updatedAt": stamp,
                "data": {"direction": "INBOUND", "content": {"text": f"hello {n}"}},
            },
        )
    harness.run()
    stored = harness.query(
        "SELECT count(*) FROM attent.messages WHERE room_id = ?", ["imported/lead ?#%+ é"]
    )
    assert stored == [(30,)]
    harness.assert_converged()


def test_a_completed_call_replaces_the_typed_row_and_raw_keeps_both_versions(
    harness: Harness,
) -> None:
    world = harness.world
    lead = world.lead_ids()[0]
    start = format_timestamp(world.now())
    call = {
        "id": "call-1",
        "roomId": lead,
        "type": "CALL",
        "timestamp": start,
        "updatedAt": start,
        "data": {"direction": "OUTBOUND", "callStatus": "IN_PROGRESS"},
    }
    world.put_event(lead, call)
    harness.backfill()
    world.tick(60_000)
    done = format_timestamp(world.now())
    world.put_event(
        lead,
        {
            **call,
            "updatedAt": done,
            "data": {
                "direction": "OUTBOUND",
                "callStatus": "COMPLETE",
                "durationSeconds": 42,
                "summary": "Booked a viewing",
            },
        },
    )
    harness.run()
    typed = harness.query(
        "SELECT call_status, duration_seconds, summary FROM attent.calls WHERE id = 'call-1'"
    )
    assert typed == [("COMPLETE", 42, "Booked a viewing")]
    versions = sorted(v[2] for v in harness.lake_rows("events") if v[:2] == ("CALL", "call-1"))
    assert versions == [parse_timestamp(start), parse_timestamp(done)]


def test_hostile_ids_types_and_payloads_round_trip_verbatim(harness: Harness) -> None:
    world = harness.world
    lead = "X'); DROP TABLE leads;--/../../etc ?#%+ \u202e😀"
    now = format_timestamp(world.now())
    world.put_lead({"id": lead, "updatedAt": now, "firstName": "Zoë\u0000", "lastActivityAt": now})
    big = "x" * 1_000_000
    records = [
        ("MESSAGE", "same-id", {"content": {"text": "nul \u0000 emoji 😀 rtl \u202e"}}),
        ("EMAIL", "same-id", {"content": {"subject": "s", "text": big}}),
        ("X'); DROP TABLE leads;--", "evil-1", {"payload": "'; DROP TABLE attent.messages;--"}),
        ("../../etc", "../../passwd", {"path": "../../etc/passwd"}),
        ("VOICEMAIL_DROP", "vm-1", {"durationSeconds": "not a number"}),
    ]
    for type_, id_, data in records:
        world.put_event(
            lead,
            {
                "id": id_,
                "roomId": lead,
                "type": type_,
                "timestamp": now,
                "updatedAt": now,
                "data": data,
            },
        )
    harness.backfill()
    harness.assert_converged()
    assert harness.query(
        "SELECT type FROM attent.other_events WHERE room_id = ? ORDER BY type", [lead]
    ) == [
        ("../../etc",),
        ("VOICEMAIL_DROP",),
        ("X'); DROP TABLE leads;--",),
    ]
    assert harness.query("SELECT length(text) FROM attent.emails WHERE id = 'same-id'") == [
        (1_000_000,)
    ]
    assert harness.query("SELECT text FROM attent.messages WHERE id = 'same-id'") == [
        ("nul \u0000 emoji 😀 rtl \u202e",)
    ]
    assert harness.query("SELECT first_name FROM attent.leads WHERE id = ?", [lead]) == [
        ("Zoë\u0000",)
    ]
    lake_dirs = {p.name for p in (harness.data_dir / "lake" / "events").iterdir()}
    assert all(name.startswith("date=") for name in lake_dirs)


def test_replay_restores_deleted_rows_and_overlapping_runs_converge(harness: Harness) -> None:
    harness.backfill()
    harness.world.advance(30)
    harness.run()
    with harness.open() as store:
        store._con.execute("DELETE FROM attent.messages")  # a user's accident
        store._con.execute("DELETE FROM attent.leads WHERE random() < 0.5")
    assert harness.query("SELECT count(*) FROM attent.messages") == [(0,)]

    harness.run(Mode.REPLAY, Window(start=None))
    harness.assert_converged()

    harness.world.advance(30)
    mid = harness.world.now() - timedelta(hours=3)
    harness.run(Mode.REPLAY, Window(start=mid))
    harness.run()
    harness.run(Mode.REPLAY, Window(start=mid))
    harness.assert_converged()


def test_replay_of_a_later_window_does_not_move_cursors_it_did_not_cover(harness: Harness) -> None:
    world = harness.world
    harness.run(Mode.REPLAY, Window(start=world.now() - timedelta(days=2)))
    with harness.open() as store:
        assert store.leads_watermark() is None
        assert store.leads_needing_events()  # nothing was read from the beginning
    harness.run()
    harness.assert_converged()


class _Killed(Exception):
    """Stands for the process dying at that line."""


def _die_on_call(monkeypatch: pytest.MonkeyPatch, target: Any, name: str, call: int) -> None:
    """Make `target.name` raise on its `call`-th call."""
    original = getattr(target, name)
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == call:
            raise _Killed(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, wrapper)


@pytest.mark.parametrize(
    ("module", "name", "call"),
    [
        # Parquet staged, transaction not committed: the staged files are orphans (a dead process
        # cleans nothing up) and the next open deletes them.
        pytest.param("state", "advance_cursors", 3, id="after-parquet-before-cursors"),
        # Transaction committed, files not yet moved into place: the next open finishes.
        pytest.param("lake.Lake", "publish", 4, id="after-commit-before-rename"),
        # The typed merge commits chunk by chunk and moves its progress marks after the last:
        # the next run merges the same files again, which changes nothing already merged.
        pytest.param("typed", "_upsert_pending", 3, id="middle-of-warehouse-merge"),
    ],
)
def test_a_run_interrupted_at_each_stage_converges_on_the_next_run(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, module: str, name: str, call: int
) -> None:
    from attent_assets.storage import lake, state, typed

    targets = {"state": state, "lake.Lake": lake.Lake, "typed": typed}
    with monkeypatch.context() as patch:
        _die_on_call(patch, targets[module], name, call)
        patch.setattr(lake.Lake, "discard", lambda self, files: None)
        with pytest.raises(_Killed):
            harness.backfill()
    if module == "state":
        staged = (harness.data_dir / "lake" / "_staging").rglob("*.parquet")
        assert list(staged), "the kill left staged files"
    harness.run()
    harness.assert_converged()
    harness.assert_lake_matches_manifest()


def test_interrupted_between_raw_and_typed_steps(harness: Harness) -> None:
    with harness.client() as client, harness.open() as store:
        from attent_assets.sync import SyncEngine

        engine = SyncEngine(client, store, harness.settings)
        engine.sync_leads(Mode.REPLAY, Window(start=None))
        engine.sync_events(Mode.REPLAY, Window(start=None))
    assert harness.query("SELECT count(*) FROM attent.messages") == [(0,)]
    harness.run()
    harness.assert_converged()


def test_reconcile_catches_a_change_hidden_behind_the_watermark(harness: Harness) -> None:
    harness.backfill()
    world = harness.world
    record = world.truth_leads()[0]  # the lead updated longest ago
    lead = record["id"]
    # A write that became visible late: newer than the lead's stored version, but so far behind
    # the leads watermark (and its lookback) that an incremental run's leads query cannot see it.
    hidden_at = parse_timestamp(record["updatedAt"])
    assert hidden_at is not None
    hidden = format_timestamp(hidden_at + timedelta(milliseconds=1))
    world.put_lead({**record, "updatedAt": hidden, "lastActivityAt": hidden, "isHot": True})
    world.put_event(
        lead,
        {
            "id": "late-1",
            "roomId": lead,
            "type": "MESSAGE",
            "timestamp": hidden,
            "updatedAt": hidden,
            "data": {"content": {"text": "late"}},
        },
        touch_lead=False,
    )
    harness.run()
    assert harness.query("SELECT count(*) FROM attent.messages WHERE id = 'late-1'") == [(0,)]

    report = harness.run(Mode.RECONCILE)
    assert report.events.leads_needing_events == 1
    harness.assert_converged()


def test_records_that_cannot_be_keyed_are_quarantined_and_the_rest_syncs(harness: Harness) -> None:
    world = harness.world
    lead = world.lead_ids()[1]
    now = format_timestamp(world.now())
    world.put_event(lead, {"roomId": lead, "type": "MESSAGE", "updatedAt": now, "data": {}})
    world.put_event(
        lead, {"id": "bad-ts", "roomId": lead, "type": "CALL", "updatedAt": "yesterday"}
    )
    report = harness.backfill()
    assert report.events.quarantined == 2
    reasons = harness.query("SELECT lead_id, reasons FROM attent.quarantine ORDER BY reasons")
    assert [r[0] for r in reasons] == [lead, lead]
    assert any("id" in " ".join(r[1]) for r in reasons)
    assert any("updatedAt" in " ".join(r[1]) for r in reasons)
    # Fetched again by the next run, quarantined once.
    harness.run(Mode.REPLAY, Window(start=None))
    assert harness.query("SELECT count(*) FROM attent.quarantine") == [(2,)]
    typed = harness.query("SELECT count(*) FROM attent.messages")[0][0]
    assert typed == sum(1 for r in world.truth_events() if r["type"] == "MESSAGE" and "id" in r)


def test_long_runs_log_progress(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    harness.settings = SyncSettings(batch_rows=40, batch_leads=5, progress_seconds=0.0)
    with caplog.at_level("INFO"):
        harness.backfill()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("events: ")]
    assert any("/20 leads" in line and "ETA" in line for line in lines), lines


def test_a_run_logs_its_typed_merge_in_one_line(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Every log line of a Dagster run is a row in its event log: the merge of all typed tables
    is reported once, naming each table."""
    with caplog.at_level("INFO"):
        harness.backfill()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("typed tables")]
    assert len(lines) == 1
    assert all(f"{table.name} " in lines[0] for table in LAYOUT.event_tables)


def test_a_lake_folder_apart_from_the_data_directory_holds_the_lake(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    """ATTENT_LAKE_URL naming a folder: the lake is there, in the same layout, and the data
    directory keeps only the DuckDB files."""
    elsewhere = tmp_path / "volume" / "lake"
    harness = Harness(server=simulator, data_dir=tmp_path / "data", lake_url=str(elsewhere))
    harness.backfill()
    harness.assert_converged()
    harness.assert_lake_matches_manifest()
    assert list((elsewhere / "events").glob("date=*/*.parquet"))
    assert list((elsewhere / "leads").glob("date=*/*.parquet"))
    assert not (harness.data_dir / "lake").exists()
