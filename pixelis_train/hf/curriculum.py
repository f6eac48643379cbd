"""``PixelisCurriculum``: what a Hugging Face ``Trainer`` / TRL ``SFTTrainer`` script adds to train on a
``pixelis split`` directory with the curriculum (docs/hf.md).

    curriculum = PixelisCurriculum(split_dir, args, tokenizer, curriculum=CurriculumConfig(...))
    trainer = Trainer(model=model, args=args, data_collator=curriculum.collator)
    curriculum.attach(trainer)          # the dataset, the callback, the argument checks
    trainer.train()                     # or trainer.train(resume_from_checkpoint=True)

It builds what ``pixelis train`` builds (``build.py``) from the same configs: the policy with the split's
category sizes, the stream (global batch = per-device batch x accumulation x world size, seed
``args.seed``), the chat formatter and the formatted eval sets, then hands the Trainer the three
pieces: :class:`StepDataset`, :class:`PixelisCollator` and :class:`CurriculumCallback`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pixelis_train._deps import require
from pixelis_train.chat import ChatFormatter
from pixelis_train.config import EvalConfig, TrainDataConfig
from pixelis_train.curriculum.config import CurriculumConfig
from pixelis_train.curriculum.events import Event
from pixelis_train.curriculum.policy import make_policy, shuffles_labels
from pixelis_train.evaluate import eval_sets
from pixelis_train.hf.callback import CurriculumCallback
from pixelis_train.hf.checks import batch_geometry, check_arguments, use_per_rank_batches
from pixelis_train.hf.collator import PixelisCollator
from pixelis_train.hf.dataset import KEY_FIELDS, StepDataset, StepPlanner
from pixelis_train.hf.state import CurriculumProgress
from pixelis_train.progress import FormatStats
from pixelis_train.stream import CurriculumStream, SplitFiles, StreamConfig


class PixelisCurriculum:
    """The curriculum, stream, collator and callback of one Trainer run over a split directory."""

    def __init__(
        self,
        split_dir: str | Path,
        args: Any,
        tokenizer: Any,
        *,
        curriculum: CurriculumConfig | None = None,
        data: TrainDataConfig | None = None,
        eval: EvalConfig | None = None,
        image_processor: Any = None,
        global_batch: int | None = None,
    ) -> None:
        self.split_dir = Path(split_dir)
        self.data_cfg = data or TrainDataConfig()
        self.eval_cfg = eval or EvalConfig()
        files = SplitFiles(self.split_dir)  # a missing manifest.json or file is a SplitDirError here
        cfg = curriculum or CurriculumConfig()
        # 'none' with static_weights null mixes in proportion to the split's drawable rows, as in pixelis train
        self.cfg = cfg.with_category_sizes({c: f.n_drawable for c, f in files.categories.items()})
        self.policy = make_policy(self.cfg)
        self.global_batch, self.micro_batch, self.world_size, rank = batch_geometry(args, global_batch)
        self.stream = CurriculumStream(
            files,
            StreamConfig(
                global_batch=self.global_batch,
                micro_batch=self.micro_batch,
                world_size=self.world_size,
                rank=rank,
                seed=int(args.seed),
                mode=self.data_cfg.stream_mode,
                shuffle_labels=shuffles_labels(self.cfg),
            ),
            weights=self.policy.weights(self.policy.initial_state()),
        )
        image_root = Path(self.data_cfg.image_root) if self.data_cfg.image_root else None
        self.formatter = ChatFormatter(tokenizer, self.data_cfg.format, image_processor, image_root)
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
        self.eval_stats = FormatStats()
        self.eval_sets = eval_sets(
            self.split_dir, self.stream, self.formatter, self.eval_cfg, self.data_cfg, self.eval_stats
        )
        self.planner = StepPlanner(self.stream)
        self.dataset = StepDataset(self.planner, self.world_size, self.micro_batch)
        filler = next(iter(self.eval_sets.values()))[0]
        self.collator = PixelisCollator(
            self.stream, self.formatter, self.pad_id, filler, skip_bad_samples=self.data_cfg.skip_bad_samples
        )
        self.callback = CurriculumCallback(self)
        self.progress = CurriculumProgress(self.policy.initial_state())
        self.decisions: list[Event] = []
        """Every decision of this process's run (holds included), in order; the saved state keeps the others."""
        self.trained_steps = 0

    def attach(self, trainer: Any) -> Any:
        """Give ``trainer`` the dataset, the collator (unless it was given one of its own: a wrapper of
        ``self.collator``, say) and the callback, and check its arguments; returns ``trainer``."""
        use_per_rank_batches(trainer)
        self.check_arguments(trainer.args)
        trainer.train_dataset = self.dataset
        if _is_builtin_collator(trainer.data_collator):
            trainer.data_collator = self.collator
        self.callback.trainer = trainer
        trainer.add_callback(self.callback)
        return trainer

    def check_arguments(self, args: Any) -> None:
        """Raise ``HFSetupError`` if ``args`` cannot train this curriculum's stream exactly."""
        check_arguments(args, self.micro_batch, self.world_size, self.global_batch)

    def placeholder_dataset(self) -> Any:
        """A one-row ``datasets.Dataset`` for ``SFTTrainer(train_dataset=...)``, which insists on one at
        construction; :meth:`attach` replaces it with the stream."""
        datasets = require("datasets", extra="dev")
        return datasets.Dataset.from_list([dict(zip(KEY_FIELDS, ("simple", 0), strict=True))])


def _is_builtin_collator(collator: Any) -> bool:
    """Whether ``collator`` is a default the Trainer chose (transformers' or trl's), not the user's."""
    module = getattr(collator, "__module__", None) or type(collator).__module__
    return collator is None or module.split(".")[0] in ("transformers", "trl")
