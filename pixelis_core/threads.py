"""Pipelining with threads: a producer ahead of its consumer, a consumer behind its producer, or the work
on the next item done while this one is used.

The heavy work of both pixelis pipelines (the C parser, Polars plans, Arrow's Parquet and IPC code) runs
without the GIL, so a stage in a thread overlaps the stage beside it on a second core. Each helper bounds
how many items wait between the stages (memory stays bounded), raises a background thread's exception in
the caller, and stops its thread when the caller stops early.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
_DONE = object()
_POLL_S = 0.1  # how often a blocked put looks whether the other side has stopped


def _put(box: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put ``item`` unless ``stop`` is set first; whether it was put."""
    while not stop.is_set():
        try:
            box.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def prefetched(items: Iterator[T], depth: int = 2, name: str = "pixelis-prefetch") -> Iterator[T]:
    """``items`` produced by a background thread, at most ``depth`` ahead of the caller.

    An exception of the producer is raised here; stopping early (an exception of the consumer, or
    ``close()``) stops the producer at its next item.
    """
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(box, (item, None), stop):
                    return
            _put(box, (_DONE, None), stop)
        except BaseException as err:  # handed to the consumer, which raises it
            _put(box, (_DONE, err), stop)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item, err = box.get()
            if item is _DONE:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        thread.join()


def ahead(items: Iterable[T], work: Callable[[T], R], name: str = "pixelis-parse") -> Iterator[tuple[T, R]]:
    """``(item, work(item))`` in order, ``work`` of the next item running in a worker thread meanwhile.

    The parse of the next batch (C, without the GIL) overlaps the rules and validation of this one; an
    exception of ``work`` is raised here, for its item.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) as pool:
        pending: tuple[T, Future[R]] | None = None
        for item in items:
            future = pool.submit(work, item)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (item, future)
        if pending is not None:
            yield pending[0], pending[1].result()


@contextmanager
def consumed_behind(
    consume: Callable[[T], None], depth: int = 2, name: str = "pixelis-consume"
) -> Iterator[Callable[[T], None]]:
    """A ``put(item)`` whose items ``consume`` handles in a background thread, in order, ``depth`` at most waiting.

    Leaving the block waits until every item was consumed. An exception of ``consume`` is raised by the
    next ``put`` or on leaving; an exception of the block stops the thread without consuming the rest.
    """
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        while (item := box.get()) is not _DONE:
            if stop.is_set():
                return
            try:
                consume(item)
            except BaseException as err:  # raised in the caller by put() or on leaving
                failure.append(err)
                stop.set()
                return

    def put(item: T) -> None:
        if failure or not _put(box, item, stop):
            raise failure[0]

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield put
    except BaseException:
        stop.set()
        _drain(box)
        box.put(_DONE)
        thread.join()
        raise
    if not _put(box, _DONE, stop):
        thread.join()
        raise failure[0]
    thread.join()
    if failure:
        raise failure[0]


def _drain(box: queue.Queue) -> None:
    """Empty ``box`` so that one more put cannot block (the consumer has been told to stop)."""
    while True:
        try:
            box.get_nowait()
        except queue.Empty:
            return
