"""`pixelis explain`: contributions add up to the composite, per-step diagnostics agree with the stored
diagnostics and with a plain Python oracle, category and percentile agree with the split, CLI behaviour."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from conftest import canonical_frame
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_data.config import DataConfig
from pixelis_data.generate import write_samples
from pixelis_data.report.explain import SampleNotFoundError, explain_sample
from pixelis_data.schema import SCORE_COLUMN
from pixelis_data.score import score_frame, score_to_parquet
from pixelis_data.split import split_to_dir

runner = CliRunner()
# The weight keys are the output columns (docs/design.md §4), written out here rather than read from the registry.
FACTOR_KEYS = (
    "trajectory_complexity",
    "operation_sophistication",
    "reasoning_depth",
    "error_patterns",
    "task_type_score",
)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("explain")
    raw = root / "data.jsonl"
    write_samples(raw, 200, seed=5, progress=False)
    scores = root / "data.scores.parquet"
    score_to_parquet(raw, scores, DataConfig(), progress=None)
    split_to_dir(scores, root / "data.split", DataConfig())
    return {"raw": raw, "scores": scores, "split": root / "data.split"}


def _config(weights: dict[str, float], clip_min: float, clip_max: float) -> DataConfig:
    cfg = DataConfig()
    return dataclasses.replace(
        cfg, score=dataclasses.replace(cfg.score, weights=weights, clip_min=clip_min, clip_max=clip_max)
    )


@settings(max_examples=12, deadline=None)
@given(
    weights=st.lists(st.floats(0, 1.5, allow_nan=False), min_size=5, max_size=5),
    bounds=st.tuples(st.floats(0, 0.8), st.floats(0, 1.5)).map(sorted),
)
def test_contributions_sum_to_the_composite_before_clipping(data, tmp_path_factory, weights, bounds):
    cfg = _config(dict(zip(FACTOR_KEYS, weights, strict=True)), *bounds)
    scores = tmp_path_factory.mktemp("w") / "s.parquet"
    score_to_parquet(data["raw"], scores, cfg, progress=None)
    ids = pl.read_parquet(scores, columns=["sample_id"])["sample_id"].to_list()
    for sample_id in ids[:: len(ids) // 4]:
        ex = explain_sample(scores, sample_id, cfg)
        values = {f.name: f.value for f in ex.factors}
        oracle = math.fsum(w * values[c] for c, w in zip(FACTOR_KEYS, weights, strict=True))
        assert math.isclose(ex.raw_composite, oracle, rel_tol=1e-12, abs_tol=1e-12)
        assert math.isclose(math.fsum(f.contribution for f in ex.factors), ex.raw_composite, abs_tol=1e-15)
        assert ex.composite == pytest.approx(ex.stored_score, abs=1e-12)
        if not any(math.isclose(oracle, b, abs_tol=1e-12) for b in bounds):  # on a bound: either way is right
            assert ex.clipped == (oracle < bounds[0] or oracle > bounds[1])


# -- per-step diagnostics against a plain Python oracle --------------------------------------------------

WORDS = [
    "wait",
    "Wait,",
    "await",
    "waiting",
    "_wait",
    "actually",
    "let me try",
    "let me",
    "try",
    "correction",
    "corrections",
    "doesn't seem right",
    "doesn’t seem right",
    "fine",
    "ok.",
    "WAIT",
]
ACTIONS = ["ZOOM_IN", "THINK", "SEGMENT_OBJECT_AT", "READ_TEXT", "FOO"]
COORDS = [[1, 2], [3, 4], [], None]

thoughts = st.lists(st.sampled_from(WORDS), max_size=4).flatmap(
    lambda ws: st.lists(st.sampled_from([" ", ", ", "", "-", "\n"]), min_size=len(ws), max_size=len(ws)).map(
        lambda seps: "".join(w + s for w, s in zip(ws, seps, strict=True))
    )
)
steps = st.builds(
    lambda action, thought, coords: {
        "action": action,
        "thought": thought,
        "parameters": {} if coords is None else {"coordinates": coords},
    },
    st.sampled_from(ACTIONS),
    thoughts,
    st.sampled_from(COORDS),
)


def oracle_phrases(thought: str, phrases: tuple[str, ...]) -> set[str]:
    text = thought.replace("’", "'")
    return {p for p in phrases if re.search(rf"(?<!\w){re.escape(p)}(?!\w)", text, flags=re.IGNORECASE)}


def oracle_repetitions(actions: list[str], known: set[str], run: int) -> set[int]:
    seq = [i for i, a in enumerate(actions) if a in known]
    return {seq[j] for j in range(run - 1, len(seq)) if len({actions[seq[j - b]] for b in range(run)}) == 1}


def oracle_backtracking(traj: list[dict]) -> set[int]:
    seen, out = [], set()
    for i, s in enumerate(traj):
        coords = s["parameters"].get("coordinates") if s["action"] == "SEGMENT_OBJECT_AT" else None
        if coords:
            if coords in seen:
                out.add(i)
            seen.append(coords)
    return out


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(steps, max_size=8), min_size=1, max_size=4))
def test_per_step_diagnostics_match_the_stored_ones_and_an_oracle(tmp_path_factory, trajectories):
    cfg = DataConfig()
    frame = canonical_frame([{"sample_id": f"s{i}", "trajectory": t} for i, t in enumerate(trajectories)])
    path = tmp_path_factory.mktemp("d") / "s.parquet"
    score_frame(frame.lazy(), cfg.score).collect().write_parquet(path)
    known = set(cfg.score.operations.complexity)
    for i, traj in enumerate(trajectories):
        ex = explain_sample(path, f"s{i}", cfg)
        assert [s.action for s in ex.steps] == [s["action"] for s in traj]
        assert [set(s.phrases) for s in ex.steps] == [
            oracle_phrases(s["thought"], cfg.score.errors.phrases) for s in traj
        ]
        reps = {s.index - 1 for s in ex.steps if s.repetition}
        assert reps == oracle_repetitions([s["action"] for s in traj], known, cfg.score.errors.repetition_run)
        assert len(reps) == ex.diagnostics["n_repetitions"]
        back = {s.index - 1 for s in ex.steps if s.repeated_coordinates is not None}
        assert back == oracle_backtracking(traj)
        assert bool(back) == ex.diagnostics["has_backtracking"]
        assert any(s.phrases for s in ex.steps) == ex.diagnostics["has_self_correction"]
        assert [s.known for s in ex.steps] == [s["action"] in known for s in traj]


def test_a_hand_made_sample_is_explained_step_by_step(tmp_path):
    traj = [
        {"action": "ZOOM_IN", "thought": "Look closer.", "parameters": {"bbox": [0, 0, 5, 5]}},
        {"action": "ZOOM_IN", "thought": "I await the crop.", "parameters": {"bbox": [0, 0, 4, 4]}},
        {"action": "ZOOM_IN", "thought": "Wait, actually that doesn’t seem right.", "parameters": {}},
        {"action": "SEGMENT_OBJECT_AT", "thought": "Segment it.", "parameters": {"coordinates": [3, 4]}},
        {"action": "SEGMENT_OBJECT_AT", "thought": "Let me try again.", "parameters": {"coordinates": [3, 4]}},
    ]
    frame = canonical_frame([{"sample_id": "hand", "sample_type": "trap_logical", "trajectory": traj}])
    path = tmp_path / "s.parquet"
    score_frame(frame.lazy(), DataConfig().score).collect().write_parquet(path)
    ex = explain_sample(path, "hand")
    assert [s.phrases for s in ex.steps] == [(), (), ("doesn't seem right", "actually", "wait"), (), ("let me try",)]
    assert [s.repetition for s in ex.steps] == [False, False, True, False, False]
    assert [s.repeated_coordinates for s in ex.steps] == [None, None, None, None, "[3,4]"]
    assert ex.percentile == 100.0 and ex.rank == 1 and ex.n_scores == 1


# -- category and percentile ---------------------------------------------------------------------------------


def test_category_and_percentile_agree_with_the_split(data):
    scores = pl.read_parquet(data["scores"], columns=["sample_id", SCORE_COLUMN])
    arrays = []
    for name in ("simple", "medium", "hard", "eval"):
        table = pa.ipc.open_file(pa.memory_map(str(data["split"] / f"{name}.arrow"))).read_all()
        arrays.append(pl.from_arrow(table.select(["sample_id", "category"])).with_columns(pl.lit(name).alias("file")))
    where = {sid: (cat, f) for sid, cat, f in pl.concat(arrays).iter_rows()}
    values = scores[SCORE_COLUMN].to_numpy()
    for sample_id, score in scores.head(40).iter_rows():
        ex = explain_sample(data["scores"], sample_id)
        assert ex.category == where[sample_id][0]
        assert ex.percentile == pytest.approx(100.0 * np.mean(values <= score))
        assert ex.rank == int(np.sum(values <= score))
        in_split = explain_sample(data["scores"], sample_id, split_dir=data["split"])
        assert (in_split.category, in_split.split_file) == (where[sample_id][0], f"{where[sample_id][1]}.arrow")
        assert in_split.thresholds == ex.thresholds


def test_unknown_sample_id_lists_close_ids(data):
    with pytest.raises(SampleNotFoundError, match=r"no sample_id 'syn-5-00000x1'; close ids: syn-5-") as info:
        explain_sample(data["scores"], "syn-5-00000x1")
    assert 1 <= len(info.value.close) <= 5


# -- CLI -------------------------------------------------------------------------------------------------------


def test_cli_explains_a_sample(data):
    sample_id = pl.read_parquet(data["scores"], columns=["sample_id"])["sample_id"][7]
    result = runner.invoke(app, ["explain", str(data["scores"]), sample_id, "--split", str(data["split"])])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for part in (
        sample_id,
        "trajectory (",
        "1. ",
        "trajectory_complexity",
        "sum before clipping",
        "difficulty_score (stored)",
        "n_repetitions",
        "category ",
        "percentile",
    ):
        assert part in text, part


def test_cli_shows_clipping_and_warns_about_another_config(data, tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("score: {clip_max: 0.2}\n")
    sample_id = pl.read_parquet(data["scores"], columns=["sample_id"])["sample_id"][0]
    result = runner.invoke(app, ["explain", str(data["scores"]), sample_id, "--config", str(cfg_file)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "clipped to [0.1, 0.2]" in text and "clipped" in text
    assert "pass the --config the file was scored with" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{scores}", "no-such-id"], "no sample_id 'no-such-id'; close ids:"),
        (["{dir}/missing.parquet", "x"], "missing.parquet: no such file"),
        (["{scores}", "x", "--split", "{dir}/nope"], "--split"),
    ],
)
def test_cli_errors_are_one_line_with_exit_2(data, tmp_path, args, message):
    argv = [a.format(scores=data["scores"], dir=tmp_path) for a in args]
    result = runner.invoke(app, ["explain", *argv])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 3


def test_json_parameters_are_shown_shortened():
    from pixelis_cli.explain import shorten

    long = json.dumps({"bbox": list(range(100))})
    short = shorten(long, 40)
    assert short.startswith(long[:30]) and short.endswith(f"(+{len(long) - 40} chars)")
    assert shorten("a\n  b", 0) == "a b"
