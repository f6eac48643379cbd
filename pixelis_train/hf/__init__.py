"""Drop-in curriculum for Hugging Face ``Trainer`` and TRL ``SFTTrainer`` scripts (docs/hf.md).

``PixelisCurriculum(split_dir, args, tokenizer, curriculum=...)`` then ``curriculum.attach(trainer)``:
a dataset that feeds exactly one optimizer step's micro-batches per step on every rank, a collator with
``pixelis train``'s masked labels, and a callback that evaluates per category, asks the policy, applies
the new weights from the next step, logs ``curriculum/*`` through ``trainer.log`` and keeps its state in
the Trainer's checkpoints. Needs transformers (and torch); never trl.
"""

from pixelis_train.hf.callback import CurriculumCallback
from pixelis_train.hf.checks import HFSetupError
from pixelis_train.hf.collator import CollatorInputError, PixelisCollator
from pixelis_train.hf.curriculum import PixelisCurriculum
from pixelis_train.hf.dataset import StepDataset, StepOrderError, StepPlanner
from pixelis_train.hf.state import CheckpointStateError

__all__ = [
    "CheckpointStateError",
    "CollatorInputError",
    "CurriculumCallback",
    "HFSetupError",
    "PixelisCollator",
    "PixelisCurriculum",
    "StepDataset",
    "StepOrderError",
    "StepPlanner",
]
