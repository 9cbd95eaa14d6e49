"""The production topology as separate OS processes: a gRPC code server, `dagster-webserver` and
`dagster-daemon run`, each started on its own the way README's "Deploying" describes, sharing one
instance (deploy/dagster.yaml in DAGSTER_HOME) and one workspace.yaml that names the code server.

Why separate processes rather than `dagster dev`: in production nothing supervises them as a group.
The webserver and the daemon reach the code only over gRPC, the run workers are started by the code
server, and each process is stopped on its own with SIGTERM (what a service manager or a container
runtime sends), so each must shut down cleanly and take its own children with it.

Every process leads its own process group with its output (stdout and stderr) in one log file, so
that a test can say nothing is left behind and can read what each process printed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dagster._api.list_repositories import sync_list_repositories_grpc
from dagster._core.errors import DagsterUserCodeProcessError, DagsterUserCodeUnreachableError
from dagster._grpc.client import DagsterGrpcClient

from attent_assets.demo.stack import LOOPBACK, Child, port_is_free, spawn
from attent_assets.demo.webserver import Run, Webserver

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_YAML = ROOT / "deploy" / "dagster.yaml"
DEFINITIONS_MODULE = "attent_assets.definitions"
LOCATION = "attent_assets"
POLL_SECONDS = 0.25
#: Variables a developer's shell may carry that would point a process at another instance,
#: another API or another data folder; the topology sets its own.
_OWN_PREFIXES = ("DAGSTER_", "ATTENT_")


def free_port() -> int:
    """A port nobody listens on at this moment (the OS's choice for a bind to port 0)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def base_environment() -> dict[str, str]:
    """This process's environment without any DAGSTER_* or ATTENT_* variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}


def dagster_home(folder: Path) -> Path:
    """A DAGSTER_HOME holding the production dagster.yaml, as a deployment copies it there."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEPLOY_YAML, folder / "dagster.yaml")
    return folder


def write_workspace(path: Path, grpc_port: int) -> Path:
    """A workspace.yaml naming the code server on ``127.0.0.1:grpc_port`` (and nothing to start)."""
    path.write_text(
        "load_from:\n"
        "  - grpc_server:\n"
        f"      host: {LOOPBACK}\n"
        f"      port: {grpc_port}\n"
        f"      location_name: {LOCATION}\n"
    )
    return path


def _console_script(name: str) -> str:
    """An entry point installed next to this interpreter (`dagster-webserver`, ...)."""
    return str(Path(sys.executable).parent / name)


def start_code_server(port: int, env: Mapping[str, str], log: Path) -> Child:
    """`dagster code-server start -m attent_assets.definitions` on ``127.0.0.1:port``.

    Run as `python -m dagster` from the project folder and with it as the working directory, so the
    definitions come from this checkout whatever the virtual environment has installed."""
    command = [
        *(sys.executable, "-m", "dagster", "code-server", "start"),
        *("-m", DEFINITIONS_MODULE, "-d", str(ROOT), "--location-name", LOCATION),
        *("-h", LOOPBACK, "-p", str(port)),
    ]
    return spawn("code server", command, env, log, ROOT)


def code_server_answers(port: int) -> bool:
    """Whether the code server on ``127.0.0.1:port`` lists its repositories (what the webserver
    and the daemon ask first): it is up and has loaded the definitions."""
    try:
        sync_list_repositories_grpc(DagsterGrpcClient(port=port, host=LOOPBACK))
    except (DagsterUserCodeUnreachableError, DagsterUserCodeProcessError):
        return False
    return True


def start_webserver(port: int, workspace: Path, env: Mapping[str, str], log: Path) -> Child:
    """`dagster-webserver` on ``127.0.0.1:port``, loading the code from ``workspace``."""
    command = [
        _console_script("dagster-webserver"),
        *("-h", LOOPBACK, "-p", str(port), "-w", str(workspace)),
    ]
    return spawn("webserver", command, env, log, workspace.parent)


def start_daemon(workspace: Path, env: Mapping[str, str], log: Path) -> Child:
    """`dagster-daemon run`: the sensor daemon, the run queue and the others the instance needs."""
    command = [_console_script("dagster-daemon"), "run", "-w", str(workspace)]
    return spawn("daemon", command, env, log, workspace.parent)


def group_members(child: Child) -> list[int]:
    """The live processes of the child's process group (zombies excluded)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command name, which is in parentheses and may contain spaces.
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == child.process.pid and state != "Z":
            members.append(int(entry.name))
    return members


@dataclass(frozen=True, slots=True)
class Stopped:
    """How a process ended after SIGTERM: its exit status, the seconds it took, and the members
    of its process group still alive once it had exited (after a grace period for them)."""

    name: str
    returncode: int | None
    seconds: float
    left_behind: tuple[int, ...]


def terminate(child: Child, timeout: float) -> Stopped:
    """SIGTERM to the process alone (not its group: it must stop its own children), then wait up
    to ``timeout`` seconds for it and for its group to empty. Whatever is still alive after that is
    killed, so that a failing test leaves nothing running, and reported in the result."""
    started = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        child.process.send_signal(signal.SIGTERM)
    deadline = started + timeout
    while child.process.poll() is None and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    returncode = child.process.poll()
    seconds = time.monotonic() - started
    while group_members(child) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    left_behind = tuple(group_members(child))
    if returncode is None or left_behind:
        child.stop(grace_seconds=0.0)  # SIGKILL to the group, then reaps the leader
    return Stopped(child.name, returncode, seconds, left_behind)


def wait_for(
    ready: Callable[[], bool], seconds: float, children: Iterable[Child], what: str
) -> None:
    """Poll ``ready()`` until it is true; AssertionError, with the end of every log, when a child
    exits first or ``seconds`` pass."""
    watched = list(children)
    deadline = time.monotonic() + seconds
    while not ready():
        for child in watched:
            assert not child.exited, (
                f"{child.name} exited ({child.process.returncode}) while waiting for {what}:\n"
                f"{child.tail(40)}"
            )
        assert time.monotonic() < deadline, f"no {what} after {seconds:.0f} s:\n{tails(watched)}"
        time.sleep(POLL_SECONDS)


def wait_for_sensor_run(
    webserver: Webserver,
    job: str,
    sensor: str,
    started_after: float,
    seconds: float,
    children: Sequence[Child],
) -> Run:
    """The first successful run of ``job`` that ``sensor`` launched and that started after
    ``started_after``; a failed one fails the test at once, with the ends of the logs."""
    found: list[Run] = []

    def succeeded() -> bool:
        for run in webserver.runs(job=job, tags={"dagster/sensor_name": sensor}):
            if (run.started or 0.0) <= started_after:
                continue
            assert run.status not in ("FAILURE", "CANCELED"), (
                f"sensor run {run.id} ended {run.status}:\n{tails(children, lines=60)}"
            )
            if run.status == "SUCCESS":
                found.append(run)
                return True
        return False

    wait_for(succeeded, seconds, children, f"a sensor run started after {started_after}")
    return found[0]


def tails(children: Sequence[Child], lines: int = 30) -> str:
    return "\n".join(f"--- {c.name} ({c.log}):\n{c.tail(lines)}" for c in children)


def busy_ports(ports: Iterable[int]) -> list[int]:
    """The ports of ``ports`` that something still listens on."""
    return [port for port in ports if not port_is_free(port)]
