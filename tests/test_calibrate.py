"""`pixelis calibrate`: rank statistics and NNLS against plain numpy oracles, known weights recovered on
synthetic factors, the bootstrap against a plain loop, the fitted config, and the CLI."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_core.config_io import load_yaml
from pixelis_data.calibrate import AGREEMENT_MIN, calibrate
from pixelis_data.config import DataConfig
from pixelis_data.factor_registry import FACTORS
from pixelis_data.stats import average_ranks, bootstrap_spearman, nnls, percentile_interval, spearman

runner = CliRunner()
NAMES = list(FACTORS)


def ranks_oracle(x: np.ndarray) -> np.ndarray:
    """Average 1-based ranks by their definition: values below + (values equal + 1) / 2."""
    x = np.asarray(x, dtype=float)
    return (x[None, :] < x[:, None]).sum(axis=1) + ((x[None, :] == x[:, None]).sum(axis=1) + 1) / 2


def spearman_oracle(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = ranks_oracle(x), ranks_oracle(y)
    return float("nan") if rx.std() == 0 or ry.std() == 0 else float(np.corrcoef(rx, ry)[0, 1])


def nnls_oracle(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest residual over every support set whose unconstrained solution is non-negative."""
    best = float(np.sum(b**2))
    for k in range(1, a.shape[1] + 1):
        for support in itertools.combinations(range(a.shape[1]), k):
            z = np.linalg.lstsq(a[:, list(support)], b, rcond=None)[0]
            if (z >= 0).all():
                best = min(best, float(np.sum((a[:, list(support)] @ z - b) ** 2)))
    return best


def test_ranks_and_spearman_match_their_definitions():
    rng = np.random.default_rng(0)
    for _ in range(30):
        x = rng.integers(0, 6, size=rng.integers(2, 40)).astype(float)
        y = x * rng.choice([-1.0, 1.0]) + rng.normal(size=len(x))
        np.testing.assert_array_equal(average_ranks(x), ranks_oracle(x))
        assert spearman(x, y) == pytest.approx(spearman_oracle(x, y), abs=1e-12, nan_ok=True)
    assert np.isnan(spearman(np.ones(5), np.arange(5.0)))


def test_nnls_reaches_the_brute_force_optimum():
    rng = np.random.default_rng(1)
    for trial in range(200):
        m, n = int(rng.integers(3, 25)), int(rng.integers(1, 6))
        a = rng.normal(size=(m, n))
        if trial % 5 == 0:
            a[:, 0] = 0.0  # a constant (centred) factor: it must stay at 0
        if trial % 7 == 0 and n > 1:
            a[:, -1] = a[:, 0] * 2  # collinear columns
        b = rng.normal(size=m)
        x = nnls(a, b)
        assert (x >= 0).all()
        assert np.sum((a @ x - b) ** 2) <= nnls_oracle(a, b) + 1e-9
        if trial % 5 == 0:
            assert x[0] == 0.0


def test_bootstrap_interval_equals_a_plain_loop():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 4, size=40).astype(float)  # ties, and resamples where x is constant are unlikely
    y = x + rng.normal(size=40)
    reps = bootstrap_spearman(np.column_stack([x, -x]), y, 300, seed=7)
    draw = np.random.default_rng(7)
    loop = []
    for _ in range(300):
        idx = draw.integers(0, 40, size=40)
        loop.append(spearman_oracle(x[idx], y[idx]))
    np.testing.assert_allclose(reps[:, 0], loop, atol=1e-12)
    np.testing.assert_allclose(reps[:, 1], -np.array(loop), atol=1e-12)
    low, high = percentile_interval(reps[:, 0])
    assert (low, high) == pytest.approx(tuple(np.percentile(loop, [2.5, 97.5])), abs=1e-12)


def write_pair(tmp_path: Path, factors: np.ndarray, loss: np.ndarray, extra_ids: int = 0) -> tuple[Path, Path]:
    """A scores file with the five factor columns and a model-scores file for the same ids."""
    n = len(loss)
    ids = [f"s{i:05d}" for i in range(n)]
    scores = pl.DataFrame({"sample_id": ids, **{c: factors[:, k] for k, c in enumerate(NAMES)}})
    scores = scores.with_columns(difficulty_score=pl.sum_horizontal(NAMES) / 5)
    scores.write_parquet(tmp_path / "data.scores.parquet")
    model_ids = ids + [f"other{i}" for i in range(extra_ids)]
    model_loss = np.r_[loss, np.ones(extra_ids)]
    pl.DataFrame({"sample_id": model_ids, "model_loss": model_loss}).write_parquet(tmp_path / "m.parquet")
    return tmp_path / "data.scores.parquet", tmp_path / "m.parquet"


TRUE_WEIGHTS = np.array([0.4, 0.3, 0.2, 0.1, 0.0])


def test_known_non_negative_weights_are_recovered(tmp_path):
    rng = np.random.default_rng(4)
    factors = rng.normal(size=(4000, 5))  # Gaussian factors: least squares on the loss ranks keeps w's direction
    loss = factors @ TRUE_WEIGHTS + rng.normal(scale=0.02, size=4000)
    scores, model = write_pair(tmp_path, factors, loss, extra_ids=3)
    result = calibrate(scores, model, seed=1, n_boot=50)
    fitted = np.array([result.fit.fitted[c] for c in NAMES])
    assert sum(fitted) == pytest.approx(1.0, abs=1e-5)  # scaled to the current weights' total
    np.testing.assert_allclose(fitted, TRUE_WEIGHTS / TRUE_WEIGHTS.sum(), atol=0.01)
    assert result.fit.after.spearman > 0.95 and result.fit.agrees
    assert result.fit.after.spearman > result.fit.before.spearman
    assert "agree with the model on held-out samples" in result.fit.verdict
    assert (result.n_joined, result.n_without_model, result.n_without_score) == (4000, 0, 3)
    assert (result.fit.n_fit, result.fit.n_test) == (2000, 2000)
    by_column = {a.column: a for a in result.agreement}
    for k, c in enumerate(NAMES):
        assert by_column[c].spearman == pytest.approx(spearman_oracle(factors[:, k], loss), abs=1e-12)
    assert (
        by_column["trajectory_complexity"].low > 0.3
        and by_column["task_type_score"].low < 0 < by_column["task_type_score"].high
    )


def test_agreement_interval_is_the_bootstrap_of_the_joined_samples(tmp_path):
    rng = np.random.default_rng(6)
    factors = rng.integers(0, 5, size=(60, 5)).astype(float)
    loss = factors[:, 1] + rng.normal(size=60)
    scores, model = write_pair(tmp_path, factors, loss)
    result = calibrate(scores, model, seed=9, n_boot=200)
    draw = np.random.default_rng(9)
    loop = []
    for _ in range(200):
        idx = draw.integers(0, 60, size=60)
        loop.append(spearman_oracle(factors[idx, 1], loss[idx]))
    column = next(a for a in result.agreement if a.column == "operation_sophistication")
    assert (column.low, column.high) == pytest.approx(tuple(np.percentile(loop, [2.5, 97.5])), abs=1e-12)


def test_no_agreement_is_said_plainly(tmp_path):
    rng = np.random.default_rng(8)
    factors = rng.normal(size=(400, 5))
    scores, model = write_pair(tmp_path, factors, rng.normal(size=400))  # a loss unrelated to every factor
    result = calibrate(scores, model, seed=0, n_boot=100)
    assert not result.fit.agrees and result.fit.fitted is not None  # some weights, but they do not carry over
    assert result.fit.after.spearman < AGREEMENT_MIN and result.fit.after.low < 0 < result.fit.after.high
    assert result.fit.verdict.startswith(
        f"no weighting of the heuristic factors agrees with the model: held-out Spearman after fitting is "
        f"{result.fit.after.spearman:.3f}"
    )


def test_cli_writes_the_fitted_config_and_json(tmp_path):
    rng = np.random.default_rng(10)
    factors = rng.normal(size=(600, 5))
    loss = factors @ TRUE_WEIGHTS + rng.normal(scale=0.05, size=600)
    scores, model = write_pair(tmp_path, factors, loss)
    out = tmp_path / "cal.json"
    result = runner.invoke(app, ["calibrate", str(scores), str(model), "--json", str(out), "--bootstrap", "100"])
    assert result.exit_code == 0, result.output
    fitted_path = tmp_path / "data.fitted.yaml"  # beside SCORES by default
    report = json.loads(out.read_text())
    fitted = load_yaml(DataConfig, fitted_path)
    assert fitted.score.weights == report["fit"]["fitted"]
    assert fitted.read == DataConfig().read and fitted.split == DataConfig().split
    assert {a["column"] for a in report["agreement"]} == {*NAMES, "difficulty_score"}
    assert report["fit"]["agrees"] is True and report["n_boot"] == 100 and report["agreement_min"] == AGREEMENT_MIN
    text = " ".join(result.output.split())
    assert "Spearman rho with model_loss" in text and "held-out half (300 samples; fitted on 300)" in text
    assert f"wrote {fitted_path}" in text
    again = tmp_path / "again.json"
    runner.invoke(
        app,
        [
            "calibrate",
            str(scores),
            str(model),
            "--json",
            str(again),
            "--bootstrap",
            "100",
            "-o",
            str(tmp_path / "b.yaml"),
        ],
    )
    assert again.read_text() == out.read_text()  # seeded: the same numbers
    other = runner.invoke(
        app, ["calibrate", str(scores), str(model), "--seed", "3", "--bootstrap", "20", "-o", str(tmp_path / "c.yaml")]
    )
    assert other.exit_code == 0 and (tmp_path / "c.yaml").read_text() != fitted_path.read_text()


def test_cli_without_any_positive_weight_writes_no_config(tmp_path):
    rng = np.random.default_rng(12)
    factors = rng.normal(size=(200, 5))
    loss = -factors.sum(axis=1)  # every factor orders samples against the model
    scores, model = write_pair(tmp_path, factors, loss)
    result = runner.invoke(app, ["calibrate", str(scores), str(model), "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "no non-negative weighting of the heuristic factors agrees with the model: every fitted weight is 0" in text
    assert not (tmp_path / "data.fitted.yaml").exists()


def test_cli_errors_are_one_line_with_exit_2(tmp_path):
    rng = np.random.default_rng(13)
    scores, model = write_pair(tmp_path, rng.normal(size=(30, 5)), rng.normal(size=30))
    few = tmp_path / "few.parquet"
    pl.DataFrame({"sample_id": ["s00000", "s00001"], "model_loss": [1.0, 2.0]}).write_parquet(few)
    dup = tmp_path / "dup.parquet"
    pl.DataFrame({"sample_id": ["s00000", "s00000"], "model_loss": [1.0, 2.0]}).write_parquet(dup)
    not_scores = tmp_path / "raw.parquet"
    pl.DataFrame({"sample_id": ["a"], "question": ["q"]}).write_parquet(not_scores)
    cases = [
        ([str(scores), str(few)], "only 2 sample(s) of"),
        ([str(scores), str(dup)], "2 row(s) share a sample_id with another row"),
        ([str(tmp_path / "nope.parquet"), str(model)], "nope.parquet: scores: no such file"),
        ([str(not_scores), str(model)], "missing column(s) trajectory_complexity"),
        ([str(scores), str(tmp_path / "none.parquet")], "none.parquet: model scores: no such file"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["calibrate", *args, "--bootstrap", "10"])
        assert result.exit_code == 2, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0], result.output
    help_text = runner.invoke(app, ["calibrate", "--help"]).output
    assert "Example" in help_text and "--bootstrap" in help_text and "--seed" in help_text
