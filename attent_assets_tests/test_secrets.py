"""The API key appears nowhere: not in logs, Dagster's run and event storage, compute logs, run
config, metadata, exception text, the lake or the warehouse — after full, incremental, retried and
failed runs. TLS is verified by default, and the simulator serves loopback only."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.snap import JobSnap

from attent_assets import AttentComponent
from attent_assets.api import AttentClient, AttentUnavailableError, ClientSettings, RetrySettings
from attent_assets.definitions import defs
from attent_assets.defs.resources import (
    AttentResource,
    RetryConfig,
    SyncResource,
    WarehouseResource,
)
from attent_assets.simulator import SimulatorServer, World
from attent_assets_tests.surface import partitions

SECRET = "sk-attent-7Qf9-secret-never-shown"
WRONG_SECRET = "sk-attent-3Zx1-wrong-but-still-secret"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _run(
    server: SimulatorServer,
    data_dir: Path,
    instance: dg.DagsterInstance,
    mode: str,
    *,
    partition: str,
    max_attempts: int = 8,
) -> dg.ExecuteInProcessResult:
    return defs.get_job_def("attent_sync").execute_in_process(
        instance=instance,
        resources={
            # The key is never configuration: the resource reads it from the environment.
            "attent": AttentResource(
                base_url=server.url, page_size=50, retry=RetryConfig(max_attempts=max_attempts)
            ),
            "warehouse": WarehouseResource(data_dir=str(data_dir)),
            "sync": SyncResource(mode=mode),  # type: ignore[arg-type]
        },
        tags={
            "dagster/asset_partition_range_start": partition,
            "dagster/asset_partition_range_end": partition,
        },
        raise_on_error=False,
    )


def _files_holding(root: Path, secrets: list[str]) -> list[str]:
    needles = [secret.encode() for secret in secrets]
    return [
        str(path.relative_to(root))
        for path in sorted(root.rglob("*"))
        if path.is_file() and any(needle in path.read_bytes() for needle in needles)
    ]


def test_the_api_key_is_nowhere_after_full_retried_failed_and_incremental_runs(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included
    monkeypatch.setenv("ATTENT_API_KEY", SECRET)
    data_dir = tmp_path / "data"
    instance_dir = tmp_path / "dagster_home"
    instance_dir.mkdir()
    first = partitions.get_first_partition_key()
    last = partitions.get_last_partition_key()
    assert first is not None
    assert last is not None
    outcomes: dict[str, bool] = {}
    with (
        SimulatorServer(world, api_key=SECRET) as server,
        dg.instance_for_test(temp_dir=str(instance_dir)) as instance,
    ):
        runs: list[dg.ExecuteInProcessResult] = []

        def run(name: str, mode: str, partition: str, **options: Any) -> None:
            result = _run(server, data_dir, instance, mode, partition=partition, **options)
            outcomes[name] = result.success
            runs.append(result)

        # The first partition's replay reads everything: the full sync.
        run("full", "replay", first)
        world.advance(20)
        server.faults.fail_status, server.faults.fail_first_n = 503, 2
        run("retried", "incremental", last)
        server.faults.rate_5xx = 1.0
        run("retries-exhausted", "incremental", last, max_attempts=2)
        server.faults.rate_5xx = 0.0
        monkeypatch.setenv("ATTENT_API_KEY", WRONG_SECRET)
        run("rejected-key", "incremental", last)
        monkeypatch.setenv("ATTENT_API_KEY", SECRET)
        world.advance(20)
        run("incremental", "incremental", last)

        texts = [caplog.text, *capfd.readouterr()]
        for result in runs:
            stored = instance.get_run_by_id(result.run_id)
            assert stored is not None
            texts.append(json.dumps(stored.run_config, default=str))
            texts.append(str(stored.tags))
            texts.extend(dg.serialize_value(entry) for entry in instance.all_logs(result.run_id))
            texts.extend(
                event.event_specific_data.error.to_string()  # type: ignore[union-attr]
                for event in result.all_events
                if event.is_failure and event.event_specific_data is not None
            )

    assert outcomes == {
        "full": True,
        "retried": True,
        "retries-exhausted": False,
        "rejected-key": False,
        "incremental": True,
    }
    failures = "\n".join(texts)
    # The errors say what is wrong.
    assert "HTTP 403" in failures
    assert "ATTENT_API_KEY" in failures
    assert "unavailable" in failures
    assert [t for t in texts if SECRET in t or WRONG_SECRET in t] == []
    assert list(instance_dir.rglob("*.db")), "the instance kept its runs and event logs on disk"
    assert _files_holding(instance_dir, [SECRET, WRONG_SECRET]) == []
    assert (data_dir / "warehouse.duckdb").is_file()
    assert _files_holding(data_dir, [SECRET, WRONG_SECRET]) == []


def test_a_components_api_key_is_a_variable_reference_stored_nowhere(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`api_key: '{{ env.NAME }}'` in a defs.yaml: the run reads the variable when it starts;
    the key is not in the job snapshot, run config, logs or files."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("ACME_ATTENT_API_KEY", SECRET)
    instance_dir = tmp_path / "dagster_home"
    instance_dir.mkdir()
    with (
        SimulatorServer(world, api_key=SECRET) as server,
        dg.instance_for_test(temp_dir=str(instance_dir)) as instance,
    ):
        component = AttentComponent.from_attributes_dict(
            attributes={
                "key_prefix": "acme",
                "api_key": "{{ env.ACME_ATTENT_API_KEY }}",
                "base_url": server.url,
                "data_dir": str(tmp_path / "data"),
                "start_date": "2026-03-01",
            }
        )
        job = component.definitions().get_job_def("acme_sync")
        # The job snapshot (stored compressed with every run, shown in the launchpad) holds the
        # variable's name only; a key given as a value would be a config default in it.
        snapshot = dg.serialize_value(JobSnap.from_job_def(job))
        assert "ACME_ATTENT_API_KEY" in snapshot
        assert SECRET not in snapshot
        last = str(partitions.get_last_partition_key())
        result = job.execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": last,
                "dagster/asset_partition_range_end": last,
            },
        )
        assert result.success
        stored = instance.get_run_by_id(result.run_id)
        assert stored is not None
        assert SECRET not in json.dumps(stored.run_config, default=str)
    assert SECRET not in caplog.text
    assert _files_holding(instance_dir, [SECRET]) == []
    assert _files_holding(tmp_path / "data", [SECRET]) == []


@pytest.fixture
def self_signed_tls_port(tmp_path: Path) -> Iterator[int]:
    """A TLS listener on loopback whose certificate no CA signed (handshakes only)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [openssl, *request, "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def serve() -> None:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        try:
            with context.wrap_socket(connection, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass  # the client refused the certificate: what the test expects

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(timeout=5)


def test_tls_certificates_are_verified_by_default(self_signed_tls_port: int) -> None:
    assert ClientSettings(api_key=SECRET).verify_tls is True
    settings = ClientSettings(
        base_url=f"https://127.0.0.1:{self_signed_tls_port}/v1",
        api_key=SECRET,
        retry=RetrySettings(max_attempts=1),
    )
    with AttentClient(settings) as client, pytest.raises(AttentUnavailableError) as refused:
        next(iter(client.iter_leads(updated_since=datetime(2026, 1, 1, tzinfo=UTC))))
    assert "CERTIFICATE_VERIFY_FAILED" in refused.value.last_cause
    assert SECRET not in str(refused.value)


def test_the_simulator_refuses_to_serve_beyond_loopback(world: World) -> None:
    with SimulatorServer(world, api_key=SECRET) as server:
        assert server.url.startswith("http://127.0.0.1:")
    refused = subprocess.run(
        [sys.executable, "-m", "attent_assets.simulator", "--host", "0.0.0.0", "--port", "0"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "binds only to a loopback address" in refused.stderr
