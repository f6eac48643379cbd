"""The duplicate check's id set against a plain Python set: the C table and the numpy runs alike."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelis_data.readers import fastpath
from pixelis_data.readers import seen as seen_module
from pixelis_data.readers.seen import SeenIds

KINDS = ["c", "numpy"]


def _new(kind: str) -> SeenIds:
    if kind == "c" and not fastpath.AVAILABLE:
        pytest.skip("the C extension is not built (or PIXELIS_FASTPARSE=0)")
    seen = SeenIds()
    if kind == "numpy":
        seen._table = None  # the sorted runs, as without the extension
    return seen


IDS = st.lists(st.lists(st.text(max_size=3) | st.sampled_from(["a", "b", "syn-0-1"]), max_size=30), max_size=12)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=200, deadline=None)
@given(batches=IDS)
def test_earlier_ids_are_exactly_those_a_python_set_holds(kind, batches):
    seen = _new(kind)
    oracle = _check_against_a_set(seen, batches)
    assert len(seen) == len(oracle)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=200, deadline=None)
@given(batches=IDS)
def test_update_marks_ids_seen_before_or_earlier_in_the_batch_and_adds_the_rest(kind, batches):
    seen, oracle = _new(kind), set()
    for batch in batches:
        expected = []
        for i in batch:
            expected.append(i in oracle)
            oracle.add(i)
        assert seen.update(pl.Series(batch, dtype=pl.String)).to_list() == expected
    assert len(seen) == len(oracle)


def _colliding(ids: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Only two distinct first hashes (by length parity): every lookup meets several candidates."""
    return (ids.str.len_bytes().to_numpy() % 2).astype(np.uint64), ids.hash(seed=7).to_numpy()


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=100, deadline=None)
@given(batches=IDS)
def test_ids_whose_first_hashes_collide_are_told_apart_by_the_second(kind, batches):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(seen_module, "_hashes", _colliding)
        seen = _new(kind)
        oracle = _check_against_a_set(seen, batches)
        assert len(seen) == len(oracle)


def _check_against_a_set(seen: SeenIds, batches: list[list[str]]) -> set[str]:
    """Add the batches one by one, asserting ``earlier`` against a set before each; the set in the end."""
    oracle: set[str] = set()
    for batch in batches:
        ids = pl.Series(batch, dtype=pl.String)
        assert seen.earlier(ids).to_list() == [i in oracle for i in batch]
        seen.add(ids)
        oracle.update(batch)
    return oracle


@pytest.mark.parametrize("kind", KINDS)
def test_a_set_grown_many_times_over_still_finds_every_id(kind):
    seen = _new(kind)
    batches = [pl.Series([f"syn-{b}-{i}" for i in range(7_000)]) for b in range(9)]  # 63,000 ids: grows 3 times
    for ids in batches:
        assert not seen.update(ids).any()
    assert len(seen) == 63_000
    assert seen.earlier(batches[0]).all() and seen.earlier(batches[-1]).all()
    mixed = pl.Series(["syn-4-17", "new-1", "new-1", "syn-8-6999"])
    assert seen.update(mixed).to_list() == [True, False, True, True]
