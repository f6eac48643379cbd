"""The composite's weighted sum: left to right in the order of the weights, the same bits on every engine."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelis_data.score import weighted_sum

UNIT = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(
    weights=st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=7),
    rows=st.integers(1, 40),
    data=st.data(),
)
def test_weighted_sum_is_a_left_to_right_sum_on_both_engines(weights, rows, data):
    names = [f"f{i}" for i in range(len(weights))]
    columns = {n: data.draw(st.lists(UNIT | st.none(), min_size=rows, max_size=rows)) for n in names}
    frame = pl.DataFrame(columns, schema={n: pl.Float64 for n in names})
    expr = weighted_sum(dict(zip(names, weights, strict=True))).alias("s")
    expected = []
    for r in range(rows):
        total = 0.0
        for n, w in zip(names, weights, strict=True):
            total = total + (columns[n][r] or 0.0) * w  # a null counts 0
        expected.append(total)
    for engine in ("in-memory", "streaming"):
        got = frame.lazy().select(expr).collect(engine=engine)["s"].to_list()
        assert got == expected, engine  # exact: the same bits as the plain loop
