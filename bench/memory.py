"""Peak RSS of a full sync, each in a fresh process so the figure holds the sync alone.

python -m bench.memory URL   (prints `<events written> <peak RSS KiB>`)
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from attent_assets.sync import Mode
from bench.engine_sync import client_settings, engine_sync


@dataclass(frozen=True, slots=True)
class PeakRss:
    events: int
    peak_mib: float


def peak_rss(url: str, *, concurrency: int, page_size: int) -> PeakRss:
    """Run `python -m bench.memory` against `url` and read what it printed."""
    command = [sys.executable, "-m", "bench.memory", url]
    command += [f"--concurrency={concurrency}", f"--page-size={page_size}"]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout.split()
    return PeakRss(events=int(out[0]), peak_mib=int(out[1]) / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    settings = client_settings(args.url, concurrency=args.concurrency, page_size=args.page_size)
    with tempfile.TemporaryDirectory() as data_dir:
        report, _ = engine_sync(settings, Path(data_dir), Mode.REPLAY)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stdout.write(f"{report.events.rows_written} {peak_kib}\n")


if __name__ == "__main__":
    main()
