"""A full disk or an unwritable data directory: a clear error, nothing half-written becomes
visible, and the next run recovers.

A full disk cannot be made here (no small filesystem to fill, and the tests run as root), so the
Parquet writer, the one place where a sync's bulk bytes hit the disk, is made to fail as a full
disk does: part of the file written, then OSError(ENOSPC). An unwritable directory is a data
directory below a regular file: chmod does not stop root, ENOTDIR stops everyone.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from attent_assets.simulator import SimulatorServer
from attent_assets.storage import WAREHOUSE_FILE
from attent_assets.sync import Mode
from attent_assets_tests.harness import Harness


@pytest.fixture
def harness(simulator: SimulatorServer, tmp_path: Path) -> Harness:
    return Harness(server=simulator, data_dir=tmp_path / "data")


def _disk_fills_at(monkeypatch: pytest.MonkeyPatch, call: int) -> None:
    """From the `call`-th Parquet write on, the disk is full."""
    write_table = pq.write_table
    calls = 0

    def full_disk(table: Any, where: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls < call:
            write_table(table, where, **kwargs)
            return
        Path(where).write_bytes(b"PAR1\x15\x04")  # the bytes that fitted
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where))

    monkeypatch.setattr(pq, "write_table", full_disk)


def _visible_state_is_consistent(harness: Harness) -> None:
    """Nothing staged, every lake file committed, and every committed lead version merged."""
    harness.assert_lake_matches_manifest()
    with harness.open() as store:
        assert store.lake_versions_missing("leads") == (0, [])


@pytest.mark.parametrize("call", [1, 3], ids=["first-write", "mid-run"])
def test_a_full_disk_fails_the_run_clearly_then_the_next_run_recovers(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, call: int
) -> None:
    harness.backfill()
    harness.world.advance(40)
    cursors_before = harness.query("SELECT * FROM attent_state.lead_cursors ORDER BY lead_id")
    with monkeypatch.context() as patch:
        _disk_fills_at(patch, call)
        with pytest.raises(OSError, match="No space left on device") as error:
            harness.run(Mode.INCREMENTAL)
    assert error.value.errno == errno.ENOSPC
    _visible_state_is_consistent(harness)
    if call == 1:
        # Nothing was committed, so no cursor moved past data it does not cover.
        cursors = harness.query("SELECT * FROM attent_state.lead_cursors ORDER BY lead_id")
        assert cursors == cursors_before

    harness.run(Mode.INCREMENTAL)
    harness.assert_converged()


def test_a_data_dir_that_cannot_be_created_fails_before_any_request(
    harness: Harness, tmp_path: Path
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data directory should be")
    harness.data_dir = blocker / "attent"
    with pytest.raises(NotADirectoryError, match=str(blocker)):
        harness.run(Mode.INCREMENTAL)
    assert harness.server.stats.requests_total == 0

    blocker.unlink()
    harness.run(Mode.INCREMENTAL)
    harness.assert_converged()
    assert (harness.data_dir / WAREHOUSE_FILE).is_file()
