"""``pixelis experiment``: an honest A/B harness for the curriculum (docs/curriculum.md, "Baselines").

Arms (curriculum policies) x seeds, each an ordinary ``pixelis train`` subprocess on the same split, model,
config, budget and eval set (``arms``, ``runner``); every run's numbers from its ``metrics.jsonl``
(``results``); means with Student t intervals and paired differences without scipy (``stats``); the
comparison.json, the verdict and the tables shared by the terminal and the report (``comparison``,
``verdict``, ``table``). Torch-free: the children import torch, this process does not.
"""

from pixelis_train.experiment.arms import ExperimentPlan, RunSpec, parse_arms, run_state
from pixelis_train.experiment.comparison import compare, read_comparison, write_comparison
from pixelis_train.experiment.runner import RunOutcome, run_experiment

__all__ = [
    "ExperimentPlan",
    "RunOutcome",
    "RunSpec",
    "compare",
    "parse_arms",
    "read_comparison",
    "run_experiment",
    "run_state",
    "write_comparison",
]
