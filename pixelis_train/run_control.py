"""Run control: a SIGTERM/SIGINT flag the loop polls between steps, the learning-rate schedule, and what a
resume may change (the checkpoint's config against the resumed one, ``--allow-config-change``)."""

from __future__ import annotations

import contextlib
import math
import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixelis_core.config_io import config_leaves


class StopFlag:
    """Set by SIGTERM/SIGINT while installed; the training loop finishes the step, checkpoints and returns,
    the experiment runner starts nothing new and passes the signal to its runs."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def handler(signum: int, _frame: Any) -> None:
            self.signal_name = signal.Signals(signum).name

        for sig in previous:
            signal.signal(sig, handler)
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


def lr_lambda(warmup: int, total: int, min_ratio: float) -> Callable[[int], float]:
    """Linear warmup to 1, then cosine decay to ``min_ratio`` at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


# -- what a resume may change --------------------------------------------------------------------

NEUTRAL_KEYS: tuple[str, ...] = (
    "logging.",
    "checkpoint.",
    "distributed.",  # the strategy is checked on its own (checkpoint.check_resumable)
    "model.cpu_threads",
    "model.gradient_checkpointing",
    "model.attn_implementation",
    "data.image_root",
    "data.skip_bad_samples",
    "eval.batch_size",
    # how the global batch is cut (per process, per pass): the stream refuses another global batch
    # (micro_batch x grad_accum x processes), so another world size can resume with the same one
    "optim.micro_batch",
    "optim.grad_accum",
)
"""Config keys (or ``section.`` prefixes) that change how a run is carried out or reported, not what it
computes: they may differ on resume without a word."""

TINY_MODEL_KEYS: tuple[str, ...] = ("model.name", "model.tiny_vocab_size")
"""A tiny model's keys: its weights are ``RUN_DIR/base-model``, reused on resume, so they cannot change."""


@dataclass(frozen=True)
class ConfigChange:
    """One config field whose value differs between a checkpoint and the run resuming it."""

    key: str
    before: Any
    after: Any

    def describe(self) -> str:
        return f"{self.key}: {self.before!r} in the checkpoint, {self.after!r} now"


class ResumeConfigError(ValueError):
    """A resume whose config differs from the checkpoint's in what the run computes (every difference named)."""


def _matches(key: str, patterns: Sequence[str]) -> bool:
    return any(key == p or key.startswith(p if p.endswith(".") else p + ".") for p in patterns)


def config_changes(before: Any, after: Any) -> list[ConfigChange]:
    """The fields of ``after`` that differ from ``before`` and change what the run computes."""
    old, new = config_leaves(before), config_leaves(after)
    return [
        ConfigChange(key, old.get(key), value)
        for key, value in new.items()
        if old.get(key) != value and not _matches(key, NEUTRAL_KEYS)
    ]


def parse_allowed(values: Sequence[str], cfg: Any) -> tuple[str, ...]:
    """``--allow-config-change`` values (repeatable, comma-separated) as config keys or sections."""
    known = config_leaves(cfg)
    keys = tuple(k.strip() for value in values for k in value.split(",") if k.strip())
    unknown = [k for k in keys if not any(_matches(leaf, (k,)) for leaf in known)]
    if unknown:
        raise ResumeConfigError(
            f"--allow-config-change {','.join(unknown)}: not a config field or section (e.g. optim.lr, optim.steps)"
        )
    return keys


def check_resume_config(
    saved: Any, cfg: Any, allowed: Sequence[str], source: str, *, tiny_names: Sequence[str] = ()
) -> list[ConfigChange]:
    """The changes a resume applies; :class:`ResumeConfigError` listing every change that is not allowed.

    ``saved`` is the checkpoint's config (from ``source``); ``allowed`` the keys of
    ``--allow-config-change``. The model of a tiny-model run cannot change even when allowed.
    """
    changes = config_changes(saved, cfg)
    tiny = saved.model.name in tiny_names
    fixed = [c for c in changes if tiny and c.key in TINY_MODEL_KEYS]
    if fixed:
        raise ResumeConfigError(
            f"cannot resume {source} with another model: "
            + "; ".join(c.describe() for c in fixed)
            + " (a tiny model's weights are the run's base-model/; start a new run with another --out)"
        )
    refused = [c for c in changes if not _matches(c.key, allowed)]
    if refused:
        raise ResumeConfigError(
            f"the config differs from the checkpoint's ({source}) in what the run computes: "
            + "; ".join(c.describe() for c in refused)
            + f". Resume with the checkpoint's values, or pass --allow-config-change {','.join(c.key for c in refused)}"
            " to apply the new ones"
        )
    return changes


def apply_optim_changes(optim: Any, optimizer: Any, scheduler: Any) -> None:
    """After restoring a checkpoint whose ``optim`` section was changed on purpose: the optimizer's
    hyperparameters and the schedule become those of ``optim`` (an ``OptimConfig``) at the checkpoint's
    step, not the restored ones. The schedule is the one ``optim`` describes from step 0 (a new ``steps``
    stretches or shortens the cosine, a new ``warmup_steps`` / ``min_lr_ratio`` reshapes it), so the lr
    continues at that schedule's value for the step, which may be a jump from the old schedule's."""
    factor = lr_lambda(optim.warmup_steps, optim.steps, optim.min_lr_ratio)(scheduler.last_epoch)
    scheduler.base_lrs = [optim.lr for _ in optimizer.param_groups]
    for group in optimizer.param_groups:
        group.update(
            initial_lr=optim.lr,
            lr=optim.lr * factor,
            betas=tuple(optim.betas),
            eps=optim.eps,
            weight_decay=optim.weight_decay,
        )
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]  # what get_last_lr() reports


# -- what makes a directory a run -----------------------------------------------------------------

RUN_ENTRIES: tuple[str, ...] = (
    "config.yaml",
    "metrics.jsonl",
    "checkpoints",
    "base-model",
    "adapter",
    "adapter-averaged",
    "tensorboard",
    "wandb",
)
"""What ``pixelis train`` writes into a run directory (other files there, e.g. an experiment's
``train.out``, are not the run's)."""


def run_entries(run_dir: Path) -> set[str]:
    """The :data:`RUN_ENTRIES` present in ``run_dir`` (an empty ``checkpoints/`` does not count)."""
    if not run_dir.is_dir():
        return set()
    found = {name for name in RUN_ENTRIES if (run_dir / name).exists()}
    checkpoints = run_dir / "checkpoints"
    if "checkpoints" in found and not any(p.name.startswith("step-") for p in checkpoints.iterdir()):
        found.discard("checkpoints")
    return found


def remove_failed_run(run_dir: Path, before: set[str]) -> None:
    """After a fresh run failed without a checkpoint: remove what it wrote (the entries not in ``before``),
    so nothing is left that looks like a run. A run with a checkpoint is kept: it can be resumed."""
    checkpoints = run_dir / "checkpoints"
    if checkpoints.is_dir() and any(p.name.startswith("step-") for p in checkpoints.iterdir()):
        return
    for name in RUN_ENTRIES:
        path = run_dir / name
        if name in before or not (path.exists() or path.is_symlink()):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
