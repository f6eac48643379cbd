"""The training loop: one function, read top to bottom (DESIGN §8).

setup (device, seed, model + LoRA, formatter, curriculum policy, stream, eval set, optimizer,
scheduler, resume) -> for each optimizer step: plan + format the batch, forward/backward over the
micro-batches, clip, step -> every ``logging.every``: a log line -> every ``eval.interval``: per-category
evaluation, curriculum decision, new stream weights, early stopping -> every ``save_interval`` (and at
the end, and on SIGTERM/SIGINT): an atomic checkpoint -> the final adapter and a run summary.

Under torchrun (docs/distributed.md) the same function runs on every rank: each trains on its slice
of the same global batch, the step's token counts and the eval sums are all-reduced (``ctx.all_sum``)
so every rank takes the same curriculum decision, and only rank 0 (``ctx.is_main``) writes files.
"""

from __future__ import annotations

import contextlib
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pixelis_core.atomic import write_text_atomic
from pixelis_core.config_io import dump_yaml, to_dict
from pixelis_data.schema import CATEGORIES
from pixelis_train import distributed
from pixelis_train._deps import require
from pixelis_train.batch import FormatStats, collate, format_rows, model_inputs, n_target_tokens, token_stats
from pixelis_train.chat import IGNORE_INDEX, ChatFormatter
from pixelis_train.checkpoint import (
    ADAPTER,
    average_adapters,
    check_resumable,
    checkpoint_dirs,
    checkpoint_world_size,
    copy_dir_atomic,
    read_checkpoint,
    read_optimizer,
    restore_adapter,
    restore_rng,
    rng_state,
    save_checkpoint,
)
from pixelis_train.config import TrainConfig
from pixelis_train.curriculum.policy import Evaluation, make_policy
from pixelis_train.evaluate import CategoryMetrics, evaluate
from pixelis_train.metrics_log import METRICS_FILE, MetricsLogger, truncate_log
from pixelis_train.models import add_lora, load_base, trainable_summary
from pixelis_train.run_control import StopFlag, lr_lambda
from pixelis_train.stream import CurriculumStream, StreamConfig
from pixelis_train.tiny import TINY_NAMES, build_tiny, corpus_from_split

torch = require("torch")


@dataclass
class RunSummary:
    """What a run did: where its outputs are, how it ended, the stage timeline and final performance."""

    run_dir: Path
    adapter_dir: Path
    averaged_adapter_dir: Path | None
    base_model: str
    start_step: int
    steps_done: int
    stopped: str
    """'completed', 'early stopping', or the signal that interrupted the run."""
    timeline: list[dict[str, Any]] = field(default_factory=list)
    """Curriculum events: step, kind, stage before and after."""
    final_eval: dict[str, CategoryMetrics] = field(default_factory=dict)
    format_stats: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds: total, data (planning + fetching + formatting), compute, eval, checkpoint."""


def train(
    split_dir: Path,
    cfg: TrainConfig,
    run_dir: Path,
    *,
    resume: Path | None = None,
    console: Console | None = None,
) -> RunSummary:
    """Fine-tune ``cfg.model`` with LoRA on the split at ``split_dir``; outputs go to ``run_dir``.

    Launched by torchrun, every rank calls this; it joins the process group for the run's duration.
    """
    with distributed.session(cfg.distributed) as ctx:
        return _train(split_dir, cfg, run_dir, ctx, resume, console)


def _train(
    split_dir: Path,
    cfg: TrainConfig,
    run_dir: Path,
    ctx: distributed.DistContext,
    resume: Path | None,
    console: Console | None,
) -> RunSummary:
    console = console if (console is not None and ctx.is_main) else Console(quiet=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    if ctx.is_main:
        write_text_atomic(run_dir / "config.yaml", dump_yaml(cfg))
    device = ctx.device
    autocast = (
        (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else contextlib.nullcontext
    )
    torch.manual_seed(cfg.seed)

    # -- model: base (tiny ones built from the split's text by rank 0) + LoRA, then DDP / FSDP ---------
    source = cfg.model.name
    if source in TINY_NAMES:
        if ctx.is_main:
            texts = corpus_from_split(split_dir, cfg.data.format)
            build_tiny(source, texts, run_dir / "base-model", cfg.model.tiny_vocab_size, cfg.seed)
        ctx.barrier()
        source = str(run_dir / "base-model")
    # FSDP: load on the CPU; fully_shard moves each decoder layer to the GPU as it shards it, so no GPU
    # ever holds the whole model (the point of FSDP for models that do not fit one GPU).
    load_device = torch.device("cpu") if ctx.strategy == "fsdp" else device
    base = load_base(source, cfg.model, load_device, compute_device=device)
    peft_model = add_lora(base, cfg.lora, cfg.model)  # the same initial weights on every rank (same seed)
    n_trainable, n_total = trainable_summary(peft_model)
    ckpt = read_checkpoint(resume) if resume is not None else None
    if ckpt is not None:
        check_resumable(ckpt, ctx.strategy, ctx.world_size, warn=ctx.is_main)
        restore_adapter(ckpt, peft_model)  # before sharding: FSDP shards what it is given
    model = distributed.wrap(peft_model, ctx)
    distributed.seed_rank(cfg.seed, ctx)
    eval_model = distributed.unwrap(model)  # DDP's forward is for training; FSDP shards in place
    eval_shard = {"rank": ctx.rank, "world_size": ctx.world_size, "all_sum": ctx.all_sum}
    image_root = Path(cfg.data.image_root) if cfg.data.image_root else None
    formatter = ChatFormatter(base.tokenizer, cfg.data.format, base.image_processor, image_root)
    pad_id = int(base.tokenizer.pad_token_id)
    fmt_stats = FormatStats()

    # -- curriculum policy + stream; the eval set is formatted once ----------------------------------
    policy = make_policy(cfg.curriculum)
    cur_state = policy.initial_state()
    stream = CurriculumStream(
        split_dir,
        StreamConfig(
            global_batch=cfg.optim.micro_batch * cfg.optim.grad_accum * ctx.world_size,
            micro_batch=cfg.optim.micro_batch,
            world_size=ctx.world_size,
            rank=ctx.rank,
            seed=cfg.seed,
            mode=cfg.data.stream_mode,
        ),
        weights=policy.weights(cur_state),
    )
    # every rank formats the whole eval set (the same counts everywhere) and evaluates its shard of it
    eval_table = stream.eval_table()
    eval_sets = {}
    for category in CATEGORIES:
        rows = eval_table.filter(pc.equal(eval_table["category"], category))
        if cfg.eval.max_per_category:
            rows = rows.slice(0, cfg.eval.max_per_category)
        eval_sets[category] = format_rows(rows.to_pylist(), formatter, cfg.data.skip_bad_samples, fmt_stats)
    eval_sets = {c: exs for c, exs in eval_sets.items() if exs}
    if not eval_sets:
        raise ValueError(f"{split_dir}/eval.arrow: no usable eval samples (the curriculum needs them)")
    # a rank with fewer micro-batches in a step (skipped samples) runs this one, which trains no token,
    # so that every rank makes the same number of forward/backward passes (and collectives)
    filler = collate([next(iter(eval_sets.values()))[0]], pad_id)
    filler["labels"][:] = IGNORE_INDEX

    # -- optimizer + schedule; resume restores everything that moves ----------------------------------
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
    step, best, bad_evals, timeline = 0, -math.inf, 0, []
    # what the next log line averages over; checkpointed so a resumed run logs the very same numbers
    window = {"loss": 0.0, "target": 0, "tokens": 0, "samples": 0, "seconds": 0.0}
    if ckpt is not None:
        saved = read_optimizer(ckpt)
        distributed.load_optimizer_state(model, optimizer, saved["optimizer"], ctx)
        scheduler.load_state_dict(saved["scheduler"])
        if checkpoint_world_size(ckpt) == ctx.world_size:
            restore_rng(ckpt, ctx.rank)
        else:  # allowed (check_resumable warned): RNG streams are per rank, so reseed from the step
            distributed.seed_rank(cfg.seed + ckpt.step, ctx)
        stream.load_state_dict(ckpt.state["stream"])
        cur_state = ckpt.state["curriculum"]
        # the stream state was taken when the step was planned; a decision after it set new weights
        stream.set_weights(policy.weights(cur_state))
        step, best, bad_evals = ckpt.step, ckpt.state["best"], ckpt.state["bad_evals"]
        timeline = ckpt.state["timeline"]
        for key, value in ckpt.state["format_stats"].items():
            setattr(fmt_stats, key, value)
        window = ckpt.state["log_window"]
    if ctx.is_main:
        # a fresh run in a reused directory starts a fresh log; a resumed one drops what follows the checkpoint
        truncate_log(run_dir / METRICS_FILE, step if ckpt is not None else -1)
    start_step = step
    logger = MetricsLogger(run_dir, cfg.logging.log_to, cfg.logging.project, to_dict(cfg), enabled=ctx.is_main)
    if resume is None:
        logger.log(
            {
                "kind": "start",
                "step": 0,
                "base_model": source,
                "trainable_params": n_trainable,
                "total_params": n_total,
                "device": device.type,
                "world_size": ctx.world_size,
                "strategy": ctx.strategy,
            }
        )

    def prepare(plan: Any) -> tuple[list[dict[str, Any]], FormatStats]:
        """Fetch, format and pad one step's micro-batches (runs in the prefetch thread)."""
        stats = FormatStats()
        batches = []
        for index_batch in plan.micro_batches:
            examples = format_rows(stream.fetch(index_batch).to_pylist(), formatter, cfg.data.skip_bad_samples, stats)
            if examples:
                batches.append(collate(examples, pad_id))
        return batches, stats

    def checkpoint_state() -> dict[str, Any]:
        return {
            "stream": stream_state,
            "curriculum": cur_state,
            "best": best,
            "bad_evals": bad_evals,
            "timeline": timeline,
            "format_stats": fmt_stats.as_dict(),
            "log_window": window,
            "world_size": ctx.world_size,
            "strategy": ctx.strategy,
        }

    # -- the loop ---------------------------------------------------------------------------------------
    stop = StopFlag()
    stopped = "completed"
    stop_requested = False
    last_eval: dict[str, CategoryMetrics] = {}
    t = {"data": 0.0, "compute": 0.0, "eval": 0.0, "checkpoint": 0.0}
    t_run = time.perf_counter()
    progress = Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        disable=not (cfg.logging.live and ctx.is_main),
        transient=False,
    )
    stream_state = stream.state_dict()
    upcoming = None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pixelis-data")
    model.train()
    with stop.installed(), progress, pool:
        task = progress.add_task("train", total=cfg.optim.steps, completed=step, info="")
        while step < cfg.optim.steps:
            # 1. data: the step's batches, formatted in a background thread (usually while the previous
            #    step computed). Plans are made here, in order; a checkpoint stores the stream state as of
            #    the step it covers, so a plan made ahead never leaks into a checkpoint.
            t0 = time.perf_counter()
            if upcoming is None:
                upcoming = (pool.submit(prepare, stream.next_step()), stream.state_dict())
            job, stream_state = upcoming
            micro, step_stats = job.result()
            # the step's numbers over all ranks: trained tokens (the loss is normalised by them), tokens,
            # samples and format counts; and the same number of micro-batches on every rank
            local = [sum(n_target_tokens(b) for b in micro), *_batch_sizes(micro), *step_stats.as_dict().values()]
            n_target, n_tokens, n_samples, *format_counts = (int(v) for v in ctx.all_sum(local))
            step_stats.formatted, step_stats.skipped, step_stats.truncated = format_counts
            fmt_stats.add(step_stats)
            n_micro = int(ctx.all_max([len(micro)])[0])
            micro += [filler] * (n_micro - len(micro))
            # plan the next step now unless an evaluation after this one may change the weights
            upcoming = None
            if (step + 1) % cfg.curriculum.eval_interval != 0 and step + 1 < cfg.optim.steps:
                upcoming = (pool.submit(prepare, stream.next_step()), stream.state_dict())
            t1 = time.perf_counter()

            # 2. compute: the loss is the mean over every trained token of the step (all micro-batches of
            #    all ranks); DDP / FSDP average gradients over ranks, hence the x world_size
            loss_sum = 0.0
            for i, batch in enumerate(micro):
                with distributed.grad_sync(model, ctx, sync=i == len(micro) - 1):
                    with autocast():
                        logits = model(**model_inputs(batch, device)).logits
                    stats = token_stats(logits, batch["labels"])
                    (stats.loss_sum * ctx.world_size / max(n_target, 1)).backward()
                loss_sum += float(stats.loss_sum.detach())
            loss_sum = ctx.all_sum([loss_sum])[0]
            max_norm = cfg.optim.max_grad_norm if cfg.optim.max_grad_norm > 0 else math.inf
            grad_norm = distributed.clip_grad_norm(params, max_norm)
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            t2 = time.perf_counter()
            t["data"] += t1 - t0
            t["compute"] += t2 - t1
            window["loss"] += loss_sum
            window["target"] += n_target
            window["tokens"] += n_tokens
            window["samples"] += n_samples
            window["seconds"] += t2 - t0

            # 3. log every N steps
            if step % cfg.logging.every == 0 or step == cfg.optim.steps:
                loss = window["loss"] / max(window["target"], 1)
                record = {
                    "kind": "train",
                    "step": step,
                    "loss": loss,
                    "lr": lr,
                    "grad_norm": grad_norm,
                    "tokens_per_s": window["tokens"] / window["seconds"],
                    "samples_per_s": window["samples"] / window["seconds"],
                    "stage": policy.stage_name(cur_state),
                    "skipped_samples": fmt_stats.skipped,
                }
                logger.log(record)
                progress.update(
                    task,
                    info=f"loss {loss:.4f}  lr {lr:.2e}  stage {record['stage']}  "
                    f"{record['samples_per_s']:.1f} samples/s",
                )
                window = {"loss": 0.0, "target": 0, "tokens": 0, "samples": 0, "seconds": 0.0}
            progress.update(task, completed=step)

            # 4. every eval_interval: per-category eval -> curriculum decision -> stream weights
            if step % cfg.curriculum.eval_interval == 0:
                t0 = time.perf_counter()
                last_eval = evaluate(eval_model, eval_sets, pad_id, device, cfg.eval.batch_size, autocast, **eval_shard)
                performance = {c: m.metric(cfg.curriculum.metric) for c, m in last_eval.items()}
                before = policy.stage_name(cur_state)
                cur_state, event = policy.decide(cur_state, Evaluation(step=step, performance=performance))
                stream.set_weights(policy.weights(cur_state))
                logger.log(
                    {
                        "kind": "eval",
                        "step": step,
                        "metric": cfg.curriculum.metric,
                        **{f"{c}/{k}": v for c, m in last_eval.items() for k, v in m.as_dict().items()},
                    }
                )
                logger.log({"kind": "curriculum", "step": step, "event": event.to_json(), **event.metrics()})
                after = policy.stage_name(cur_state)
                if after != before:
                    timeline.append(
                        {"step": step, "from": before, "to": after, "kind": event.kind, "reason": event.reason}
                    )
                overall = sum(performance.values()) / len(performance)
                if overall > best + cfg.eval.early_stopping_min_delta:
                    best, bad_evals = overall, 0
                else:
                    bad_evals += 1
                t["eval"] += time.perf_counter() - t0
                if cfg.eval.early_stopping_patience and bad_evals >= cfg.eval.early_stopping_patience:
                    stopped = "early stopping"

            # 5. checkpoint every save_interval, at the end, and when asked to stop (a signal seen by
            #    any rank stops all of them at the same step); gathered from all ranks, written by rank 0
            stop_requested = ctx.any_rank(stop.signal_name is not None)
            finished = step == cfg.optim.steps or stopped != "completed" or stop_requested
            if step % cfg.checkpoint.save_interval == 0 or finished:
                t0 = time.perf_counter()
                adapter_weights = distributed.adapter_state(model, ctx)
                optimizer_state = distributed.optimizer_state(model, optimizer, ctx)
                rng_states = ctx.gather_objects(rng_state())
                if ctx.is_main:
                    path = save_checkpoint(
                        run_dir,
                        step,
                        eval_model,
                        optimizer_state,
                        scheduler,
                        checkpoint_state(),
                        cfg,
                        cfg.checkpoint.keep_last,
                        adapter_weights=adapter_weights,
                        rng_states=rng_states,
                    )
                    logger.log({"kind": "checkpoint", "step": step, "path": str(path)})
                t["checkpoint"] += time.perf_counter() - t0
            if stop_requested:
                stopped = stop.signal_name or "signal (on another rank)"
            if finished:
                break

    # -- a last evaluation when the final step was not an eval step (for the summary; no decision) -----
    ran = step > start_step
    if ran and not stop_requested and (not last_eval or step % cfg.curriculum.eval_interval != 0):
        t0 = time.perf_counter()
        last_eval = evaluate(eval_model, eval_sets, pad_id, device, cfg.eval.batch_size, autocast, **eval_shard)
        logger.log(
            {
                "kind": "eval",
                "step": step,
                "metric": cfg.curriculum.metric,
                "final": True,
                **{f"{c}/{k}": v for c, m in last_eval.items() for k, v in m.as_dict().items()},
            }
        )
        t["eval"] += time.perf_counter() - t0

    # -- outputs (rank 0): the final adapter (+ the average of the last K), the summary ------------------
    adapter_dir = run_dir / ADAPTER
    averaged = None
    if cfg.checkpoint.average_last > 1 and stopped == "completed":
        averaged = run_dir / "adapter-averaged"
    if ctx.is_main:
        copy_dir_atomic(checkpoint_dirs(run_dir)[-1] / ADAPTER, adapter_dir)
        if averaged is not None:
            average_adapters(checkpoint_dirs(run_dir)[-cfg.checkpoint.average_last :], averaged)
    t["total"] = time.perf_counter() - t_run
    logger.log(
        {
            "kind": "end",
            "step": step,
            "stopped": stopped,
            **{f"time_{k}": v for k, v in t.items()},
            **{f"samples_{k}": v for k, v in fmt_stats.as_dict().items()},
        }
    )
    logger.close()
    ctx.barrier()  # every rank returns once rank 0's outputs exist
    return RunSummary(
        run_dir=run_dir,
        adapter_dir=adapter_dir,
        averaged_adapter_dir=averaged,
        base_model=source,
        start_step=start_step,
        steps_done=step,
        stopped=stopped,
        timeline=timeline,
        final_eval=last_eval,
        format_stats=fmt_stats.as_dict(),
        timings=t,
    )


def _batch_sizes(micro: list[dict[str, Any]]) -> tuple[int, int]:
    """(tokens, samples) of a step's micro-batches, padding excluded."""
    return sum(int(b["attention_mask"].sum()) for b in micro), sum(int(b["input_ids"].shape[0]) for b in micro)
