"""Building a training run: model + LoRA, formatter, policy, stream, eval sets, optimizer, and resume.

:func:`build_run` is the first phase of the loop (``pixelis_train/loop.py``). What it returns is the
run's fixed parts (:class:`Run`, built once) and its moving parts (:class:`TrainProgress`, restored
from the checkpoint when resuming). The order of the calls matters for exact reproducibility: the
seed is set before the tiny model and LoRA are initialised, and the RNG states are restored last.

What can be checked without the model is checked first (``preflight.preflight``: the checkpoint's config
against this one, its stream state against the split, missing images), and nothing is written into
the run directory before every check passed: ``config.yaml`` is written last, once the checkpoint is
restored, so a refused resume leaves the directory as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixelis_core.atomic import write_text_atomic
from pixelis_core.config_io import dump_yaml, to_dict
from pixelis_train import distributed
from pixelis_train._deps import require
from pixelis_train.batch import collate
from pixelis_train.chat import IGNORE_INDEX, ChatFormatter, Example
from pixelis_train.checkpoint import (
    Checkpoint,
    checkpoint_world_size,
    read_optimizer,
    restore_adapter,
    restore_rng,
)
from pixelis_train.config import TrainConfig
from pixelis_train.curriculum.policy import CurriculumPolicy, make_policy, shuffles_labels
from pixelis_train.evaluate import eval_sets as evaluate_sets
from pixelis_train.metrics_log import MetricsLogger
from pixelis_train.models import add_lora, load_base, trainable_summary
from pixelis_train.preflight import preflight
from pixelis_train.progress import TrainProgress
from pixelis_train.run_control import ConfigChange, apply_optim_changes, lr_lambda
from pixelis_train.runlog import METRICS_FILE, ResumeRecord, StartRecord, reconcile_run_log
from pixelis_train.stream import CurriculumStream, SplitFiles, StreamConfig
from pixelis_train.threads import apply_cpu_threads
from pixelis_train.tiny import TINY_NAMES, build_tiny, corpus_from_split

torch = require("torch")


@dataclass
class Run:
    """The parts of a run that are built once and do not change from step to step."""

    cfg: TrainConfig
    ctx: distributed.DistContext
    run_dir: Path
    base_model: str
    """Where the base model was loaded from (the built tiny model's directory for tiny-vl / tiny-text)."""
    model: Any
    """The trained module (DDP / FSDP-wrapped under torchrun)."""
    eval_model: Any
    """The unwrapped PEFT model: evaluation and saving."""
    params: list[Any]
    optimizer: Any
    scheduler: Any
    autocast: Callable[[], contextlib.AbstractContextManager[Any]]
    policy: CurriculumPolicy
    stream: CurriculumStream
    formatter: ChatFormatter
    pad_id: int
    eval_sets: dict[str, list[Example]]
    filler: dict[str, Any]
    """A batch that trains no token: run by a rank with fewer micro-batches in a step (skipped samples),
    so that every rank makes the same number of forward/backward passes (and collectives)."""
    logger: MetricsLogger
    start_step: int


def build_run(
    split_dir: Path,
    cfg: TrainConfig,
    run_dir: Path,
    ctx: distributed.DistContext,
    resume: Path | None,
    allow_config_change: Sequence[str] = (),
) -> tuple[Run, TrainProgress]:
    """Everything the loop needs, and the progress to start from (step 0, or the checkpoint's).

    ``allow_config_change``: config keys (or sections) that may differ from the checkpoint's; they are
    applied (``run_control.apply_optim_changes`` for the optimizer and schedule) and logged as a
    ``resume`` record. Any other difference is refused.
    """
    policy, stream = _policy_and_stream(split_dir, cfg, ctx)
    initial = policy.initial_state()
    ckpt, changes = preflight(split_dir, cfg, ctx, resume, allow_config_change, stream)  # before any write
    run_dir.mkdir(parents=True, exist_ok=True)
    device = ctx.device
    autocast = (
        (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else contextlib.nullcontext
    )
    apply_cpu_threads(device.type, cfg.model.cpu_threads)
    torch.manual_seed(cfg.seed)
    source, base, peft_model = _model(split_dir, cfg, run_dir, ctx, ckpt)
    model = distributed.wrap(peft_model, ctx)
    distributed.seed_rank(cfg.seed, ctx)
    image_root = Path(cfg.data.image_root) if cfg.data.image_root else None
    formatter = ChatFormatter(base.tokenizer, cfg.data.format, base.image_processor, image_root)
    pad_id = int(base.tokenizer.pad_token_id)
    progress = TrainProgress(curriculum=initial, stream=stream.state_dict())
    eval_sets = evaluate_sets(split_dir, stream, formatter, cfg.eval, cfg.data, progress.format_stats)
    filler = collate([next(iter(eval_sets.values()))[0]], pad_id)
    filler["labels"][:] = IGNORE_INDEX

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params,
        lr=cfg.optim.lr,
        betas=cfg.optim.betas,
        eps=cfg.optim.eps,
        weight_decay=cfg.optim.weight_decay,
        fused=device.type == "cuda",
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(cfg.optim.warmup_steps, cfg.optim.steps, cfg.optim.min_lr_ratio)
    )
    if ckpt is not None:
        _restore(ckpt, progress, model, optimizer, scheduler, stream, policy, cfg, ctx)
        if any(c.key.startswith("optim.") for c in changes):
            apply_optim_changes(cfg.optim, optimizer, scheduler)
    logger = _open_log(run_dir, cfg, ctx, ckpt, changes)
    if resume is None:
        n_trainable, n_total = trainable_summary(peft_model)
        logger.log(
            StartRecord(
                step=0,
                base_model=source,
                trainable_params=n_trainable,
                total_params=n_total,
                device=device.type,
                world_size=ctx.world_size,
                strategy=ctx.strategy,
                stage=int(initial["stage"]),
                stage_name=policy.stage_name(initial),
            )
        )
    run = Run(
        cfg=cfg,
        ctx=ctx,
        run_dir=run_dir,
        base_model=source,
        model=model,
        eval_model=distributed.unwrap(model),  # DDP's forward is for training; FSDP shards in place
        params=params,
        optimizer=optimizer,
        scheduler=scheduler,
        autocast=autocast,
        policy=policy,
        stream=stream,
        formatter=formatter,
        pad_id=pad_id,
        eval_sets=eval_sets,
        filler=filler,
        logger=logger,
        start_step=progress.step,
    )
    return run, progress


def _open_log(
    run_dir: Path, cfg: TrainConfig, ctx: distributed.DistContext, ckpt: Checkpoint | None, changes: list[ConfigChange]
) -> MetricsLogger:
    """Every check passed: only now the run directory changes (config.yaml, the log made to agree with the
    checkpoint, a ``resume`` record with the config changes applied, if any)."""
    if ctx.is_main:
        write_text_atomic(run_dir / "config.yaml", dump_yaml(cfg))
        # a fresh run in a reused directory starts a fresh log; a resumed one is cut back (or completed) to
        # its checkpoint, whatever a kill left after it
        reconcile_run_log(run_dir / METRICS_FILE, ckpt.step if ckpt is not None else -1, ckpt and str(ckpt.path))
    logger = MetricsLogger(run_dir, cfg.logging.log_to, cfg.logging.project, to_dict(cfg), enabled=ctx.is_main)
    if ckpt is not None:
        # every resume is marked (a SIGKILL'd leg has no end record; the report tells legs apart by this)
        applied = {c.key: [c.before, c.after] for c in changes}
        logger.log(ResumeRecord(step=ckpt.step, checkpoint=str(ckpt.path), changes=applied))
    return logger


def _policy_and_stream(
    split_dir: Path, cfg: TrainConfig, ctx: distributed.DistContext
) -> tuple[CurriculumPolicy, CurriculumStream]:
    """The curriculum policy and this rank's stream over the split, at the policy's initial weights
    (torch-free and seeded on their own: built before the model, the RNG order is unchanged)."""
    files = SplitFiles(split_dir)
    # 'none' with static_weights null mixes in proportion to the split's drawable training rows
    policy = make_policy(cfg.curriculum.with_category_sizes({c: f.n_drawable for c, f in files.categories.items()}))
    stream = CurriculumStream(
        files,
        StreamConfig(
            global_batch=cfg.optim.micro_batch * cfg.optim.grad_accum * ctx.world_size,
            micro_batch=cfg.optim.micro_batch,
            world_size=ctx.world_size,
            rank=ctx.rank,
            seed=cfg.seed,
            mode=cfg.data.stream_mode,
            shuffle_labels=shuffles_labels(cfg.curriculum),
        ),
        weights=policy.weights(policy.initial_state()),
    )
    return policy, stream


def _model(
    split_dir: Path, cfg: TrainConfig, run_dir: Path, ctx: distributed.DistContext, ckpt: Checkpoint | None
) -> tuple[str, Any, Any]:
    """The base model (tiny ones built from the split's text by rank 0) with LoRA, the checkpoint's adapter."""
    source = cfg.model.name
    if source in TINY_NAMES:
        if ctx.is_main:
            texts = corpus_from_split(split_dir, cfg.data.format)
            build_tiny(source, texts, run_dir / "base-model", cfg.model.tiny_vocab_size, cfg.seed)
        ctx.barrier()
        source = str(run_dir / "base-model")
    # FSDP: load on the CPU; fully_shard moves each decoder layer to the GPU as it shards it, so no GPU
    # ever holds the whole model (the point of FSDP for models that do not fit one GPU).
    load_device = torch.device("cpu") if ctx.strategy == "fsdp" else ctx.device
    base = load_base(source, cfg.model, load_device, compute_device=ctx.device)
    peft_model = add_lora(base, cfg.lora, cfg.model)  # the same initial weights on every rank (same seed)
    if ckpt is not None:
        restore_adapter(ckpt, peft_model)  # before sharding: FSDP shards what it is given
    return source, base, peft_model


def _restore(
    ckpt: Checkpoint,
    progress: TrainProgress,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    stream: CurriculumStream,
    policy: CurriculumPolicy,
    cfg: TrainConfig,
    ctx: distributed.DistContext,
) -> None:
    """Resume: optimizer, schedule, RNG, then the progress state, stream position and weights."""
    saved = read_optimizer(ckpt)
    distributed.load_optimizer_state(model, optimizer, saved["optimizer"], ctx)
    scheduler.load_state_dict(saved["scheduler"])
    if checkpoint_world_size(ckpt) == ctx.world_size:
        restore_rng(ckpt, ctx.rank)
    else:  # allowed (check_resumable warned): RNG streams are per rank, so reseed from the step
        distributed.seed_rank(cfg.seed + ckpt.step, ctx)
    progress.load_state_dict(ckpt.state)
    stream.load_state_dict(progress.stream)
    # the stream state was taken when the step was planned; a decision after it set new weights
    stream.set_weights(policy.weights(progress.curriculum))
