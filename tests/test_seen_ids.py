"""The duplicate check's id set against a plain Python set."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

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
