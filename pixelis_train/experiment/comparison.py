"""The comparison of an experiment's arms: ``comparison.json`` (written atomically) and its reader.

Per arm, over its finished runs (seeds): the mean and Student t interval of every final metric per
scope (category or overall); the learning curve (mean and interval of the overall token accuracy and
loss at each eval step every seed has); the steps each seed needed to reach 90% of the best arm's mean
final token accuracy. Against the reference arm (``none`` when it is among the arms, else the first),
the paired differences (same seed) with their intervals, and the verdict (``verdict.py``). Runs that
did not finish are listed with their state and left out of every number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pixelis_core.atomic import write_json_atomic
from pixelis_core.json_safe import json_safe
from pixelis_data.schema import CATEGORIES
from pixelis_train.experiment.arms import COMPARISON_FILE, ExperimentPlan
from pixelis_train.experiment.results import HIGHER_IS_BETTER, METRICS, OVERALL, RunResult
from pixelis_train.experiment.stats import mean_interval, paired_difference
from pixelis_train.experiment.verdict import verdict_text

FORMAT_VERSION = 1
CONFIDENCE = 0.95
TARGET_FRACTION = 0.9
"""Steps-to-target: the first eval step reaching this share of the best arm's mean final token accuracy."""
REFERENCE_ARM = "none"


class ComparisonError(ValueError):
    """A comparison.json that is missing or not one this version wrote."""


def reference_arm(arms: Sequence[str]) -> str:
    """The arm the others are paired against: plain training ('none') when it is an arm, else the first."""
    return REFERENCE_ARM if REFERENCE_ARM in arms else arms[0]


def steps_to_reach(curve: Sequence[tuple[int, float | None, float | None]], threshold: float) -> int | None:
    """The first eval step whose overall token accuracy is >= ``threshold`` (None if none is)."""
    return next((step for step, acc, _ in curve if acc is not None and acc >= threshold), None)


def _scopes(runs: Sequence[RunResult]) -> list[str]:
    present = {scope for r in runs for scope in r.final}
    return [OVERALL] + [c for c in CATEGORIES if c in present] + sorted(present - {OVERALL, *CATEGORIES})


def _final_summary(runs: list[RunResult], scopes: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for scope in scopes:
        out[scope] = {}
        for metric in METRICS:
            per_seed = {r.seed: r.final.get(scope, {}).get(metric) for r in runs}
            known = [v for v in per_seed.values() if v is not None]
            interval = mean_interval(known, CONFIDENCE).to_json()
            out[scope][metric] = {**interval, "per_seed": {str(s): v for s, v in per_seed.items()}}
    return out


def _curve_summary(runs: list[RunResult]) -> list[dict[str, Any]]:
    """Mean and interval per eval step, on the steps every counted seed evaluated."""
    if not runs:
        return []
    common = set.intersection(*({step for step, _, _ in r.curve} for r in runs))
    points = []
    for step in sorted(common):
        values = [next(p for p in r.curve if p[0] == step) for r in runs]
        acc = [a for _, a, _ in values if a is not None]
        loss = [x for _, _, x in values if x is not None]
        points.append(
            {
                "step": step,
                "n": len(values),
                "token_accuracy": mean_interval(acc, CONFIDENCE).to_json(),
                "loss": mean_interval(loss, CONFIDENCE).to_json(),
            }
        )
    return points


def _target(arms: dict[str, dict[str, Any]]) -> dict[str, Any]:
    means = {a: s["final"][OVERALL]["token_accuracy"]["mean"] for a, s in arms.items() if s["final"]}
    means = {a: m for a, m in means.items() if m is not None}
    if not means:
        return {
            "fraction": TARGET_FRACTION,
            "best_arm": None,
            "best_final_token_accuracy": None,
            "token_accuracy": None,
        }
    best = max(means, key=lambda a: means[a])  # ties: the first arm in --arms order
    return {
        "fraction": TARGET_FRACTION,
        "best_arm": best,
        "best_final_token_accuracy": means[best],
        "token_accuracy": TARGET_FRACTION * means[best],
    }


def _differences(by_arm: dict[str, list[RunResult]], reference: str, scopes: list[str]) -> dict[str, Any]:
    ref = by_arm.get(reference, [])
    out: dict[str, Any] = {}
    for arm, runs in by_arm.items():
        if arm == reference:
            continue
        entry: dict[str, Any] = {"against": reference, "seeds": [], "scopes": {}}
        for scope in scopes:
            entry["scopes"][scope] = {}
            for metric in METRICS:
                values = {r.seed: r.final.get(scope, {}).get(metric) for r in runs}
                base = {r.seed: r.final.get(scope, {}).get(metric) for r in ref}
                interval, seeds = paired_difference(values, base, CONFIDENCE)
                entry["scopes"][scope][metric] = {**interval.to_json(), "seeds": seeds}
                if scope == OVERALL and metric == "token_accuracy":
                    entry["seeds"] = seeds
        out[arm] = entry
    return out


def compare(plan: ExperimentPlan, results: Sequence[RunResult]) -> dict[str, Any]:
    """The whole comparison as a JSON-ready dict (see the module docstring; docs/curriculum.md)."""
    by_arm = {arm: [r for r in results if r.arm == arm and r.counted] for arm in plan.arms}
    scopes = _scopes([r for runs in by_arm.values() for r in runs])
    arms: dict[str, dict[str, Any]] = {}
    for arm, runs in by_arm.items():
        arms[arm] = {
            "seeds_counted": [r.seed for r in runs],
            "seeds_not_finished": [r.seed for r in results if r.arm == arm and not r.counted],
            "final": _final_summary(runs, scopes) if runs else {},
            "curve": _curve_summary(runs),
        }
    target = _target(arms)
    for arm, runs in by_arm.items():
        per_seed = {
            r.seed: None if target["token_accuracy"] is None else steps_to_reach(r.curve, target["token_accuracy"])
            for r in runs
        }
        reached = [s for s in per_seed.values() if s is not None]
        arms[arm]["steps_to_target"] = {
            "per_seed": {str(s): v for s, v in per_seed.items()},
            "reached": len(reached),
            "n": len(per_seed),
            "mean": mean_interval(reached, CONFIDENCE).mean,
        }
    reference = reference_arm(plan.arms)
    comparison = {
        "format_version": FORMAT_VERSION,
        "plan": plan.to_json(),
        "confidence": CONFIDENCE,
        "reference": reference,
        "metrics": list(METRICS),
        "higher_is_better": dict(HIGHER_IS_BETTER),
        "scopes": scopes,
        "target": target,
        "arms": arms,
        "differences": _differences(by_arm, reference, scopes),
        "runs": [r.to_json() for r in results],
    }
    comparison["verdict"] = verdict_text(comparison)
    return json_safe(comparison)


def write_comparison(out_dir: Path, comparison: dict[str, Any]) -> Path:
    """``OUT/comparison.json``, atomically."""
    path = Path(out_dir) / COMPARISON_FILE
    write_json_atomic(path, comparison)
    return path


def read_comparison(out_dir: Path) -> dict[str, Any]:
    """The comparison.json of an experiment directory (ComparisonError naming what is wrong)."""
    path = Path(out_dir) / COMPARISON_FILE
    if not path.is_file():
        raise ComparisonError(f"{path}: missing (run `pixelis experiment` with --out {out_dir})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ComparisonError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        version = data.get("format_version") if isinstance(data, dict) else None
        raise ComparisonError(
            f"{path}: format_version {version!r} is not {FORMAT_VERSION} (rerun `pixelis experiment`)"
        )
    missing = [k for k in ("plan", "arms", "differences", "runs", "verdict", "reference") if k not in data]
    if missing:
        raise ComparisonError(f"{path}: missing key(s) {', '.join(missing)}")
    return data
