"""Where a deployment keeps its state, and what it costs: the lake on local disk or on an
S3-compatible server, the Dagster instance on SQLite or on PostgreSQL.

Each placement syncs the same world from a fresh simulator (same seed): the full sync as one
backfill run, then `placement_runs` sensor ticks and the runs they request, each after
`longlife_changes` world changes. The object store is moto's server and PostgreSQL a throwaway
server from the installed binaries, both on loopback (as in `make test`): their figures are what
this project's own work costs per request to them, not what a cloud store's latency adds.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from attent_assets_tests.postgres_server import PostgresServer, server_binaries
from attent_assets_tests.s3_server import S3Server
from bench import dagster_sync
from bench.markdown import table
from bench.measure import measured, say
from bench.settings import BenchSettings
from bench.simulator_process import simulator

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Placement:
    lake: str
    instance: str
    full_sync_s: float
    run_s: list[float]

    @property
    def run_median_s(self) -> float:
        return statistics.median(self.run_s)


@dataclass(frozen=True, slots=True)
class Placements:
    settings: BenchSettings
    results: list[Placement]
    skipped: str | None = None


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set variables for the block (the lake's AWS settings, the instance's DAGSTER_PG_*)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _postgres_instance(
    stack: ExitStack, postgres: PostgresServer, root: Path
) -> dg.DagsterInstance:
    database = f"bench_{uuid.uuid4().hex[:8]}"
    postgres.create_database(database)
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
    stack.enter_context(_environment(postgres.environment(database)))
    instance = dg.DagsterInstance.from_config(str(home))
    stack.callback(instance.dispose)
    return instance


def _one(
    s: BenchSettings, root: Path, lake_url: str | None, instance: dg.DagsterInstance
) -> tuple[float, list[float]]:
    with simulator(
        leads=s.placement_leads,
        events_per_lead=s.events_per_lead,
        latency_ms=s.latency_ms,
        latency_jitter_ms=s.latency_jitter_ms,
        history_days=s.history_days,
        seed=s.seed,
    ) as sim:
        bound = dagster_sync.resources(
            sim.url, root / "data", concurrency=s.concurrency, page_size=s.page_size
        )
        bound["warehouse"] = bound["warehouse"].model_copy(update={"lake_url": lake_url})
        with measured("full sync", sim) as full, dagster_sync.quiet():
            dagster_sync.full_sync(instance, bound)
        with dagster_sync.quiet():
            cursor = dagster_sync.sensor_tick(instance, bound, None).cursor
        runs = []
        for number in range(s.placement_runs):
            sim.advance(s.longlife_changes)
            with dagster_sync.quiet():
                tick = dagster_sync.sensor_tick(instance, bound, cursor)
            with measured(f"run {number}", sim) as run, dagster_sync.quiet():
                dagster_sync.execute(instance, bound, dagster_sync.requested_run(tick))
            cursor = tick.cursor
            runs.append(run.wall_s)
    return full.wall_s, runs


def run_placement(s: BenchSettings) -> Placements:
    binaries = server_binaries()
    if binaries is None:
        return Placements(s, [], skipped="no PostgreSQL server binaries on this machine")
    results = []
    with ExitStack() as servers:
        scratch = Path(servers.enter_context(tempfile.TemporaryDirectory()))
        s3 = servers.enter_context(S3Server(scratch / "moto.log"))
        postgres = PostgresServer.start(binaries)
        servers.callback(postgres.stop)
        servers.enter_context(_environment(s3.environment()))
        for instance_name in ("SQLite", "PostgreSQL"):
            for lake_name in ("local disk", "S3 (moto)"):
                with ExitStack() as stack:
                    root = scratch / uuid.uuid4().hex
                    root.mkdir()
                    lake_url = None
                    if lake_name != "local disk":
                        bucket = f"bench-{uuid.uuid4().hex[:12]}"
                        s3.create_bucket(bucket)
                        lake_url = f"s3://{bucket}/attent"
                    if instance_name == "SQLite":
                        instance = stack.enter_context(
                            dagster_sync.fresh_instance(root / "dagster_home")
                        )
                    else:
                        instance = _postgres_instance(stack, postgres, root)
                    full, runs = _one(s, root, lake_url, instance)
                result = Placement(lake_name, instance_name, full, runs)
                say(
                    f"placement: lake on {lake_name}, instance on {instance_name}: full sync "
                    f"{full:.2f} s, sensor run median {result.run_median_s:.2f} s"
                )
                results.append(result)
    return Placements(s, results)


def placement_section(placements: Placements) -> list[str]:
    """The section of docs/benchmarks.md."""
    s = placements.settings
    lines = [
        "",
        "## Placement: the lake on object storage, the instance on PostgreSQL",
        "",
        f"The same world ({s.placement_leads:,} leads, {s.placement_leads * s.events_per_lead:,} "
        f"events over {s.history_days} days, the latency above) synced from a fresh simulator "
        "into each placement: the full sync as one backfill run, then "
        f"{s.placement_runs} sensor-launched runs after {s.longlife_changes} world changes each. "
        "The object store is moto's S3 server and PostgreSQL a server from the installed "
        "binaries, both on loopback: the ratios are what this project's work per request costs "
        "there, not a cloud store's latency. "
        "Command: `python -m bench --sections placement`.",
        "",
    ]
    if placements.skipped:
        return [*lines, f"Skipped: {placements.skipped}."]
    base = placements.results[0]
    rows = [
        (
            r.lake,
            r.instance,
            f"{r.full_sync_s:.2f}",
            f"{r.full_sync_s / base.full_sync_s:.2f}x",
            f"{r.run_median_s:.2f}",
            f"{r.run_median_s / base.run_median_s:.2f}x",
        )
        for r in placements.results
    ]
    header = (
        "lake",
        "instance",
        "full sync s",
        f"vs {base.lake} + {base.instance}",
        "sensor run s (median)",
        f"vs {base.lake} + {base.instance}",
    )
    return [*lines, *table(header, rows)]
