"""Clear errors at the stream's boundary: config, split directory, weights."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from pixelis_core.config_io import ConfigError, from_dict
from pixelis_train.stream import CurriculumStream, IndexBatch, SplitDirError, StreamConfig
from pixelis_train.stream.synthetic import synthetic_rows, synthetic_split_dir, write_split_dir

SIZES = {"simple": 6, "medium": 5, "hard": 4, "eval": 2}


@pytest.fixture
def split_dir(tmp_path):
    return synthetic_split_dir(tmp_path / "split", SIZES)


def test_config_geometry_and_grad_accum() -> None:
    cfg = StreamConfig(global_batch=16, micro_batch=2, world_size=2, rank=1)
    assert cfg.grad_accum == 4 and cfg.per_rank == 8
    with pytest.raises(ConfigError, match=r"global_batch: 12 is not divisible by world_size x micro_batch = 2 x 4 = 8"):
        StreamConfig(global_batch=12, micro_batch=4, world_size=2)


def test_config_reports_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        StreamConfig(global_batch=0, micro_batch=-1, world_size=2, rank=2, seed=-3, mode="greedy")
    text = str(err.value)
    for fragment in (
        "global_batch: must be an integer >= 1 (got 0)",
        "micro_batch: must be an integer >= 1 (got -1)",
        "rank: must be an integer in [0, world_size=2) (got 2)",
        "seed: must be an integer >= 0 (got -3)",
        "mode: must be one of 'stratified', 'random' (got 'greedy')",
    ):
        assert fragment in text
    assert from_dict(StreamConfig, {"global_batch": 8, "micro_batch": 4}).grad_accum == 2


def test_empty_category_with_weight_names_category_and_weight(tmp_path) -> None:
    split = synthetic_split_dir(tmp_path / "s", {**SIZES, "hard": 0})
    cfg = StreamConfig(global_batch=4)
    with pytest.raises(ValueError, match=r"category 'hard' has weight 0.2 but hard.arrow has no rows"):
        CurriculumStream(split, cfg, weights={"simple": 0.4, "medium": 0.4, "hard": 0.2})
    stream = CurriculumStream(split, cfg, weights={"simple": 0.5, "medium": 0.5, "hard": 0.0})
    with pytest.raises(ValueError, match=r"category 'hard' has weight 0.5 but hard.arrow has no rows"):
        stream.set_weights({"simple": 0.5, "hard": 0.5})
    assert stream.next_step().counts["hard"] == 0  # the failed set_weights changed nothing


def test_category_whose_rows_all_have_weight_zero(tmp_path) -> None:
    hard = synthetic_rows(3, category="hard")
    hard = hard.set_column(hard.schema.get_field_index("sampling_weight"), "sampling_weight", pa.array([0.0] * 3))
    tables = {c: synthetic_rows(n, seed=i, category=c) for i, (c, n) in enumerate(SIZES.items())}
    split = write_split_dir(tmp_path / "s", {**tables, "hard": hard})
    with pytest.raises(
        ValueError,
        match=r"category 'hard' has weight 1 but hard.arrow has 3 rows, all with "
        r"sampling_weight 0",
    ):
        CurriculumStream(split, StreamConfig(global_batch=4), weights={"hard": 1})


def test_bad_weights_listed_together(split_dir) -> None:
    with pytest.raises(ValueError) as err:
        CurriculumStream(
            split_dir, StreamConfig(global_batch=4), weights={"simple": -1.0, "medium": float("nan"), "expert": 1.0}
        )
    text = str(err.value)
    assert "unknown category ['expert']" in text
    assert "simple: weight must be a finite number >= 0 (got -1.0)" in text
    assert "medium: weight must be a finite number >= 0 (got nan)" in text
    with pytest.raises(ValueError, match="all weights are zero"):
        CurriculumStream(split_dir, StreamConfig(global_batch=4), weights={"simple": 0.0})


def test_missing_split_file(split_dir) -> None:
    (split_dir / "hard.arrow").unlink()
    (split_dir / "eval.arrow").unlink()
    with pytest.raises(SplitDirError, match=r"missing split file\(s\) hard.arrow, eval.arrow"):
        CurriculumStream(split_dir, StreamConfig(global_batch=4), weights={"simple": 1.0})


def test_missing_manifest_and_directory(split_dir, tmp_path) -> None:
    with pytest.raises(SplitDirError, match="split directory does not exist"):
        CurriculumStream(tmp_path / "nowhere", StreamConfig(), weights={"simple": 1.0})
    (split_dir / "manifest.json").unlink()
    with pytest.raises(SplitDirError, match=r"manifest.json: missing; the split directory is incomplete"):
        CurriculumStream(split_dir, StreamConfig(), weights={"simple": 1.0})


def test_incompatible_manifest_version(split_dir) -> None:
    path = split_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 2
    manifest["pixelis_version"] = "9.0.0"
    path.write_text(json.dumps(manifest))
    with pytest.raises(
        SplitDirError,
        match=r"format_version 2 \(pixelis_version '9.0.0'\) is not supported by this "
        r"stream \(supported: 1\)",
    ):
        CurriculumStream(split_dir, StreamConfig(), weights={"simple": 1.0})
    path.write_text("{not json")
    with pytest.raises(SplitDirError, match=r"manifest\.json: not valid JSON"):
        CurriculumStream(split_dir, StreamConfig(), weights={"simple": 1.0})


def test_manifest_counts_must_match_files(split_dir) -> None:
    path = split_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["counts"]["medium"] = 50
    path.write_text(json.dumps(manifest))
    with pytest.raises(SplitDirError, match=r"medium.arrow: has 5 rows but manifest.json counts 50"):
        CurriculumStream(split_dir, StreamConfig(), weights={"simple": 1.0})


def test_invalid_sampling_weights_and_unreadable_file(split_dir) -> None:
    simple = synthetic_rows(4, category="simple")
    weights = pa.array(np.array([1.0, -2.0, np.inf, 1.0]))
    simple = simple.set_column(simple.schema.get_field_index("sampling_weight"), "sampling_weight", weights)
    write_split_dir(split_dir, {"simple": simple})
    manifest = json.loads((split_dir / "manifest.json").read_text())
    assert manifest["counts"] == {"simple": 4}
    with pytest.raises(
        SplitDirError,
        match=r"simple.arrow: sampling_weight must be finite and >= 0; 2 row\(s\) are "
        r"not \(row 1 = -2.0, row 2 = inf\)",
    ):
        CurriculumStream(split_dir, StreamConfig(), weights={"simple": 1.0})
    (split_dir / "medium.arrow").write_bytes(b"not arrow")
    (split_dir / "simple.arrow").unlink()
    write_split_dir(split_dir, {"simple": synthetic_rows(4, category="simple")})
    with pytest.raises(SplitDirError, match=r"medium.arrow: not a readable Arrow IPC file"):
        CurriculumStream(split_dir, StreamConfig(), weights={"simple": 1.0})


def test_fetch_returns_rows_in_batch_order(split_dir) -> None:
    stream = CurriculumStream(
        split_dir, StreamConfig(global_batch=6, micro_batch=3), weights={"simple": 1, "medium": 1, "hard": 1}
    )
    plan = stream.next_step()
    table = pa.concat_tables([stream.fetch(m) for m in plan.micro_batches])
    expected = [f"{c}-{r}" for c, r in plan.global_batch.to_keys()]  # synthetic ids are "<category>-<row>"
    assert table["sample_id"].to_pylist() == expected
    assert table["category"].to_pylist() == [c for c, _ in plan.global_batch.to_keys()]
    narrow = stream.fetch(plan.micro_batches[0], columns=["sample_id", "sampling_weight"])
    assert narrow.column_names == ["sample_id", "sampling_weight", "category"]
    with pytest.raises(ValueError, match=r"row 5 is out of range for 'hard' \(4 rows\)"):
        stream.fetch(IndexBatch.from_keys([("simple", 0), ("hard", 5)]))
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['nope'\]"):
        stream.fetch(plan.micro_batches[0], columns=["nope"])
    assert stream.eval_table().num_rows == 2
    assert stream.category_sizes == {"simple": 6, "medium": 5, "hard": 4}
