"""The lake write protocol: partitions, idempotence, monotonicity, failure and crash recovery."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from attent_assets.storage import (
    EVENT_LAKE_SCHEMA,
    EVENT_ROWS_SCHEMA,
    LEAD_LAKE_SCHEMA,
    LEAD_ROWS_SCHEMA,
    LeadCursor,
    Store,
)
from attent_assets.storage.lake import Lake
from attent_assets.sync.schema import LAYOUT

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def event(type_: str, id_: str, updated_at: datetime, lead: str = "L1") -> dict[str, Any]:
    record = {
        "id": id_,
        "type": type_,
        "roomId": lead,
        "orgId": "org",
        "timestamp": updated_at.isoformat(),
        "updatedAt": updated_at.isoformat(),
        "data": {"n": updated_at.timestamp()},
    }
    return {
        "type": type_,
        "id": id_,
        "room_id": lead,
        "org_id": "org",
        "timestamp": updated_at,
        "updated_at": updated_at,
        "raw": json.dumps(record),
    }


def events(*rows: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=EVENT_ROWS_SCHEMA)


def leads(*versions: tuple[str, datetime]) -> pa.Table:
    rows = [
        {"id": i, "updated_at": at, "raw": json.dumps({"id": i, "updatedAt": at.isoformat()})}
        for i, at in versions
    ]
    return pa.Table.from_pylist(rows, schema=LEAD_ROWS_SCHEMA)


def query(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    """Reads the warehouse on a short-lived connection (shares the open store's instance)."""
    con = duckdb.connect(data_dir / "warehouse.duckdb")
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def lake_files(data_dir: Path, kind: str = "events") -> list[Path]:
    return sorted((data_dir / "lake" / kind).glob("date=*/*.parquet"))


def staged_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "lake" / "_staging").rglob("*.parquet"))


def lake_versions(data_dir: Path) -> list[tuple[str, str, datetime]]:
    files = lake_files(data_dir)
    if not files:
        return []
    table = pa.concat_tables(pq.read_table(f) for f in files)
    columns = (table.column(c).to_pylist() for c in ("type", "id", "updated_at"))
    return sorted(zip(*columns, strict=True))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path, LAYOUT, "run-1") as opened:
        yield opened


def test_rows_are_split_by_utc_day_of_updated_at(store: Store, tmp_path: Path) -> None:
    late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    # 2026-03-01T23:30-02:00 is 2026-03-02T01:30Z: the UTC day decides, not the local one.
    offset = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    result = store.write_events(
        events(
            event("MESSAGE", "a", late),
            event("MESSAGE", "b", late - timedelta(hours=1)),
            event("CALL", "c", offset),
            event("EMAIL", "d", T0 + timedelta(days=3)),
        ),
        cursors=[],
    )

    assert result.partitions == {date(2026, 3, 1): 2, date(2026, 3, 2): 1, date(2026, 3, 4): 1}
    folders = sorted({f.parent.name for f in lake_files(tmp_path)})
    assert folders == ["date=2026-03-01", "date=2026-03-02", "date=2026-03-04"]
    for file in lake_files(tmp_path):
        assert file.name.startswith("run-1-")
        table = pq.read_table(file)
        assert table.schema.equals(EVENT_LAKE_SCHEMA)
        assert set(table.column("run_id").to_pylist()) == {"run-1"}
        days = {at.date().isoformat() for at in table.column("updated_at").to_pylist()}
        assert days == {file.parent.name.removeprefix("date=")}
    manifest = query(tmp_path, "SELECT date, rows, kind, run_id FROM attent_state.lake_files")
    assert sorted(manifest) == [
        (date(2026, 3, 1), 2, "events", "run-1"),
        (date(2026, 3, 2), 1, "events", "run-1"),
        (date(2026, 3, 4), 1, "events", "run-1"),
    ]
    hive = query(
        tmp_path,
        f"SELECT id, date FROM read_parquet('{tmp_path}/lake/events/*/*.parquet', "
        "hive_partitioning = true) ORDER BY id",
    )
    assert hive[2] == ("c", date(2026, 3, 2))


def test_the_same_batch_twice_writes_nothing_new(store: Store, tmp_path: Path) -> None:
    batch = events(event("MESSAGE", "a", T0), event("CALL", "a", T0))
    first = store.write_events(batch, cursors=[])
    second = store.write_events(batch, cursors=[])
    store.write_leads(leads(("L1", T0)), watermark=T0)
    again = store.write_leads(leads(("L1", T0)), watermark=T0)

    assert (first.rows_written, first.new_keys) == (2, 2)
    assert (second.rows_in, second.rows_written, second.new_keys, second.partitions) == (
        2,
        0,
        0,
        {},
    )
    assert (again.rows_written, again.new_keys, again.updated_keys) == (0, 0, 0)
    assert len(lake_files(tmp_path)) == 1
    assert len(lake_files(tmp_path, "leads")) == 1
    assert len(lake_versions(tmp_path)) == 2


def test_within_batch_duplicates_keep_one_row_per_version(store: Store, tmp_path: Path) -> None:
    later = T0 + timedelta(minutes=5)
    result = store.write_events(
        events(
            event("MESSAGE", "a", T0),
            event("MESSAGE", "a", T0),
            event("MESSAGE", "a", later),
            event("MESSAGE", "a", later),
            event("CALL", "a", T0),
        ),
        cursors=[],
    )

    assert (result.rows_in, result.rows_written, result.new_keys) == (5, 3, 2)
    assert lake_versions(tmp_path) == [
        ("CALL", "a", T0),
        ("MESSAGE", "a", T0),
        ("MESSAGE", "a", later),
    ]
    assert query(
        tmp_path, "SELECT updated_at FROM attent_state.event_versions WHERE type = 'MESSAGE'"
    ) == [(later,)]


def test_an_identical_version_received_twice_keeps_the_last_received(
    store: Store, tmp_path: Path
) -> None:
    first, last = event("MESSAGE", "a", T0), event("MESSAGE", "a", T0)
    last["raw"] = json.dumps({"id": "a", "note": "received last"})
    store.write_events(events(first, last), cursors=[])

    (raw,) = pq.read_table(lake_files(tmp_path)[0]).column("raw").to_pylist()
    assert raw == last["raw"]


@pytest.mark.parametrize("newer_first", [True, False])
def test_an_older_version_never_replaces_a_newer_one(
    store: Store, tmp_path: Path, newer_first: bool
) -> None:
    old, new = T0, T0 + timedelta(hours=1)
    order = [new, old] if newer_first else [old, new]
    results = [store.write_events(events(event("CALL", "c", at)), cursors=[]) for at in order]
    for at in order:
        store.write_leads(leads(("L1", at)), watermark=None)

    assert query(tmp_path, "SELECT updated_at FROM attent_state.event_versions") == [(new,)]
    assert query(tmp_path, "SELECT updated_at FROM attent.leads") == [(new,)]
    # Newer first: the older version arrives late and is not newer than what is stored.
    expected = [new] if newer_first else [old, new]
    assert [version[2] for version in lake_versions(tmp_path)] == expected
    assert [r.rows_written for r in results] == ([1, 0] if newer_first else [1, 1])
    assert results[1].updated_keys == (0 if newer_first else 1)


def test_a_failed_commit_leaves_no_file_and_no_state(store: Store, tmp_path: Path) -> None:
    store.write_events(events(event("MESSAGE", "a", T0)), cursors=[LeadCursor("L1", T0, T0)])
    before = query(
        tmp_path,
        "SELECT (SELECT count(*) FROM attent_state.lake_files), "
        "(SELECT count(*) FROM attent_state.event_versions), "
        "(SELECT max(events_cursor) FROM attent_state.lead_cursors)",
    )
    later = T0 + timedelta(hours=1)
    bad_cursor = LeadCursor(None, later, later)  # type: ignore[arg-type]  # a NULL primary key

    with pytest.raises(duckdb.ConstraintException):
        store.write_events(
            events(event("MESSAGE", "b", later), event("MESSAGE", "c", later + timedelta(days=1))),
            cursors=[LeadCursor("L1", later, later), bad_cursor],
        )

    assert staged_files(tmp_path) == []
    assert len(lake_files(tmp_path)) == 1
    assert [v[1] for v in lake_versions(tmp_path)] == ["a"]
    after = query(
        tmp_path,
        "SELECT (SELECT count(*) FROM attent_state.lake_files), "
        "(SELECT count(*) FROM attent_state.event_versions), "
        "(SELECT max(events_cursor) FROM attent_state.lead_cursors)",
    )
    assert after == before
    retry = store.write_events(
        events(event("MESSAGE", "b", later)), cursors=[LeadCursor("L1", later, later)]
    )
    assert retry.rows_written == 1


def test_an_interrupt_inside_the_transaction_rolls_back_leads(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("attent_assets.storage.state.raise_watermark", interrupted)

    with pytest.raises(KeyboardInterrupt):
        store.write_leads(leads(("L1", T0)), watermark=T0)

    assert staged_files(tmp_path) == []
    assert lake_files(tmp_path, "leads") == []
    assert query(tmp_path, "SELECT count(*) FROM attent.leads") == [(0,)]
    assert store.leads_watermark() is None


def test_recovery_publishes_a_committed_staged_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed(*_: object) -> None:
        raise SystemExit("killed between commit and rename")

    with Store.open(tmp_path, LAYOUT, "run-1") as store:
        monkeypatch.setattr(Lake, "publish", killed)
        with pytest.raises(SystemExit):
            store.write_events(events(event("MESSAGE", "a", T0)), cursors=[])
    monkeypatch.undo()
    assert len(staged_files(tmp_path)) == 1
    assert lake_files(tmp_path) == []

    with Store.open(tmp_path, LAYOUT, "run-2") as store:
        assert staged_files(tmp_path) == []
        assert [v[1] for v in lake_versions(tmp_path)] == ["a"]
        (path,) = query(tmp_path, "SELECT path FROM attent_state.lake_files")[0]
        assert (tmp_path / path) == lake_files(tmp_path)[0]
        assert store.merge_typed(["messages"])[0].new == 1


def test_recovery_deletes_an_uncommitted_staged_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crashed(*_: object) -> None:
        raise SystemExit("killed before the commit")

    with Store.open(tmp_path, LAYOUT, "run-1") as store:
        monkeypatch.setattr("attent_assets.storage.state.advance_cursors", crashed)
        monkeypatch.setattr(Lake, "discard", lambda *_: None)  # a kill cleans nothing up
        with pytest.raises(SystemExit):
            store.write_events(
                events(event("MESSAGE", "a", T0)), cursors=[LeadCursor("L1", T0, T0)]
            )
    monkeypatch.undo()
    assert len(staged_files(tmp_path)) == 1

    with Store.open(tmp_path, LAYOUT, "run-2") as store:
        assert staged_files(tmp_path) == []
        assert lake_files(tmp_path) == []
        assert query(tmp_path, "SELECT count(*) FROM attent_state.lake_files") == [(0,)]
        rerun = store.write_events(events(event("MESSAGE", "a", T0)), cursors=[])
        assert rerun.rows_written == 1


def test_a_committed_file_missing_on_disk_is_logged_and_does_not_stall_merges(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Store.open(tmp_path, LAYOUT, "run-1") as store:
        store.write_events(events(event("MESSAGE", "a", T0)), cursors=[])
        store.write_events(events(event("MESSAGE", "b", T0 + timedelta(days=1))), cursors=[])
    lost = lake_files(tmp_path)[0]
    lost.unlink()

    with caplog.at_level(logging.ERROR), Store.open(tmp_path, LAYOUT, "run-2") as store:
        merged = store.merge_typed(["messages"])

    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(lost.name in message and "missing" in message for message in errors)
    assert merged[0].new == 1


def test_rows_without_keys_or_with_naive_timestamps_are_refused(store: Store) -> None:
    keyless = event("MESSAGE", "a", T0)
    keyless["id"] = None
    with pytest.raises(ValueError, match="no id"):
        store.write_events(events(keyless), cursors=[])
    naive = pa.table(
        {
            "id": ["L1"],
            "updated_at": pa.array([datetime(2026, 3, 1)], pa.timestamp("us")),
            "raw": ["{}"],
        }
    )
    with pytest.raises(ValueError, match="tz-aware"):
        store.write_leads(naive, watermark=None)
    with pytest.raises(ValueError, match="lack columns"):
        store.write_leads(naive.drop_columns(["raw"]), watermark=None)


def test_lead_lake_files_carry_sync_columns(store: Store, tmp_path: Path) -> None:
    store.write_leads(leads(("L1", T0), ("L2", T0)), watermark=T0)

    (file,) = lake_files(tmp_path, "leads")
    table = pq.read_table(file)
    assert table.schema.equals(LEAD_LAKE_SCHEMA)
    assert table.column("id").to_pylist() == ["L1", "L2"]
    assert table.column("synced_at").null_count == 0


# A writer process killed at random instants, then a normal re-run: the lake must end up with
# every version exactly once, and the warehouse state must match it.

KILL_BATCHES = 12


def kill_batches() -> list[pa.Table]:
    """Deterministic batches that revisit keys with newer (and sometimes older) versions."""
    rng = random.Random(7)
    batches = []
    for b in range(KILL_BATCHES):
        rows = [
            event(
                rng.choice(["MESSAGE", "CALL", "ODD"]),
                f"e{rng.randrange(40)}",
                T0 + timedelta(minutes=rng.randrange(b * 10, b * 10 + 60), days=rng.randrange(3)),
            )
            for _ in range(30)
        ]
        batches.append(events(*rows))
    return batches


def newest_per_key(versions: Iterable[tuple[Any, ...]]) -> dict[tuple[str, str], datetime]:
    newest: dict[tuple[str, str], datetime] = {}
    for type_, id_, at in versions:
        newest[(type_, id_)] = max(at, newest.get((type_, id_), at))
    return newest


def run_writer(data_dir: str) -> None:
    """Child process body: writes every batch over and over until it is killed."""
    with Store.open(Path(data_dir), LAYOUT, "writer") as store:
        print("ready", flush=True)
        while True:
            for batch in kill_batches():
                store.write_events(batch, cursors=[LeadCursor("L1", T0, T0)])


def test_a_killed_writer_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(11)
    code = (
        "import sys; from attent_assets_tests.test_lake import run_writer; run_writer(sys.argv[1])"
    )
    for _ in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()

    with Store.open(tmp_path, LAYOUT, "rerun") as store:
        for batch in kill_batches():
            store.write_events(batch, cursors=[])
        merged = store.merge_typed()

    versions = lake_versions(tmp_path)
    assert len(versions) == len(set(versions))
    assert staged_files(tmp_path) == []
    sent = [(r["type"], r["id"], r["updated_at"]) for b in kill_batches() for r in b.to_pylist()]
    newest = newest_per_key(sent)
    assert newest_per_key(versions) == newest
    stored = query(tmp_path, "SELECT type, id, updated_at FROM attent_state.event_versions")
    assert newest_per_key(stored) == newest
    manifest = {p for (p,) in query(tmp_path, "SELECT path FROM attent_state.lake_files")}
    assert manifest == {f.relative_to(tmp_path).as_posix() for f in lake_files(tmp_path)}
    assert sum(m.rows for m in merged) == len(newest)
