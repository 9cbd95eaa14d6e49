"""The report's "Long life" section: its targets, then the tables they were judged on."""

from __future__ import annotations

from typing import Final

from bench.lake_files import LakeFiles
from bench.life import FullSync, Life
from bench.longlife import LongLife, cost_per_event, median_wall
from bench.maintenance import READER_QUERY
from bench.markdown import ratio, table, verdict
from bench.settings import BenchSettings

#: The targets of the long life (DESIGN invariant 7), as the issue set them.
RUN_SECONDS: Final = 2.5
HISTORY_RATIO: Final = 1.2
CLOSED_DAY_FILES: Final = 4
OPEN_DAY_FILES: Final = 50
LATE_RATIO: Final = 1.1
YEAR_VS_MONTH: Final = 1.25
FIRST_REQUESTS_PER_CHANGED_LEAD: Final = 1.05


def world_text(s: BenchSettings) -> str:
    return (
        f"an organisation of {s.longlife_leads:,} leads and about "
        f"{s.longlife_leads * s.longlife_events_per_lead:,} events over {s.longlife_days} days "
        f"(`--world organisation`: a mean of {s.longlife_events_per_lead} events per lead, 5% of "
        "leads with none, most with 1-3, a few with thousands; calls and tool calls ending and "
        "leads soft-deleted along the way); then runs of "
        f"{s.longlife_changes} changes each, spread over {s.longlife_interval_seconds:g} s of the "
        "world's clock (a sensor's interval)"
    )


def _files(lake: LakeFiles) -> str:
    return "; ".join(
        f"{kind}: at most {lake.most_in_a_closed_day(kind)} in a closed day, "
        f"{lake.in_the_open_day(kind)} in the open day"
        for kind in lake.kinds
    )


def _files_bounded(lake: LakeFiles) -> bool:
    return all(
        lake.most_in_a_closed_day(kind) <= CLOSED_DAY_FILES
        and lake.in_the_open_day(kind) <= OPEN_DAY_FILES
        for kind in lake.kinds
    )


def _targets(life: LongLife) -> list[str]:
    s = life.settings
    runs = life.year.runs
    year_events = life.year.full_sync.measurement.events
    small_events = life.small.full_sync.measurement.events
    first = life.year.first
    year_sync = life.year.full_sync.measurement
    rows: list[tuple[str, str, str]] = [
        (
            f"incremental sensor run ({s.longlife_changes} changes) at {year_events:,} events of "
            f"history <= {RUN_SECONDS:g} s",
            f"median {median_wall(runs):.2f} s, max {max(r.wall_s for r in runs):.2f} s over "
            f"{len(runs)} runs",
            verdict(median_wall(runs) <= RUN_SECONDS),
        ),
        (
            f"... <= {HISTORY_RATIO:g}x the same runs at {small_events:,} events",
            f"{median_wall(life.first_runs):.2f} / {median_wall(life.small_runs):.2f} s = "
            f"{ratio(life.history_ratio)} (medians of the first {life.window} runs)",
            verdict(life.history_ratio <= HISTORY_RATIO),
        ),
        (
            f"lake files per day after {len(runs)} runs: <= {CLOSED_DAY_FILES} per kind for a "
            f"closed day, <= {OPEN_DAY_FILES} for the open day",
            _files(life.final_lake),
            verdict(_files_bounded(life.final_lake)),
        ),
        (
            f"run {len(runs)} <= {LATE_RATIO:g}x run 1 (medians of {life.window} runs)",
            f"{median_wall(life.last_runs):.2f} / {median_wall(life.first_runs):.2f} s = "
            f"{ratio(life.late_vs_early)}",
            verdict(life.late_vs_early <= LATE_RATIO),
        ),
        (
            f"full sync of {s.longlife_days} days <= {YEAR_VS_MONTH:g}x the cost per event of "
            f"{s.longlife_month_days} days of partitions",
            f"{_us(life.year.full_sync)} / {_us(life.month.full_sync)} µs per event = "
            f"{ratio(life.year_vs_month)}",
            verdict(life.year_vs_month <= YEAR_VS_MONTH),
        ),
        (
            "... and ahead of dlt on that world",
            f"{year_sync.wall_s:.2f} s against dlt {life.dlt.wall_s:.2f} s"
            if life.dlt is not None
            else f"dlt skipped: {life.dlt_skipped}",
            verdict(None if life.dlt is None else year_sync.wall_s < life.dlt.wall_s),
        ),
    ]
    if first is not None:
        allowed = FIRST_REQUESTS_PER_CHANGED_LEAD * first.changed_leads
        rows.append(
            (
                "first incremental after the backfill: events requests <= "
                f"{FIRST_REQUESTS_PER_CHANGED_LEAD:g} x changed leads",
                f"{first.events_requests} requests for {first.changed_leads} changed leads "
                f"({first.extra_pages} extra pages; {first.unchanged_leads_fetched} unchanged "
                "leads fetched)",
                verdict(first.events_requests <= allowed),
            )
        )
    return table(("target", "measured", "verdict"), rows)


def _us(full: FullSync) -> str:
    return f"{1e6 * cost_per_event(full.measurement):.1f}"


def _written(full: FullSync | None) -> tuple[object, ...]:
    """What a Dagster full sync left: partitions, lake files, instance events (blank otherwise)."""
    if full is None:
        return ("",) * 5
    cost = full.event_log
    return (
        full.partitions,
        f"{full.lake_files:,}",
        f"{cost.planned:,}",
        f"{cost.materializations:,}",
        f"{cost.events:,} in {cost.seconds:.2f} s",
    )


def _full_syncs(life: LongLife) -> list[str]:
    runs = [
        (life.floor, None),
        (life.year.full_sync.measurement, life.year.full_sync),
        (life.month.full_sync.measurement, life.month.full_sync),
    ]
    if life.dlt is not None:
        runs.append((life.dlt, None))
    rows = [
        (
            m.name,
            f"{m.wall_s:.2f}",
            f"{m.cpu_s:.2f}",
            f"{m.requests:,}",
            f"{m.events:,}",
            f"{m.events_per_s:,.0f}",
            f"{1e6 * cost_per_event(m):.1f}",
            *_written(full),
        )
        for m, full in runs
    ]
    header = (
        "run",
        "wall s",
        "CPU s",
        "requests",
        "events",
        "events/s",
        "µs per event",
        "partitions",
        "lake files written",
        "planned events",
        "materialization events",
        "instance events written",
    )
    return table(header, rows)


def _checkpoints(year: Life) -> list[str]:
    rows = []
    for number, lake in sorted(year.lake.items()):
        rows.append(
            (
                number,
                f"{year.runs[number - 1].wall_s:.2f}",
                f"{lake.total:,}",
                *(
                    f"{lake.most_in_a_closed_day(kind)} / {lake.in_the_open_day(kind)}"
                    for kind in lake.kinds
                ),
            )
        )
    kinds = year.lake[max(year.lake)].kinds
    header = (
        "after run",
        "that run's wall s",
        "lake files",
        *(f"{kind}: most in a closed day / open day" for kind in kinds),
    )
    return table(header, rows)


def _runs(life: LongLife) -> list[str]:
    year = life.year
    requests = sorted(run.requests for run in year.runs)
    read = sorted(run.events for run in year.runs)
    return [
        f"{len(year.runs)} runs, each after `POST /_sim/advance?changes={year.spec.changes}"
        f"&seconds={year.spec.interval_seconds:g}`, "
        "requested by the sensor's tick and executed in process as requested (run config and "
        "tags), into the instance and data of the full sync above. Run wall time median "
        f"{median_wall(year.runs):.2f} s, max {max(r.wall_s for r in year.runs):.2f} s; the "
        f"tick before each: median {median_wall(year.ticks):.2f} s; per run a median of "
        f"{requests[len(requests) // 2]} requests and {read[len(read) // 2]} events read.",
        "",
        *_checkpoints(year),
    ]


def _history(life: LongLife) -> list[str]:
    rows = [
        (
            f"{lived.full_sync.measurement.events:,} events",
            f"{lived.full_sync.measurement.wall_s:.2f}",
            f"{median_wall(first_runs):.2f}",
            f"{max(r.wall_s for r in first_runs):.2f}",
        )
        for lived, first_runs in ((life.small, life.small_runs), (life.year, life.first_runs))
    ]
    header = ("history", "full sync s", f"median of the first {life.window} runs s", "max s")
    return table(header, rows)


def _upkeep(life: LongLife) -> list[str]:
    rows = [
        (
            step.name,
            f"{step.measurement.wall_s:.2f}",
            f"{step.measurement.cpu_s:.2f}",
            f"{step.files_before:,}",
            f"{step.files_after:,}",
        )
        for step in life.year.upkeep
    ]
    header = ("step", "wall s", "CPU s", "lake files before", "after")
    return table(header, rows)


def longlife_section(life: LongLife) -> list[str]:
    s = life.settings
    return [
        "## Long life",
        "",
        f"DESIGN invariant 7 on {world_text(s)}. Each deployment lives in a process of its own "
        "with the partitions it needs (bench/deployment.py); the full syncs read the unchanged "
        f"world, then the runs change it, starting from the {s.longlife_days} days' full sync.",
        "",
        "### Targets",
        "",
        *_targets(life),
        "",
        f"### Full sync: {s.longlife_days} days against {s.longlife_month_days} days of partitions",
        "",
        "The same world; with fewer partitions the first one covers all older history. Planned "
        "and materialization events are those the run wrote to the instance's event log.",
        "",
        *_full_syncs(life),
        "",
        "### Sensor runs",
        "",
        *_runs(life),
        "",
        "### History size",
        "",
        f"The same runs ({s.longlife_changes} changes each) on a world of "
        f"{s.longlife_small_leads:,} leads over the same days, from its own full sync.",
        "",
        *_history(life),
        "",
        "### Audit, compaction and a reader's query",
        "",
        f"After run {len(life.year.runs)}, on the data of those runs. The query: `{READER_QUERY}`.",
        "",
        *_upkeep(life),
        "",
    ]
