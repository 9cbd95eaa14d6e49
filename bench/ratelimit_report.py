"""The rate-limit section of docs/benchmarks.md (bench/ratelimit.py)."""

from __future__ import annotations

from bench.markdown import table, verdict
from bench.ratelimit import RateLimits

#: The targets after the warm-up: at least this fraction of R accepted, fewer 429s than this.
TARGET_FRACTION = 0.85
TARGET_THROTTLED = 0.05


def ratelimit_section(limits: RateLimits) -> list[str]:
    s = limits.settings
    rate = s.ratelimit_rps
    rows = [
        (
            run.scenario.name,
            f"{run.whole.seconds:.1f}",
            run.whole.requests,
            f"{run.whole.accepted_per_s() / rate:.2f}",
            f"{run.converged.accepted_per_s() / rate:.2f}",
            f"{run.converged.throttled_share():.1%}",
            verdict(
                run.converged.accepted_per_s() >= TARGET_FRACTION * rate
                and run.converged.throttled_share() < TARGET_THROTTLED
            ),
        )
        for run in limits.runs
    ]
    header = (
        "scenario",
        "wall s",
        "requests",
        "accepted / R (whole crawl)",
        f"accepted / R (after {s.ratelimit_warm_up:g} s)",
        f"429s (after {s.ratelimit_warm_up:g} s)",
        f">= {TARGET_FRACTION} R, < {TARGET_THROTTLED:.0%} 429s",
    )
    return [
        "",
        "## Rate limit",
        "",
        f"The client crawls {s.ratelimit_leads:,} leads and their events (one request each) "
        f"against a simulator that enforces a global token bucket of R = {rate:g} requests per "
        "second, answering 429 with the exact Retry-After over it; concurrency "
        f"{s.concurrency}, the same latency as above. Requests and 429s as the client counted "
        "them; the accepted rate cannot exceed R by more than the burst over the span. "
        f"Command: `python -m bench --sections ratelimit --ratelimit-rps {rate:g}`.",
        "",
        *table(header, rows),
    ]
