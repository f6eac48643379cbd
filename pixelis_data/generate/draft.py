"""The contract between a task builder and the trajectory assembler.

A builder (one per task type, in ``tasks_*.py``) draws a scene and writes everything that depends on
what the image shows: the question, the true and the given answer, the observation steps, the careful
checks of a perceptual trap and the false premise of a logical trap. The assembler
(``trajectories``) decides the trajectory's length and sample-type structure from that.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from pixelis_data.generate.scene import Obj, Scene
from pixelis_data.generate.steps import Step

# How a builder should draw its sample: "plain" (positive and self-correction), "negative" (the
# observations mislead it into a wrong answer), "perceptual" (a look-alike lure, careful checks),
# "logical" (the question carries a false premise).
VARIANTS: tuple[str, ...] = ("plain", "negative", "perceptual", "logical")


@dataclass(slots=True)
class Draft:
    """A task builder's output."""

    scene: Scene
    question: str
    ground_truth: str
    answer: str  # == ground_truth except for the "negative" variant
    goal: str  # what the first planning thought says the task is
    core: list[Step]  # observation steps; core[0] alone is enough to answer, the rest verify
    conclusion: str  # the final THINK
    target: Obj  # the object the question is about
    careful: list[Step] = field(default_factory=list)  # perceptual trap: the checks against the lure
    claim: str = ""  # logical trap: the false premise stated in the question
    refutation: str = ""  # logical trap: why the observations contradict it
    lure: Obj | None = None  # the look-alike object, if the scene has one


Builder = Callable[[random.Random, int, int, str], Draft]


def plural(word: str, n: int) -> str:
    """``word`` with an 's' unless ``n`` is 1."""
    return word if n == 1 else word + "s"
