"""The curriculum stream (docs/design.md §7): deterministic, resumable, rank-aware weighted batches.

Pure numpy index planning over the memory-mapped Arrow files of a ``pixelis split`` directory; the
PyTorch wrapper lives in :mod:`pixelis_train.stream.torch_data` (the only module here importing torch).
"""

from pixelis_train.stream.config import StreamConfig
from pixelis_train.stream.labels import ShuffledLabels
from pixelis_train.stream.plan import IndexBatch, StepPlan
from pixelis_train.stream.split_files import SplitDirError, SplitFiles, check_weights
from pixelis_train.stream.stream import CurriculumStream, StreamStateError

__all__ = [
    "CurriculumStream",
    "IndexBatch",
    "ShuffledLabels",
    "SplitDirError",
    "SplitFiles",
    "StepPlan",
    "StreamConfig",
    "StreamStateError",
    "check_weights",
]
