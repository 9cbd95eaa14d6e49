"""The lake on an S3-compatible server (moto on loopback, started by the tests): the guarantees a
local lake gives, through object_lake.py's commit (stage, manifest, copy into place).

A run ends equal to the truth, each version once in the lake, after backfills, incremental rounds,
compactions and SIGKILLs at every step of the commit; a reader listing the bucket during a run
sees committed versions only, never one twice; a missing bucket or refused credentials stop a
run before it fetches anything, naming the setting and never the secret.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from attent_assets.api import AttentConfigError
from attent_assets.defs.resources import WarehouseResource
from attent_assets.simulator import Faults, SimulatorServer, World
from attent_assets.storage import VIEWS_FILE, CompactionPolicy, LakeConfigError, Store
from attent_assets.sync import LAYOUT, Mode, SyncReport
from attent_assets_tests.conftest import SIMULATOR_KEY, WORLD_START
from attent_assets_tests.harness import Harness
from attent_assets_tests.s3_server import S3Server
from attent_assets_tests.test_kill import KillPoint, _assert_intact, _probe, _small_world

#: Steps of object_lake.py's commit; `calls` is about how often a small world's run makes them.
OBJECT_KILL_POINTS = {
    # A staged object PUT, the batch not committed.
    "staged-put": KillPoint(
        "attent_assets.storage.object_lake", "ObjectLake._write_staged", "after", 16
    ),
    # Committed; nothing copied into place yet.
    "before-publish": KillPoint("attent_assets.storage.lake", "Lake.publish", "before", 4),
    # Copied into place, the staged object not deleted (also a compaction's merged files).
    "copied": KillPoint("attent_assets.storage.object_lake", "ObjectLake._copy", "after", 16),
    # A compaction's intent written, its manifest transaction not committed.
    "compaction-sealed": KillPoint(
        "attent_assets.storage.object_lake", "_ObjectRewrite.seal", "after", 6
    ),
    # A compaction committed, the replaced files not deleted, its merged files not copied.
    "compaction-committed": KillPoint(
        "attent_assets.storage.object_lake", "_ObjectRewrite.finish", "before", 6
    ),
    # Some of a compaction's replaced files deleted, not all; its merged files not copied.
    "compaction-deleting": KillPoint(
        "attent_assets.storage.object_lake", "ObjectLake._delete", "after", 20
    ),
}


@pytest.fixture
def world() -> World:
    """Smaller than the suite's usual world: every commit here is several requests to moto."""
    return World(seed=7, leads=10, events_per_lead=6, start=WORLD_START)


@pytest.fixture
def harness(simulator: SimulatorServer, tmp_path: Path, s3_lake: str) -> Harness:
    return Harness(server=simulator, data_dir=tmp_path / "data", lake_url=s3_lake)


def test_backfill_and_incremental_rounds_on_object_storage_equal_the_truth(
    harness: Harness,
) -> None:
    """Also: nothing of the lake on local disk, and views.duckdb, which names the bucket's
    files, reads the warehouse's rows for a reader who registers the store's filesystem (as the
    README shows)."""
    harness.backfill()
    _assert_intact(harness)
    for _ in range(2):
        harness.world.advance(25)
        harness.run(Mode.INCREMENTAL)
        _assert_intact(harness)
    assert not (harness.data_dir / "lake").exists()
    assert any(path.startswith("lake/events/date=") for path in harness.lake.walk())
    con = duckdb.connect(str(harness.data_dir / VIEWS_FILE), read_only=True)
    try:
        harness.lake.register(con)
        con.execute("SET TimeZone = 'UTC'")
        for table in ("leads", "messages", "other_events"):
            query = f"SELECT * FROM attent.{table} ORDER BY id"
            viewed = con.execute(query).fetchall()
            assert viewed
            assert viewed == harness.query(query)
    finally:
        con.close()


def test_compaction_on_object_storage_merges_closed_days_and_keeps_every_version_once(
    harness: Harness,
) -> None:
    """One file per commit and a policy that merges any closed day of two: the backfill's run
    compacts, the next runs add files to open days and compact again, and the lake still holds
    each version once, with nothing left in the staging area."""
    harness.settings = replace(
        harness.settings, compaction=CompactionPolicy(closed_day_files=2, open_day_files=3)
    )
    report = harness.backfill()
    assert report.compaction.days > 0
    assert report.compaction.files_after < report.compaction.files_before
    _assert_intact(harness)
    harness.world.advance(40)
    harness.run(Mode.INCREMENTAL)
    _assert_intact(harness)
    with harness.open() as store:
        assert store.compact(today=datetime.now(UTC).date()).days == 0  # nothing left to merge


@pytest.mark.parametrize("point", list(OBJECT_KILL_POINTS))
def test_a_run_killed_at_each_step_of_the_object_commit_then_run_again_equals_the_truth(
    point: str, tmp_path: Path, s3_lake: str
) -> None:
    """As test_kill's per-point test, with the lake in the bucket: killed in the first sync,
    killed again catching up (finding the first one's leftovers), then one clean run."""
    kill = OBJECT_KILL_POINTS[point]
    world = _small_world(seed=len(point))
    with SimulatorServer(world, api_key=SIMULATOR_KEY) as server:
        harness = Harness(server=server, data_dir=tmp_path / "data", lake_url=s3_lake)
        first = _probe(
            server, harness.data_dir, Mode.INCREMENTAL, kill.at(kill.calls // 2 + 1), None, s3_lake
        )
        world.advance(15)
        second = _probe(server, harness.data_dir, Mode.REPLAY, kill.at(1), None, s3_lake)
        assert first == second == -signal.SIGKILL
        harness.run(Mode.INCREMENTAL)
        _assert_intact(harness)


def test_a_reader_listing_the_bucket_during_a_run_never_sees_a_version_twice(
    tmp_path: Path, s3_lake: str
) -> None:
    """A reader lists the hive folders over and over while a slow backfill commits file after
    file and then compacts closed days. The lake's files hold each version once (checked at the
    end), and a merged file holds exactly the versions of the files it replaced, so a listing
    holds a version twice exactly when it names a replaced file and a merged file of the same
    day: none does. Staged files are never listed (the pattern cannot match them)."""
    world = World(seed=7, leads=20, events_per_lead=8, start=WORLD_START)
    with SimulatorServer(world, api_key=SIMULATOR_KEY, faults=Faults(latency_ms=15)) as server:
        harness = Harness(server=server, data_dir=tmp_path / "data", lake_url=s3_lake)
        harness.settings = replace(
            harness.settings, compaction=CompactionPolicy(closed_day_files=2, open_day_files=3)
        )
        reports: list[SyncReport] = []
        errors: list[BaseException] = []
        done = threading.Event()

        def sync() -> None:
            try:
                reports.append(harness.backfill())
            except BaseException as error:  # reported by the main thread
                errors.append(error)
            finally:
                done.set()

        worker = threading.Thread(target=sync)
        worker.start()
        listings: list[frozenset[str]] = []
        while not done.is_set():
            listings.append(frozenset(harness.lake.walk()))
        worker.join()
        assert not errors, errors
        assert reports[0].compaction.days > 0
        _assert_intact(harness)
        merged = dict(
            harness.query("SELECT path, covers_seq IS NOT NULL FROM attent_state.lake_files")
        )
        replaced = {path for listing in listings for path in listing} - merged.keys()
        assert replaced, "the reader saw no file before its compaction: nothing was tested"
        assert len({len(listing) for listing in listings}) >= 3, "too few commits seen"
        for listing in listings:
            old = {_folder(path) for path in listing & replaced}
            new = {_folder(path) for path in listing if merged.get(path)}
            assert not old & new, f"a listing named merged and replaced files of {old & new}"


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0]


def _open_fails(data_dir: Path, lake_url: str) -> str:
    with (
        pytest.raises(LakeConfigError) as error,
        Store.open(data_dir, LAYOUT, "r", lake_url=lake_url),
    ):
        pass
    return str(error.value)


def test_a_missing_bucket_fails_fast_naming_the_setting(
    s3_lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = "s3://no-such-bucket-here/attent"
    message = _open_fails(tmp_path, missing)
    assert "ATTENT_LAKE_URL" in message
    assert "no-such-bucket-here" in message
    resource = WarehouseResource(data_dir=str(tmp_path), lake_url=missing)
    with pytest.raises(AttentConfigError, match="ATTENT_LAKE_URL"):
        resource.setup_for_execution(dg.build_init_resource_context())
    monkeypatch.setenv("ATTENT_LAKE_URL", "s3://")
    with pytest.raises(AttentConfigError, match=r"ATTENT_LAKE_URL .*s3://bucket/prefix"):
        WarehouseResource(data_dir=str(tmp_path)).setup_for_execution(
            dg.build_init_resource_context()
        )


def test_refused_credentials_fail_fast_naming_the_settings_and_not_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that knows no key refuses ours: opening the store (the first thing a run does)
    fails at once, and the error names the AWS settings, not their values."""
    with S3Server(tmp_path / "moto.log", require_auth=True) as server:
        settings = server.environment()
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        started = datetime.now(UTC)
        message = _open_fails(tmp_path / "data", "s3://lake/attent")
        assert datetime.now(UTC) - started < timedelta(seconds=30)
        assert "AWS_ACCESS_KEY_ID" in message
        assert "AWS_SECRET_ACCESS_KEY" in message
        assert settings["AWS_SECRET_ACCESS_KEY"] not in message
        assert settings["AWS_ACCESS_KEY_ID"] not in message
        resource = WarehouseResource(data_dir=str(tmp_path / "data"), lake_url="s3://lake/attent")
        with pytest.raises(AttentConfigError) as error:
            resource.setup_for_execution(dg.build_init_resource_context())
        assert settings["AWS_SECRET_ACCESS_KEY"] not in str(error.value)
