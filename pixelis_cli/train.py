"""``pixelis train``: curriculum SFT with LoRA on a split directory (torch is imported inside the command)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from pixelis_cli.common import build_config, console, err_console, fail, reexec_under_torchrun, set_option
from pixelis_core.config_io import ConfigError, load_yaml
from pixelis_core.lock import LockBusyError, dir_lock
from pixelis_core.text import plural
from pixelis_train.config import TrainConfig

if TYPE_CHECKING:
    from pixelis_train.loop import RunSummary


def resolve_config(config_path: Path | None, overrides: dict[str, Any], sets: Sequence[str] = ()) -> TrainConfig:
    """The config file (or defaults), then ``--set`` items, then CLI overrides (dotted field -> value; None =
    not given). Raises ConfigError listing every problem."""
    return build_config(TrainConfig, config_path, sets, overrides)


def render_summary(summary: RunSummary) -> None:
    """The run report: outcome, stage timeline, final per-category performance, where the adapter is."""
    console.rule("[bold]pixelis train: run summary")
    console.print(
        f"steps {summary.start_step} -> {summary.steps_done} ({summary.stopped}); base model {summary.base_model}"
    )
    timeline = Table(title="stage timeline", title_justify="left")
    for column in ("step", "from", "to", "event", "why"):
        timeline.add_column(column)
    for change in summary.timeline.changes:
        timeline.add_row(str(change.step), change.before, change.after, change.kind, change.reason)
    if not summary.timeline.changes:
        timeline.add_row("-", "-", "-", "-", "no stage change")
    console.print(timeline)
    if summary.final_eval:
        perf = Table(title="final per-category performance (held-out eval)", title_justify="left")
        for column in ("category", "token acc", "exp(-loss)", "action acc", "answer acc", "loss", "samples"):
            perf.add_column(column, justify="right" if column != "category" else "left")
        for category, m in summary.final_eval.items():
            perf.add_row(
                category,
                f"{m.token_accuracy:.3f}",
                f"{m.exp_neg_loss:.3f}",
                f"{m.action_accuracy:.3f}",
                "-" if m.answer_accuracy is None else f"{m.answer_accuracy:.3f}",
                f"{m.loss:.4f}",
                str(m.n_samples),
            )
        console.print(perf)
    t = summary.timings
    if t.get("total"):
        console.print(
            f"time {t['total']:.1f}s: data {t['data'] / t['total']:.1%}, compute {t['compute'] / t['total']:.1%}, "
            f"eval {t['eval'] / t['total']:.1%}, checkpoints {t['checkpoint'] / t['total']:.1%}"
        )
    fs = summary.format_stats
    console.print(
        f"samples formatted {fs.get('formatted', 0)}, skipped {fs.get('skipped', 0)}, "
        f"truncated {fs.get('truncated', 0)}"
    )
    console.print(f"[bold green]adapter:[/] {summary.adapter_dir}  (PeftModel.from_pretrained(base, this path))")
    if summary.averaged_adapter_dir:
        console.print(f"[bold green]averaged adapter:[/] {summary.averaged_adapter_dir}")
    console.print(f"metrics: {summary.run_dir / 'metrics.jsonl'}   checkpoints: {summary.run_dir / 'checkpoints'}")


_DEFAULTS = TrainConfig()


def _default(dotted: str) -> str:
    """' [default: X]' of a TrainConfig field; the flag itself defaults to None so that --config wins."""
    value: Any = _DEFAULTS
    for part in dotted.split("."):
        value = getattr(value, part)
    # escaped bracket: help text is rich markup, where [default: ...] would read as a style tag
    return f" \\[default: {value}, or the --config file's]"


def train(
    split_dir: Path = typer.Argument(
        ..., metavar="SPLIT_DIR", help="A `pixelis split` directory (simple/medium/hard/eval .arrow)."
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        help="tiny-vl | tiny-text (tiny random models built offline) | local dir | hub id." + _default("model.name"),
    ),
    config: Path | None = typer.Option(None, "--config", help="TrainConfig YAML (shape of configs/train.yaml)."),
    sets: list[str] = set_option("optim.lr=0.05"),
    image_root: Path | None = typer.Option(None, "--image-root", help="Directory image paths are relative to."),
    steps: int | None = typer.Option(None, "--steps", help="Total optimizer steps." + _default("optim.steps")),
    out: Path | None = typer.Option(None, "--out", help="Run directory (default: runs/SPLIT-MODEL)."),
    resume: str | None = typer.Option(None, "--resume", help="'auto' (latest checkpoint of --out) or a path."),
    log_to: list[str] | None = typer.Option(None, "--log-to", help="Also log to wandb / tensorboard."),
    policy: str | None = typer.Option(
        None,
        "--policy",
        help="Curriculum policy: adaptive | fixed | none | shuffled | anti." + _default("curriculum.policy"),
    ),
    eval_interval: int | None = typer.Option(
        None, "--eval-interval", help="Steps between evaluations." + _default("curriculum.eval_interval")
    ),
    save_interval: int | None = typer.Option(
        None, "--save-interval", help="Steps between checkpoints." + _default("checkpoint.save_interval")
    ),
    lr: float | None = typer.Option(None, "--lr", help="Peak learning rate." + _default("optim.lr")),
    micro_batch: int | None = typer.Option(
        None, "--micro-batch", help="Samples per forward pass." + _default("optim.micro_batch")
    ),
    grad_accum: int | None = typer.Option(
        None, "--grad-accum", help="Micro-batches per optimizer step." + _default("optim.grad_accum")
    ),
    max_length: int | None = typer.Option(
        None, "--max-length", help="Longest token sequence." + _default("data.format.max_length")
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Seed of the stream, LoRA init and dropout." + _default("seed")
    ),
    allow_config_change: list[str] | None = typer.Option(
        None,
        "--allow-config-change",
        metavar="KEY[,KEY]",
        help="With --resume: config keys (or sections) that may differ from the checkpoint's, e.g. "
        "optim.lr,optim.steps; they are applied and logged. Any other change that alters the run is refused.",
    ),
    skip_bad_samples: bool = typer.Option(
        False, "--skip-bad-samples", help="Skip and count samples with missing/unreadable images."
    ),
    gradient_checkpointing: bool = typer.Option(False, "--gradient-checkpointing", help="Trade compute for memory."),
    no_live: bool = typer.Option(False, "--no-live", help="No live progress display (logs still go to files)."),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="Torch threads on CPU (model.cpu_threads); default: OMP_NUM_THREADS if set, else the CPUs minus one.",
    ),
    distributed: str | None = typer.Option(
        None,
        "--distributed",
        help="Multi-process strategy under torchrun: ddp (default) | fsdp (FSDP2, shards decoder layers) | auto.",
    ),
    nproc: int | None = typer.Option(
        None,
        "--nproc",
        min=1,
        help="Run on N local processes (GPUs): re-executes this command under torchrun --nproc_per_node N.",
    ),
) -> None:
    """Curriculum SFT with LoRA: a model + a split directory -> a LoRA adapter, checkpoints and metrics.

    Example: pixelis train data/split --model tiny-vl --image-root data/images --out runs/demo --steps 300 --no-live

    Continue it: the same command with --resume auto (with --steps 600 --allow-config-change optim.steps it
    trains on to step 600); one process at a time writes a run directory.

    Torch uses --threads N CPU threads (default: OMP_NUM_THREADS if set, else the CPUs minus one for the data thread).

    Multi-GPU: `pixelis train --nproc N ...` or `torchrun --nproc_per_node N -m pixelis_cli.app train ...`
    (docs/distributed.md).
    """
    if nproc is not None and nproc > 1:
        reexec_under_torchrun(nproc)
    main_rank = os.environ.get("RANK", "0") == "0"
    try:
        cfg = resolve_config(
            config,
            {
                "model.name": model,
                "data.image_root": str(image_root) if image_root else None,
                "optim.steps": steps,
                "optim.lr": lr,
                "optim.micro_batch": micro_batch,
                "optim.grad_accum": grad_accum,
                "seed": seed,
                "logging.log_to": log_to or None,
                "logging.live": False if no_live else None,
                "curriculum.policy": policy,
                "curriculum.eval_interval": eval_interval,
                "checkpoint.save_interval": save_interval,
                "data.format.max_length": max_length,
                "data.skip_bad_samples": True if skip_bad_samples else None,
                "model.gradient_checkpointing": True if gradient_checkpointing else None,
                "model.cpu_threads": threads,
                "distributed.strategy": distributed,
            },
            sets,
        )
    except ConfigError as err:
        fail(f"invalid config: {err}")
    run_dir, allowed = _checked_paths(split_dir, image_root, out, cfg, allow_config_change or [])
    with _run_dir_lock(run_dir, main_rank):
        summary = _train_in(split_dir, cfg, run_dir, resume, allowed, main_rank)
    if main_rank:
        render_summary(summary)


def _checked_paths(
    split_dir: Path, image_root: Path | None, out: Path | None, cfg: TrainConfig, allow: list[str]
) -> tuple[Path, tuple[str, ...]]:
    """The run directory and the config keys a resume may change; one-line errors for what cannot work."""
    if not split_dir.is_dir():
        fail(f"{split_dir}: split directory does not exist (run `pixelis split` first)")
    if image_root is not None and not image_root.is_dir():
        fail(f"--image-root {image_root}: not a directory")
    run_dir = out or Path("runs") / f"{split_dir.resolve().name}-{Path(cfg.model.name).name}"
    try:
        from pixelis_train.metrics_log import SinkUnavailableError, check_sinks
        from pixelis_train.run_control import ResumeConfigError, parse_allowed

        check_sinks(cfg.logging.log_to)
        return run_dir, parse_allowed(allow, cfg)
    except ImportError as err:
        fail(str(err))
    except (SinkUnavailableError, ResumeConfigError) as err:
        fail(str(err))


def _warn(message: str) -> None:
    err_console.print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def _run_dir_lock(run_dir: Path, main_rank: bool) -> Iterator[None]:
    """One writer per run directory (rank 0 of a multi-process run holds it for all ranks)."""
    if not main_rank:
        yield
        return
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(dir_lock(run_dir, warn=_warn, remove_empty_dir=True))
        except LockBusyError as err:
            fail(str(err))
        except OSError as err:  # a read-only or unwritable --out: name it, no traceback
            fail(f"--out {run_dir}: cannot write the run directory ({err.strerror or err})")
        yield


def _train_in(
    split_dir: Path, cfg: TrainConfig, run_dir: Path, resume: str | None, allowed: tuple[str, ...], main_rank: bool
) -> RunSummary:
    """Choose the checkpoint, check the run directory, train; a fresh run that fails leaves no run behind."""
    try:
        from pixelis_train.checkpoint import resolve_resume
        from pixelis_train.images import BadSampleError
        from pixelis_train.loop import train as run_training
    except ImportError as err:  # torch / transformers / peft missing: the install hint
        fail(str(err))
    from pixelis_train.run_control import remove_failed_run, run_entries

    try:
        resume_path = resolve_resume(resume, run_dir, warn=_warn if main_rank else lambda _: None)
    except ValueError as err:  # not a checkpoint, or none of them intact (each named)
        fail(str(err))
    if resume_path is None and main_rank:  # the other ranks would race rank 0's first writes
        _check_fresh(run_dir, cfg, resume is not None)
    before = run_entries(run_dir)
    if main_rank:
        console.print(
            f"[bold]pixelis train[/] {split_dir} -> {run_dir} (model {cfg.model.name}, "
            f"{plural(cfg.optim.steps, 'step')}, "
            f"policy {cfg.curriculum.policy})" + (f", resuming from {resume_path}" if resume_path else "")
        )
    try:
        return run_training(split_dir, cfg, run_dir, resume=resume_path, console=console, allow_config_change=allowed)
    except BaseException as err:
        if main_rank and resume_path is None:
            remove_failed_run(run_dir, before)
        if isinstance(err, BadSampleError):
            fail(f"{err}; pass --image-root DIR (where image paths are relative to) or --skip-bad-samples")
        if isinstance(err, ValueError):  # split / stream / checkpoint / config / model errors, each named
            fail(str(err))
        raise


def _check_fresh(run_dir: Path, cfg: TrainConfig, resume_asked: bool) -> None:
    """A fresh start refuses a directory holding another run; with ``--resume auto`` (nothing to resume) it
    restarts a run that never checkpointed only when that run's config computes the same."""
    from pixelis_train.config import TrainConfig
    from pixelis_train.run_control import ResumeConfigError, check_resume_config, run_entries
    from pixelis_train.tiny import TINY_NAMES

    found = sorted(run_entries(run_dir))
    if not found:
        return
    saved = run_dir / "config.yaml"
    if not resume_asked or not saved.is_file():
        fail(
            f"--out {run_dir} already holds a run ({', '.join(found)}): pass --resume auto to continue it, "
            "or choose another --out"
        )
    try:
        check_resume_config(load_yaml(TrainConfig, saved), cfg, (), str(saved), tiny_names=TINY_NAMES)
    except (ConfigError, ResumeConfigError) as err:
        fail(f"--out {run_dir} holds a run without checkpoints whose config differs, so it cannot restart: {err}")
