"""docs/benchmarks.md from one run's results: the targets, the tables, the profile, the machine;
then the long life (bench/longlife_report.py)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from bench.cpu_profile import HTTP, JSON, LAYERS, PER_RECORD
from bench.longlife import LongLife
from bench.longlife_report import longlife_section, world_text
from bench.markdown import ratio, table, verdict
from bench.placement import Placements, placement_section
from bench.ratelimit import RateLimits
from bench.ratelimit_report import ratelimit_section
from bench.settings import BenchSettings
from bench.suite import CRAWL, DAGSTER, DLT, ENGINE, FLOOR, Results

PACKAGES = ("httpx", "orjson", "dagster", "duckdb", "pyarrow", "dlt")


def machine_facts() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB; {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}; {', '.join(versions)}"
    )


def _targets(r: Results) -> list[str]:
    engine_vs_floor = r.ratio(ENGINE, FLOOR)
    dlt_vs_dagster = r.ratio(DLT, DAGSTER)
    inc = r.incremental
    allowed = 1.05 * inc.changed_leads + inc.extra_pages
    tick = r.no_change_tick
    one, many = r.rss[1], r.rss[max(r.rss)]
    transport = r.profile.share(HTTP) + r.profile.share(JSON)
    per_record = sum(r.profile.share(layer) for layer in PER_RECORD)
    rows = [
        (
            "engine full sync <= 1.2x the fetch floor",
            ratio(engine_vs_floor),
            verdict(None if engine_vs_floor is None else engine_vs_floor <= 1.2),
        ),
        (
            "Dagster full sync >= 1.5x faster than dlt",
            ratio(dlt_vs_dagster) + ("" if r.dlt_skipped is None else f" ({r.dlt_skipped})"),
            verdict(None if dlt_vs_dagster is None else dlt_vs_dagster >= 1.5),
        ),
        (
            "incremental: events requests <= 1.05 x changed leads + extra pages",
            f"{inc.events_requests} requests for {inc.changed_leads} changed leads "
            f"({inc.requests_per_changed_lead:.3f} per lead; {inc.extra_pages} extra pages); "
            f"{inc.unchanged_leads_fetched} unchanged leads fetched",
            verdict(inc.events_requests <= allowed and inc.unchanged_leads_fetched == 0),
        ),
        (
            "no-change tick: exactly one request and no run",
            f"{tick.measurement.requests} request(s), {tick.runs_requested} run(s)",
            verdict(tick.measurement.requests == 1 and tick.runs_requested == 0),
        ),
        (
            f"peak RSS at {max(r.rss)}x the events <= 1.25x the peak at 1x",
            f"{many.peak_mib:.0f} / {one.peak_mib:.0f} MiB = {many.peak_mib / one.peak_mib:.2f}x",
            verdict(many.peak_mib <= 1.25 * one.peak_mib),
        ),
        (
            "latency 0: bound by HTTP + JSON, not per-record Python",
            f"HTTP + JSON {transport:.0%} of CPU; models + rows {per_record:.0%}",
            verdict(transport > per_record),
        ),
    ]
    return table(("target", "measured", "verdict"), rows)


def _full_syncs(r: Results) -> list[str]:
    floor = r.measurements[FLOOR].wall_s
    rows = [
        (
            name,
            f"{m.wall_s:.2f}",
            f"{m.cpu_s:.2f}",
            m.requests,
            f"{m.events:,}",
            f"{m.events_per_s:,.0f}",
            f"{m.cpu_ms_per_request:.2f}",
            f"{m.wall_s / floor:.2f}x",
            m.note,
        )
        for name, m in r.measurements.items()
        if name in (FLOOR, CRAWL, ENGINE, DAGSTER, DLT)
    ]
    header = (
        "run",
        "wall s",
        "CPU s",
        "requests",
        "events",
        "events/s",
        "CPU ms/request",
        "wall vs floor",
        "note",
    )
    return table(header, rows)


def _incremental(r: Results) -> list[str]:
    inc, tick = r.incremental, r.no_change_tick
    run = inc.run
    leads_requests = run.counts.leads if run.counts else 0
    rows = [
        (
            f"sensor tick after {inc.changes} world changes",
            f"{inc.tick.wall_s:.2f}",
            f"{inc.tick.cpu_s:.2f}",
            inc.tick.requests,
            "one run requested",
        ),
        (
            "the incremental run it requested",
            f"{run.wall_s:.2f}",
            f"{run.cpu_s:.2f}",
            run.requests,
            f"{leads_requests} leads + {inc.events_requests} events requests; "
            f"{inc.changed_leads} leads new or with a moved lastActivityAt; "
            f"{run.events:,} events read",
        ),
        (
            "sensor tick without change",
            f"{tick.measurement.wall_s:.2f}",
            f"{tick.measurement.cpu_s:.2f}",
            tick.measurement.requests,
            f"{tick.runs_requested} runs; {tick.reason}",
        ),
    ]
    return table(("step", "wall s", "CPU s", "requests", "note"), rows)


def _memory(r: Results) -> list[str]:
    rows = [
        (f"{factor}x", f"{peak.events:,}", f"{peak.peak_mib:.0f}")
        for factor, peak in sorted(r.rss.items())
    ]
    return table(("events per lead", "events written", "peak RSS MiB"), rows)


def _profile(r: Results) -> list[str]:
    p = r.profile
    rows = [
        (layer, f"{p.by_layer.get(layer, 0.0):.2f}", f"{p.share(layer):.0%}") for layer in LAYERS
    ]
    rows.append(("total (process CPU)", f"{p.cpu_s:.2f}", "100%"))
    return table(("layer", "CPU s", "share"), rows)


def _notes(r: Results) -> list[str]:
    """What limits each figure, in numbers taken from this run."""
    m = r.measurements
    floor, crawl, engine, dagster = m[FLOOR], m[CRAWL], m[ENGINE], m[DAGSTER]
    s = r.settings
    slots = floor.requests / s.concurrency
    latency_bound = slots * (s.latency_ms + s.latency_jitter_ms / 2) / 1000
    notes = [
        f"- **Transport.** {floor.requests:,} requests on {s.concurrency} connections at "
        f"{s.latency_ms:g} ms + 0-{s.latency_jitter_ms:g} ms take at least {latency_bound:.1f} s; "
        f"the floor took {floor.wall_s:.1f} s, spending {floor.cpu_ms_per_request:.2f} ms of CPU "
        "per request in httpx (URLs, headers, h11, the pool) and orjson under one GIL, beside a "
        f"simulator that shares the same {os.cpu_count()} cores. The project's client sends "
        "through the httpx transport without `httpx.Client`'s per-request machinery, and parses "
        f"every record into a model: {crawl.cpu_ms_per_request:.2f} ms per request.",
        f"- **Engine.** {engine.wall_s / floor.wall_s:.2f}x the floor ({engine.note}). The leads "
        "step and the typed merge (DuckDB reading the typed columns out of the raw JSON) run "
        "before and after the fetch; the events step stores each batch on the writer thread "
        "while fetching goes on, so it adds the last batch's write and what storing takes from "
        f"the fetch threads' GIL: {engine.cpu_s - floor.cpu_s:.1f} s more CPU than the floor "
        "in all.",
        f"- **Dagster.** The run costs {dagster.wall_s - engine.wall_s:.1f} s more than the engine "
        f"alone, {r.event_log.seconds:.1f} s of it writing {r.event_log.events} events to the "
        "instance's SQLite event log: at run creation one planned event per partition of the "
        "backfilled range per partitioned asset, then a materialization per partition, the "
        "typed tables' materializations, observations, check results and step events. A history "
        "of years means more partitions and a longer first backfill; later runs cover the few "
        "days that changed.",
    ]
    if DLT in m:
        dlt = m[DLT]
        needed = dlt.wall_s / 1.5
        notes.append(
            f"- **dlt.** {dlt.cpu_ms_per_request:.2f} ms of CPU per request: `requests`, then "
            "dlt's extract, normalize (rows to Parquet) and load steps, each a pass over the data, "
            f"and a merge through staging tables. Being 1.5x faster than it means {needed:.1f} s "
            f"end to end, while the fetch floor alone took {floor.wall_s:.1f} s and the Dagster "
            f"bookkeeping {r.event_log.seconds:.1f} s at this latency and concurrency."
        )
    return notes


def _core(r: Results) -> list[str]:
    """The sections on the fresh month's world: targets, full syncs, incremental, memory, CPU."""
    return [
        "## Targets",
        "",
        *_targets(r),
        "",
        "## Full sync",
        "",
        *_full_syncs(r),
        "",
        "## Incremental sync and sensor ticks",
        "",
        "Continues from the Dagster full sync: its instance, its data, then "
        f"`POST /_sim/advance?changes={r.incremental.changes}`. The tick is evaluated as the "
        "daemon evaluates it and its run request executed as requested (run config and tags).",
        "",
        *_incremental(r),
        "",
        "## Peak memory",
        "",
        "The engine's full sync at latency 0, each in a fresh process (`python -m bench.memory`).",
        "",
        *_memory(r),
        "",
        "## Where the CPU goes (latency 0)",
        "",
        f"The Dagster full sync of the same world ({r.profile_events:,} events) with no latency, "
        f"so CPU is the limit: {r.profile.wall_s:.2f} s wall, {r.profile.cpu_s:.2f} s CPU. Each "
        "layer is charged the CPU time of its own thread inside it (bench/cpu_profile.py); per-"
        "record Python of our own is `models` and `rows / Arrow`.",
        "",
        *_profile(r),
        "",
        f"cProfile of the engine's full sync ({r.top_functions_events:,} events, every thread on "
        "its own CPU clock; the profiler's own cost inflates small Python calls):",
        "",
        "```",
        r.top_functions.strip(),
        "```",
        "",
        "## What limits it",
        "",
        *_notes(r),
        "",
    ]


def _transport(s: BenchSettings) -> str:
    return (
        f"the simulator runs in its own process and answers each request after "
        f"{s.latency_ms:g} ms + a uniform 0-{s.latency_jitter_ms:g} ms; concurrency "
        f"{s.concurrency}, page size {s.page_size}"
    )


def render(
    core: Results | None,
    life: LongLife | None,
    command: str,
    limits: RateLimits | None = None,
    placements: Placements | None = None,
) -> str:
    """The report of the sections that ran (`python -m bench --sections`)."""
    worlds = []
    if core is not None:
        s = core.settings
        worlds.append(
            f"- **World:** {s.leads:,} leads, {s.leads * s.events_per_lead:,} events "
            f"({s.events_per_lead} per lead) over {s.history_days} days; {_transport(s)}."
        )
    if life is not None:
        worlds.append(
            f"- **Long-life world:** {world_text(life.settings)}; {_transport(life.settings)}."
        )
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        "(`make bench` runs the same). Do not edit: regenerate.",
        "",
        *worlds,
        f"- **Machine:** {machine_facts()}.",
        "- **Method:** wall time and this process's CPU time (every thread); requests as the "
        "simulator counted them. The full syncs read the same unchanged world one after another, "
        "so their ratios come from one run. Every sync writes into a fresh data directory; the "
        "Dagster runs use a fresh instance with the default SQLite storage.",
        "",
    ]
    if core is not None:
        lines += _core(core)
    if life is not None:
        lines += longlife_section(life)
    if limits is not None:
        lines += ratelimit_section(limits)
    if placements is not None:
        lines += placement_section(placements)
    return "\n".join(lines)
