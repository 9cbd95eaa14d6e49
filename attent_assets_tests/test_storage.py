"""The DuckDB warehouse: typed tables, sync state, quarantine, inspection, opening and locking."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from attent_assets.storage import (
    EVENT_ROWS_SCHEMA,
    LEAD_ROWS_SCHEMA,
    Column,
    EventTable,
    Layout,
    LeadCursor,
    QuarantinedRecord,
    Store,
    WarehouseLockedError,
    typed,
)
from attent_assets.storage.connection import WORKER_THREADS
from attent_assets.sync.schema import LAYOUT

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOSTILE_TYPES = ["X'); DROP TABLE leads;--", "../../etc", 'quote"d', "SMS_REACTION"]


def event(
    type_: str, id_: str, data: object = None, at: datetime = T0, *, raw: str | None = None
) -> dict[str, Any]:
    record = {
        "id": id_,
        "type": type_,
        "roomId": "L1",
        "orgId": "org",
        "timestamp": at.isoformat(),
        "updatedAt": at.isoformat(),
        "data": data if data is not None else {},
    }
    raw_text = raw if raw is not None else json.dumps(record, ensure_ascii=False)
    return {
        "type": type_,
        "id": id_,
        "room_id": "L1",
        "org_id": "org",
        "timestamp": at,
        "updated_at": at,
        "raw": raw_text,
    }


def events(*rows: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=EVENT_ROWS_SCHEMA)


def lead(
    id_: str, at: datetime = T0, *, raw: str | None = None, **fields: object
) -> dict[str, Any]:
    record = {"id": id_, "updatedAt": at.isoformat(), **fields}
    return {"id": id_, "updated_at": at, "raw": raw or json.dumps(record, ensure_ascii=False)}


def leads(*rows: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=LEAD_ROWS_SCHEMA)


def rows(store: Store, table: str) -> list[dict[str, Any]]:
    return store.preview(table, 1000)


def only(store: Store, table: str) -> dict[str, Any]:
    (row,) = rows(store, table)
    return row


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path, LAYOUT, "run-1") as opened:
        yield opened


def test_merge_typed_routes_every_type_and_keeps_hostile_names_verbatim(store: Store) -> None:
    documented = {
        "MESSAGE": "messages",
        "CALL": "calls",
        "EMAIL": "emails",
        "TOOL_CALL": "tool_calls",
        "CUSTOM": "custom_events",
        "COMPLIANCE_BLOCKED": "compliance_blocks",
    }
    store.write_events(
        events(
            *(event(t, "same-id") for t in documented),
            *(event(t, f"odd-{i}") for i, t in enumerate(HOSTILE_TYPES)),
            event("ODD_A", "dup"),
            event("ODD_B", "dup"),
        ),
        cursors=[],
    )

    results = {r.table: r for r in store.merge_typed()}

    for type_, table in documented.items():
        assert [(r["type"], r["id"]) for r in rows(store, table)] == [(type_, "same-id")]
        assert (results[table].new, results[table].rows) == (1, 1)
    others = sorted((r["type"], r["id"]) for r in rows(store, "other_events"))
    expected = sorted([*((t, f"odd-{i}") for i, t in enumerate(HOSTILE_TYPES))])
    assert others == sorted([*expected, ("ODD_A", "dup"), ("ODD_B", "dup")])
    assert results["other_events"].new == len(HOSTILE_TYPES) + 2
    assert store.row_count("leads") == 0  # the table survived the hostile type names


def test_merge_typed_applies_updates_once_and_never_goes_back(store: Store, tmp_path: Path) -> None:
    later = T0 + timedelta(minutes=5)
    store.write_events(events(event("CALL", "c1", {"callStatus": "IN_PROGRESS"})), cursors=[])
    first = store.merge_typed(["calls"])
    store.write_events(
        events(event("CALL", "c1", {"callStatus": "COMPLETE", "summary": "done"}, later)),
        cursors=[],
    )
    second = store.merge_typed(["calls"])
    third = store.merge_typed(["calls"])

    assert [(r.new, r.updated, r.rows) for r in first + second + third] == [
        (1, 0, 1),
        (0, 1, 1),
        (0, 0, 1),
    ]
    call = only(store, "calls")
    assert (call["call_status"], call["summary"], call["updated_at"]) == ("COMPLETE", "done", later)

    # Re-reading every lake file (older versions included) must not replace a newer row.
    con = duckdb.connect(tmp_path / "warehouse.duckdb")  # shares the store's database instance
    con.execute("UPDATE attent.calls SET updated_at = updated_at + INTERVAL 1 DAY")
    con.execute("DELETE FROM attent_state.typed_progress")
    con.close()
    (replayed,) = store.merge_typed(["calls"])
    assert (replayed.new, replayed.updated) == (0, 0)
    assert only(store, "calls")["updated_at"] == later + timedelta(days=1)


def test_a_merge_in_chunks_stages_only_the_newest_version_of_each_key(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key's versions may lie in files of different chunks: only the newest is merged, so the
    rows and the new/updated counts are those of one big merge."""
    later = T0 + timedelta(minutes=5)
    store.write_events(
        events(*(event("CALL", f"c{i}", {"callStatus": "IN_PROGRESS"}) for i in range(8))),
        cursors=[],
    )
    store.merge_typed(["calls"])
    store.write_events(
        events(
            *(event("CALL", f"c{i}", {"callStatus": "COMPLETE"}, later) for i in range(0, 8, 2)),
            *(event("MESSAGE", f"m{i}") for i in range(6)),
        ),
        cursors=[],
    )
    store.write_events(events(event("MESSAGE", "m0", {"direction": "INBOUND"}, later)), cursors=[])
    monkeypatch.setattr(typed, "MERGE_CHUNK_ROWS", 2)

    results = {r.table: r for r in store.merge_typed(["calls", "messages"])}

    assert (results["calls"].new, results["calls"].updated, results["calls"].rows) == (0, 4, 8)
    assert (results["messages"].new, results["messages"].updated) == (6, 0)
    statuses = {r["id"]: r["call_status"] for r in rows(store, "calls")}
    assert statuses == {f"c{i}": "COMPLETE" if i % 2 == 0 else "IN_PROGRESS" for i in range(8)}
    assert {r["id"]: r["direction"] for r in rows(store, "messages")}["m0"] == "INBOUND"
    (again,) = store.merge_typed(["messages"])
    assert (again.new, again.updated) == (0, 0)


def test_a_typed_merge_commits_chunk_by_chunk_and_an_interrupted_one_converges(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = [T0 + timedelta(days=i) for i in range(8)]
    calls = [event("CALL", f"c{i}", at=day) for i, day in enumerate(days)]
    store.write_events(events(*calls), cursors=[])
    monkeypatch.setattr(typed, "MERGE_CHUNK_ROWS", 2)  # 8 one-row files (one per day): 4 chunks
    upsert = typed._upsert_pending
    upserts = 0

    def killed_in_the_second_chunk(*args: Any) -> int:
        nonlocal upserts
        upserts += 1
        if upserts == 2:
            raise KeyboardInterrupt
        return upsert(*args)

    monkeypatch.setattr(typed, "_upsert_pending", killed_in_the_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        store.merge_typed(["calls"])
    committed = store.row_count("calls")
    assert committed == 2  # the first chunk stayed: memory is held per chunk, not per merge

    monkeypatch.setattr(typed, "_upsert_pending", upsert)
    (resumed,) = store.merge_typed(["calls"])
    assert (resumed.new, resumed.updated, resumed.rows) == (8 - committed, 0, 8)


def test_duckdb_leaves_a_core_to_the_fetching_threads(store: Store, tmp_path: Path) -> None:
    cores = os.cpu_count() or 1
    con = duckdb.connect(tmp_path / "warehouse.duckdb")  # shares the store's database instance
    (threads,) = con.execute("SELECT current_setting('threads')").fetchall()[0]
    con.close()
    assert threads == WORKER_THREADS == max(1, cores - 1)


def test_merge_typed_advances_only_the_tables_it_merges(store: Store) -> None:
    store.write_events(events(event("MESSAGE", "m1"), event("EMAIL", "e1")), cursors=[])

    assert [r.new for r in store.merge_typed(["messages"])] == [1]
    assert store.row_count("emails") == 0
    assert [(r.table, r.new) for r in store.merge_typed()] == [
        ("messages", 0),
        ("calls", 0),
        ("emails", 1),
        ("tool_calls", 0),
        ("custom_events", 0),
        ("compliance_blocks", 0),
        ("other_events", 0),
    ]
    with pytest.raises(ValueError, match="unknown event table"):
        store.merge_typed(["leads; DROP TABLE x"])


def test_typed_columns_with_wrong_json_types_are_null_and_the_json_is_kept(store: Store) -> None:
    wrong = {
        "direction": 5,
        "content": {"text": ["not", "text"]},
        "isAiGenerated": "true",
        "deliveryChannel": None,
    }
    store.write_events(
        events(
            event("MESSAGE", "wrong", wrong),
            event("CALL", "wrong", {"durationSeconds": "12", "isTransfer": 1, "callStatus": {}}),
            event("CALL", "right", {"durationSeconds": 12, "isTransfer": True, "callStatus": "X"}),
            event(
                "TOOL_CALL", "t", {"toolName": "crm", "arguments": {"a": [1, 2]}, "result": None}
            ),
        ),
        cursors=[],
    )
    store.write_leads(
        leads(
            lead(
                "L1",
                createdAt="2026-03-01T10:00:00.123+02:00",
                deletedAt="not a date",
                isHot="true",
                hasReplied=True,
                tags=[{"id": "t1", "name": "vip"}],
                additionalInfo=None,
            )
        ),
        watermark=None,
    )
    store.merge_typed()

    message = only(store, "messages")
    typed = ("direction", "text", "is_ai_generated", "delivery_channel")
    assert [message[c] for c in typed] == [None, None, None, None]
    assert json.loads(message["data"]) == wrong
    calls = {r["id"]: r for r in rows(store, "calls")}
    assert [calls["wrong"][c] for c in ("duration_seconds", "is_transfer", "call_status")] == [
        None,
        None,
        None,
    ]
    assert [calls["right"][c] for c in ("duration_seconds", "is_transfer", "call_status")] == [
        12,
        True,
        "X",
    ]
    tool = only(store, "tool_calls")
    assert (tool["tool_name"], json.loads(tool["arguments"]), tool["result"]) == (
        "crm",
        {"a": [1, 2]},
        None,
    )
    row = only(store, "leads")
    assert row["created_at"] == datetime(2026, 3, 1, 8, 0, 0, 123000, tzinfo=UTC)
    assert (row["deleted_at"], row["is_hot"], row["has_replied"]) == (None, None, True)
    assert json.loads(row["tags"]) == [{"id": "t1", "name": "vip"}]
    assert row["additional_info"] is None
    assert json.loads(row["raw"])["isHot"] == "true"


@pytest.mark.parametrize("newer_first", [True, False])
def test_leads_keep_their_newest_version_and_soft_deletes_stay(
    store: Store, newer_first: bool
) -> None:
    later = T0 + timedelta(hours=1)
    alive = lead("L1", T0, firstName="Ada", deleted=False)
    deleted = lead("L1", later, firstName="Ada", deleted=True, deletedAt=later.isoformat())
    for version in [deleted, alive] if newer_first else [alive, deleted]:
        store.write_leads(leads(version), watermark=None)

    row = only(store, "leads")
    assert (row["deleted"], row["deleted_at"], row["updated_at"]) == (True, later, later)
    assert (row["first_name"], row["run_id"]) == ("Ada", "run-1")


def test_text_round_trips_exactly_through_lake_and_warehouse(store: Store, tmp_path: Path) -> None:
    texts = {
        "nul": "before\x00after",
        "emoji": "🙂👩🏽‍💻 ok",
        "rtl": "שלום עליכם مرحبا",
        "big": "x" * 1_000_000 + "🙂",
    }
    store.write_events(
        events(
            *(event("MESSAGE", f"id\x00{k}", {"content": {"text": v}}) for k, v in texts.items())
        ),
        cursors=[],
    )
    store.write_leads(
        leads(*(lead(f"L-{k}", firstName=v) for k, v in texts.items())), watermark=None
    )
    store.merge_typed(["messages"])

    assert {r["id"]: r["text"] for r in rows(store, "messages")} == {
        f"id\x00{k}": v for k, v in texts.items()
    }
    assert {r["id"]: r["first_name"] for r in rows(store, "leads")} == {
        f"L-{k}": v for k, v in texts.items()
    }
    lake = pq.read_table(next((tmp_path / "lake" / "events").glob("*/*.parquet")))
    assert sorted(lake.column("raw").to_pylist()) == sorted(
        event("MESSAGE", f"id\x00{k}", {"content": {"text": v}})["raw"] for k, v in texts.items()
    )


def test_raw_text_duckdb_cannot_parse_is_stored_not_fatal(store: Store) -> None:
    # Valid JSON by the RFC grammar, refused by DuckDB's parser: a lone surrogate escape.
    raw = '{"id": "s", "type": "MESSAGE", "data": {"content": {"text": "\\ud800"}}}'
    store.write_events(events(event("MESSAGE", "s", raw=raw)), cursors=[])
    store.write_leads(leads(lead("L1", raw='{"id": "L1", "firstName": "\\ud800"}')), watermark=None)
    store.merge_typed(["messages"])

    message = only(store, "messages")
    assert (message["id"], message["data"], message["text"]) == ("s", None, None)
    row = only(store, "leads")
    assert (row["first_name"], json.loads(row["raw"])) == (
        None,
        '{"id": "L1", "firstName": "\\ud800"}',
    )


def test_quarantine_stores_each_record_once(store: Store) -> None:
    bad = QuarantinedRecord("event", "L1", ("missing id",), '{"type": "MESSAGE"}')
    other = QuarantinedRecord("lead", None, ("invalid updatedAt: 'x'",), '{"updatedAt": "x"}')

    assert store.quarantine([bad, bad, other]) == 2
    assert store.quarantine([bad]) == 0
    assert store.quarantine([]) == 0
    stored = {r["kind"]: r for r in rows(store, "quarantine")}
    assert stored["event"]["reasons"] == ["missing id"]
    assert json.loads(stored["lead"]["raw"]) == {"updatedAt": "x"}
    assert stored["lead"]["lead_id"] is None
    assert store.row_count("quarantine") == 2


def test_cursors_move_forward_only_and_decide_which_leads_need_events(store: Store) -> None:
    hour = timedelta(hours=1)
    store.write_leads(
        leads(
            lead("L1", lastActivityAt=T0.isoformat()),
            lead("L2", lastActivityAt=(T0 + hour).isoformat()),
            lead("quiet"),
        ),
        watermark=None,
    )
    assert [(t.lead_id, t.events_cursor) for t in store.leads_needing_events()] == [
        ("L1", None),
        ("L2", None),
        ("quiet", None),
    ]

    store.write_events(
        events(),
        cursors=[
            LeadCursor("L1", T0, T0),
            LeadCursor("L2", T0 + hour, T0 + hour),
            LeadCursor("quiet", None, None),
        ],
    )
    assert store.leads_needing_events() == []

    store.write_events(events(), cursors=[LeadCursor("L1", T0 - hour, T0 - hour)])
    store.write_leads(
        leads(lead("L1", T0 + hour, lastActivityAt=(T0 + 2 * hour).isoformat())), watermark=None
    )
    (todo,) = store.leads_needing_events()
    assert (todo.lead_id, todo.events_cursor, todo.last_activity_at) == ("L1", T0, T0 + 2 * hour)
    assert [t.lead_id for t in store.leads_active_since(T0 + hour / 2)] == ["L1", "L2"]

    # A lead the API no longer serves (404) is recorded as read up to its last activity.
    store.write_events(events()[:0], cursors=[LeadCursor("L1", None, T0 + 2 * hour)])
    assert store.leads_needing_events() == []
    assert [t.events_cursor for t in store.leads_active_since(T0)] == [T0, T0 + hour]


def test_watermarks_move_forward_only(store: Store) -> None:
    later = T0 + timedelta(hours=1)
    store.write_leads(leads(lead("L1")), watermark=later)
    store.write_leads(leads(lead("L2")), watermark=T0)
    store.mark_leads_complete(later)
    store.mark_leads_complete(T0)

    assert store.leads_watermark() == later
    assert store.leads_complete_as_of() == later
    with pytest.raises(ValueError, match="timezone-aware"):
        store.write_leads(leads(), watermark=datetime(2026, 3, 1))


def test_the_connection_is_closed_when_the_block_raises(tmp_path: Path) -> None:
    def write_then_fail() -> None:
        with Store.open(tmp_path, LAYOUT, "run-1") as store:
            store.write_leads(leads(lead("L1")), watermark=None)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom") as failure:
        write_then_fail()

    # The traceback keeps the failed block's frames alive, yet a read-only open (which fails in
    # this process while any read-write connection to the file is open) succeeds.
    assert failure.traceback
    with Store.open(tmp_path, LAYOUT, "run-2", read_only=True) as reader:
        assert reader.row_count("leads") == 1


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    code = (
        "import sys, time, duckdb\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_open_waits_for_a_held_lock_then_fails_naming_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    holder = _hold_lock(tmp_path / "warehouse.duckdb", 30)
    try:
        started = time.monotonic()
        with (
            caplog.at_level(logging.WARNING),
            pytest.raises(WarehouseLockedError, match=r"warehouse\.duckdb") as error,
            Store.open(tmp_path, LAYOUT, "run-1", lock_timeout=0.8),
        ):
            pass
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()

    assert 0.8 <= waited < 5
    assert "another process holds" in str(error.value)
    waits = [r for r in caplog.records if "is locked" in r.getMessage()]
    assert len(waits) >= 2
    assert all("Conflicting lock" in r.getMessage() for r in waits)


def test_open_waits_for_a_held_lock_then_succeeds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    holder = _hold_lock(tmp_path / "warehouse.duckdb", 0.5)
    try:
        with caplog.at_level(logging.WARNING), Store.open(tmp_path, LAYOUT, "run-1") as store:
            assert store.row_count("leads") == 0
    finally:
        holder.kill()
        holder.wait()
    assert any("is locked" in r.getMessage() for r in caplog.records)


def test_read_only_open_changes_nothing(tmp_path: Path) -> None:
    with (
        pytest.raises(FileNotFoundError),
        Store.open(tmp_path / "absent", LAYOUT, "run-1", read_only=True),
    ):
        pass
    with Store.open(tmp_path, LAYOUT, "run-1") as store:
        store.write_leads(leads(lead("L1")), watermark=None)
    stray = (
        tmp_path / "lake" / "_staging" / "files" / "events" / "date=2026-03-01" / "run-0-x.parquet"
    )
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"left by a killed run")

    with Store.open(tmp_path, LAYOUT, "checks", read_only=True) as reader:
        assert reader.row_count("leads") == 1
        with pytest.raises(PermissionError):
            reader.write_leads(leads(lead("L2")), watermark=None)
    assert stray.exists()


def test_run_ids_must_be_safe_in_file_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="run_id"), Store.open(tmp_path, LAYOUT, "../escape"):
        pass
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_a_column_added_to_the_layout_is_created_and_filled_from_stored_json(
    tmp_path: Path,
) -> None:
    with Store.open(tmp_path, LAYOUT, "run-1") as store:
        store.write_events(events(event("MESSAGE", "m1", {"sentiment": "happy"})), cursors=[])
        store.write_leads(leads(lead("L1", score=7)), watermark=None)
        store.merge_typed()
    messages = LAYOUT.event_table("messages")
    grown = replace(
        LAYOUT,
        lead_columns=(*LAYOUT.lead_columns, Column("score", "int", ("score",))),
        event_tables=tuple(
            replace(t, columns=(*t.columns, Column("sentiment", "text", ("sentiment",))))
            if t is messages
            else t
            for t in LAYOUT.event_tables
        ),
    )

    with Store.open(tmp_path, grown, "run-2") as store:
        assert only(store, "messages")["sentiment"] == "happy"
        assert only(store, "leads")["score"] == 7
        assert ("sentiment", "VARCHAR") in store.column_schema("messages")


def test_layouts_refuse_names_that_are_not_plain_identifiers() -> None:
    with pytest.raises(ValueError, match="snake_case"):
        Column('bad"name', "text", ("x",))
    with pytest.raises(ValueError, match="JSON keys"):
        Column("ok", "text", ("a'b",))
    with pytest.raises(ValueError, match="reserved"):
        EventTable("events", "X", (Column("updated_at", "timestamp", ("u",)),))
    with pytest.raises(ValueError, match="last_activity_at"):
        Layout(lead_columns=(), event_tables=())


def test_inspection_answers_the_asset_checks(store: Store) -> None:
    store.write_leads(leads(lead("L1", firstName="Ada", brandNew=1)), watermark=None)
    newest = T0 + timedelta(hours=3)
    store.write_events(
        events(
            event("MESSAGE", "m1", {"direction": "INBOUND", "sentiment": "ok"}, newest),
            event("ODD", "o1"),
        ),
        cursors=[],
    )

    assert store.lake_versions_missing("messages") == (1, [("MESSAGE", "m1")])
    assert store.lake_versions_missing("other_events") == (1, [("ODD", "o1")])
    store.merge_typed()
    for table in store.table_names:
        assert (store.duplicate_keys(table)[0], store.null_keys(table)) == (0, 0)
        if table != "quarantine":
            assert store.lake_versions_missing(table) == (0, [])
    assert store.unknown_types() == [("ODD", 1, "o1")]
    assert store.unknown_fields("messages") == [("sentiment", 1, "m1")]
    assert store.unknown_fields("leads") == [("brandNew", 1, "L1")]
    # The same answers from the lake files this run wrote (what a sync run's checks read).
    scope = store.run_scope()
    assert store.unknown_types(scope) == [("ODD", 1, "o1")]
    assert store.unknown_fields("messages", scope) == [("sentiment", 1, "m1")]
    assert store.unknown_fields("leads", scope) == [("brandNew", 1, "L1")]
    assert store.duplicate_keys("messages", scope) == (0, 1)
    assert store.lake_versions_missing("other_events", scope) == (0, [])
    assert store.files_missing(scope) == store.files_missing() == ([], [])
    assert store.newest_updated_at() == newest
    assert store.column_schema("leads")[:2] == [("id", "VARCHAR"), ("first_name", "VARCHAR")]
    assert store.preview("messages", 1)[0]["direction"] == "INBOUND"
    with pytest.raises(ValueError, match="unknown table"):
        store.row_count('leads"; DROP TABLE attent.leads; --')
