"""Bad configuration fails a run with one clear error naming the setting, before any request is
sent or any file is written; a start date in the future fails loading the definitions."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from attent_assets.definitions import defs
from attent_assets.defs.audit_schedule import AUDIT_CRON_VAR, audit_cron_from_env
from attent_assets.defs.partitions import START_DATE_VAR, start_date_from_env
from attent_assets.defs.resources import AttentResource, SyncResource, WarehouseResource
from attent_assets.simulator import SimulatorServer
from attent_assets.storage import WAREHOUSE_FILE
from attent_assets_tests.conftest import SIMULATOR_KEY
from attent_assets_tests.surface import partitions

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Every failure message of the run, causes included."""
    return "\n".join(
        event.event_specific_data.error.to_string()  # type: ignore[union-attr]
        for event in result.all_events
        if event.is_failure and event.event_specific_data is not None
    )


#: case: (AttentResource config besides base_url, data dir below a regular file, text named)
BAD_SETTINGS: dict[str, tuple[dict[str, Any], bool, str]] = {
    "malformed-base-url": ({"base_url": "htps//api.attent.app/v1"}, False, "base_url"),
    "base-url-with-credentials": (
        {"base_url": "https://user:pw@api.attent.app/v1"},
        False,
        "base_url must not contain credentials",
    ),
    "odd-event-type": ({"types": ["MESSAGE", "sms reply"]}, False, "types contains ['sms reply']"),
    "page-size-zero": ({"page_size": 0}, False, "page_size must be an integer from 1 to 1000"),
    "page-size-over-the-api-limit": (
        {"page_size": 5000},
        False,
        "page_size must be an integer from 1 to 1000",
    ),
    "concurrency-out-of-range": (
        {"concurrency": 1000},
        False,
        "concurrency must be an integer from 1 to 64",
    ),
    "max-requests-per-second-zero": (
        {"max_requests_per_second": 0},
        False,
        "max_requests_per_second must be a number > 0",
    ),
    "unwritable-data-dir": ({}, True, "ATTENT_DATA_DIR) is not a writable directory"),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_bad_configuration_fails_naming_the_setting_before_anything_is_touched(
    case: str, simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTENT_API_KEY", SIMULATOR_KEY)
    attent, under_a_file, named = BAD_SETTINGS[case]
    data_dir = tmp_path / "data"
    if under_a_file:
        (tmp_path / "file").write_text("")
        data_dir = tmp_path / "file" / "data"
    last = partitions.get_last_partition_key()
    assert last is not None
    with dg.instance_for_test() as instance:
        result = defs.get_job_def("attent_sync").execute_in_process(
            instance=instance,
            resources={
                "attent": AttentResource(**{"base_url": simulator.url, **attent}),
                "warehouse": WarehouseResource(data_dir=str(data_dir)),
                "sync": SyncResource(mode="incremental"),
            },
            tags={
                "dagster/asset_partition_range_start": last,
                "dagster/asset_partition_range_end": last,
            },
            raise_on_error=False,
        )
    assert not result.success
    errors = _failure_text(result)
    assert named in errors, errors
    assert SIMULATOR_KEY not in errors
    assert simulator.stats.requests_total == 0
    assert not (data_dir / WAREHOUSE_FILE).exists()
    assert not (data_dir / "lake").exists()


def test_a_start_date_in_the_future_fails_loading_the_definitions(tmp_path: Path) -> None:
    future = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    env = {**os.environ, START_DATE_VAR: future, "ATTENT_DATA_DIR": str(tmp_path / "data")}
    loaded = subprocess.run(
        [sys.executable, "-c", "import attent_assets.definitions"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert loaded.returncode != 0
    assert f"{START_DATE_VAR}={future} is in the future" in loaded.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("value", ["2026-02-30", "yesterday", "01/03/2026"])
def test_a_start_date_that_is_not_a_date_is_refused_naming_the_variable(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(START_DATE_VAR, value)
    with pytest.raises(ValueError, match=f"{START_DATE_VAR}='{value}' is not a date"):
        start_date_from_env()


@pytest.mark.parametrize("value", ["daily", "0 4 * *", "61 4 * * *"])
def test_an_audit_cron_that_is_not_a_cron_is_refused_naming_the_variable(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUDIT_CRON_VAR, value)
    with pytest.raises(ValueError, match=f"{AUDIT_CRON_VAR}='{re.escape(value)}'"):
        audit_cron_from_env()
