"""Shared fixtures: a small seeded simulated world and a simulator serving it on loopback; an
S3-compatible server and a PostgreSQL server per test process for the tests of the lake on object
storage and of the production instance."""

from __future__ import annotations

import os
import pwd
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from attent_assets.simulator import SimulatorServer, World
from attent_assets_tests.postgres_server import SERVER_ACCOUNT, PostgresServer, server_binaries
from attent_assets_tests.s3_server import S3Server

WORLD_START = datetime(2026, 3, 1, tzinfo=UTC)
SIMULATOR_KEY = "test-key"


@pytest.fixture
def world() -> World:
    """20 leads with 8 events each, history from 2026-03-01 over about 20 days."""
    return World(seed=7, leads=20, events_per_lead=8, start=WORLD_START)


@pytest.fixture
def simulator(world: World) -> Iterator[SimulatorServer]:
    """A started simulator over ``world`` with api key "test-key"; stopped afterwards."""
    server = SimulatorServer(world, api_key=SIMULATOR_KEY).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One S3-compatible server (moto) per test process, on loopback."""
    with S3Server(tmp_path_factory.mktemp("s3") / "moto.log") as server:
        yield server


@pytest.fixture
def s3_lake(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A lake URL in a new bucket of `s3_server`, with the AWS settings that reach it set in
    this process's environment (and so in the children it starts)."""
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    return f"s3://{bucket}/attent"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server per test process (a few seconds to start), shared by every test of
    the production instance; each test uses databases of its own on it."""
    binaries = server_binaries()
    if binaries is None:
        pytest.skip(
            "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_ACCOUNT)
        except KeyError:
            pytest.skip(f"running as root without a {SERVER_ACCOUNT!r} account to run initdb as")
    server = PostgresServer.start(binaries)
    yield server
    server.stop()
