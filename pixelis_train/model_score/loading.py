"""The model to score with, loaded exactly as ``pixelis train`` loads it, plus an optional trained adapter.

``tiny-vl`` / ``tiny-text`` are built from the split's text with the train config's seed and vocabulary
size, as ``pixelis_train/build.py`` does, so ``--model tiny-text --adapter RUN_DIR/adapter`` scores with
the very model the run trained; ``--model RUN_DIR/base-model`` loads a tiny run's saved base model.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pixelis_train import distributed
from pixelis_train.config import TrainConfig
from pixelis_train.model_score.inputs import ModelScoreError, ScoreInput
from pixelis_train.models import ADAPTER_WEIGHTS, LoadedModel, load_adapter, load_base
from pixelis_train.tiny import TINY_NAMES, build_tiny, corpus_from_split


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_identity(cfg: TrainConfig, adapter: Path | None) -> dict[str, Any]:
    """What a shard directory must have been computed with: model, adapter (with weight digests), loading."""
    name = cfg.model.name
    model: dict[str, Any] = {"name": name}
    if name in TINY_NAMES:
        model.update(seed=cfg.seed, tiny_vocab_size=cfg.model.tiny_vocab_size)
    elif Path(name).is_dir():
        # the weights of a 7B model are too big to hash on every start; a changed config shows up here
        model.update(name=str(Path(name).resolve()), config_sha256=_sha256(Path(name) / "config.json"))
    loading = {k: getattr(cfg.model, k) for k in ("dtype", "attn_implementation", "max_pixels", "min_pixels")}
    model["loading"] = loading
    adapter_id = None
    if adapter is not None:
        adapter_id = {
            "path": str(adapter.resolve()),
            "config_sha256": _sha256(adapter / "adapter_config.json"),
            **{f: _sha256(adapter / f) for f in ADAPTER_WEIGHTS if (adapter / f).is_file()},
        }
    return {"model": model, "adapter": adapter_id}


def load_scoring_model(
    cfg: TrainConfig, adapter: Path | None, inp: ScoreInput, build_dir: Path, ctx: distributed.DistContext
) -> tuple[LoadedModel, Any]:
    """(the base model with its tokenizer / image processor, the module to run: base or base + adapter)."""
    source = cfg.model.name
    if source in TINY_NAMES:
        if inp.kind != "split":
            raise ModelScoreError(
                f"--model {source}: a tiny model is built from a split's text, so INPUT must be the split "
                "directory (or pass --model RUN_DIR/base-model, where a tiny run saved its base model)"
            )
        if ctx.is_main:
            build_tiny(
                source, corpus_from_split(inp.path, cfg.data.format), build_dir, cfg.model.tiny_vocab_size, cfg.seed
            )
        ctx.barrier()
        source = str(build_dir)
    try:
        base = load_base(source, cfg.model, ctx.device)
    except ValueError as err:  # the hub's message runs over several lines: keep the first
        raise ModelScoreError(str(err).strip().splitlines()[0]) from None
    module = base.model
    if adapter is not None:
        try:
            module = load_adapter(base.model, adapter)
        except ValueError as err:
            raise ModelScoreError(f"--{err}") from None
    return base, module.eval()
