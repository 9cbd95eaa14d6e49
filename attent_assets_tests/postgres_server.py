"""A throwaway PostgreSQL server for tests, from the installed server binaries.

Why a real server rather than SQLite or a fake: the production instance (deploy/dagster.yaml) keeps
runs, event logs, ticks and pool slots in PostgreSQL through dagster-postgres, whose SQL, driver
and notification paths differ from SQLite's. The server listens on 127.0.0.1 only, on a free port,
with its data folder and socket in a temporary folder, and requires a password (scram-sha-256) so
that the tests exercise the same authenticated connection as a deployment.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg2

LOOPBACK = "127.0.0.1"
USERNAME = "attent"
#: initdb refuses to run as root; as root, the server runs as this (Debian's) account instead.
SERVER_ACCOUNT = "postgres"


def server_binaries() -> Path | None:
    """The folder holding `initdb` and `pg_ctl`: from PATH, else the newest of Debian's
    `/usr/lib/postgresql/<major>/bin`; None when neither has them."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    debian = Path("/usr/lib/postgresql").glob("*/bin")
    numbered = [p for p in debian if p.parent.name.isdigit()]
    candidates += sorted(numbered, key=lambda p: int(p.parent.name), reverse=True)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class PostgresServer:
    """A started server; `stop()` shuts it down and deletes its folder."""

    binaries: Path
    root: Path
    port: int
    password: str

    @classmethod
    def start(cls, binaries: Path) -> PostgresServer:
        """initdb a new cluster whose superuser is USERNAME with a random password, then start
        it on a free loopback port and wait until it accepts connections."""
        root = Path(tempfile.mkdtemp(prefix="attent-postgres-"))
        server = cls(binaries, root, _free_port(), secrets.token_urlsafe(24))
        password_file = root / "password"
        password_file.write_text(server.password)
        server._own(root, password_file)
        try:
            server._run(
                "initdb",
                *("-D", str(server.data), "-U", USERNAME, f"--pwfile={password_file}"),
                *("--auth=scram-sha-256", "--encoding=UTF8", "--no-sync", "--no-instructions"),
            )
        finally:
            password_file.unlink()
        options = f"-c listen_addresses={LOOPBACK} -p {server.port} -k {root} -c fsync=off"
        log = root / "server.log"
        server._run("pg_ctl", "-D", str(server.data), "-l", str(log), "-o", options, "-w", "start")
        return server

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def environment(self, database: str) -> dict[str, str]:
        """The variables deploy/dagster.yaml reads, pointing at ``database`` on this server."""
        return {
            "DAGSTER_PG_HOST": LOOPBACK,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": USERNAME,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": database,
        }

    def create_database(self, name: str, template: str | None = None) -> None:
        """A new database, empty or a copy of ``template`` (which nobody may be connected to)."""
        con = psycopg2.connect(
            host=LOOPBACK, port=self.port, user=USERNAME, password=self.password, dbname="postgres"
        )
        try:
            con.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with con.cursor() as cur:
                copy = f" TEMPLATE {template}" if template else ""
                cur.execute(f"CREATE DATABASE {name}{copy}")
        finally:
            con.close()

    def dump(self, database: str) -> str:
        """Everything stored in ``database``, as SQL text (pg_dump, password from the
        environment, never the command line)."""
        result = subprocess.run(
            [str(self.binaries / "pg_dump"), "--no-owner", database],
            env={**os.environ, **self._libpq_environment()},
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def _libpq_environment(self) -> dict[str, str]:
        return {
            "PGHOST": LOOPBACK,
            "PGPORT": str(self.port),
            "PGUSER": USERNAME,
            "PGPASSWORD": self.password,
        }

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        """A server binary, as SERVER_ACCOUNT when this process is root."""
        command: Sequence[str] = [str(self.binaries / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_ACCOUNT, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.root)

    @staticmethod
    def _own(*paths: Path) -> None:
        """As root, hand the server's folder to SERVER_ACCOUNT (initdb and the server refuse a
        data folder they do not own)."""
        if os.geteuid() != 0:
            return
        account = pwd.getpwnam(SERVER_ACCOUNT)
        for path in paths:
            os.chown(path, account.pw_uid, account.pw_gid)
