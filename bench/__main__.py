"""The performance benchmark: one invocation measures everything docs/benchmarks.md reports.

    .venv/bin/python -m bench --output docs/benchmarks.md    (what `make bench` runs)
    .venv/bin/python -m bench --sections longlife --longlife-leads 1000
        --longlife-small-leads 100 --longlife-runs 30 --longlife-window 10
                                            (one command: the long life alone, at a small size)

Against the simulator in its own process (20 ms + up to 10 ms per request). Section `core`, on a
fresh month: the fetch floor, the client crawl, the engine's and the Dagster job's full syncs and
a dlt pipeline over one world; the incremental run the sensor requests after world changes and a
tick without change; peak RSS at 1x and 4x the events; and where the CPU goes at latency 0. About
five minutes on 2 cores. Section `longlife` (bench/longlife.py): a year of an organisation's
history synced with a year and with a month of partitions, then hundreds of consecutive sensor
runs, the same runs over a tenth of the history, the full audit and a compaction. Most of its
time is the runs, a few seconds each: the better part of an hour at the defaults (500 runs), four
minutes at the small size above. Section `ratelimit` (bench/ratelimit.py, about a minute at
100 requests per second): the client crawling against a token-bucket limit, with and without
rate-limit headers, as a fraction of the limit and a share of 429s
(`python -m bench --sections ratelimit --ratelimit-rps 100`). Section `placement`
(bench/placement.py, a few minutes): the full sync and sensor runs with the lake on local disk
or on an S3-compatible server, the instance on SQLite or on PostgreSQL.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from pathlib import Path

from bench.settings import BenchSettings

SECTIONS = ("core", "longlife", "ratelimit", "placement")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = BenchSettings()
    for field in dataclasses.fields(BenchSettings):
        default = getattr(defaults, field.name)
        parser.add_argument(
            f"--{field.name.replace('_', '-')}",
            type=type(default),
            default=default,
            help=f"default {default}",
        )
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        default=list(SECTIONS),
        help="run only these (default: all)",
    )
    parser.add_argument("--output", type=Path, help="write the report here (else stdout)")
    return parser


def main() -> None:
    args = vars(_parser().parse_args())
    output = args.pop("output")
    sections = args.pop("sections")
    settings = BenchSettings(**args)
    # The partitions are read from the environment when the definitions load: start them on the
    # world's first day, as a user sets ATTENT_START_DATE to the first day of their history.
    # (The long life's deployments set their own, each in its own process.)
    os.environ["ATTENT_START_DATE"] = settings.first_day.isoformat()
    from bench.longlife import run_longlife
    from bench.placement import run_placement
    from bench.ratelimit import run_ratelimit
    from bench.report import render
    from bench.suite import run_suite

    core = run_suite(settings) if "core" in sections else None
    life = run_longlife(settings) if "longlife" in sections else None
    limits = run_ratelimit(settings) if "ratelimit" in sections else None
    placements = run_placement(settings) if "placement" in sections else None
    command = " ".join(["python -m bench", *map(shlex.quote, sys.argv[1:])])
    text = render(core, life, command, limits, placements)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        print(f"wrote {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
