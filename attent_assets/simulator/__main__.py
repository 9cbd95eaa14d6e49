"""Serve a live simulated Attent organisation until SIGINT or SIGTERM.

``python -m attent_assets.simulator --port 8765 --seed 7 --leads 200 --events-per-lead 20
--api-key demo-key --latency-ms 0 --latency-jitter-ms 0 --live-changes-per-second 2
--start-days-ago 30 --world uniform --rate-limit 0 --rate-limit-burst 1 --rate-limit-headers none``

Prints one line, the API base URL, then serves; the world keeps changing at the given rate with
timestamps that follow real time. ``--world organisation`` serves a real organisation's history
instead: ``--events-per-lead`` is then a mean (most leads have 0-3 events, a few thousands) and the
history fills all of ``--start-days-ago`` days, with calls and tool calls ending and soft deletes
along the way. ``--rate-limit R`` enforces a global token bucket of R requests per second (burst
``--rate-limit-burst``), answering 429 with Retry-After over it; ``--rate-limit-headers`` also
describes it in rate-limit headers (``ietf``, ``ietf-structured`` or ``x``). ``--simulated-clock``
keeps the world's own clock after its history (up to today's midnight) instead of stamping changes
with the current time: `POST /_sim/advance?changes=N&seconds=S` then spreads N changes over S
seconds of it, as a benchmark needs for runs a sensor interval apart.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import get_args

from attent_assets.simulator.faults import Faults
from attent_assets.simulator.ratelimit import HEADER_STYLES
from attent_assets.simulator.server import SimulatorServer
from attent_assets.simulator.world import Profile, World


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    world = World(
        seed=args.seed,
        leads=args.leads,
        events_per_lead=args.events_per_lead,
        start=midnight - timedelta(days=args.start_days_ago),
        live=not args.simulated_clock,
        profile=args.world,
    )
    server = SimulatorServer(
        world,
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        faults=Faults(
            latency_ms=args.latency_ms,
            latency_jitter_ms=args.latency_jitter_ms,
            rate_limit=args.rate_limit,
            rate_limit_burst=args.rate_limit_burst,
            rate_limit_headers=None
            if args.rate_limit_headers == "none"
            else args.rate_limit_headers,
        ),
        changes_per_second=args.live_changes_per_second,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with server:
        print(server.url, flush=True)
        while not stop.wait(0.5):
            pass
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m attent_assets.simulator", description="Serve a local Attent API."
    )
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--leads", type=int, default=200)
    parser.add_argument("--events-per-lead", type=int, default=20)
    parser.add_argument("--api-key", default="demo-key")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument(
        "--latency-jitter-ms",
        type=float,
        default=0.0,
        help="each answer is delayed by latency plus a uniform random 0..jitter ms",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=0.0,
        help="requests per second over which the API answers 429 (token bucket; 0: no limit)",
    )
    parser.add_argument("--rate-limit-burst", type=float, default=1.0, help="the bucket's size")
    parser.add_argument(
        "--rate-limit-headers",
        choices=("none", *HEADER_STYLES),
        default="none",
        help="describe the limit in these rate-limit headers on every answer",
    )
    parser.add_argument("--live-changes-per-second", type=float, default=2.0)
    parser.add_argument(
        "--simulated-clock",
        action="store_true",
        help="stamp changes with the world's own clock, not the current time",
    )
    parser.add_argument("--start-days-ago", type=int, default=30)
    parser.add_argument(
        "--world",
        choices=get_args(Profile),
        default="uniform",
        help="uniform: every lead with --events-per-lead events over 20 days; organisation: "
        "events per lead skewed around that mean, over all of --start-days-ago days",
    )
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
