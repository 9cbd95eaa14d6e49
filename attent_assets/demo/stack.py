"""The processes of a local stack, the simulator and `dagster dev`, each leading its own group.

Why process groups: `dagster dev` starts a webserver, a daemon, a code server and a worker per run,
and all of them stay in its group; signalling the group reaches every one of them, and an empty
group proves that nothing is left behind. A terminal's Ctrl-C reaches only the launcher's own group;
the launcher forwards it.

Why every child restores SIGINT before it execs: a background job of a non-interactive shell (or a
test worker) may start with SIGINT ignored, children inherit that, and `dagster dev` then ignores
SIGTERM too (it maps SIGTERM to its SIGINT handler).
"""

from __future__ import annotations

import contextlib
import filecmp
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The instance settings every DAGSTER_HOME of this project uses (pools, retention, run limits).
DAGSTER_YAML = ROOT / "dagster.yaml"
#: The pool of every step that writes the warehouse (the project's AttentComponent, default
#: prefix): the demo's instance lets one such step run at a time.
WAREHOUSE_POOL = "warehouse"
WORKSPACE_YAML = ROOT / "workspace.yaml"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Child:
    """A started process that leads its own process group; its output goes to ``log``."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def exited(self) -> bool:
        return self.process.poll() is not None

    def stop(self, grace_seconds: float = 30.0) -> None:
        """SIGINT to the whole group (what Ctrl-C in a terminal does, so Dagster shuts down in
        order), SIGKILL to whatever is left after ``grace_seconds``. Returns once the group is
        empty and the leader reaped; idempotent."""
        self._signal(signal.SIGINT)
        if self._wait_for_empty_group(grace_seconds):
            return
        self._signal(signal.SIGKILL)
        if not self._wait_for_empty_group(10.0):
            raise RuntimeError(f"{self.name}: process group {self.process.pid} survived SIGKILL")

    def tail(self, lines: int = 20) -> str:
        """The end of the log, for an error message."""
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def _wait_for_empty_group(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            self.process.poll()  # reaps the leader; orphaned members are reaped by init
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)


#: Runs argv[1:] with SIGINT at its default disposition (an ignored signal survives exec).
_DEFAULT_SIGINT_THEN_EXEC = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


def spawn(name: str, command: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path) -> Child:
    """Start ``command`` as the leader of a new process group, with SIGINT at its default, stdin
    closed and output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 -- a fixed argument list, no shell
            [sys.executable, "-c", _DEFAULT_SIGINT_THEN_EXEC, *command],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
    return Child(name, process, log)


def start_simulator(
    *,
    port: int,
    api_key: str,
    seed: int,
    leads: int,
    events_per_lead: int,
    changes_per_second: float,
    start_days_ago: int,
    log: Path,
) -> Child:
    """The bundled simulator (`python -m attent_assets.simulator`) on ``127.0.0.1:port``."""
    command = [
        sys.executable,
        "-m",
        "attent_assets.simulator",
        *("--port", str(port), "--api-key", api_key, "--seed", str(seed)),
        *("--leads", str(leads), "--events-per-lead", str(events_per_lead)),
        *("--live-changes-per-second", str(changes_per_second)),
        *("--start-days-ago", str(start_days_ago)),
    ]
    return spawn("simulator", command, os.environ, log, ROOT)


def start_dagster(*, home: Path, port: int, env: Mapping[str, str], log: Path) -> Child:
    """`dagster dev` (webserver on ``127.0.0.1:port``, daemon, code server) on this project's
    workspace, with its instance in ``home``.

    Runs from ``home`` so that `dagster dev` does not warn about the project's own dagster.yaml.
    """
    sync_instance_settings(home)
    limit_pool(home, env, WAREHOUSE_POOL)
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        *("-w", str(WORKSPACE_YAML), "-h", LOOPBACK, "-p", str(port)),
    ]
    return spawn("dagster dev", command, {**env, "DAGSTER_HOME": str(home)}, log, home)


def sync_instance_settings(home: Path) -> None:
    """Create ``home`` if needed and give it the project's dagster.yaml (Dagster reads it only
    from DAGSTER_HOME); a changed project file replaces the copy, so settings never drift."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / DAGSTER_YAML.name
    if not target.exists() or not filecmp.cmp(DAGSTER_YAML, target, shallow=False):
        shutil.copyfile(DAGSTER_YAML, target)


def limit_pool(home: Path, env: Mapping[str, str], pool: str) -> None:
    """A limit of one step at a time on `pool` in the instance at ``home``: set per pool, since
    dagster.yaml's `pools.default_limit` would limit every pool of the instance."""
    subprocess.run(  # noqa: S603 -- a fixed argument list, no shell
        [sys.executable, "-m", "dagster", "instance", "concurrency", "set", pool, "1"],
        env={**env, "DAGSTER_HOME": str(home)},
        cwd=home,
        check=True,
        capture_output=True,
        timeout=120,
    )


def attent_environment(
    *,
    base_url: str,
    api_key: str,
    data_dir: Path,
    start_date: date,
    sensor_interval_seconds: str,
) -> dict[str, str]:
    """This process's environment plus the variables that configure the project (DESIGN §5)."""
    return {
        **os.environ,
        "ATTENT_BASE_URL": base_url,
        "ATTENT_API_KEY": api_key,
        "ATTENT_DATA_DIR": str(data_dir),
        "ATTENT_START_DATE": start_date.isoformat(),
        "ATTENT_SENSOR_INTERVAL_SECONDS": sensor_interval_seconds,
    }


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``127.0.0.1:port``. SO_REUSEADDR, as the servers set it,
    so the closed connections of a previous run (TIME_WAIT) do not count as busy."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def port_answers(port: int) -> bool:
    """Whether something accepts connections on ``127.0.0.1:port``."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1.0):
            return True
    except OSError:
        return False
