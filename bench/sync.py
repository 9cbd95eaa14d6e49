"""Full and incremental sync through the engine, against the simulator in its own process.

    .venv/bin/python -m bench.sync --leads 2000 --events-per-lead 20 --latency-ms 20 --changes 500

Prints, for the full sync and for an incremental sync after `--changes` world changes: wall and CPU
seconds, events/s, requests, events requests per changed lead, and this process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from attent_assets.api import AttentClient, ClientSettings
from attent_assets.storage import Store
from attent_assets.sync import LAYOUT, Mode, SyncEngine, SyncReport, Window
from bench.simulator_process import API_KEY, simulator


def run_sync(
    url: str, data_dir: Path, mode: Mode, concurrency: int
) -> tuple[SyncReport, dict[str, float]]:
    settings = ClientSettings(base_url=url, api_key=API_KEY, concurrency=concurrency)
    wall, cpu = time.perf_counter(), time.process_time()
    with AttentClient(settings) as client, Store.open(data_dir, LAYOUT, uuid.uuid4().hex) as store:
        window = Window(start=None) if mode is Mode.REPLAY else None
        report = SyncEngine(client, store).sync(mode, window)
    return report, {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def describe(name: str, report: SyncReport, times: dict[str, float]) -> str:
    events_requests = report.events.client.get("requests", 0)
    changed = report.events.leads_needing_events
    return (
        f"{name}: wall={times['wall_s']:.2f}s cpu={times['cpu_s']:.2f}s "
        f"events={report.events.records_fetched} "
        f"events/s={report.events.records_fetched / times['wall_s']:.0f} "
        f"leads_requests={report.leads.client.get('requests', 0):.0f} "
        f"events_requests={events_requests:.0f} leads_needing_events={changed} "
        f"events_requests_per_changed_lead={events_requests / max(changed, 1):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--events-per-lead", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--changes", type=int, default=500)
    args = parser.parse_args()
    with (
        simulator(
            leads=args.leads, events_per_lead=args.events_per_lead, latency_ms=args.latency_ms
        ) as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        full, times = run_sync(url, Path(tmp), Mode.REPLAY, args.concurrency)
        print(describe("full sync", full, times))
        advance = url.removesuffix("/v1") + "/_sim/advance"
        httpx.post(advance, params={"changes": args.changes}, headers={"x-api-key": API_KEY})
        incremental, times = run_sync(url, Path(tmp), Mode.INCREMENTAL, args.concurrency)
        print(describe(f"incremental after {args.changes} changes", incremental, times))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
