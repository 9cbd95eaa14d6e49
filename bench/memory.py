"""Peak RSS of a full sync, each in a fresh process so the figure holds the sync alone.

python -m bench.memory URL [--api-key K] [--batch-rows N] [--commit-bytes N]

prints `<events written> <peak RSS KiB>`.

Also what `attent_assets_tests/test_memory.py` runs, at small sizes with small batches.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from attent_assets.sync import Mode, SyncSettings
from bench.engine_sync import client_settings, engine_sync
from bench.simulator_process import API_KEY


@dataclass(frozen=True, slots=True)
class PeakRss:
    events: int
    peak_mib: float


def peak_rss(
    url: str,
    *,
    concurrency: int,
    page_size: int,
    api_key: str = API_KEY,
    batch_rows: int = SyncSettings().batch_rows,
    commit_bytes: int = SyncSettings().commit_bytes,
) -> PeakRss:
    """Run `python -m bench.memory` against `url` and read what it printed."""
    command = [sys.executable, "-m", "bench.memory", url]
    command += [f"--concurrency={concurrency}", f"--page-size={page_size}"]
    command += [f"--api-key={api_key}", f"--batch-rows={batch_rows}"]
    command += [f"--commit-bytes={commit_bytes}"]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout.split()
    return PeakRss(events=int(out[0]), peak_mib=int(out[1]) / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--api-key", default=API_KEY)
    parser.add_argument("--batch-rows", type=int, default=SyncSettings().batch_rows)
    parser.add_argument("--commit-bytes", type=int, default=SyncSettings().commit_bytes)
    args = parser.parse_args()
    settings = replace(
        client_settings(args.url, concurrency=args.concurrency, page_size=args.page_size),
        api_key=args.api_key,
    )
    with tempfile.TemporaryDirectory() as data_dir:
        report, _ = engine_sync(
            settings,
            Path(data_dir),
            Mode.REPLAY,
            SyncSettings(batch_rows=args.batch_rows, commit_bytes=args.commit_bytes),
        )
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stdout.write(f"{report.events.rows_written} {peak_kib}\n")


if __name__ == "__main__":
    main()
