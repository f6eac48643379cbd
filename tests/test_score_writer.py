"""The scores writer's Arrow trajectory: reused from the C parser only where nothing changed it, and the
file it writes equals the file written without that shortcut (every batch converted from Polars)."""

from __future__ import annotations

import json

import polars as pl
import pyarrow.parquet as pq
import pytest

from pixelis_data import score as score_module
from pixelis_data.generate.writer import generate_samples
from pixelis_data.readers import fastpath
from pixelis_data.score import score_to_parquet

needs_c = pytest.mark.skipif(not fastpath.AVAILABLE, reason="the C parser is not built (or PIXELIS_FASTPARSE=0)")


def _lines() -> list[str]:
    """Batches of 4 records (ROWS_PER_BATCH is patched): clean ones, and one of each thing that changes rows."""
    good = [json.dumps(s) for s in generate_samples(24, seed=3)]
    renamed = json.loads(good[5])
    renamed["trajectory"][0]["action"] = "ZoomIn"  # an alias: canonicalize renames it
    float_value = json.loads(good[9])
    float_value["trajectory"][0]["parameters"] = {"bbox": [0.5, 0.25]}  # deferred to the engine path
    return [
        *good[0:4],  # batch 1: clean
        good[4],
        json.dumps(renamed),
        good[6],
        good[7],  # batch 2: a renamed action
        good[8],
        json.dumps(float_value),
        good[10],
        good[11],  # batch 3: a deferred record
        good[12],
        "{not json",
        good[13],
        good[14],  # batch 4: a reject
        good[15],
        good[0],
        good[16],
        good[17],  # batch 5: a duplicate sample_id
        *good[18:22],  # batch 6: clean
    ]


def _score(tmp_path, name: str, monkeypatch) -> tuple[pl.DataFrame, list[bool]]:
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(_lines()) + "\n")
    reused: list[bool] = []
    write = score_module._ScoresWriter.write

    def spy(self, item):
        reused.append(item[1] is not None)
        return write(self, item)

    monkeypatch.setattr(score_module._ScoresWriter, "write", spy)
    monkeypatch.setattr("pixelis_data.readers.ROWS_PER_BATCH", 4)
    out = tmp_path / f"{name}.parquet"
    score_to_parquet(data, out)
    return pl.read_parquet(out), reused


@needs_c
def test_the_trajectory_is_reused_only_for_batches_nothing_changed(tmp_path, monkeypatch):
    _, reused = _score(tmp_path, "c", monkeypatch)
    assert reused == [True, False, False, False, False, True]


@needs_c
def test_reusing_the_trajectory_writes_the_same_rows_and_schema(tmp_path, monkeypatch):
    with_c, _ = _score(tmp_path, "c", monkeypatch)
    monkeypatch.setattr(fastpath, "_fastparse", None)  # every batch on the engine path: converted from Polars
    without, reused = _score(tmp_path, "engine", monkeypatch)
    assert not any(reused)
    assert with_c.height == 22  # 24 lines, one malformed, one duplicate
    assert with_c.equals(without)
    c_schema = pq.ParquetFile(tmp_path / "c.parquet").schema_arrow
    assert c_schema.equals(pq.ParquetFile(tmp_path / "engine.parquet").schema_arrow, check_metadata=True)
