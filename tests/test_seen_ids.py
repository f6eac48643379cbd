"""The duplicate check's id set against a plain Python set."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelis_data.readers import seen as seen_module
from pixelis_data.readers.seen import SeenIds

IDS = st.lists(st.lists(st.text(max_size=3) | st.sampled_from(["a", "b", "syn-0-1"]), max_size=30), max_size=12)


@settings(max_examples=200, deadline=None)
@given(batches=IDS)
def test_earlier_ids_are_exactly_those_a_python_set_holds(batches):
    seen, oracle = SeenIds(), set()
    for batch in batches:
        ids = pl.Series(batch, dtype=pl.String)
        assert seen.earlier(ids).to_list() == [i in oracle for i in batch]
        seen.add(ids)
        oracle.update(batch)
    assert len(seen) == sum(len(b) for b in batches)


@settings(max_examples=200, deadline=None)
@given(batches=IDS)
def test_update_marks_ids_seen_before_or_earlier_in_the_batch_and_adds_the_rest(batches):
    seen, oracle = SeenIds(), set()
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


@settings(max_examples=100, deadline=None)
@given(batches=IDS)
def test_ids_whose_first_hashes_collide_are_told_apart_by_the_second(batches):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(seen_module, "_hashes", _colliding)
        _check_against_a_set(batches)


def _check_against_a_set(batches: list[list[str]]) -> None:
    seen, oracle = SeenIds(), set()
    for batch in batches:
        ids = pl.Series(batch, dtype=pl.String)
        assert seen.earlier(ids).to_list() == [i in oracle for i in batch]
        seen.add(ids)
        oracle.update(batch)
