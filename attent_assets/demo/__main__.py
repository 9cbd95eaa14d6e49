"""`python -m attent_assets.demo` (what `make demo` runs): the bundled Attent simulator with live
activity and `dagster dev` on http://localhost:3000, then the first full sync as a backfill, until
Ctrl-C or SIGTERM stops every process it started.

State lives in the project, so a restart continues where the last run stopped: Dagster's instance
(runs, backfills, partition status, the sensor's cursor) in `.dagster_home/`, the lake and the
warehouse in `data/`. The first start also fixes the first partition there (30 days back); later
starts keep it and ask the simulator for a history from that day, so the partitions never shift.
The simulator's world lives in memory and is generated anew at each start (same seed, a history
that depends on the moment), so after a restart the warehouse keeps the earlier world's leads too.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from attent_assets.demo.stack import (
    ROOT,
    Child,
    attent_environment,
    port_answers,
    port_is_free,
    start_dagster,
    start_simulator,
)
from attent_assets.demo.webserver import Run, Webserver, WebserverError

HOME = ROOT / ".dagster_home"
DATA = ROOT / "data"
#: Not `logs/`: Dagster treats $DAGSTER_HOME/logs/ as its telemetry queue, uploads and empties it.
LOGS = HOME / "demo-logs"
START_DATE_FILE = HOME / "demo_start_date"
HISTORY_DAYS = 30
#: The simulator's key; it guards nothing but the local simulator.
DEMO_KEY = "demo-key"
SENSOR_INTERVAL_VAR = "ATTENT_SENSOR_INTERVAL_SECONDS"
#: Short, so that the UI shows new sensor runs within a minute (the project default is 60 s).
DEMO_SENSOR_INTERVAL_SECONDS = "15"
JOB = "attent_sync"
LOCATION = "attent_assets"
STARTUP_TIMEOUT_SECONDS = 180.0
POLL_SECONDS = 2.0


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class LaunchedBackfill:
    id: str
    launched_at: float


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    busy = [port for port in (args.simulator_port, args.dagster_port) if not port_is_free(port)]
    if busy:
        print(
            f"Port {', '.join(map(str, busy))} is busy on 127.0.0.1: is another demo (or another "
            "server) running? Stop it, or choose other ports with --simulator-port/--dagster-port."
        )
        return 1
    stop = threading.Event()
    # SIGHUP too: closing the terminal must not leave the children (other process groups) running.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    children: list[Child] = []
    try:
        _run(args, stop, children)
    except DemoError as error:
        print(f"\n{error}")
        return 1
    finally:
        if children:
            print("\nStopping Dagster and the simulator...", flush=True)
        for child in reversed(children):  # Dagster first: its runs may still call the simulator
            child.stop()
        if children:
            print("Stopped. State is kept in .dagster_home/ and data/; `make demo` continues.")
    return 0


def _run(args: argparse.Namespace, stop: threading.Event, children: list[Child]) -> None:
    """Start everything, launch the first backfill, then report finished runs until ``stop``."""
    started_at = time.time()
    start_date = _start_date()
    simulator = start_simulator(
        port=args.simulator_port,
        api_key=DEMO_KEY,
        seed=7,
        leads=200,
        events_per_lead=20,
        changes_per_second=2.0,
        start_days_ago=(datetime.now(UTC).date() - start_date).days,
        log=LOGS / "simulator.log",
    )
    children.append(simulator)
    if not _wait(lambda: port_answers(args.simulator_port), stop, children):
        return
    env = attent_environment(
        base_url=f"http://127.0.0.1:{args.simulator_port}/v1",
        api_key=DEMO_KEY,
        data_dir=DATA,
        start_date=start_date,
        sensor_interval_seconds=os.environ.get(SENSOR_INTERVAL_VAR, DEMO_SENSOR_INTERVAL_SECONDS),
    )
    children.append(
        start_dagster(home=HOME, port=args.dagster_port, env=env, log=LOGS / "dagster.log")
    )
    print(_banner(args, start_date, env[SENSOR_INTERVAL_VAR]), flush=True)
    webserver = Webserver(f"http://127.0.0.1:{args.dagster_port}")
    if not _wait(lambda: _code_loaded(webserver), stop, children):
        return
    print(f"Dagster is up: open http://localhost:{args.dagster_port}", flush=True)
    report = RunReport(webserver, since=started_at, backfill=_first_backfill(webserver))
    while not stop.wait(POLL_SECONDS):
        _check_alive(children)
        report.poll()


def _start_date() -> date:
    """The first partition: HISTORY_DAYS before the first start, then kept in .dagster_home."""
    try:
        return date.fromisoformat(START_DATE_FILE.read_text().strip())
    except (FileNotFoundError, ValueError):
        start = datetime.now(UTC).date() - timedelta(days=HISTORY_DAYS)
        START_DATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        START_DATE_FILE.write_text(f"{start.isoformat()}\n")
        return start


def _wait(ready: Callable[[], bool], stop: threading.Event, children: list[Child]) -> bool:
    """True once ``ready()``; False when asked to stop first. DemoError when a child exits or
    STARTUP_TIMEOUT_SECONDS pass."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not ready():
        _check_alive(children)
        if time.monotonic() > deadline:
            logs = ", ".join(str(child.log.relative_to(ROOT)) for child in children)
            raise DemoError(f"Not ready after {STARTUP_TIMEOUT_SECONDS:.0f} s; see {logs}")
        if stop.wait(0.5):
            return False
    return True


def _check_alive(children: list[Child]) -> None:
    for child in children:
        if child.exited:
            raise DemoError(
                f"{child.name} exited with code {child.process.returncode}; the end of "
                f"{child.log.relative_to(ROOT)}:\n{child.tail()}"
            )


def _code_loaded(webserver: Webserver) -> bool:
    if not webserver.is_up():
        return False
    try:
        status = webserver.location_status(LOCATION)
    except WebserverError:
        return False  # still starting
    if status not in ("LOADING", "LOADED"):
        raise DemoError(f"Dagster could not load the code location {LOCATION}:\n{status}")
    return status == "LOADED"


def _first_backfill(webserver: Webserver) -> LaunchedBackfill | None:
    """Launch a backfill of every partition of the job unless one already ran (or runs) on this
    DAGSTER_HOME."""
    try:
        partition_set = webserver.partition_set(JOB)
        earlier = [b for b in webserver.backfills(partition_set) if b.keeps_its_place]
        if earlier:
            print(
                f"The first backfill ({earlier[0].id}, {earlier[0].status}) is already in this "
                "DAGSTER_HOME: not launching another; the sensor keeps the data fresh.",
                flush=True,
            )
            return None
        launched_at = time.time()
        backfill_id = webserver.launch_backfill(partition_set, title="First full sync (demo)")
    except WebserverError as error:
        print(f"Could not launch the first backfill ({error}); launch it from the UI.", flush=True)
        return None
    print(
        f"Launched the first backfill {backfill_id}: every partition of {JOB} in one run "
        "(Overview > Backfills).",
        flush=True,
    )
    return LaunchedBackfill(backfill_id, launched_at)


class RunReport:
    """Prints each run of the job once, when it finishes: who launched it, how long it queued and
    how long it took; for the first backfill, how long after its launch the data was there."""

    def __init__(
        self, webserver: Webserver, since: float, backfill: LaunchedBackfill | None
    ) -> None:
        self._webserver = webserver
        self._since = since
        self._backfill = backfill
        self._reported: set[str] = set()

    def poll(self) -> None:
        try:
            runs = self._webserver.runs(job=JOB, limit=20)
        except WebserverError as error:
            print(f"(could not read runs: {error})", flush=True)
            return
        for run in reversed(runs):
            if run.finished and run.created >= self._since and run.id not in self._reported:
                self._reported.add(run.id)
                print(self._describe(run), flush=True)

    def _describe(self, run: Run) -> str:
        ended = run.ended or run.created
        started = run.started or run.created
        clock = datetime.fromtimestamp(ended).strftime("%H:%M:%S")
        line = (
            f"{clock}  {_launched_by(run)} run {run.id[:8]} {run.status}: "
            f"queued {started - run.created:.0f} s, ran {ended - started:.0f} s"
        )
        backfill = self._backfill
        if backfill is not None and run.tags.get("dagster/backfill") == backfill.id:
            line += f"; every partition synced {ended - backfill.launched_at:.0f} s after launch"
        return line


def _launched_by(run: Run) -> str:
    if "dagster/sensor_name" in run.tags:
        return "sensor"
    if "dagster/schedule_name" in run.tags:
        return "schedule"
    if "dagster/backfill" in run.tags:
        return "backfill"
    return "manual"


def _banner(args: argparse.Namespace, start_date: date, sensor_interval: str) -> str:
    return f"""
Attent demo: the bundled simulator and Dagster, state kept in .dagster_home/ and data/.

  Dagster UI   http://localhost:{args.dagster_port}   (starting; ready in about 10 s)
  Simulator    http://127.0.0.1:{args.simulator_port}/v1   200 leads, about 2 changes a second
  Partitions   weekly from {start_date.isoformat()} to this week (UTC)
  Warehouse    data/warehouse.duckdb (schema attent), lake in data/lake/
  Logs         .dagster_home/demo-logs/dagster.log and simulator.log

In the UI: Overview > Backfills shows the first full sync; Assets > attent the lineage
leads -> raw_events -> 7 typed tables, partitions and checks; Automation > attent_lead_changes
launches a run of {JOB} whenever leads change (checked every {sensor_interval} s).
Finished runs are listed below. Ctrl-C stops everything.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m attent_assets.demo",
        description="Run the Attent simulator and Dagster (make demo).",
    )
    parser.add_argument("--dagster-port", type=int, default=3000)
    parser.add_argument("--simulator-port", type=int, default=8765)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
