"""The one-paragraph verdict of a comparison: which arm differs from the reference, by how much, how sure.

An arm whose paired-difference interval (final overall token accuracy; answer accuracy too where every
paired run has it) includes 0 gets "no difference detected"; otherwise the verdict says which arm is
better and by how much, with the interval. It always ends with the caveat of the number of seeds: few
seeds give wide intervals, and "no difference detected" is not evidence that there is none.
"""

from __future__ import annotations

from typing import Any

VERDICT_METRICS = (("token_accuracy", "token accuracy"), ("answer_accuracy", "answer accuracy"))


def _signed(x: float) -> str:
    return f"{x:+.3f}"


def _sentence(arm: str, reference: str, label: str, d: dict[str, Any], higher_is_better: bool) -> str:
    n, mean = d["n"], d["mean"]
    if n == 0 or mean is None:
        return f"{arm}: no seed with a finished run of both {arm} and {reference}, so no {label} comparison"
    if d["low"] is None:
        return (
            f"{arm}: only {n} paired seed, so no interval ({label} difference {_signed(mean)}, not a test; "
            "use --seeds 2 or more)"
        )
    interval = f"{round(d['confidence'] * 100)}% interval [{_signed(d['low'])}, {_signed(d['high'])}], {n} pairs"
    if d["low"] <= 0.0 <= d["high"]:
        return (
            f"{arm}: no difference detected in {label} against {reference} "
            f"(mean difference {_signed(mean)}, {interval})"
        )
    better = (mean > 0) == higher_is_better
    if better:
        return f"{arm} is better than {reference} by {abs(mean):.3f} {label} ({interval})"
    return f"{arm} is worse than {reference} by {abs(mean):.3f} {label} ({interval})"


def verdict_text(comparison: dict[str, Any]) -> str:
    """The verdict paragraph of a comparison dict (``comparison.compare``)."""
    reference = comparison["reference"]
    seeds = len(comparison["plan"]["seeds"])
    confidence = round(comparison["confidence"] * 100)
    sentences = []
    if not comparison["arms"].get(reference, {}).get("seeds_counted"):
        sentences.append(f"No finished run of the reference arm {reference!r}: nothing to compare against")
    elif not comparison["differences"]:
        sentences.append(f"Only the arm {reference!r} was run: there is nothing to compare it with")
    else:
        for arm in comparison["plan"]["arms"]:
            diff = comparison["differences"].get(arm)
            if diff is None:
                continue
            overall = diff["scopes"].get("overall", {})
            for metric, label in VERDICT_METRICS:
                d = overall.get(metric)
                if d is None or (metric != "token_accuracy" and d["n"] == 0):
                    continue  # answer accuracy not computed for these runs: not available, not a difference
                sentences.append(_sentence(arm, reference, label, d, comparison["higher_is_better"][metric]))
    widths = [
        d["scopes"]["overall"]["token_accuracy"]["high"] - d["scopes"]["overall"]["token_accuracy"]["low"]
        for d in comparison["differences"].values()
        if d["scopes"].get("overall", {}).get("token_accuracy", {}).get("low") is not None
    ]
    caveat = (
        f"Caveat: {seeds} seed{'s' if seeds != 1 else ''} per arm, runs paired by seed, {confidence}% Student t "
        f"intervals with {max(seeds - 1, 0)} degree{'s' if seeds != 2 else ''} of freedom"
    )
    if widths:
        caveat += (
            f"; the intervals are up to {max(widths) / 2:.3f} wide on either side, so a smaller difference would "
            "go undetected, and 'no difference detected' is not evidence that there is none (more seeds narrow "
            "the intervals roughly as 1/sqrt(seeds))"
        )
    not_finished = [f"{r['arm']}-seed{r['seed']}" for r in comparison["runs"] if r["state"] != "finished"]
    if not_finished:
        caveat += f"; left out (not finished): {', '.join(not_finished)}"
    return (
        "Verdict (final held-out metrics, paired against "
        + f"{reference!r}): "
        + "; ".join(sentences)
        + ". "
        + caveat
        + "."
    )
