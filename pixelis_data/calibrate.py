"""``pixelis calibrate``: how well the difficulty factors agree with a model's per-sample loss, and better weights.

Given a scores file and a model-scores file (joined on sample_id, inner):

1. **Agreement per column.** For every registry factor column in the scores file and for the composite
   ``difficulty_score``: Spearman's rank correlation with ``model_loss`` and a 95% percentile-bootstrap
   interval (``n_boot`` resamples of the joined samples, ``np.random.default_rng(seed)``, the same
   resamples for every column; ``pixelis_data/stats.py``).
2. **Fit.** A seeded random half of the samples (``default_rng(seed).permutation(n)``, the first n // 2)
   fits non-negative weights of the built-in factors: non-negative least squares (Lawson-Hanson) of the
   percentile ranks of ``model_loss`` on the factor values, both centred (an intercept does not change an
   order). The weights are scaled to sum to the current ``score.weights`` total and rounded to 6 decimals.
3. **Held-out check.** On the other half: Spearman (with its bootstrap interval) of the weighted factor
   sum (unclipped) with ``model_loss``, under the current weights ("before") and the fitted ones ("after").
   The factors agree with the model when ``after >= AGREEMENT_MIN`` and its interval excludes 0; otherwise
   the result says plainly that no weighting of the heuristic factors agrees with the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pixelis_core.atomic import write_json_atomic, write_text_atomic
from pixelis_core.config_io import dump_yaml
from pixelis_core.json_safe import json_safe
from pixelis_data.config import DataConfig
from pixelis_data.factor_registry import FACTORS, REGISTRY_COLUMNS
from pixelis_data.model_scores import ID, LOSS, read_model_scores
from pixelis_data.schema import SCORE_COLUMN
from pixelis_data.stats import bootstrap_spearman, nnls, percentile_interval, percentile_ranks, spearman

AGREEMENT_MIN = 0.3
"""Held-out Spearman the fitted weights must reach (with an interval above 0) to count as agreeing."""
MIN_SAMPLES = 10
"""Joined samples needed: each half must hold a few samples to fit on and to check on."""
WEIGHT_DIGITS = 6


class CalibrationError(ValueError):
    """Inputs calibration cannot use; one line naming the file and the problem."""


@dataclass(frozen=True)
class Agreement:
    """Spearman of one column (or weighted sum) with model_loss, and its bootstrap interval."""

    column: str
    spearman: float
    low: float
    high: float
    n: int
    n_undefined: int
    """Bootstrap resamples on which the correlation was undefined (a constant side)."""


@dataclass(frozen=True)
class Fit:
    """Weights fitted on one half, checked on the other."""

    n_fit: int
    n_test: int
    current: dict[str, float]
    fitted: dict[str, float] | None
    """Scaled to the current total; None when every NNLS coefficient is 0 (no weighting agrees)."""
    before: Agreement
    after: Agreement | None
    agrees: bool
    verdict: str


@dataclass(frozen=True)
class Calibration:
    """Everything `pixelis calibrate` reports (and writes with ``--json``)."""

    scores: str
    model_scores: str
    n_scores: int
    n_model: int
    n_joined: int
    n_without_model: int
    """Scored samples that have no row in the model-scores file (left out)."""
    n_without_score: int
    """Model-score rows whose sample_id is not in the scores file (left out)."""
    seed: int
    n_boot: int
    agreement: list[Agreement]
    fit: Fit

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"agreement_min": AGREEMENT_MIN}


def _read_scores(path: Path) -> tuple[pl.DataFrame, list[str]]:
    if not path.is_file():
        raise CalibrationError(f"{path}: scores: no such file")
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError) as err:
        raise CalibrationError(f"{path}: not a readable Parquet file ({str(err).splitlines()[0]})") from None
    missing = [c for c in (ID, *FACTORS, SCORE_COLUMN) if c not in names]
    if missing:
        raise CalibrationError(f"{path}: missing column(s) {', '.join(missing)}; is it a `pixelis score` output?")
    columns = [c for c in REGISTRY_COLUMNS if c in names]
    frame = pl.read_parquet(path, columns=[ID, *columns, SCORE_COLUMN])
    if n := frame.select(pl.col(ID).is_null().sum() + pl.col(ID).is_duplicated().sum()).item():
        raise CalibrationError(f"{path}: {n} row(s) with a null or repeated {ID}")
    return frame, columns


def _agreement(name: str, x: np.ndarray, y: np.ndarray, replicates: np.ndarray) -> Agreement:
    low, high = percentile_interval(replicates)
    return Agreement(name, spearman(x, y), low, high, len(y), int(np.isnan(replicates).sum()))


def agreements(
    columns: dict[str, np.ndarray], loss: np.ndarray, n_boot: int, seed: int, progress: Callable[[int], None] | None
) -> list[Agreement]:
    """Spearman with ``loss`` and bootstrap interval of every column (paired resamples)."""
    matrix = np.column_stack(list(columns.values()))
    reps = bootstrap_spearman(matrix, loss, n_boot, seed, progress)
    return [_agreement(name, matrix[:, k], loss, reps[:, k]) for k, name in enumerate(columns)]


def fit_weights(factors: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Non-negative weights whose weighted factor sum best fits the loss's percentile ranks (centred NNLS)."""
    target = percentile_ranks(loss)
    return nnls(factors - factors.mean(axis=0), target - target.mean())


def _verdict(after: Agreement | None) -> tuple[bool, str]:
    if after is None:
        return False, (
            "no non-negative weighting of the heuristic factors agrees with the model: every fitted weight is 0"
        )
    agrees = after.spearman >= AGREEMENT_MIN and after.low > 0
    if agrees:
        return True, (
            f"the fitted weights agree with the model on held-out samples (Spearman {after.spearman:.3f}, "
            f"95% interval {after.low:.3f} to {after.high:.3f})"
        )
    return False, (
        f"no weighting of the heuristic factors agrees with the model: held-out Spearman after fitting is "
        f"{after.spearman:.3f} (95% interval {after.low:.3f} to {after.high:.3f}; agreement needs >= "
        f"{AGREEMENT_MIN} with the interval above 0); the factors do not measure what the model finds hard"
    )


def fit_and_check(
    factors: dict[str, np.ndarray],
    loss: np.ndarray,
    current: dict[str, float],
    n_boot: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> Fit:
    """Fit on a seeded random half, compare current and fitted weights on the other half."""
    names = list(factors)
    matrix = np.column_stack([factors[c] for c in names])
    order = np.random.default_rng(seed).permutation(len(loss))
    fit_rows, test_rows = order[: len(loss) // 2], order[len(loss) // 2 :]
    raw = fit_weights(matrix[fit_rows], loss[fit_rows])
    total = sum(current.values())
    fitted = None
    if raw.sum() > 0:
        fitted = {c: round(float(w) * total / float(raw.sum()), WEIGHT_DIGITS) for c, w in zip(names, raw, strict=True)}
    sums = {"current weights": matrix[test_rows] @ np.array([current.get(c, 0.0) for c in names])}
    if fitted is not None:
        sums["fitted weights"] = matrix[test_rows] @ np.array([fitted[c] for c in names])
    held_out = agreements(sums, loss[test_rows], n_boot, seed, progress)
    after = held_out[1] if fitted is not None else None
    agrees, verdict = _verdict(after)
    return Fit(len(fit_rows), len(test_rows), current, fitted, held_out[0], after, agrees, verdict)


def calibrate(
    scores_path: str | Path,
    model_path: str | Path,
    config: DataConfig | None = None,
    *,
    seed: int = 0,
    n_boot: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> Calibration:
    """Agreement of every factor with the model, and weights fitted to it (module docstring).

    ``progress(k)`` is called as bootstrap resamples finish (``bootstrap_steps`` in all). Raises
    CalibrationError (and ModelScoresError for a bad model-scores file).
    """
    config = config or DataConfig()
    scores_path, model_path = Path(scores_path), Path(model_path)
    scores, columns = _read_scores(scores_path)
    model = read_model_scores(model_path)
    joined = scores.join(model, on=ID, how="inner", maintain_order="left")
    if joined.height < MIN_SAMPLES:
        raise CalibrationError(
            f"{model_path}: only {joined.height} sample(s) of {scores_path} have a model score; calibration needs "
            f"at least {MIN_SAMPLES}"
        )
    loss = joined[LOSS].to_numpy()
    values = {c: joined[c].cast(pl.Float64).to_numpy() for c in [*columns, SCORE_COLUMN]}
    agreement = agreements(values, loss, n_boot, seed, progress)
    factors = {c: values[c] for c in FACTORS}
    current = {c: float(config.score.weights.get(c, 0.0)) for c in FACTORS}
    fit = fit_and_check(factors, loss, current, n_boot, seed, progress)
    return Calibration(
        scores=str(scores_path),
        model_scores=str(model_path),
        n_scores=scores.height,
        n_model=model.height,
        n_joined=joined.height,
        n_without_model=scores.height - joined.height,
        n_without_score=model.height - joined.height,
        seed=seed,
        n_boot=n_boot,
        agreement=agreement,
        fit=fit,
    )


def bootstrap_steps(n_boot: int) -> int:
    """Resamples ``calibrate`` runs: one bootstrap over all columns, one over the held-out half."""
    return 2 * n_boot


def write_fitted_config(result: Calibration, config: DataConfig, path: str | Path) -> bool:
    """Write ``config`` with ``score.weights`` replaced by the fitted weights (atomically); False when none."""
    fitted = result.fit.fitted
    if fitted is None:
        return False
    data = replace(config, score=replace(config.score, weights=dict(fitted)))
    after = result.fit.after
    held_out = f"{result.fit.before.spearman:.3f} -> {after.spearman:.3f}" if after is not None else "n/a"
    header = (
        f"# pixelis calibrate {result.scores} {result.model_scores} (seed {result.seed}): score.weights fitted to\n"
        f"# the model's loss ranks; held-out Spearman with model_loss, current -> fitted weights: {held_out}.\n"
        f"# {result.fit.verdict}\n"
    )
    write_text_atomic(path, header + dump_yaml(data))
    return True


def write_json(result: Calibration, path: str | Path) -> None:
    """Every number of the calibration as JSON (NaN -> null), atomically."""
    write_json_atomic(path, json_safe(result.to_dict()))
