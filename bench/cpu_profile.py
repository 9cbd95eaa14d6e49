"""Where a sync's CPU goes, by layer: HTTP, JSON, models, rows/Arrow, Parquet, DuckDB, Dagster.

A deterministic profiler (cProfile) costs more than the code it measures here (millions of small
calls), so the layers are measured by wrapping a few functions at their boundaries and charging
each the CPU time of its own thread (`time.thread_time`) spent inside it, minus the time of any
wrapped function it calls. What no wrapper claims is charged by thread: the fetch threads' rest is
client plumbing (retries, rate limiter, fan-out queues), the writer thread's and the main thread's
rest is the engine's own work, or Dagster's when the run goes through Dagster. CPU used by threads
that Python does not run (DuckDB's and Arrow's worker pools) is the process CPU less every Python
thread's.
"""

from __future__ import annotations

import cProfile
import functools
import io
import pstats
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from attent_assets.api import AttentClient, Event, Lead
from attent_assets.api import client as client_module
from attent_assets.api.pages import read_page
from attent_assets.defs import assets as assets_module
from attent_assets.defs import metadata as metadata_module
from attent_assets.defs.checks import evaluate_checks
from attent_assets.storage import Store
from attent_assets.storage.lake import Lake
from attent_assets.sync import SyncEngine
from attent_assets.sync import engine as engine_module
from attent_assets.sync.rows import event_rows, lead_rows
from bench.patching import patched

HTTP = "HTTP (httpx: request, sockets, response)"
JSON = "JSON parsing (orjson)"
MODELS = "models (API records)"
ROWS = "rows / Arrow (lake rows)"
PARQUET = "Parquet writes"
DUCKDB = "DuckDB (dedup, merges, state)"
CHECKS = "asset checks and table metadata"
ENGINE = "sync engine (batching, cursors)"
CLIENT = "client plumbing (retries, limiter, fan-out)"
DAGSTER = "Dagster framework"
NATIVE = "native worker threads (DuckDB, Arrow)"
#: The layers the issue asks about, in the order the report lists them.
LAYERS = (HTTP, JSON, MODELS, ROWS, PARQUET, DUCKDB, CHECKS, ENGINE, CLIENT, DAGSTER, NATIVE)
#: Per-record Python of our own, as opposed to transport (HTTP + JSON).
PER_RECORD = (MODELS, ROWS)


class CpuMeter:
    """Self CPU time per layer, summed over threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self.by_layer: defaultdict[str, float] = defaultdict(float)
        self.threads_cpu = 0.0

    def wrap(self, layer: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def measured(*args: Any, **kwargs: Any) -> Any:
            stack = self._stack()
            stack.append(0.0)
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.thread_time() - started
                nested = stack.pop()
                self._charge(layer, elapsed - nested)
                if stack:
                    stack[-1] += elapsed

        return measured

    def wrap_generator(
        self, layer: str, function: Callable[..., Iterator[Any]]
    ) -> Callable[..., Iterator[Any]]:
        """Like `wrap`, for a generator function: charges the time spent producing each item."""
        step = self.wrap(layer, next)

        @functools.wraps(function)
        def measured(*args: Any, **kwargs: Any) -> Iterator[Any]:
            items = function(*args, **kwargs)
            while True:
                try:
                    item = step(items)
                except StopIteration:
                    return
                yield item

        return measured

    def thread_done(self, cpu: float, claimed_by_default: str) -> None:
        """A thread's total CPU: what the wrappers did not claim goes to `claimed_by_default`."""
        claimed = sum(self._claimed().values())
        with self._lock:
            self.threads_cpu += cpu
            self.by_layer[claimed_by_default] += max(0.0, cpu - claimed)

    def _stack(self) -> list[float]:
        stack: list[float] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def _claimed(self) -> defaultdict[str, float]:
        claimed: defaultdict[str, float] | None = getattr(self._local, "claimed", None)
        if claimed is None:
            claimed = self._local.claimed = defaultdict(float)
        return claimed

    def _charge(self, layer: str, seconds: float) -> None:
        self._claimed()[layer] += seconds
        with self._lock:
            self.by_layer[layer] += seconds


def _thread_default(name: str, main_default: str) -> str:
    if name.startswith("attent-events"):
        return CLIENT
    if name.startswith("attent-writer"):
        return ENGINE
    return main_default


def _from_json(meter: CpuMeter, cls: type[Event] | type[Lead]) -> classmethod[Any, ..., Any]:
    bound: Any = cls.from_json
    return classmethod(meter.wrap(MODELS, bound.__func__))


@contextmanager
def metered(*, through_dagster: bool) -> Iterator[CpuMeter]:
    """Instrument the layers for the duration of the block; the meter holds the totals after it.

    The main thread's unclaimed CPU is Dagster's when the block runs a Dagster job, else the
    engine's.
    """
    meter = CpuMeter()
    main_default = DAGSTER if through_dagster else ENGINE
    original_run = threading.Thread.run

    def run(thread: threading.Thread) -> None:
        started = time.thread_time()
        try:
            original_run(thread)
        finally:
            meter.thread_done(time.thread_time() - started, _thread_default(thread.name, ENGINE))

    wrap = meter.wrap
    with ExitStack() as stack:
        for target, name, value in (
            (threading.Thread, "run", run),
            (AttentClient, "_get_page", wrap(HTTP, AttentClient._get_page)),
            (client_module, "read_page", wrap(JSON, read_page)),
            (Event, "from_json", _from_json(meter, Event)),
            (Lead, "from_json", _from_json(meter, Lead)),
            (engine_module, "event_rows", wrap(ROWS, event_rows)),
            (engine_module, "lead_rows", wrap(ROWS, lead_rows)),
            (Lake, "stage", wrap(PARQUET, Lake.stage)),
            (Store, "write_events", wrap(DUCKDB, Store.write_events)),
            (Store, "write_leads", wrap(DUCKDB, Store.write_leads)),
            (Store, "merge_typed", wrap(DUCKDB, Store.merge_typed)),
            (Store, "restore_leads", wrap(DUCKDB, Store.restore_leads)),
            (Store, "leads_active_since", wrap(DUCKDB, Store.leads_active_since)),
            (Store, "leads_needing_events", wrap(DUCKDB, Store.leads_needing_events)),
            (SyncEngine, "sync_leads", wrap(ENGINE, SyncEngine.sync_leads)),
            (SyncEngine, "sync_events", wrap(ENGINE, SyncEngine.sync_events)),
            (SyncEngine, "merge_typed", wrap(ENGINE, SyncEngine.merge_typed)),
            (
                assets_module,
                "evaluate_checks",
                meter.wrap_generator(CHECKS, evaluate_checks),
            ),
            (metadata_module, "table_metadata", wrap(CHECKS, metadata_module.table_metadata)),
        ):
            stack.enter_context(patched(target, name, value))
        main_started = time.thread_time()
        try:
            yield meter
        finally:
            meter.thread_done(time.thread_time() - main_started, main_default)


@dataclass(frozen=True, slots=True)
class LayerProfile:
    """CPU seconds per layer over one measured run, and the run's wall and process CPU time."""

    wall_s: float
    cpu_s: float
    by_layer: dict[str, float]

    def share(self, layer: str) -> float:
        return self.by_layer.get(layer, 0.0) / self.cpu_s if self.cpu_s else 0.0


def profile_layers(run: Callable[[], object], *, through_dagster: bool) -> LayerProfile:
    """Run `run()` under the layer meter."""
    wall, cpu = time.perf_counter(), time.process_time()
    with metered(through_dagster=through_dagster) as meter:
        run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    layers = dict(meter.by_layer)
    layers[NATIVE] = max(0.0, cpu - meter.threads_cpu)
    return LayerProfile(wall_s=wall, cpu_s=cpu, by_layer=layers)


def top_functions(run: Callable[[], object], limit: int = 15) -> str:
    """cProfile of every thread (each on its own CPU clock): the functions with the most self
    time, as pstats prints them. Slower than the run itself; use a small world."""
    profiles: list[cProfile.Profile] = []
    original_run = threading.Thread.run

    def profiled(thread: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)
        profiles.append(profile)
        profile.runcall(original_run, thread)

    main = cProfile.Profile(time.thread_time)
    with patched(threading.Thread, "run", profiled):
        main.runcall(run)
    out = io.StringIO()
    stats = pstats.Stats(main, stream=out)
    for profile in profiles:
        stats.add(profile)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    return out.getvalue()
