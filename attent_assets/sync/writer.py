"""A single background thread that stores batches in order while the caller keeps fetching.

Fetching is bound by the API's latency and storing by the CPU and disk; overlapping them makes a
sync take about as long as its fetching alone. At most one batch waits in the queue, so memory stays
bounded (the batch being filled, one waiting, one being written).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()
_POLL_SECONDS = 0.1


class BackgroundWriter(Generic[T]):
    """Calls `write(item)` for each submitted item, in order, on one thread, then `finish()`.

    A failure in either stops the writer and is raised in the caller at its next `submit` or at
    the end of the `with` block. Leaving the block drains what was submitted first and finishes —
    even when the block raised, since every submitted batch is complete and worth keeping — then
    joins the thread.
    """

    def __init__(
        self,
        write: Callable[[T], None],
        finish: Callable[[], None] = lambda: None,
        name: str = "attent-writer",
    ) -> None:
        self._write = write
        self._finish = finish
        self._queue: queue.Queue[object] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> BackgroundWriter[T]:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._put(_DONE)
        self._thread.join()
        if exc is None and self._error is not None:
            raise self._error

    def submit(self, item: T) -> None:
        self._put(item)

    def _put(self, item: object) -> None:
        while self._thread.is_alive():
            if self._error is not None and item is not _DONE:
                raise self._error
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue
        if self._error is not None and item is not _DONE:
            raise self._error

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _DONE:
                    self._finish()
                    return
                self._write(item)  # type: ignore[arg-type]
            except BaseException as error:
                self._error = error
                return
