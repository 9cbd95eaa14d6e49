"""The simulator in its own process, so a benchmark measures the client's CPU, not the server's."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

API_KEY = "bench-key"


@contextmanager
def simulator(
    *, leads: int, events_per_lead: int, latency_ms: float = 0.0, seed: int = 11
) -> Iterator[str]:
    """Start `python -m attent_assets.simulator` on a free port (no live changes); yield its URL."""
    command = [
        sys.executable,
        "-m",
        "attent_assets.simulator",
        "--port=0",
        f"--seed={seed}",
        f"--leads={leads}",
        f"--events-per-lead={events_per_lead}",
        f"--latency-ms={latency_ms}",
        f"--api-key={API_KEY}",
        "--live-changes-per-second=0",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1"):
            raise RuntimeError(f"the simulator did not start: {url!r}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
