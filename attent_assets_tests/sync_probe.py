"""Run one full sync in a fresh process and print its peak RSS in KiB (`python -m ...`).

A separate process, so the measurement holds only the sync: not the simulator, not pytest.
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

from attent_assets.api import AttentClient
from attent_assets.storage import Store
from attent_assets.sync import LAYOUT, Mode, SyncEngine, SyncSettings, Window
from attent_assets_tests.harness import fast_client_settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--batch-rows", type=int, default=2_000)
    args = parser.parse_args()
    settings = fast_client_settings(args.url, page_size=200, concurrency=8)
    with AttentClient(settings) as client, Store.open(args.data_dir, LAYOUT, "probe") as store:
        report = SyncEngine(client, store, SyncSettings(batch_rows=args.batch_rows)).sync(
            Mode.REPLAY, Window(start=None)
        )
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stdout.write(f"{report.events.rows_written} {peak_kib}\n")


if __name__ == "__main__":
    main()
