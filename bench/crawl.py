"""Crawl throughput of the Attent client: every lead, then every lead's events, stored nowhere.

    .venv/bin/python -m bench.crawl --leads 2000 --events-per-lead 20 --latency-ms 20

Prints leads/s, events/s, requests and client CPU per request.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from attent_assets.api import AttentClient, ClientSettings
from bench.simulator_process import API_KEY, simulator

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def crawl(url: str, concurrency: int, page_size: int) -> dict[str, float]:
    settings = ClientSettings(
        base_url=url, api_key=API_KEY, concurrency=concurrency, page_size=page_size
    )
    wall, cpu = time.perf_counter(), time.process_time()
    with AttentClient(settings) as client:
        ids = [
            lead.id
            for page in client.iter_leads(updated_since=EPOCH)
            for lead in page.leads
            if lead.id is not None
        ]
        lead_wall = time.perf_counter() - wall
        events = sum(len(p.events) for p in client.iter_events_many((i, EPOCH) for i in ids))
        requests = client.stats.snapshot()["requests"]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "leads": len(ids),
        "events": events,
        "requests": requests,
        "seconds": wall,
        "leads_per_s": len(ids) / lead_wall,
        "events_per_s": events / (wall - lead_wall),
        "cpu_ms_per_request": 1000 * cpu / requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--events-per-lead", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    with simulator(
        leads=args.leads, events_per_lead=args.events_per_lead, latency_ms=args.latency_ms
    ) as url:
        result = crawl(url, args.concurrency, args.page_size)
    print(
        "  ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items())
    )


if __name__ == "__main__":
    main()
