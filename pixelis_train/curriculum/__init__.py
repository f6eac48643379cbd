"""Curriculum policy engine (docs/design.md §6): stage schedule config, adaptive / fixed / none policies, simulator.

Torch-free, so that ``pixelis curriculum simulate`` runs with only the data-side dependencies.
"""

from pixelis_train.curriculum.config import CurriculumConfig, StageConfig
from pixelis_train.curriculum.policy import CurriculumPolicy, Evaluation, Event, make_policy, stage_performance

__all__ = [
    "CurriculumConfig",
    "CurriculumPolicy",
    "Evaluation",
    "Event",
    "StageConfig",
    "make_policy",
    "stage_performance",
]
