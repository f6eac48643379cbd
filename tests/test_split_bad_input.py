"""Bad and degenerate input: clear one-line errors, or explicit warnings with every file still written."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from test_split_support import scores_frame, write_scores

from pixelis_data.config import DataConfig
from pixelis_data.schema import SCORE_COLUMN
from pixelis_data.split import SplitConfig, SplitError, split_to_dir

OUTPUTS = ("simple", "medium", "hard", "eval")


def rows_and_schema(path) -> tuple[int, list[str]]:
    with pa.memory_map(str(path)) as source:
        table = pa.ipc.open_file(source).read_all()
    return table.num_rows, table.column_names


def test_empty_input_is_an_error(tmp_path):
    inp = write_scores(tmp_path / "in.scores.parquet", scores_frame([]))
    with pytest.raises(SplitError, match=r"in\.scores\.parquet: no samples to split \(the input is empty\)"):
        split_to_dir(inp, tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_scores_file_without_difficulty_score(tmp_path):
    frame = scores_frame([0.2, 0.4]).drop(SCORE_COLUMN)
    inp = write_scores(tmp_path / "in.scores.parquet", frame)
    with pytest.raises(SplitError, match=r"a scores file without a difficulty_score column; re-run `pixelis score`"):
        split_to_dir(inp, tmp_path / "out")
    # recognised by its factor columns too, whatever its name
    other = write_scores(tmp_path / "other.parquet", frame)
    with pytest.raises(SplitError, match="without a difficulty_score column"):
        split_to_dir(other, tmp_path / "out")


def test_missing_stream_columns_are_listed(tmp_path):
    inp = write_scores(tmp_path / "in.parquet", scores_frame([0.2, 0.4]).drop("answer", "images"))
    with pytest.raises(SplitError, match=r"in\.parquet: missing column\(s\) images, answer$"):
        split_to_dir(inp, tmp_path / "out")


def test_non_numeric_score(tmp_path):
    frame = scores_frame([0.2, 0.4]).with_columns(pl.col(SCORE_COLUMN).cast(pl.String))
    inp = write_scores(tmp_path / "in.parquet", frame)
    with pytest.raises(SplitError, match=r"difficulty_score must be numeric \(got large_string\)"):
        split_to_dir(inp, tmp_path / "out")


def test_nan_null_and_missing_ids_are_counted(tmp_path):
    frame = scores_frame([0.2, float("nan"), 0.5, 0.7]).with_columns(
        pl.when(pl.col("sample_id") == "s000002").then(None).otherwise(pl.col(SCORE_COLUMN)).alias(SCORE_COLUMN),
        pl.when(pl.col("sample_id") == "s000003").then(None).otherwise(pl.col("sample_id")).alias("sample_id"),
    )
    inp = write_scores(tmp_path / "in.parquet", frame)
    with pytest.raises(
        SplitError,
        match=r"1 row\(s\) without sample_id; 2 row\(s\) with a null, NaN or infinite "
        r"difficulty_score \(e\.g\. 's000001', 's000002'\)",
    ):
        split_to_dir(inp, tmp_path / "out")


def test_missing_input_and_unreadable_parquet(tmp_path):
    with pytest.raises(SplitError, match=r"nope\.parquet: no such file or directory"):
        split_to_dir(tmp_path / "nope.parquet", tmp_path / "out")
    broken = tmp_path / "broken.scores.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(SplitError, match=r"broken\.scores\.parquet: not a readable Parquet file"):
        split_to_dir(broken, tmp_path / "out")


def test_all_scores_equal_land_in_simple_with_warning(tmp_path):
    inp = write_scores(tmp_path / "in.scores.parquet", scores_frame([0.37] * 50))
    result = split_to_dir(inp, tmp_path / "out")
    warnings = result.plan.report.warnings
    assert any("all 50 scores are equal (0.37)" in w and "every sample is simple" in w for w in warnings)
    assert any(w.startswith("medium: no samples; medium.arrow is written with 0 rows") for w in warnings)
    assert any(w.startswith("hard: no samples") for w in warnings)
    n_simple, columns = rows_and_schema(tmp_path / "out" / "simple.arrow")
    for name in OUTPUTS:
        _, cols = rows_and_schema(tmp_path / "out" / f"{name}.arrow")
        assert cols == columns  # empty files carry the full schema
    assert rows_and_schema(tmp_path / "out" / "medium.arrow")[0] == 0
    assert n_simple + rows_and_schema(tmp_path / "out" / "eval.arrow")[0] == 50
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["warnings"] == warnings
    assert manifest["ties"]["at_simple"] == 50


@pytest.mark.parametrize("scores", [[0.5], [0.2, 0.9]])
def test_fewer_samples_than_categories_warns(tmp_path, scores):
    inp = write_scores(tmp_path / "in.scores.parquet", scores_frame(scores))
    result = split_to_dir(inp, tmp_path / "out")
    warnings = result.plan.report.warnings
    assert any(f"only {len(scores)} sample(s) for 3 categories" in w for w in warnings)
    assert any("a single sample, kept for training; eval has none of this category" in w for w in warnings)
    assert any("eval.arrow is empty" in w for w in warnings)
    assert sum(result.rows.values()) == len(scores)
    assert result.rows["eval"] == 0  # a lone sample is never taken from training


def test_balance_warnings(tmp_path):
    # 60% of the samples share one score: simple swells and medium falls under 25%
    scores = [0.3] * 60 + [round(x, 6) for x in np.linspace(0.4, 0.6, 40)]
    frame = scores_frame(scores, task_types=("object_counting", "text_extraction"))
    inp = write_scores(tmp_path / "in.scores.parquet", frame)
    result = split_to_dir(inp, tmp_path / "out")
    counts = {c.category: c.n for c in result.plan.report.categories}
    assert counts["simple"] == 60 and counts["medium"] < 25
    warnings = result.plan.report.warnings
    assert f"medium: {counts['medium']}.0% of samples, under the 25% minimum" in warnings
    assert not any(w.startswith(("simple: ", "hard: ")) and "minimum" in w for w in warnings)
    assert (
        "simple: 2 task type(s) (object_counting, text_extraction), fewer than 3" in warnings
        or "simple: 2 task type(s) (text_extraction, object_counting), fewer than 3" in warnings
    )
    assert sum("fewer than 3" in w for w in warnings) == 3


def test_duplicate_ids_are_an_error(tmp_path):
    ids = ["a", "a", "b", "c", "c", "c"]
    inp = write_scores(tmp_path / "in.scores.parquet", scores_frame([0.5] * 6, ids=ids))
    with pytest.raises(SplitError, match=r"5 row\(s\) share a sample_id with another row \(e\.g\. 'a', 'c'\)"):
        split_to_dir(inp, tmp_path / "out")


def test_input_category_column_is_replaced_with_a_warning(tmp_path):
    frame = scores_frame([0.2, 0.5, 0.9] * 5).with_columns(pl.lit("bogus").alias("category"))
    inp = write_scores(tmp_path / "in.scores.parquet", frame)
    result = split_to_dir(inp, tmp_path / "out")
    assert "the input's own 'category' column is replaced by the split's categories" in result.plan.report.warnings
    simple = pl.read_ipc(tmp_path / "out" / "simple.arrow")
    assert simple.columns[-1] == "category" and set(simple["category"]) == {"simple"}
    assert simple.columns.count("category") == 1


def test_raw_input_with_every_record_rejected(tmp_path):
    raw = tmp_path / "raw.jsonl"
    raw.write_text(
        '{"sample_id": "x", "question": "q", "trajectory": "nope", "answer": "a"}\n'
        '{"sample_id": "y", "question": "q", "trajectory": 5, "answer": "a"}\n'
    )
    with pytest.raises(
        SplitError,
        match=r"raw\.jsonl: all 2 record\(s\) were rejected by scoring \(reasons in .*"
        r"rejects\.jsonl\); nothing to split",
    ):
        split_to_dir(raw, tmp_path / "out", fmt="pixelis")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["rejects.jsonl"]  # no manifest, no temp


def test_raw_input_of_unknown_type_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SplitError, match=r"notes\.txt: unsupported file type '\.txt'"):
        split_to_dir(tmp_path / "notes.txt", tmp_path / "out")


def test_category_without_eval_sample_warns_when_top_up_is_off(tmp_path):
    inp = write_scores(tmp_path / "in.scores.parquet", scores_frame([0.2, 0.5, 0.9] * 3))
    cfg = DataConfig(split=SplitConfig(eval_fraction=1e-9, min_eval_per_category=0))
    result = split_to_dir(inp, tmp_path / "out", cfg)
    assert result.rows["eval"] == 0
    for cat in ("simple", "medium", "hard"):
        assert f"{cat}: no eval sample (no hash under the cut-off and min_eval_per_category is 0)" in (
            result.plan.report.warnings
        )
    topped = split_to_dir(inp, tmp_path / "out2", DataConfig(split=SplitConfig(eval_fraction=1e-9)))
    assert topped.rows["eval"] == 3  # the default top-up gives each category one eval sample
    assert any("topped up to 1 by smallest hash" in note for note in topped.plan.report.notes)
