"""The background writer: order, bounded queue, failures surfacing in the caller, draining."""

from __future__ import annotations

import threading
import time

import pytest

from attent_assets.sync.writer import BackgroundWriter


def test_items_are_written_in_order_on_another_thread() -> None:
    written: list[tuple[int, str]] = []
    with BackgroundWriter[int](lambda i: written.append((i, threading.current_thread().name))) as w:
        for i in range(50):
            w.submit(i)
    assert [i for i, _ in written] == list(range(50))
    assert {name for _, name in written} == {"attent-writer"}


def test_at_most_one_item_waits_while_one_is_being_written() -> None:
    release = threading.Event()
    started = threading.Event()

    def slow(_: int) -> None:
        started.set()
        release.wait(5)

    with BackgroundWriter[int](slow) as w:
        w.submit(1)
        started.wait(5)
        w.submit(2)  # waits in the queue
        blocked = threading.Thread(target=w.submit, args=(3,))
        blocked.start()
        time.sleep(0.3)
        assert blocked.is_alive()  # the third submit is held back: memory stays bounded
        release.set()
        blocked.join(5)


def test_a_write_failure_is_raised_in_the_caller() -> None:
    def fail(item: int) -> None:
        if item == 2:
            raise OSError("disk full")

    written = 0
    with pytest.raises(OSError, match="disk full"), BackgroundWriter[int](fail) as w:
        for i in range(1000):
            w.submit(i)
            written += 1
    assert written < 1000


def test_leaving_on_an_error_still_stores_what_was_submitted_then_finishes() -> None:
    written: list[int | str] = []
    with (
        pytest.raises(RuntimeError, match="fetch failed"),
        BackgroundWriter[int](written.append, finish=lambda: written.append("finished")) as w,
    ):
        w.submit(1)
        w.submit(2)
        raise RuntimeError("fetch failed")
    assert written == [1, 2, "finished"]


def test_a_failure_to_finish_is_raised_in_the_caller() -> None:
    def fail() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), BackgroundWriter[int](print, finish=fail):
        pass
