"""The comparison as rows of text: one table for the terminal (``pixelis experiment``) and the report.

A value without an interval (one seed) is shown as its mean alone; a metric that is not available
(answer accuracy not computed, no finished run) as "n/a".
"""

from __future__ import annotations

from typing import Any

from pixelis_train.experiment.results import OVERALL

NOT_AVAILABLE = "n/a"
METRIC_LABELS = {"token_accuracy": "token acc", "loss": "loss", "answer_accuracy": "answer acc"}


def arms_in_order(comparison: dict[str, Any]) -> list[str]:
    """The arms in --arms order (comparison.json's objects are key-sorted)."""
    return [a for a in comparison["plan"]["arms"] if a in comparison["arms"]]


def differences_in_order(comparison: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(arm, paired differences) in --arms order."""
    return [(a, comparison["differences"][a]) for a in comparison["plan"]["arms"] if a in comparison["differences"]]


def format_interval(d: dict[str, Any] | None, digits: int = 3, signed: bool = False) -> str:
    """``0.512 [0.490, 0.534]``; the mean alone without an interval; n/a without a mean."""
    if not d or d.get("mean") is None:
        return NOT_AVAILABLE
    fmt = f"{{:{'+' if signed else ''}.{digits}f}}"
    text = fmt.format(d["mean"])
    if d.get("low") is not None and d.get("high") is not None:
        text += f" [{fmt.format(d['low'])}, {fmt.format(d['high'])}]"
    return text


def comparison_table(comparison: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Columns and one row per arm: runs counted, final overall metrics, steps to target, Δ vs reference."""
    reference = comparison["reference"]
    pct = round(comparison["confidence"] * 100)
    target = comparison["target"]
    fraction = round(target["fraction"] * 100)
    columns = [
        "arm",
        "runs",
        *(f"{METRIC_LABELS[m]} ({pct}% CI)" for m in comparison["metrics"]),
        f"steps to {fraction}% of best",
        f"Δ token acc vs {reference}",
    ]
    rows = []
    for arm in arms_in_order(comparison):
        summary = comparison["arms"][arm]
        n_seeds = len(comparison["plan"]["seeds"])
        final = summary["final"].get(OVERALL, {})
        steps = summary["steps_to_target"]
        reached = (
            f"{steps['mean']:.0f} ({steps['reached']}/{steps['n']})"
            if steps["mean"] is not None
            else (f"never (0/{steps['n']})" if steps["n"] else NOT_AVAILABLE)
        )
        if arm == reference:
            delta = "reference"
        else:
            diff = comparison["differences"][arm]["scopes"].get(OVERALL, {}).get("token_accuracy")
            delta = format_interval(diff, signed=True)
        rows.append(
            [
                arm,
                f"{len(summary['seeds_counted'])}/{n_seeds}",
                *(format_interval(final.get(m), 4 if m == "loss" else 3) for m in comparison["metrics"]),
                reached,
                delta,
            ]
        )
    return columns, rows


def difference_table(comparison: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Every paired difference: arm, scope (overall and each category), one column per metric."""
    pct = round(comparison["confidence"] * 100)
    columns = ["arm", "scope", "pairs", *(f"Δ {METRIC_LABELS[m]} ({pct}% CI)" for m in comparison["metrics"])]
    rows = []
    for arm, diff in differences_in_order(comparison):
        for scope in comparison["scopes"]:
            by_metric = diff["scopes"].get(scope, {})
            pairs = max((d["n"] for d in by_metric.values()), default=0)
            rows.append(
                [
                    f"{arm} - {diff['against']}",
                    scope,
                    str(pairs),
                    *(
                        format_interval(by_metric.get(m), 4 if m == "loss" else 3, signed=True)
                        for m in comparison["metrics"]
                    ),
                ]
            )
    return columns, rows


def runs_table(comparison: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per run: state, final step, final overall metrics, steps to target."""
    columns = ["run", "state", "final step", *(METRIC_LABELS[m] for m in comparison["metrics"]), "steps to target"]
    rows = []
    for run in comparison["runs"]:
        overall = run["final"].get(OVERALL, {})
        steps = comparison["arms"].get(run["arm"], {}).get("steps_to_target", {}).get("per_seed", {})
        state = run["state"] + (" (failed: see error.txt)" if run["failed"] else "")
        reached = steps.get(str(run["seed"]))
        rows.append(
            [
                f"{run['arm']}-seed{run['seed']}",
                state,
                NOT_AVAILABLE if run["final_step"] is None else str(run["final_step"]),
                *(
                    NOT_AVAILABLE if overall.get(m) is None else f"{overall[m]:.{4 if m == 'loss' else 3}f}"
                    for m in comparison["metrics"]
                ),
                ("never" if run["state"] == "finished" else NOT_AVAILABLE) if reached is None else str(reached),
            ]
        )
    return columns, rows
