"""The checks a run makes before it builds its model or writes anything (``build.build_run`` calls them first).

Missing images of the whole split (VL models, unless ``data.skip_bad_samples``), and on resume: the
checkpoint's ``state.json``, its process layout, its config against this one (``run_control.check_resume_config``:
every difference that changes what the run computes is refused unless allowed) and its stream position
against the split (another split, seed, stream mode or global batch). Each failure is a one-line
``ValueError`` subclass naming the file or the field.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pixelis_core.config_io import ConfigError, load_yaml
from pixelis_train import distributed
from pixelis_train._deps import require
from pixelis_train.checkpoint import Checkpoint, CheckpointError, check_resumable, read_checkpoint
from pixelis_train.config import TrainConfig
from pixelis_train.images import missing_images
from pixelis_train.run_control import ConfigChange, check_resume_config
from pixelis_train.stream import CurriculumStream, StreamStateError
from pixelis_train.stream.stream import validate_state
from pixelis_train.tiny import TINY_NAMES


def preflight(
    split_dir: Path,
    cfg: TrainConfig,
    ctx: distributed.DistContext,
    resume: Path | None,
    allowed: Sequence[str],
    stream: CurriculumStream,
) -> tuple[Checkpoint | None, list[ConfigChange]]:
    """The checks that need no model: missing images (unless skipped), and on resume the checkpoint's
    state, layout, config and stream position against this run. Returns the checkpoint and the changes."""
    if not cfg.data.skip_bad_samples and model_is_vl(cfg.model.name):
        image_root = Path(cfg.data.image_root) if cfg.data.image_root else None
        missing = missing_images(split_dir, image_root, [*stream.files.categories, "eval"])
        if missing.samples:
            raise ValueError(missing.message(split_dir))
    if resume is None:
        return None, []
    ckpt = read_checkpoint(resume)
    check_resumable(ckpt, ctx.strategy, ctx.world_size, warn=ctx.is_main)
    saved_path = ckpt.path / "config.yaml"
    try:
        saved = load_yaml(TrainConfig, saved_path)
    except (ConfigError, OSError) as err:
        raise CheckpointError(f"{saved_path}: not the checkpoint's config ({err})") from None
    changes = check_resume_config(saved, cfg, allowed, str(ckpt.path), tiny_names=TINY_NAMES)
    problems = validate_state(ckpt.state.get("stream"), stream.cfg, stream.files, stream.train_categories)
    if problems:
        raise StreamStateError(f"cannot resume {ckpt.path}: " + "; ".join(problems))
    return ckpt, changes


def model_is_vl(name: str) -> bool | None:
    """Whether model ``name`` reads images: tiny-vl yes, tiny-text no, a local directory or a cached hub id
    by its config (a ``vision_config``); None when that cannot be told without the network (the images are
    then checked as each sample is formatted)."""
    if name in TINY_NAMES:
        return name == "tiny-vl"
    config = Path(name) / "config.json"
    if config.is_file():
        try:
            return "vision_config" in json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError):
            return None
    transformers = require("transformers")
    try:
        return (
            getattr(transformers.AutoConfig.from_pretrained(name, local_files_only=True), "vision_config", None)
            is not None
        )
    except (OSError, ValueError):
        return None
