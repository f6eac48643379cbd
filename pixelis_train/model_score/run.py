"""One ``pixelis model-score`` job, on one process or on each rank of a torchrun job.

The order is fixed so that ranks agree without talking: every rank opens the same input and checks the
shard directory's meta.json; rank 0 creates it (and builds a tiny model into it); every rank loads the
model, lists the finished shards and takes its share of what is left (rows i with i % world == rank);
windows of ``shard_rows`` samples are formatted (one window ahead, in a thread), packed by length,
scored and written as one shard each; after a barrier rank 0 merges the shards into the output.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pixelis_core.atomic import write_text_atomic
from pixelis_core.config_io import to_dict
from pixelis_train import distributed
from pixelis_train._deps import require
from pixelis_train.chat import ChatFormatter, Example
from pixelis_train.config import TrainConfig
from pixelis_train.images import BadSampleError
from pixelis_train.model_score.inputs import ModelScoreError, ScoreInput, open_input, pending_rows
from pixelis_train.model_score.loading import load_scoring_model, model_identity
from pixelis_train.model_score.packing import DEFAULT_TOKEN_BUDGET
from pixelis_train.model_score.scoring import Scorer
from pixelis_train.model_score.shards import DEFAULT_SHARD_ROWS, META_VERSION, TINY_DIR, ShardDir
from pixelis_train.threads import apply_cpu_threads

torch = require("torch")

MAX_REASONS = 20


class ProgressHook(Protocol):
    """What the command's progress bar is told (rank 0 only)."""

    def start(self, total: int, resumed: int) -> None: ...

    def advance(self, samples: float) -> None: ...


@dataclass(frozen=True)
class ModelScoreJob:
    """What to score, with which model, and where the result goes."""

    input_path: Path
    output: Path
    cfg: TrainConfig
    """The train config: model loading (``model``), chat formatting (``data.format``), ``data.image_root``,
    ``data.skip_bad_samples``, ``seed`` (tiny models) and ``distributed`` (backend, timeout)."""
    adapter: Path | None = None
    token_budget: int = DEFAULT_TOKEN_BUDGET
    """Padded tokens per forward pass (batch size x longest sequence)."""
    shard_rows: int = DEFAULT_SHARD_ROWS
    """Samples per window (sorted and packed together) and per shard file: the unit a resume skips."""


@dataclass
class ModelScoreResult:
    """What the job did (the merged totals on rank 0)."""

    output: Path
    n_input: int
    n_rejected: int
    reject_reasons: list[str]
    n_rows: int
    """Rows in the output."""
    n_resumed: int
    """Samples found in shards of an earlier, interrupted run (not scored again)."""
    n_scored: int
    """Samples scored by this run."""
    n_skipped: int
    """Bad samples (missing / unreadable images) left out with ``data.skip_bad_samples``."""
    skip_reasons: list[str]
    """Why samples were left out (bad samples, no trained token), the first ``MAX_REASONS``."""
    n_truncated: int
    """Samples of this run cut to ``data.format.max_length``."""
    n_no_tokens: int
    """Samples left out because no token of theirs is trained (e.g. the prompt alone exceeds max_length)."""
    n_no_answer: int
    """Output rows with a null answer_loss."""
    n_no_ifd: int
    """Output rows with a null ifd."""
    seconds: float
    world_size: int
    rejects_path: Path | None = None


@dataclass
class _Counts:
    """One rank's tallies (gathered to rank 0 at the end)."""

    scored: int = 0
    truncated: int = 0
    bad: int = 0
    no_tokens: int = 0
    left_out: list[str] = field(default_factory=list)
    """sample_ids not in the output (bad samples, no trained token): the merge checks the rest is there."""
    reasons: list[str] = field(default_factory=list)

    def leave_out(self, sample_id: str, reason: str) -> None:
        self.left_out.append(sample_id)
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(reason)


def job_meta(job: ModelScoreJob, inp: ScoreInput) -> dict[str, Any]:
    """The identity of a job's shards: input, model, adapter, and everything that changes the tokens."""
    cfg = job.cfg
    return {
        "version": META_VERSION,
        "input": inp.fingerprint(),
        **model_identity(cfg, job.adapter),
        "format": to_dict(cfg.data.format),
        "image_root": str(Path(cfg.data.image_root).resolve()) if cfg.data.image_root else None,
    }


def run_model_score(
    job: ModelScoreJob, ctx: distributed.DistContext, progress: ProgressHook | None = None
) -> ModelScoreResult | None:
    """Score every sample of ``job.input_path`` into ``job.output``; the result on rank 0 (None elsewhere)."""
    started = time.perf_counter()
    inp = open_input(job.input_path)
    shards = ShardDir(job.output)
    meta = job_meta(job, inp)
    if ctx.is_main:
        shards.claim(meta)
    ctx.barrier()  # rank 0 wrote meta.json: the other ranks check against the complete file
    if not ctx.is_main:
        shards.verify(meta)
    apply_cpu_threads(ctx.device.type, job.cfg.model.cpu_threads)
    base, module = load_scoring_model(job.cfg, job.adapter, inp, shards.path / TINY_DIR, ctx)
    done = shards.done_ids()
    run = shards.next_run()
    ctx.barrier()  # every rank has listed the shards before any rank writes one
    rows = pending_rows(inp.sample_ids(), ctx.rank, ctx.world_size, done)
    if progress is not None:
        progress.start(len(rows), len(done))
    image_root = Path(job.cfg.data.image_root) if job.cfg.data.image_root else None
    formatter = ChatFormatter(base.tokenizer, job.cfg.data.format, base.image_processor, image_root)
    autocast = (
        (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if ctx.device.type == "cuda" else contextlib.nullcontext
    )
    scorer = Scorer(module, int(base.tokenizer.pad_token_id), ctx.device, job.token_budget, autocast)
    counts = _score_rows(job, inp, rows, formatter, scorer, shards, run, ctx.rank, progress)
    ctx.barrier()  # every shard is written
    gathered: list[_Counts] = ctx.gather_objects(counts)
    if not ctx.is_main:
        return None
    return _finish(job, inp, shards, gathered, len(done), time.perf_counter() - started, ctx.world_size)


def _format_window(
    records: list[dict[str, Any]], formatter: ChatFormatter, skip_bad: bool, counts: _Counts
) -> list[tuple[Example, Example]]:
    """(training chat, chat without the question) of each record; bad ones raise, or are counted if skipped."""
    pairs = []
    for record in records:
        try:
            pairs.append((formatter.format(record), formatter.format(record, with_question=False)))
        except BadSampleError as err:
            if not skip_bad:
                raise ModelScoreError(f"{err} (--skip-bad-samples skips and counts such samples)") from None
            counts.bad += 1
            counts.leave_out(str(record.get("sample_id")), str(err))
    return pairs


def _score_rows(
    job: ModelScoreJob,
    inp: ScoreInput,
    rows: np.ndarray,
    formatter: ChatFormatter,
    scorer: Scorer,
    shards: ShardDir,
    run: int,
    rank: int,
    progress: ProgressHook | None,
) -> _Counts:
    """Score this rank's rows window by window, one shard per window."""
    counts = _Counts()
    windows = [rows[lo : lo + job.shard_rows] for lo in range(0, len(rows), job.shard_rows)]
    skip_bad = job.cfg.data.skip_bad_samples

    def prepare(window: np.ndarray) -> list[tuple[Example, Example]]:
        return _format_window(inp.records(window), formatter, skip_bad, counts)

    advance = progress.advance if progress is not None else None
    with ThreadPoolExecutor(max_workers=1) as pool:  # formats the next window while this one is scored
        future = pool.submit(prepare, windows[0]) if windows else None
        for seq, window in enumerate(windows):
            pairs = future.result()  # type: ignore[union-attr]
            future = pool.submit(prepare, windows[seq + 1]) if seq + 1 < len(windows) else None
            n_skipped = len(window) - len(pairs)
            if advance is not None and n_skipped:
                advance(n_skipped)
            scores = scorer.score(pairs, advance)
            for empty in (s for s in scores if s.n_tokens == 0):  # nothing to average: no model_loss to give
                counts.no_tokens += 1
                counts.leave_out(empty.sample_id, f"sample {empty.sample_id!r}: no trained token (prompt too long?)")
            scores = [s for s in scores if s.n_tokens]
            if scores:
                shards.write(run, rank, seq, scores)
            counts.scored += len(scores)
            counts.truncated += sum(full.truncated for full, _ in pairs)
    return counts


def _finish(
    job: ModelScoreJob,
    inp: ScoreInput,
    shards: ShardDir,
    gathered: list[_Counts],
    n_resumed: int,
    seconds: float,
    world_size: int,
) -> ModelScoreResult:
    """Rank 0: merge the shards into the output, write the rejects, sum the ranks' counts."""
    left_out = [sid for c in gathered for sid in c.left_out]
    metadata = {
        "pixelis.model": job.cfg.model.name,
        "pixelis.adapter": str(job.adapter) if job.adapter is not None else "",
        "pixelis.input": str(job.input_path),
        "pixelis.definitions": "docs/model_score.md (model_loss, answer_loss, ifd, n_tokens)",
    }
    table = shards.merge(inp.sample_ids(), left_out, metadata)
    rejects_path = None
    if inp.rejects:
        name = job.output.name.removesuffix(".parquet")
        rejects_path = job.output.with_name(name + ".rejects.jsonl")
        write_text_atomic(rejects_path, "".join(r.to_json() + "\n" for r in inp.rejects))
    return ModelScoreResult(
        output=job.output,
        n_input=inp.n_rows + len(inp.rejects),
        n_rejected=len(inp.rejects),
        reject_reasons=[r.reason for r in inp.rejects[:MAX_REASONS]],
        n_rows=table.num_rows,
        n_resumed=n_resumed,
        n_scored=sum(c.scored for c in gathered),
        n_skipped=sum(c.bad for c in gathered),
        skip_reasons=[r for c in gathered for r in c.reasons][:MAX_REASONS],
        n_truncated=sum(c.truncated for c in gathered),
        n_no_tokens=sum(c.no_tokens for c in gathered),
        n_no_answer=table.column("answer_loss").null_count,
        n_no_ifd=table.column("ifd").null_count,
        seconds=seconds,
        world_size=world_size,
        rejects_path=rejects_path,
    )
