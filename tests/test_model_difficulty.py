"""The model_difficulty factor (``--model-scores``): percentile ranks, the composite with and without it,
missing ids, --strict, bad model-score files, the split on raw input, and the validity part of the report."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_core.config_io import ConfigError, apply_overrides, from_dict
from pixelis_data.config import DataConfig
from pixelis_data.factor_registry import FACTORS
from pixelis_data.report import build
from pixelis_data.report.html import render_html
from pixelis_data.report.plots_data import validity_figure
from pixelis_data.report.scores import HEURISTIC, scores_view
from pixelis_data.schema import CATEGORIES
from pixelis_data.score import score_to_parquet

runner = CliRunner()
DEEPEYES = Path("/work/shared/data/external/deepeyes_vstar_relative_position.jsonl")
if not DEEPEYES.exists():  # the shared checkout keeps it one level above the repository
    DEEPEYES = Path(__file__).resolve().parents[2] / "shared/data/external/deepeyes_vstar_relative_position.jsonl"
ACTIONS = ["THINK", "ZOOM_IN", "READ_TEXT", "SEGMENT_OBJECT_AT", "GET_PROPERTIES", "TRACK_OBJECT", "Mystery"]
TASKS = ["spatial_reasoning", "object_counting", "text_extraction", "temporal_tracking", "other"]
KINDS = ["positive", "outcome_negative", "trap_perceptual", "self_correction"]


def records(n: int, seed: int = 0) -> list[dict]:
    """Varied pixelis records (lengths, actions, task and sample types), so every factor varies."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        steps = [
            {"action": rng.choice(ACTIONS), "thought": rng.choice(["look", "wait, no", "ok"]), "parameters": {}}
            for _ in range(rng.randint(1, 9))
        ]
        out.append(
            {
                "sample_id": f"s{i:03d}",
                "task_type": rng.choice(TASKS),
                "sample_type": rng.choice(KINDS),
                "question": "q?",
                "trajectory": steps,
                "answer": "a",
            }
        )
    return out


def write_model_scores(path: Path, ids: list, losses: list, **columns) -> Path:
    frame = pl.DataFrame({"sample_id": ids, "model_loss": losses, **columns}, strict=False)
    frame.write_parquet(path)
    return path


def percentile_rank_oracle(losses: np.ndarray) -> np.ndarray:
    """(samples with a lower loss + half of those with an equal loss, itself included) / n, by broadcasting."""
    x = np.asarray(losses, dtype=np.float64)
    below = (x[None, :] < x[:, None]).sum(axis=1)
    equal = (x[None, :] == x[:, None]).sum(axis=1)
    return (below + 0.5 * equal) / len(x)


def with_model(path: Path, **sets) -> DataConfig:
    return apply_overrides(DataConfig(), {"score.model_scores.path": str(path), **sets})


@pytest.fixture
def data(tmp_path, write_jsonl) -> tuple[Path, list[str]]:
    recs = records(60)
    return write_jsonl(recs), [r["sample_id"] for r in recs]


def test_model_difficulty_is_the_percentile_rank_over_the_file(tmp_path, data):
    raw, ids = data
    rng = np.random.default_rng(3)
    # ties on purpose (a coarse loss grid), and rows the input does not have: they count in the ranks
    file_ids = ids[:50] + [f"other{i}" for i in range(7)]
    losses = rng.integers(0, 12, size=len(file_ids)).astype(float) / 4
    model = write_model_scores(tmp_path / "m.parquet", file_ids, losses.tolist())
    out = tmp_path / "s.parquet"
    result = score_to_parquet(raw, out, with_model(model))
    frame = pl.read_parquet(out)
    expected = dict(zip(file_ids, percentile_rank_oracle(losses), strict=True))
    got = dict(zip(frame["sample_id"], frame["model_difficulty"], strict=True))
    for sid in ids[:50]:
        assert got[sid] == pytest.approx(expected[sid], abs=1e-15)
    assert all(got[sid] is None for sid in ids[50:])
    assert frame.columns.index("model_difficulty") == frame.columns.index("difficulty_score") - 1
    m = result.model
    assert (m.n_file, m.n_matched, m.n_missing, m.n_unused) == (57, 50, 10, 7)
    assert m.missing_examples == ids[50:53]


def test_composite_with_model_and_the_rescaled_heuristic_for_missing(tmp_path, data):
    raw, ids = data
    losses = np.linspace(0.5, 3.0, 45)[::-1]
    model = write_model_scores(tmp_path / "m.parquet", ids[:45], losses.tolist())
    weights = {"trajectory_complexity": 0.2, "operation_sophistication": 0.1, "reasoning_depth": 0.1}
    cfg = with_model(
        model, **{"score.model_scores.weight": 0.3, **{f"score.weights.{k}": v for k, v in weights.items()}}
    )
    out = tmp_path / "s.parquet"
    score_to_parquet(raw, out, cfg)
    frame = pl.read_parquet(out)
    w = dict(cfg.score.weights)
    total = sum(w.values())  # 0.2 + 0.1 + 0.1 + 0.15 + 0.10 = 0.65: scaled to sum to 1 - 0.3
    heuristic = sum(frame[c].to_numpy() * w[c] / total for c in FACTORS)
    md = frame["model_difficulty"].to_numpy().astype(float)
    expected = np.where(np.isnan(md), heuristic, 0.3 * md + 0.7 * heuristic).clip(0.1, 1.0)
    np.testing.assert_allclose(frame["difficulty_score"].to_numpy(), expected, rtol=0, atol=1e-12)
    assert np.isnan(md[45:]).all() and not np.isnan(md[:45]).any()
    # the order of the model shows in the composite: the largest loss is the first sample
    assert frame["model_difficulty"][0] == pytest.approx(1 - 0.5 / 45)


def test_without_model_scores_nothing_changes(tmp_path, data):
    raw, _ = data
    out = tmp_path / "s.parquet"
    result = score_to_parquet(raw, out, DataConfig())
    frame = pl.read_parquet(out)
    assert "model_difficulty" not in frame.columns and result.model is None
    w = DataConfig().score.weights
    weighted = sum(frame[c].to_numpy() * w[c] for c in FACTORS).clip(0.1, 1.0)
    np.testing.assert_allclose(frame["difficulty_score"].to_numpy(), weighted, rtol=0, atol=1e-12)
    # without a path the model weight is inert: the very same bytes
    other = tmp_path / "t.parquet"
    score_to_parquet(raw, other, apply_overrides(DataConfig(), {"score.model_scores.weight": 0.9}))
    assert other.read_bytes() == out.read_bytes()


def test_missing_ids_are_reported_and_strict_fails(tmp_path, data):
    raw, ids = data
    model = write_model_scores(tmp_path / "m.parquet", [*ids[:57], "ghost"], [1.0] * 58)
    out = tmp_path / "s.parquet"
    result = runner.invoke(app, ["score", str(raw), "-o", str(out), "--model-scores", str(model)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "57 matched, 3 missing of 60 scored samples" in text
    assert "1 of the file's 58 rows match no scored sample" in text
    assert "3 samples have no model score (e.g. 's057', 's058', 's059')" in text
    strict = runner.invoke(
        app, ["score", str(raw), "-o", str(tmp_path / "t.parquet"), "--model-scores", str(model), "--strict"]
    )
    assert strict.exit_code == 1
    assert not (tmp_path / "t.parquet").exists()
    assert f"3 sample(s) without a model score in {model}; no scores written" in " ".join(strict.output.split())
    split = runner.invoke(
        app, ["split", str(raw), "--by-category", "-o", str(tmp_path / "sp"), "--model-scores", str(model)]
    )
    assert split.exit_code == 0, split.output
    manifest = json.loads((tmp_path / "sp" / "manifest.json").read_text())
    assert manifest["input"]["scoring"]["model_scores"] == {
        "path": str(model),
        "rows": 58,
        "matched": 57,
        "missing": 3,
        "missing_examples": ["s057", "s058", "s059"],
        "unused": 1,
    }
    warning = f"3 sample(s) have no model score in {model} (e.g. 's057', 's058', 's059')"
    assert any(w.startswith(warning) for w in manifest["warnings"]) and warning in " ".join(split.output.split())


def _frame_file(path: Path, frame: pl.DataFrame) -> Path:
    frame.write_parquet(path)
    return path


BAD_FILES = {
    "not parquet": (
        lambda p: p.write_text("sample_id,model_loss\ns0,1.0\n") and p,
        "not a readable Parquet file",
    ),
    "no such file": (lambda p: p, "model scores: no such file"),
    "no loss column": (
        lambda p: _frame_file(p, pl.DataFrame({"sample_id": ["s0"], "loss": [1.0]})),
        "model scores lack column(s) model_loss (need sample_id and model_loss; found sample_id, loss)",
    ),
    "duplicate ids": (
        lambda p: write_model_scores(p, ["s0", "s1", "s1"], [1.0, 2.0, 3.0]),
        "2 row(s) share a sample_id with another row (e.g. 's1')",
    ),
    "null ids": (lambda p: write_model_scores(p, ["s0", None], [1.0, 2.0]), "1 row(s) without a sample_id"),
    "non-finite losses": (
        lambda p: write_model_scores(p, ["s0", "s1", "s2", "s3"], [1.0, float("nan"), float("inf"), None]),
        "3 row(s) with a null, NaN or infinite model_loss (e.g. 's1', 's2', 's3')",
    ),
    "integer ids": (lambda p: write_model_scores(p, [1, 2], [1.0, 2.0]), "sample_id must be strings (got int64)"),
    "text losses": (lambda p: write_model_scores(p, ["s0"], ["high"]), "model_loss must be numeric (got"),
    "empty": (
        lambda p: _frame_file(p, pl.DataFrame(schema={"sample_id": pl.String, "model_loss": pl.Float64})),
        "model scores hold no rows",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_model_score_files_are_one_line_errors(tmp_path, data, case):
    raw, _ = data
    make, message = BAD_FILES[case]
    path = make(tmp_path / "model.parquet") or tmp_path / "model.parquet"
    result = runner.invoke(app, ["score", str(raw), "-o", str(tmp_path / "s.parquet"), "--model-scores", str(path)])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(path) in errors[0] and message in errors[0], result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "s.parquet").exists()


def test_model_scores_config_is_validated_and_rescoring_drops_the_column(tmp_path, data):
    with pytest.raises(ConfigError, match=r"score\.model_scores\.weight: must be in \[0, 1\] \(got 1\.5\)"):
        from_dict(DataConfig, {"score": {"model_scores": {"path": "m.parquet", "weight": 1.5}}})
    raw, ids = data
    model = write_model_scores(tmp_path / "m.parquet", ids, list(range(60)))
    first = tmp_path / "s.scores.parquet"
    score_to_parquet(raw, first, with_model(model))
    again = tmp_path / "again.parquet"
    score_to_parquet(first, again, DataConfig())  # a scores file is valid input: derived columns are recomputed
    frame = pl.read_parquet(again)
    assert "model_difficulty" not in frame.columns and frame.height == 60


def _proxy_model_scores(tmp_path: Path) -> Path:
    """A PROXY, not a model: 'loss' = characters of the trajectory's thoughts, parameters and results."""
    scored = tmp_path / "plain.scores.parquet"
    score_to_parquet(DEEPEYES, scored, DataConfig())
    text = pl.concat_str([pl.element().struct.field(c).fill_null("") for c in ("thought", "parameters", "result")])
    proxy = pl.read_parquet(scored).select(
        "sample_id",
        pl.col("trajectory").list.eval(text.str.len_chars()).list.sum().cast(pl.Float64).alias("model_loss"),
    )
    path = tmp_path / "proxy.model_scores.parquet"
    proxy.write_parquet(path)
    return path


def test_deepeyes_split_with_model_scores_fills_every_category(tmp_path):
    if not DEEPEYES.exists():
        pytest.skip(f"shared data not found: {DEEPEYES}")
    proxy = _proxy_model_scores(tmp_path)
    out = tmp_path / "split"
    result = runner.invoke(app, ["split", str(DEEPEYES), "--by-category", "-o", str(out), "--model-scores", str(proxy)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    totals = {c: manifest["category_counts"][c]["total"] for c in CATEGORIES}
    assert sum(totals.values()) == 76 and min(totals.values()) >= 0.2 * 76, totals
    assert manifest["input"]["scoring"]["model_scores"]["matched"] == 76
    # a scores file without model_difficulty cannot take model scores: they are scored in with raw data
    scores = tmp_path / "plain.scores.parquet"
    refused = runner.invoke(
        app, ["split", str(scores), "--by-category", "-o", str(tmp_path / "x"), "--model-scores", str(proxy)]
    )
    assert refused.exit_code == 2
    assert "already scored, without model_difficulty" in refused.output


def _ranks(x: np.ndarray) -> np.ndarray:
    return np.array([(x < v).sum() + ((x == v).sum() + 1) / 2 for v in x])


def test_report_shows_heuristic_against_model_difficulty(tmp_path, data):
    raw, ids = data
    rng = np.random.default_rng(5)
    model = write_model_scores(tmp_path / "m.parquet", ids[:55], rng.normal(size=55).tolist())
    scores = tmp_path / "s.scores.parquet"
    score_to_parquet(raw, scores, with_model(model))
    view = scores_view(scores, DataConfig())  # the default config: the column itself says a model was used
    v = view.validity
    assert v is not None and v.n == 55 and len(v.model) == 55
    frame = pl.read_parquet(scores).filter(pl.col("model_difficulty").is_not_null())
    w = DataConfig().score.weights
    heuristic = sum(frame[c].to_numpy() * w[c] for c in FACTORS).clip(0.1, 1.0)
    md = frame["model_difficulty"].to_numpy()
    np.testing.assert_allclose(v.heuristic, heuristic, atol=1e-12)
    for name, values in [*((c, frame[c].to_numpy()) for c in FACTORS), (HEURISTIC, heuristic)]:
        rx, ry = _ranks(values), _ranks(md)
        expected = np.nan if rx.std() == 0 else np.corrcoef(rx, ry)[0, 1]
        assert v.spearman[name] == pytest.approx(expected, abs=1e-12, nan_ok=True), name
    assert view.weights["model_difficulty"] == 0.5


def test_report_page_has_the_validity_figure_and_table(tmp_path, data, monkeypatch):
    raw, ids = data
    model = write_model_scores(tmp_path / "m.parquet", ids, np.arange(60.0)[::-1].tolist())
    scores = tmp_path / "s.scores.parquet"
    score_to_parquet(raw, scores, with_model(model))
    view = scores_view(scores, DataConfig())
    # only the validity figure is drawn here (the other four have their own tests in test_report_html.py)
    monkeypatch.setattr(build, "scores_figures", lambda v: [validity_figure(v.validity)])
    html = render_html("t", "m", [build.scores_section(view)])
    rho = view.validity.spearman[HEURISTIC]
    assert 'id="scores-validity"' in html and "Heuristic vs model difficulty" in html
    assert f"Spearman rho = {rho:.3f} between the heuristic composite" in html
    assert "agreement with model_difficulty (Spearman over 60 samples with a model score)" in html
    assert f'<td class="text">{HEURISTIC}</td><td class="">{rho:.3f}</td>' in html
    png = validity_figure(view.validity).png
    assert png.startswith(b"\x89PNG")
