"""The pipelining helpers: order kept, errors of either side raised in the caller, threads stopped."""

from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelis_core.threads import ahead, consumed_behind, prefetched


def _threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


@settings(max_examples=50, deadline=None)
@given(items=st.lists(st.integers()), depth=st.integers(1, 4))
def test_prefetched_yields_every_item_in_order(items, depth):
    assert list(prefetched(iter(items), depth=depth)) == items


def test_an_error_of_the_producer_is_raised_after_the_items_before_it():
    def produce():
        yield 1
        yield 2
        raise KeyError("broken input")

    got = []
    with pytest.raises(KeyError, match="broken input"):
        for item in prefetched(produce(), name="t-prefetch-error"):
            got.append(item)
    assert got == [1, 2]
    assert not _threads("t-prefetch-error")


def test_stopping_early_stops_the_producer():
    produced = itertools.count()
    items = prefetched((next(produced) for _ in itertools.count()), depth=2, name="t-prefetch-stop")
    assert next(items) == 0
    items.close()
    assert not _threads("t-prefetch-stop")
    assert next(produced) <= 5  # the producer ran at most depth (+ the one it was putting) ahead


@settings(max_examples=50, deadline=None)
@given(items=st.lists(st.integers()), depth=st.integers(1, 4))
def test_consumed_behind_consumes_every_item_in_order_before_the_block_is_left(items, depth):
    got: list[int] = []
    with consumed_behind(got.append, depth=depth) as put:
        for item in items:
            put(item)
    assert got == items


def test_an_error_of_the_consumer_is_raised_by_a_later_put_or_on_leaving():
    def consume(item: int) -> None:
        if item == 3:
            raise OSError("disk full")

    puts = 0
    with pytest.raises(OSError, match="disk full"), consumed_behind(consume, depth=1, name="t-consume-error") as put:
        for item in range(1000):
            put(item)
            puts += 1
    assert puts < 1000  # a put raised it: the producer did not run on to the end
    assert not _threads("t-consume-error")

    with pytest.raises(OSError, match="disk full"), consumed_behind(consume, name="t-consume-error-last") as put:
        put(3)  # the last item fails: raised on leaving
    assert not _threads("t-consume-error-last")


def test_an_error_of_the_block_stops_the_consumer_without_the_waiting_items():
    got: list[int] = []
    release = threading.Event()

    def consume(item: int) -> None:
        release.wait(5)
        got.append(item)

    # the first item is released only after the block has failed: the two waiting ones must be dropped
    threading.Timer(0.2, release.set).start()
    with pytest.raises(ValueError, match="bad batch"), consumed_behind(consume, depth=2, name="t-consume-stop") as put:
        for item in range(3):
            put(item)
        raise ValueError("bad batch")
    assert not _threads("t-consume-stop")
    assert got == [0]


@settings(max_examples=50, deadline=None)
@given(items=st.lists(st.integers()))
def test_ahead_pairs_every_item_with_its_work_in_order(items):
    assert list(ahead(items, lambda i: i * 3)) == [(i, i * 3) for i in items]


def test_an_error_of_the_work_is_raised_for_its_item():
    def work(i: int) -> int:
        if i == 2:
            raise ValueError("bad batch 2")
        return i

    got = []
    with pytest.raises(ValueError, match="bad batch 2"):
        for item, _ in ahead(range(5), work):
            got.append(item)
    assert got == [0, 1]
