"""The training loop, read top to bottom (docs/design.md §8).

build the run (``build.build_run``: model + LoRA, curriculum policy, stream, eval set, optimizer,
resume) -> for each optimizer step: the step's batches (formatted in a background thread while the
previous step computes) -> :func:`optimizer_step` -> every ``logging.every``: a train record -> every
``curriculum.eval_interval``: :func:`evaluate_and_decide` (per-category and per-skill evaluation, answer
accuracy at every ``eval.answer_every``-th one and the last, policy decision, new stream weights, early
stopping) -> every ``save_interval``, at the end and on SIGTERM/SIGINT:
:func:`checkpoint` -> :func:`finish` (final evaluation, adapter, end record, summary).

Progress state is one object (:class:`~pixelis_train.progress.TrainProgress`) that checkpoints save
and resume restores. Under torchrun (docs/distributed.md) every rank runs this: each trains on its
slice of the same global batch, token counts and eval sums are all-reduced so every rank takes the
same curriculum decision, and only rank 0 (``ctx.is_main``) writes files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from pixelis_train import distributed
from pixelis_train._deps import require
from pixelis_train.answers import AnswerDecoding
from pixelis_train.batch import FormatStats, collate, format_rows, model_inputs, n_target_tokens, token_stats
from pixelis_train.build import Run, build_run
from pixelis_train.checkpoint import ADAPTER, average_adapters, checkpoint_dirs, copy_dir_atomic, rng_state
from pixelis_train.checkpoint import save_checkpoint as write_checkpoint
from pixelis_train.config import TrainConfig
from pixelis_train.curriculum.policy import Evaluation
from pixelis_train.curriculum.timeline import Timeline, stage_timeline
from pixelis_train.evaluate import CategoryMetrics, evaluate
from pixelis_train.progress import LogWindow, TrainProgress
from pixelis_train.reporter import TrainReporter
from pixelis_train.run_control import StopFlag
from pixelis_train.runlog import CheckpointRecord, CurriculumRecord, EndRecord, EvalRecord, TrainRecord

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
    timeline: Timeline
    """Stage segments, cooldowns and stage changes over the whole run (a resumed one included)."""
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
    allow_config_change: Sequence[str] = (),
) -> RunSummary:
    """Fine-tune ``cfg.model`` with LoRA on the split at ``split_dir``; outputs go to ``run_dir``.

    Launched by torchrun, every rank calls this; it joins the process group for the run's duration.
    ``allow_config_change``: the config keys a resume may change (``build.build_run``).
    """
    with distributed.session(cfg.distributed) as ctx:
        console = console if (console is not None and ctx.is_main) else Console(quiet=True)
        run, progress = build_run(split_dir, cfg, run_dir, ctx, resume, allow_config_change)
        return _loop(run, progress, console)


def _loop(run: Run, progress: TrainProgress, console: Console) -> RunSummary:
    cfg, ctx = run.cfg, run.ctx
    stop = StopFlag()
    stopped, stop_requested = "completed", False
    last_eval: dict[str, CategoryMetrics] = {}
    t = {"data": 0.0, "compute": 0.0, "eval": 0.0, "checkpoint": 0.0}
    t_run = time.perf_counter()
    report = TrainReporter(console, cfg.optim.steps, progress.step, live=cfg.logging.live and ctx.is_main)
    upcoming: tuple[Future, dict[str, Any]] | None = None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pixelis-data")
    run.model.train()
    with stop.installed(), report, pool:
        while progress.step < cfg.optim.steps:
            # 1. data: plans are made here, in order; the stream state kept with a step is the one after
            #    planning it, so a plan made ahead never leaks into a checkpoint
            t0 = time.perf_counter()
            job, stream_state = upcoming or _plan(pool, run)
            micro, n_target, n_tokens, n_samples = _gather_step(run, progress, *job.result())
            upcoming = None
            next_step = progress.step + 1
            # plan the next step now unless an evaluation after this one may change the weights
            if (next_step % cfg.curriculum.eval_interval != 0) and next_step < cfg.optim.steps:
                upcoming = _plan(pool, run)
            t1 = time.perf_counter()

            # 2. compute
            loss_sum, grad_norm, lr = optimizer_step(run, micro, n_target)
            progress.step, progress.stream = next_step, stream_state
            t2 = time.perf_counter()
            t["data"] += t1 - t0
            t["compute"] += t2 - t1
            progress.window.add(loss_sum, n_target, n_tokens, n_samples, t2 - t0)

            # 3. a train record every logging.every steps (and at the last)
            if progress.step % cfg.logging.every == 0 or progress.step == cfg.optim.steps:
                report.train(_log_train(run, progress, lr, grad_norm))
            report.step(progress.step)

            # 4. every eval_interval: evaluation -> curriculum decision -> stream weights, early stopping
            if progress.step % cfg.curriculum.eval_interval == 0:
                t0 = time.perf_counter()
                last_eval = evaluate_and_decide(run, progress, report)
                t["eval"] += time.perf_counter() - t0
                if cfg.eval.early_stopping_patience and progress.bad_evals >= cfg.eval.early_stopping_patience:
                    stopped = "early stopping"

            # 5. checkpoint every save_interval, at the end, and when asked to stop (a signal seen by any
            #    rank stops all of them at the same step)
            stop_requested = ctx.any_rank(stop.signal_name is not None)
            finished = progress.step == cfg.optim.steps or stopped != "completed" or stop_requested
            if progress.step % cfg.checkpoint.save_interval == 0 or finished:
                t0 = time.perf_counter()
                checkpoint(run, progress)
                t["checkpoint"] += time.perf_counter() - t0
            if stop_requested:
                stopped = stop.signal_name or "signal (on another rank)"
            if finished:
                break
    return finish(run, progress, stopped, last_eval, t, t_run)


def _plan(pool: ThreadPoolExecutor, run: Run) -> tuple[Future, dict[str, Any]]:
    """Plan the next step and start formatting its batches in the background thread."""
    plan = run.stream.next_step()
    return pool.submit(_prepare, run, plan), run.stream.state_dict()


def _prepare(run: Run, plan: Any) -> tuple[list[dict[str, Any]], FormatStats]:
    """Fetch, format and pad one step's micro-batches (runs in the prefetch thread)."""
    stats = FormatStats()
    batches = []
    for index_batch in plan.micro_batches:
        rows = run.stream.fetch(index_batch).to_pylist()
        examples = format_rows(rows, run.formatter, run.cfg.data.skip_bad_samples, stats)
        if examples:
            batches.append(collate(examples, run.pad_id))
    return batches, stats


def _gather_step(
    run: Run, progress: TrainProgress, micro: list[dict[str, Any]], stats: FormatStats
) -> tuple[list[dict[str, Any]], int, int, int]:
    """The step's numbers over all ranks (trained tokens, tokens, samples, format counts), and the
    same number of micro-batches on every rank (fillers that train nothing where a rank has fewer)."""
    ctx = run.ctx
    local = [
        sum(n_target_tokens(b) for b in micro),
        sum(int(b["attention_mask"].sum()) for b in micro),
        sum(int(b["input_ids"].shape[0]) for b in micro),
        *stats.as_dict().values(),
    ]
    n_target, n_tokens, n_samples, *format_counts = (int(v) for v in ctx.all_sum(local))
    stats.formatted, stats.skipped, stats.truncated = format_counts
    progress.format_stats.add(stats)
    n_micro = int(ctx.all_max([len(micro)])[0])
    return micro + [run.filler] * (n_micro - len(micro)), n_target, n_tokens, n_samples


def optimizer_step(run: Run, micro: list[dict[str, Any]], n_target: int) -> tuple[float, float, float]:
    """Forward/backward over the micro-batches, clip, step; returns (loss sum over ranks, grad norm, lr).

    The loss is the mean over every trained token of the step (all micro-batches of all ranks);
    DDP / FSDP average gradients over ranks, hence the x world_size.
    """
    ctx, cfg = run.ctx, run.cfg
    loss_sum = 0.0
    for i, batch in enumerate(micro):
        with distributed.grad_sync(run.model, ctx, sync=i == len(micro) - 1):
            with run.autocast():
                logits = run.model(**model_inputs(batch, ctx.device)).logits
            stats = token_stats(logits, batch["labels"])
            (stats.loss_sum * ctx.world_size / max(n_target, 1)).backward()
        loss_sum += float(stats.loss_sum.detach())
    loss_sum = ctx.all_sum([loss_sum])[0]
    max_norm = cfg.optim.max_grad_norm if cfg.optim.max_grad_norm > 0 else math.inf
    grad_norm = distributed.clip_grad_norm(run.params, max_norm)
    lr = run.scheduler.get_last_lr()[0]
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    return loss_sum, grad_norm, lr


def _log_train(run: Run, progress: TrainProgress, lr: float, grad_norm: float) -> TrainRecord:
    """Write the train record of the log window and reset the window; returns the record (for the display)."""
    w = progress.window
    record = TrainRecord(
        step=progress.step,
        loss=w.loss / max(w.target, 1),
        lr=lr,
        grad_norm=grad_norm,
        tokens_per_s=w.tokens / w.seconds,
        samples_per_s=w.samples / w.seconds,
        stage=run.policy.stage_name(progress.curriculum),
        skipped_samples=progress.format_stats.skipped,
    )
    run.logger.log(record)
    progress.window = LogWindow()
    return record


def answers_due(cfg: TrainConfig, step: int) -> bool:
    """Whether the evaluation after ``step`` generates answers: every ``eval.answer_every``-th evaluation
    (counted by step, so a resumed run asks at the same steps) and always at the last step of the run."""
    every = cfg.eval.answer_every
    return step == cfg.optim.steps or (every > 0 and (step // cfg.curriculum.eval_interval) % every == 0)


def _evaluate(run: Run, answers: bool) -> dict[str, CategoryMetrics]:
    ctx, cfg = run.ctx, run.cfg
    decoding = AnswerDecoding(run.formatter.tokenizer, cfg.eval.answer_max_new_tokens) if answers else None
    return evaluate(
        run.eval_model,
        run.eval_sets,
        run.pad_id,
        ctx.device,
        cfg.eval.batch_size,
        run.autocast,
        rank=ctx.rank,
        world_size=ctx.world_size,
        all_sum=ctx.all_sum,
        answers=decoding,
    )


def _eval_record(step: int, cfg: TrainConfig, metrics: dict[str, CategoryMetrics], final: bool = False) -> EvalRecord:
    categories = {c: m.as_dict() for c, m in metrics.items()}
    skills = {c: {k: s.as_dict() for k, s in m.skills.items()} for c, m in metrics.items()}
    return EvalRecord(step=step, metric=cfg.curriculum.metric, categories=categories, skills=skills, final=final)


def evaluate_and_decide(run: Run, progress: TrainProgress, report: TrainReporter) -> dict[str, CategoryMetrics]:
    """Per-category evaluation, the policy's decision, the stream's new weights, early-stopping counts."""
    cfg = run.cfg
    report.evaluating(progress.step)
    metrics = _evaluate(run, answers_due(cfg, progress.step))
    performance = {c: m.metric(cfg.curriculum.metric) for c, m in metrics.items()}
    report.evaluation(progress.step, cfg.curriculum.metric, performance)
    stage_before = run.policy.stage_name(progress.curriculum)
    progress.curriculum, event = run.policy.decide(
        progress.curriculum, Evaluation(step=progress.step, performance=performance)
    )
    run.stream.set_weights(run.policy.weights(progress.curriculum))
    run.logger.log(_eval_record(progress.step, cfg, metrics))
    run.logger.log(CurriculumRecord(step=progress.step, event=event))
    report.curriculum(event, stage_before)
    if event.kind != "hold":
        progress.events.append(event)
    progress.record_eval(sum(performance.values()) / len(performance), cfg.eval.early_stopping_min_delta)
    return metrics


def checkpoint(run: Run, progress: TrainProgress) -> None:
    """Gather the adapter, optimizer and RNG states from all ranks; rank 0 writes them atomically."""
    ctx, cfg = run.ctx, run.cfg
    adapter_weights = distributed.adapter_state(run.model, ctx)
    optimizer_state = distributed.optimizer_state(run.model, run.optimizer, ctx)
    rng_states = ctx.gather_objects(rng_state())
    if not ctx.is_main:
        return
    path = write_checkpoint(
        run.run_dir,
        progress.step,
        run.eval_model,
        optimizer_state,
        run.scheduler,
        {**progress.state_dict(), "world_size": ctx.world_size, "strategy": ctx.strategy},
        cfg,
        cfg.checkpoint.keep_last,
        adapter_weights=adapter_weights,
        rng_states=rng_states,
    )
    run.logger.log(CheckpointRecord(step=progress.step, path=str(path)))


def finish(
    run: Run,
    progress: TrainProgress,
    stopped: str,
    last_eval: dict[str, CategoryMetrics],
    t: dict[str, float],
    t_run: float,
) -> RunSummary:
    """A last evaluation when the final step had none or one without answers (for the summary; no
    decision), the final adapter (+ the average of the last K checkpoints), the end record, the summary.

    So the last evaluation of every run that was not interrupted has answer accuracy: the one at the
    last step of the run (``answers_due``), or this one after an early stop or off the eval interval.
    """
    cfg, ctx, step = run.cfg, run.ctx, progress.step
    interrupted = stopped not in ("completed", "early stopping")
    evaluated = bool(last_eval) and step % cfg.curriculum.eval_interval == 0 and answers_due(cfg, step)
    if step > run.start_step and not interrupted and not evaluated:
        t0 = time.perf_counter()
        last_eval = _evaluate(run, answers=True)
        run.logger.log(_eval_record(step, cfg, last_eval, final=True))
        t["eval"] += time.perf_counter() - t0
    adapter_dir = run.run_dir / ADAPTER
    averaged = run.run_dir / "adapter-averaged" if cfg.checkpoint.average_last > 1 and stopped == "completed" else None
    if ctx.is_main:
        copy_dir_atomic(checkpoint_dirs(run.run_dir)[-1] / ADAPTER, adapter_dir)
        if averaged is not None:
            average_adapters(checkpoint_dirs(run.run_dir)[-cfg.checkpoint.average_last :], averaged)
    t["total"] = time.perf_counter() - t_run
    run.logger.log(EndRecord(step=step, stopped=stopped, times=dict(t), samples=progress.format_stats.as_dict()))
    run.logger.close()
    ctx.barrier()  # every rank returns once rank 0's outputs exist
    first = run.policy.initial_state()
    timeline = stage_timeline(
        progress.events, first_stage=first["stage"], first_name=run.policy.stage_name(first), end=step
    )
    return RunSummary(
        run_dir=run.run_dir,
        adapter_dir=adapter_dir,
        averaged_adapter_dir=averaged,
        base_model=run.base_model,
        start_step=run.start_step,
        steps_done=step,
        stopped=stopped,
        timeline=timeline,
        final_eval=last_eval,
        format_stats=progress.format_stats.as_dict(),
        timings=t,
    )
