"""A seeded synthetic learner for ``pixelis curriculum simulate --model`` (docs/curriculum.md).

Each category c has an exposure E_c: every optimizer step trained on mixture w adds
``w_c + transfer * (1 - w_c)`` (training on other categories helps c a little). Performance is

    perf_c(t) = floor + (ceil_c - floor) * (1 - exp(-E_c(t) / tau_c)) - dip(t) + noise,

clipped to [0, 1], with noise ~ N(0, noise^2) drawn from ``random.Random(seed)`` in a fixed order.
``dip`` models a collapse on harder data: whenever the hard share of the mixture in force rises by
Δh (weights change at step t_k), every category loses ``collapse * Δh * (1 - progress_hard(t_k))``,
recovering as exp(-(t - t_k) / recovery); progress_hard = 1 - exp(-E_hard / tau_hard), so a model
that already knows some hard data collapses less. ``collapse = 0`` (the default) is a steady learner.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, fields
from typing import Any

from pixelis_core.config_io import ConfigError, Problems, from_dict, is_number
from pixelis_data.schema import CATEGORIES


@dataclass(frozen=True)
class LearningCurveModel:
    """Parameters of the synthetic learner (parse them with :func:`parse_model`)."""

    floor: float = 0.2
    """Performance of the untrained model on every category."""
    ceil_simple: float = 0.95
    """Performance the model tends to on simple data."""
    ceil_medium: float = 0.9
    """Performance the model tends to on medium data."""
    ceil_hard: float = 0.85
    """Performance the model tends to on hard data."""
    tau_simple: float = 600.0
    """Exposure (steps) to reach 63% of the way from floor to ceiling on simple data."""
    tau_medium: float = 900.0
    """The same for medium data."""
    tau_hard: float = 1500.0
    """The same for hard data."""
    transfer: float = 0.85
    """Exposure a category gets from a step spent on other categories (0: none, 1: as if trained on it)."""
    noise: float = 0.005
    """Standard deviation of the Gaussian noise added to each measured performance."""
    collapse: float = 0.0
    """Performance lost per unit rise of the hard share (scaled by how little hard data is learned)."""
    recovery: float = 1000.0
    """Time constant (steps) in which a collapse recovers."""
    seed: int = 0
    """Seed of the noise."""

    def __post_init__(self) -> None:
        p = Problems()
        p.number("floor", self.floor, 0, 1, high_open=True)
        for c in CATEGORIES:
            ceil, tau = getattr(self, f"ceil_{c}"), getattr(self, f"tau_{c}")
            p.check(
                is_number(ceil) and self.floor <= ceil <= 1.0,
                f"ceil_{c}: must be in [floor={self.floor}, 1] (got {ceil})",
            )
            p.check(is_number(tau) and tau > 0, f"tau_{c}: must be > 0 (got {tau})")
        p.number("transfer", self.transfer, 0, 1)
        p.number("noise", self.noise, 0, 0.5)
        p.number("collapse", self.collapse, 0, 10)
        p.check(is_number(self.recovery) and self.recovery > 0, f"recovery: must be > 0 (got {self.recovery})")
        p.integer("seed", self.seed, 0)
        p.raise_if_any()

    def describe(self) -> str:
        """``key=value,...`` text that :func:`parse_model` reads back to this model."""
        return ",".join(f"{f.name}={getattr(self, f.name):g}" for f in fields(self))


def _number(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text


def parse_model(text: str) -> LearningCurveModel:
    """``"tau_simple=800,collapse=1.5,seed=0"`` -> model (unset keys keep their defaults; "default" = all).

    Raises ``ConfigError`` listing every bad item (unknown key, not a number, out of range).
    """
    text = text.strip()
    if text in ("", "default"):
        return LearningCurveModel()
    data: dict[str, Any] = {}
    problems: list[str] = []
    for item in text.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not value:
            problems.append(f"{item.strip()!r}: expected key=value")
        elif key in data:
            problems.append(f"{key}: given twice")
        else:
            data[key] = _number(value)
    if problems:
        raise ConfigError(problems)
    return from_dict(LearningCurveModel, data)


class SyntheticLearner:
    """The model's learner: ``train`` on a mixture for a span of steps, then ``evaluate``."""

    def __init__(self, model: LearningCurveModel) -> None:
        self.model = model
        self.exposure = dict.fromkeys(CATEGORIES, 0.0)
        self.dips: list[tuple[int, float]] = []
        self.hard_share: float | None = None
        self.rng = random.Random(model.seed)

    def progress(self, category: str) -> float:
        """Fraction of the way from floor to ceiling learned on ``category`` (without dips or noise)."""
        return 1.0 - math.exp(-self.exposure[category] / getattr(self.model, f"tau_{category}"))

    def train(self, weights: dict[str, float], start: int, end: int) -> None:
        """Steps ``start+1 .. end`` trained on ``weights``."""
        m = self.model
        hard = weights.get("hard", 0.0)
        if self.hard_share is not None and hard > self.hard_share and m.collapse > 0:
            self.dips.append((start, m.collapse * (hard - self.hard_share) * (1.0 - self.progress("hard"))))
        self.hard_share = hard
        for c in CATEGORIES:
            w = weights.get(c, 0.0)
            self.exposure[c] += (end - start) * (w + m.transfer * (1.0 - w))

    def evaluate(self, step: int) -> dict[str, float]:
        """Per-category performance at ``step`` (draws the noise, so call it once per evaluation)."""
        m = self.model
        dip = sum(size * math.exp(-(step - at) / m.recovery) for at, size in self.dips if step > at)
        out = {}
        for c in CATEGORIES:
            ceil = getattr(m, f"ceil_{c}")
            value = m.floor + (ceil - m.floor) * self.progress(c) - dip + self.rng.gauss(0.0, m.noise)
            out[c] = min(1.0, max(0.0, value))
        return out
