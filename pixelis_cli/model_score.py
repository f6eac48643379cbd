"""``pixelis model-score``: what the model finds hard, as per-sample losses (torch is imported inside the command)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from pixelis_cli.common import console, err_console, fail, reexec_under_torchrun, set_option
from pixelis_cli.train import resolve_config
from pixelis_core.config_io import ConfigError
from pixelis_core.text import plural
from pixelis_train.model_score.inputs import ModelScoreError, check_adapter, check_input
from pixelis_train.model_score.packing import DEFAULT_TOKEN_BUDGET
from pixelis_train.model_score.shards import DEFAULT_SHARD_ROWS

if TYPE_CHECKING:
    from rich.progress import Task

    from pixelis_train.config import TrainConfig
    from pixelis_train.model_score.run import ModelScoreResult


class SamplesPerSecond(ProgressColumn):
    """The bar's rate in samples/s."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} samples/s" if speed else "- samples/s", style="progress.data.speed")


class _Bar:
    """The ProgressHook of the job: a rich bar over this rank's share (rank 0's; the ranks run alike)."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.progress = progress
        self.label = label
        self.task = None

    def start(self, total: int, resumed: int) -> None:
        note = f" ({resumed:,} done before)" if resumed else ""
        self.task = self.progress.add_task(self.label + note, total=total)

    def advance(self, samples: float) -> None:
        self.progress.advance(self.task, samples)


def _progress(disable: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        SamplesPerSecond(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=disable,
    )


def _config(
    config: Path | None, sets: list[str], model: str | None, image_root: Path | None, skip: bool, threads: int | None
):
    try:
        return resolve_config(
            config,
            {
                "model.name": model,
                "data.image_root": str(image_root) if image_root else None,
                "data.skip_bad_samples": True if skip else None,
                "model.cpu_threads": threads,
            },
            sets,
        )
    except ConfigError as err:
        fail(f"invalid config: {err}")


def _precheck(input_path: Path, output: Path, cfg: TrainConfig, adapter: Path | None, image_root: Path | None) -> None:
    """Everything that can be checked without torch, before a torchrun job starts."""
    try:
        from pixelis_train.tiny import TINY_NAMES
    except ImportError as err:  # the train extra is not installed
        fail(str(err))
    try:
        check_input(input_path)
        check_adapter(adapter)
    except ModelScoreError as err:
        fail(str(err))
    name = cfg.model.name
    # a path rather than a hub id ("org/name" has one slash and goes on to the loader)
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1 or Path(name).exists()
    if name not in TINY_NAMES and not Path(name).is_dir() and looks_like_path:
        fail(f"--model {name}: no such model directory")
    if image_root is not None and not image_root.is_dir():
        fail(f"--image-root {image_root}: not a directory")
    if output.is_dir():
        fail(f"-o {output}: is a directory (give the Parquet file to write)")


def _render(result: ModelScoreResult) -> None:
    console.print(
        f"[green]wrote[/] {result.output}: {plural(result.n_rows, 'sample')} "
        f"({result.n_scored:,} scored now, {result.n_resumed:,} from earlier shards) in {result.seconds:.1f} s"
        f" on {plural(result.world_size, 'process', 'processes')}"
    )
    console.print(
        f"input {plural(result.n_input, 'record')}: {result.n_rejected:,} rejected by the reader, "
        f"{result.n_skipped:,} skipped as bad samples, {result.n_no_tokens:,} left out with no trained token, "
        f"{result.n_truncated:,} truncated to max_length"
    )
    console.print(f"null values: answer_loss {result.n_no_answer:,} (no answer), ifd {result.n_no_ifd:,} (undefined)")
    for reason in result.skip_reasons[:5]:
        err_console.print(f"[yellow]left out:[/] {reason}", highlight=False)
    if result.n_rejected:
        err_console.print(
            f"[yellow]warning:[/] {plural(result.n_rejected, 'record')} rejected; see {result.rejects_path}"
            + (f" (first: {result.reject_reasons[0]})" if result.reject_reasons else ""),
            highlight=False,
        )


def model_score(
    input_path: Path = typer.Argument(
        ...,
        metavar="INPUT",
        help="A `pixelis split` directory (every row of simple/medium/hard/eval.arrow is scored), or a scores / "
        "records file (JSON, JSONL, Parquet in any supported format).",
    ),
    output: Path = typer.Option(..., "-o", "--output", help="The Parquet file to write (one row per sample)."),
    model: str | None = typer.Option(
        None,
        "--model",
        help="tiny-vl | tiny-text (rebuilt from the split like `pixelis train` does) | a local dir (a tiny run's "
        "RUN_DIR/base-model) | hub id. Default: the config's model.name.",
    ),
    adapter: Path | None = typer.Option(None, "--adapter", help="A trained LoRA adapter, e.g. RUN_DIR/adapter."),
    image_root: Path | None = typer.Option(None, "--image-root", help="Directory image paths are relative to."),
    config: Path | None = typer.Option(
        None, "--config", help="TrainConfig YAML (configs/train.yaml shape), e.g. RUN_DIR/config.yaml of the run."
    ),
    sets: list[str] = set_option("data.format.max_length=4096"),
    token_budget: int = typer.Option(
        DEFAULT_TOKEN_BUDGET, "--token-budget", min=1, help="Padded tokens per forward pass (batch size x longest)."
    ),
    shard_rows: int = typer.Option(
        DEFAULT_SHARD_ROWS, "--shard-rows", min=1, help="Samples per shard file (the unit a resumed run skips)."
    ),
    skip_bad_samples: bool = typer.Option(
        False, "--skip-bad-samples", help="Skip and count samples with missing/unreadable images instead of stopping."
    ),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="Torch threads on CPU (model.cpu_threads); default: OMP_NUM_THREADS if set, else the CPUs minus one.",
    ),
    nproc: int | None = typer.Option(
        None, "--nproc", min=1, help="Score on N local processes (GPUs): re-executes this command under torchrun."
    ),
) -> None:
    """Score every sample with a model: model_loss, answer_loss, IFD and trained tokens per sample_id, as Parquet.

    Example (a tiny run's base model and adapter): pixelis model-score data/split --model runs/demo/base-model --adapter runs/demo/adapter --image-root data/images -o data/model_scores.parquet

    Samples are sorted by length and batched under --token-budget; finished shards are kept in FILE.shards/, so a killed run resumes when rerun with the same arguments. --nproc N scores data-parallel under torchrun. Definitions: docs/model_score.md.
    """  # noqa: E501 (one line per paragraph: the help renderer keeps line breaks)
    cfg = _config(config, sets, model, image_root, skip_bad_samples, threads)
    _precheck(input_path, output, cfg, adapter, Path(cfg.data.image_root) if cfg.data.image_root else None)
    if nproc is not None and nproc > 1:
        reexec_under_torchrun(nproc)
    try:
        from pixelis_train import distributed
        from pixelis_train.model_score.run import ModelScoreJob, run_model_score
    except ImportError as err:
        fail(str(err))
    job = ModelScoreJob(input_path, output, cfg, adapter, token_budget, shard_rows)
    try:
        with distributed.session(cfg.distributed) as ctx, _progress(not ctx.is_main) as progress:
            label = "model-score" + (f" (rank 0 of {ctx.world_size})" if ctx.world_size > 1 else "")
            result = run_model_score(job, ctx, _Bar(progress, label) if ctx.is_main else None)
    except ModelScoreError as err:
        fail(str(err))
    except ValueError as err:  # bad config values met while loading (e.g. a tokenizer without chat tokens)
        fail(str(err))
    except OSError as err:
        fail(f"{err.filename or output}: {err.strerror or err}")
    except KeyboardInterrupt:
        fail(f"interrupted; the finished shards stay in {output}.shards: rerun the same command to continue", 130)
    if result is not None:
        _render(result)
