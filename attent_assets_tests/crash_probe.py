"""Run one sync in a fresh process, optionally SIGKILLing itself at a chosen call (`python -m ...`).

A real kill, not an exception: nothing unwinds, no `finally` runs, no file is closed, exactly as
when the machine or an operator kills a run. `--kill module:attribute:n:when` wraps that callable
(a function, or a method as `Class.method`) so that its n-th call, counted over all threads, kills
the process `before` it runs or `after` it returns. The hook lives only in this test module; the
code under test is unchanged.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from attent_assets.api import AttentClient
from attent_assets.storage import CompactionPolicy, Store
from attent_assets.sync import LAYOUT, Mode, SyncEngine, SyncSettings, Window
from attent_assets_tests.harness import fast_client_settings


@dataclass(frozen=True, slots=True)
class KillAt:
    """Where a probe kills itself: the n-th call of `module:attribute`, before or after it."""

    module: str
    attribute: str
    call: int
    when: Literal["before", "after"] = "before"

    def __str__(self) -> str:
        return f"{self.module}:{self.attribute}:{self.call}:{self.when}"

    @classmethod
    def parse(cls, text: str) -> KillAt:
        module, attribute, call, when = text.split(":")
        if when not in ("before", "after"):
            raise ValueError(f"when must be 'before' or 'after', not {when!r}")
        return cls(module, attribute, int(call), when)  # type: ignore[arg-type]

    def install(self) -> None:
        """Wrap the target in place so its `call`-th call kills this process."""
        owner: Any = importlib.import_module(self.module)
        *path, name = self.attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        original: Callable[..., Any] = getattr(owner, name)
        lock = threading.Lock()
        calls = 0

        def die() -> None:
            os.kill(os.getpid(), signal.SIGKILL)

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            with lock:
                calls += 1
                now = calls
            if now == self.call and self.when == "before":
                die()
            result = original(*args, **kwargs)
            if now == self.call and self.when == "after":
                die()
            return result

        setattr(owner, name, wrapper)


def command(
    url: str,
    data_dir: Path,
    mode: Mode,
    *,
    kill: KillAt | None = None,
    window_start: datetime | None = None,
    run_id: str = "probe",
    lake_url: str | None = None,
) -> list[str]:
    """The command line that runs this module as a child process with these options."""
    args = [sys.executable, "-m", __name__, url, str(data_dir), "--mode", mode.value]
    args += ["--run-id", run_id]
    if lake_url is not None:
        args += ["--lake-url", lake_url]
    if kill is not None:
        args += ["--kill", str(kill)]
    if window_start is not None:
        args += ["--window-start", window_start.isoformat()]
    return args


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--mode", type=Mode, default=Mode.INCREMENTAL)
    parser.add_argument("--window-start", type=datetime.fromisoformat, default=None)
    parser.add_argument("--kill", type=KillAt.parse, default=None)
    parser.add_argument("--run-id", default="probe")
    parser.add_argument("--lake-url", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    if args.kill is not None:
        args.kill.install()
    window = Window(start=args.window_start) if args.mode is Mode.REPLAY else None
    # Small commits and an eager compaction: many commits and many day swaps to kill.
    settings = SyncSettings(
        batch_rows=40,
        batch_leads=5,
        commit_bytes=0,
        compaction=CompactionPolicy(closed_day_files=2),
    )
    with (
        AttentClient(fast_client_settings(args.url)) as client,
        Store.open(args.data_dir, LAYOUT, args.run_id, lake_url=args.lake_url) as store,
    ):
        SyncEngine(client, store, settings).sync(args.mode, window)


if __name__ == "__main__":
    main()
