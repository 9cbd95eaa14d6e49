"""Lake compaction: small files of a day become one, every version stays exactly once, the
manifest stays exact, typed merges do not read merged days again, and readers listing a day see
the old files or the new ones, never a mix. Kills in the middle are in test_kill.py."""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from attent_assets.storage import CompactionPolicy, Store
from attent_assets.storage.local_lake import LocalLake
from attent_assets.sync.schema import LAYOUT
from attent_assets_tests.test_lake import T0, event, events, lake_files, lake_versions, query

DAY = T0.date()
TODAY = DAY + timedelta(days=1)  # T0's day is closed, the next one is open


def _write_small_files(store: Store, day_offset: int, count: int, prefix: str) -> None:
    """`count` single-event batches on one day: one lake file each."""
    for n in range(count):
        at = T0 + timedelta(days=day_offset, minutes=n)
        store.write_events(events(event("MESSAGE", f"{prefix}{n}", at)), cursors=[])


def _day_files(data_dir: Path, day: date) -> list[str]:
    return sorted(p.name for p in (data_dir / "lake/events" / f"date={day}").glob("*.parquet"))


def _manifest(data_dir: Path) -> set[str]:
    return {path for (path,) in query(data_dir, "SELECT path FROM attent_state.lake_files")}


def _on_disk(data_dir: Path) -> set[str]:
    return {p.relative_to(data_dir).as_posix() for p in lake_files(data_dir)}


def test_a_closed_day_of_small_files_becomes_one_file_with_every_version_once(
    tmp_path: Path,
) -> None:
    with Store.open(tmp_path, LAYOUT, "run-1") as store:
        _write_small_files(store, 0, 6, "a")
        store.write_events(events(event("MESSAGE", "a0", T0 + timedelta(hours=1))), cursors=[])
        store.merge_typed()
        before = lake_versions(tmp_path)
        assert len(_day_files(tmp_path, DAY)) == 7
        folder = tmp_path / "lake/events" / f"date={DAY}"
        os.utime(folder, (0, 0))  # a day written long ago

        report = store.compact(today=TODAY)

    assert len(_day_files(tmp_path, DAY)) == 1
    assert (report.days, report.files_before, report.files_after) == (1, 7, 1)
    after = lake_versions(tmp_path)
    assert sorted(after) == sorted(before)
    assert not [v for v, n in Counter(after).items() if n > 1]
    assert _manifest(tmp_path) == _on_disk(tmp_path)
    assert not list((tmp_path / "lake/_staging/swaps").rglob("*.parquet"))
    retired = list((tmp_path / "lake/_staging/retired").rglob("*.parquet"))
    assert len(retired) == 7  # kept a while for readers that opened the old folder
    LocalLake(tmp_path / "lake").sweep_retired()  # retired just now, however old its files
    assert len(list((tmp_path / "lake/_staging/retired").rglob("*.parquet"))) == 7
    LocalLake(tmp_path / "lake").sweep_retired(older_than=-1)
    assert not list((tmp_path / "lake/_staging").rglob("*.parquet"))


def test_a_closed_day_with_a_few_files_is_left_as_it_is(tmp_path: Path) -> None:
    """What a backfill of one or two commits leaves is not rewritten."""
    few = CompactionPolicy().closed_day_files - 1
    with Store.open(tmp_path, LAYOUT, "run-1") as store:
        _write_small_files(store, 0, few, "k")
        store.merge_typed()
        assert store.compact(today=TODAY).days == 0
        assert len(_day_files(tmp_path, DAY)) == few
        _write_small_files(store, 0, 1, "l")
        store.merge_typed()
        assert store.compact(today=TODAY).days == 1
    assert len(_day_files(tmp_path, DAY)) == 1


def test_the_open_day_is_compacted_only_once_it_holds_many_small_files(tmp_path: Path) -> None:
    policy = CompactionPolicy(open_day_files=5)
    with Store.open(tmp_path, LAYOUT, "run-1") as store:
        _write_small_files(store, 1, 4, "b")
        store.merge_typed()
        assert store.compact(today=TODAY, policy=policy).days == 0
        assert len(_day_files(tmp_path, TODAY)) == 4

        _write_small_files(store, 1, 1, "c")
        store.merge_typed()
        assert store.compact(today=TODAY, policy=policy).days == 1
    assert len(_day_files(tmp_path, TODAY)) == 1
    assert len(lake_versions(tmp_path)) == 5


def test_event_files_wait_until_every_typed_table_has_merged_them(tmp_path: Path) -> None:
    with Store.open(tmp_path, LAYOUT, "run-1") as store:
        _write_small_files(store, 0, 4, "d")
        store.merge_typed(["messages"])  # the other tables have not read them yet
        assert store.compact(today=TODAY).days == 0
        store.merge_typed()
        assert store.compact(today=TODAY).days == 1


def test_typed_merges_skip_a_compacted_day_and_replays_still_read_it(tmp_path: Path) -> None:
    """A compacted file covers files every table merged: an incremental merge leaves a deleted
    row deleted (it did not read the day again), a replay of the day brings it back."""
    with Store.open(tmp_path, LAYOUT, "run-1") as store:
        _write_small_files(store, 0, 4, "e")
        store.merge_typed()
        store.compact(today=TODAY)
    query(tmp_path, "DELETE FROM attent.messages WHERE id = 'e1'")
    with Store.open(tmp_path, LAYOUT, "run-2") as store:
        assert store.merge_typed(["messages"])[0].new == 0
        assert store.merge_typed(["messages"], replay_from=DAY)[0].new == 1


def test_a_reader_listing_a_day_sees_the_old_files_or_the_new_ones(tmp_path: Path) -> None:
    with Store.open(tmp_path, LAYOUT, "run-1") as store:
        _write_small_files(store, 0, 30, "f")
        store.merge_typed()
        old = set(_day_files(tmp_path, DAY))
        folder = tmp_path / "lake/events" / f"date={DAY}"
        seen: list[frozenset[str]] = []
        stop = threading.Event()

        def list_forever() -> None:
            while not stop.is_set():
                seen.append(frozenset(p.name for p in folder.glob("*.parquet")))

        reader = threading.Thread(target=list_forever)
        reader.start()
        try:
            store.compact(today=TODAY)
        finally:
            stop.set()
            reader.join()
    new = set(_day_files(tmp_path, DAY))
    assert len(new) == 1
    assert seen
    assert set(seen) <= {frozenset(old), frozenset(new)}


def test_recovery_finishes_a_committed_swap_and_discards_an_uncommitted_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed(*_: object) -> None:
        raise SystemExit("killed")

    with Store.open(tmp_path, LAYOUT, "run-1") as store:
        _write_small_files(store, 0, 4, "g")
        _write_small_files(store, 2, 4, "h")
        store.merge_typed()
        versions = sorted(lake_versions(tmp_path))
        monkeypatch.setattr(LocalLake, "finish_swap", killed)  # committed, folders not exchanged
        with pytest.raises(SystemExit):
            store.compact(today=TODAY + timedelta(days=5))
    monkeypatch.undo()
    assert len(_day_files(tmp_path, DAY)) == 4  # readers still see the old files
    assert _manifest(tmp_path) != _on_disk(tmp_path)

    with Store.open(tmp_path, LAYOUT, "run-2"):
        pass
    assert len(_day_files(tmp_path, DAY)) == 1
    assert len(_day_files(tmp_path, DAY + timedelta(days=2))) == 1
    assert sorted(lake_versions(tmp_path)) == versions
    assert _manifest(tmp_path) == _on_disk(tmp_path)
    assert not [p for p in (tmp_path / "lake/_staging/swaps").rglob("*") if p.is_file()]


def test_files_per_day_stay_bounded_over_many_runs(tmp_path: Path) -> None:
    """Many runs, each writing a file into the open day then compacting as a sync run does:
    the open day never holds more than the policy's small files plus the merged one, and once
    it closes it becomes a single file."""
    policy = CompactionPolicy(open_day_files=8)
    most = 0
    with Store.open(tmp_path, LAYOUT, "run-1") as store:
        for run in range(60):
            at = T0 + timedelta(days=1, seconds=run)
            store.write_events(events(event("MESSAGE", f"r{run}", at)), cursors=[])
            store.merge_typed()
            store.compact(today=TODAY, policy=policy)
            most = max(most, len(_day_files(tmp_path, TODAY)))
        assert most <= policy.open_day_files + 1
        store.compact(today=TODAY + timedelta(days=1), policy=policy)
    assert len(_day_files(tmp_path, TODAY)) == 1
    assert len(lake_versions(tmp_path)) == 60
    assert _manifest(tmp_path) == _on_disk(tmp_path)


def test_a_day_with_a_missing_file_is_left_alone_and_the_others_compact(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Store.open(tmp_path, LAYOUT, "run-1") as store:
        _write_small_files(store, 0, 4, "m")
        _write_small_files(store, 2, 4, "n")
        store.merge_typed()
        lost = tmp_path / "lake/events" / f"date={DAY}" / _day_files(tmp_path, DAY)[0]
        lost.unlink()
        with caplog.at_level(logging.ERROR):
            report = store.compact(today=TODAY + timedelta(days=5))
    assert report.days == 1
    assert len(_day_files(tmp_path, DAY)) == 3
    assert len(_day_files(tmp_path, DAY + timedelta(days=2))) == 1
    assert any(lost.name in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
