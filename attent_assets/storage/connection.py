"""Opening the DuckDB file: waits while another process holds its lock, then gives up clearly.

DuckDB allows one read-write process per file (or several read-only ones while nobody writes); a
second opener gets an IO error immediately. Runs in the same Dagster pool are serialized, but a
user's notebook or a checks process may still hold the file for a moment, so opening retries with
backoff and logs every wait with DuckDB's reason (it names the holding process).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

log = logging.getLogger(__name__)

_LOCK_MESSAGE = "Could not set lock on file"
#: DuckDB's worker threads: every core but one. Its default, every core, competes on a small
#: machine with the sync's own threads, which fetch while DuckDB writes and need a core between
#: them (on 2 cores a full sync runs ~2% faster this way; docs/benchmarks.md).
WORKER_THREADS = max(1, (os.cpu_count() or 1) - 1)


class WarehouseLockedError(TimeoutError):
    """Another process kept the DuckDB file locked for longer than the caller would wait."""


def connect(
    path: Path | str,
    *,
    read_only: bool,
    lock_timeout: float,
    config: Mapping[str, Any] | None = None,
    initial_wait: float = 0.1,
    max_wait: float = 2.0,
) -> duckdb.DuckDBPyConnection:
    """A connection in UTC (timestamps print, cast and truncate to days in UTC everywhere), with
    `WORKER_THREADS` DuckDB threads. `path` is a file, or a DuckDB database string (`md:...`);
    `config` is DuckDB's connection configuration."""
    if read_only and isinstance(path, Path) and not path.exists():
        raise FileNotFoundError(f"warehouse {path} does not exist yet: run a sync first")
    deadline = time.monotonic() + lock_timeout
    wait = initial_wait
    while True:
        try:
            con = duckdb.connect(path, read_only=read_only, config=dict(config or {}))
        except duckdb.IOException as error:
            reason = str(error)
            if _LOCK_MESSAGE not in reason:
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise WarehouseLockedError(
                    f"could not open {path} within {lock_timeout:g}s: another process holds its "
                    f"DuckDB lock ({reason})"
                ) from None
            pause = min(wait, left)
            log.warning(
                "%s is locked; retrying in %.2fs (%.1fs left): %s", path, pause, left, reason
            )
            time.sleep(pause)
            wait = min(wait * 2, max_wait)
            continue
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET threads = {WORKER_THREADS}")
        except BaseException:
            con.close()
            raise
        return con
