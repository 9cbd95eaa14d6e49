"""Run blocking work over many items on a few threads, streaming results back in arrival order.

Memory stays bounded whatever the number of items or results: items are pulled from the iterable
only when a worker is free, and results wait in a queue of `buffer` entries, so workers pause
while the consumer is busy. The first error (from the work or from the items iterable) stops the
other workers and is raised to the consumer; closing the consumer's generator early stops and joins
the workers too. Work observes the stop through its `cancel` event, and through `emit`, which
raises `Cancelled` once the fan-out is stopping.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

Emit = Callable[[R], None]


class Cancelled(Exception):
    """Raised inside a worker to unwind it when the fan-out is stopping."""


def cancellable_sleep(cancel: threading.Event) -> Callable[[float], None]:
    """A `time.sleep` replacement that raises `Cancelled` as soon as `cancel` is set."""

    def sleep(seconds: float) -> None:
        if cancel.wait(seconds):
            raise Cancelled

    return sleep


class _Done:
    """Queued by each worker as its last entry."""


class _Failure:
    """Queued by a worker whose work (or whose read of the items) raised."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def fan_out(
    items: Iterable[T],
    work: Callable[[T, Emit[R], threading.Event], None],
    *,
    workers: int,
    buffer: int,
    name: str = "fan-out",
) -> Iterator[R]:
    """Yield everything `work(item, emit, cancel)` emits for each item, using `workers` threads.

    Results of one item keep their order (one thread handles an item from start to end); results
    of different items interleave as they arrive. Threads start on the first `next()`.
    """
    source = iter(items)
    source_lock = threading.Lock()
    results: queue.Queue[R | _Done | _Failure] = queue.Queue(maxsize=buffer)
    cancel = threading.Event()
    failures: list[_Failure] = []

    def emit(result: R) -> None:
        if cancel.is_set():
            raise Cancelled
        results.put(result)

    def run() -> None:
        try:
            while not cancel.is_set():
                with source_lock:
                    try:
                        item = next(source)
                    except StopIteration:
                        break
                work(item, emit, cancel)
        except Cancelled:
            pass
        except Exception as error:
            failure = _Failure(error)
            failures.append(failure)
            cancel.set()
            results.put(failure)
        finally:
            results.put(_Done())

    threads = [
        threading.Thread(target=run, name=f"{name}-{index}", daemon=True)
        for index in range(workers)
    ]
    for thread in threads:
        thread.start()
    try:
        running = workers
        while running:
            entry = results.get()
            if failures:
                raise failures[0].error
            if isinstance(entry, _Done):
                running -= 1
            elif not isinstance(entry, _Failure):
                yield entry
    finally:
        cancel.set()
        # Workers blocked on a full queue need room to finish; drain until all have exited.
        while any(thread.is_alive() for thread in threads):
            with contextlib.suppress(queue.Empty):
                results.get(timeout=0.05)
        for thread in threads:
            thread.join()
