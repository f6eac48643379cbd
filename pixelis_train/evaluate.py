"""Per-category evaluation on the held-out eval set: token accuracy, exp(-loss), action accuracy, answer accuracy.

The first three are teacher-forced on the assistant (trained) tokens, so one forward pass gives them all:
- token_accuracy: argmax prediction == target over trained tokens;
- exp_neg_loss: exp(-mean cross-entropy) over trained tokens (a per-token likelihood in (0, 1]);
- action_accuracy: share of tool calls whose operation name is predicted right, every token of it.

answer_accuracy is by generation, when asked for (``answers``): teacher-forced through the trajectory up
to ``<answer>``, the answer is greedy-decoded (batched, left-padded, KV cache: ``model.generate`` with
``do_sample=False``, which draws no random numbers) and graded against the record's ground truth with
:func:`pixelis_train.answers.answers_match`.

Every number is also broken down by skill (``CategoryMetrics.skills``): the task type of the sample
(``task_type/<name>``) and each operation its trajectory uses (``op/<NAME>``; a sample counts for every
operation it uses, once), so the samples of the task types of a category add up to the category's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.compute as pc

from pixelis_data.schema import CATEGORIES
from pixelis_train._deps import require
from pixelis_train.answers import AnswerDecoding, answers_match, reference_answer
from pixelis_train.batch import collate, format_rows, model_inputs, token_stats
from pixelis_train.chat import IGNORE_INDEX, Example

if TYPE_CHECKING:
    from pixelis_train.chat import ChatFormatter
    from pixelis_train.config import EvalConfig, TrainDataConfig
    from pixelis_train.progress import FormatStats
    from pixelis_train.stream import CurriculumStream

torch = require("torch")
F = require("torch.nn.functional")

# per group: loss sum, trained tokens, correct tokens, tool calls, tool calls right, samples,
# samples with an answer prompt, answers right
N_SUMS = 8


@dataclass(frozen=True)
class CategoryMetrics:
    """Evaluation numbers of one category (or of one skill within it)."""

    loss: float
    token_accuracy: float
    exp_neg_loss: float
    action_accuracy: float
    n_samples: int
    n_tokens: int
    n_actions: int
    answer_accuracy: float | None = None
    """Share of answered samples whose greedy answer matches the reference; None: not computed at this
    evaluation (or no sample has an answer)."""
    n_answered: int = 0
    """Samples with an answer prompt (an answer that was not cut off), whether or not it was generated."""
    skills: dict[str, CategoryMetrics] = field(default_factory=dict)
    """The same numbers per skill of the category's samples, keyed ``task_type/<name>`` and ``op/<NAME>``."""

    def metric(self, name: str) -> float:
        """One of ``token_accuracy``, ``exp_neg_loss``, ``action_accuracy``."""
        return float(getattr(self, name))

    def as_dict(self) -> dict[str, float | int | None]:
        """The numbers (skills left out: they are ``skills[k].as_dict()``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "skills"}


@dataclass
class EvalExample(Example):
    """An eval-set example with what answer grading and the per-skill breakdown need from its record."""

    task_type: str = "unknown"
    operations: tuple[str, ...] = ()
    """The distinct operations of the trajectory, in order of first use (the think action left out)."""
    reference: str | None = None
    """The answer is graded against this (``answers.reference_answer``: ground truth, else answer)."""

    @property
    def skills(self) -> tuple[str, ...]:
        return (f"task_type/{self.task_type}", *(f"op/{op}" for op in self.operations))

    @property
    def answerable(self) -> bool:
        return bool(self.answer_positions) and self.reference is not None


def eval_example(example: Example, record: dict[str, Any], think_action: str) -> EvalExample:
    """``example`` (the formatted ``record``) with the record's task type, operations and reference answer."""
    actions = [(step.get("action") or "").strip() or "UNKNOWN" for step in record.get("trajectory") or []]
    return EvalExample(
        **{f.name: getattr(example, f.name) for f in fields(Example)},
        task_type=str(record.get("task_type") or "unknown"),
        operations=tuple(dict.fromkeys(a for a in actions if a != think_action)),
        reference=reference_answer(record),
    )


def eval_sets(
    split_dir: Path,
    stream: CurriculumStream,
    formatter: ChatFormatter,
    eval_cfg: EvalConfig,
    data_cfg: TrainDataConfig,
    stats: FormatStats,
) -> dict[str, list[EvalExample]]:
    """The eval set per category, formatted once (``pixelis train`` and the HF callback alike). Every rank
    formats all of it (the same counts everywhere) and later evaluates its shard of it; each example keeps
    its record's task type, operations and reference answer (per-skill numbers, answers)."""
    table = stream.eval_table()
    sets = {}
    for category in CATEGORIES:
        rows = table.filter(pc.equal(table["category"], category))
        if eval_cfg.max_per_category:
            rows = rows.slice(0, eval_cfg.max_per_category)
        sets[category] = [
            eval_example(example, row, data_cfg.format.think_action)
            for row in rows.to_pylist()  # one row at a time: a skipped bad row cannot shift the pairing
            for example in format_rows([row], formatter, data_cfg.skip_bad_samples, stats)
        ]
    sets = {c: exs for c, exs in sets.items() if exs}
    if not sets:
        raise ValueError(f"{split_dir}/eval.arrow: no usable eval samples (the curriculum needs them)")
    return sets


def shard(examples: list[Any], rank: int, world_size: int) -> list[tuple[Any, bool]]:
    """This rank's part of ``examples``: every ``world_size``-th one from ``rank``, padded so that every
    rank gets exactly ceil(n / world_size) entries (the same number of forward passes, which FSDP's
    collectives need). Padding entries repeat a real example and are marked ``False``: not counted."""
    per_rank = -(-len(examples) // world_size)
    picked = range(rank, per_rank * world_size, world_size)
    return [(examples[i % len(examples)], i < len(examples)) for i in picked] if examples else []


def skill_keys(examples: list[Example]) -> list[str]:
    """The skills of ``examples`` (task types, then operations, each sorted): the same on every rank."""
    keys = {k for ex in examples for k in getattr(ex, "skills", ())}
    return sorted(k for k in keys if k.startswith("task_type/")) + sorted(k for k in keys if k.startswith("op/"))


def evaluate(
    model: Any,
    eval_sets: dict[str, list[Example]],
    pad_id: int,
    device: Any,
    batch_size: int,
    autocast: Callable[[], AbstractContextManager[Any]] = nullcontext,
    *,
    rank: int = 0,
    world_size: int = 1,
    all_sum: Callable[[list[float]], list[float]] = list,
    answers: AnswerDecoding | None = None,
) -> dict[str, CategoryMetrics]:
    """Evaluate ``model`` on each category's examples (eval mode, no grad; train mode restored after);
    with ``answers``, answer accuracy by generation too.

    With several ranks each evaluates its :func:`shard` and ``all_sum`` adds the per-category sums
    over ranks, so every rank gets the same metrics as one process evaluating everything.
    """
    was_training = model.training
    model.eval()
    sums: dict[str, dict[str, list[float]]] = {}
    try:
        with torch.no_grad():
            for category, examples in eval_sets.items():
                groups = {"": [0.0] * N_SUMS, **{k: [0.0] * N_SUMS for k in skill_keys(examples)}}
                mine = shard(examples, rank, world_size)
                for lo in range(0, len(mine), batch_size):
                    _teacher_forced(model, mine[lo : lo + batch_size], pad_id, device, autocast, groups)
                if answers is not None:
                    answerable = [ex for ex in examples if getattr(ex, "answerable", False)]
                    graded = shard(answerable, rank, world_size)
                    for lo in range(0, len(graded), batch_size):
                        chunk = graded[lo : lo + batch_size]
                        texts = _generate(model, [ex for ex, _ in chunk], pad_id, device, autocast, answers, world_size)
                        for (ex, counted), text in zip(chunk, texts, strict=True):
                            right = float(counted and answers_match(text, ex.reference))
                            for key in ("", *ex.skills):
                                groups[key][7] += right
                sums[category] = groups
    finally:
        model.train(was_training)
    reduced = iter(all_sum([v for groups in sums.values() for total in groups.values() for v in total]))
    out = {}
    for category, groups in sums.items():
        numbers = {key: [next(reduced) for _ in range(N_SUMS)] for key in groups}
        skills = {key: _metrics(numbers[key], answers is not None) for key in groups if key}
        out[category] = _metrics(numbers[""], answers is not None, skills)
    return out


def _teacher_forced(
    model: Any,
    chunk: list[tuple[Example, bool]],
    pad_id: int,
    device: Any,
    autocast: Callable[[], AbstractContextManager[Any]],
    groups: dict[str, list[float]],
) -> None:
    """One forward pass over ``chunk``: the category sums (as before skills existed, so the category
    numbers do not change) and each counted sample's own sums added to its skills."""
    batch = collate([ex for ex, _ in chunk], pad_id)
    for i, (_, counted) in enumerate(chunk):
        if not counted:
            batch["labels"][i] = IGNORE_INDEX
    with autocast():
        logits = model(**model_inputs(batch, device)).logits
    stats = token_stats(logits, batch["labels"])
    preds = stats.predictions.cpu()
    total = groups[""]
    total[0] += float(stats.loss_sum)
    total[1] += stats.n_tokens
    total[2] += stats.n_correct
    has_skills = len(groups) > 1
    rows = _row_sums(logits, batch["labels"], stats.predictions) if has_skills else None
    for i, (ex, counted) in enumerate(chunk):
        if not counted:
            continue
        # position p is predicted from p - 1 (the causal shift)
        right = sum(all(int(preds[i, p - 1]) == ex.input_ids[p] for p in pos) for pos in ex.action_positions)
        sample = [len(ex.action_positions), right, 1, float(getattr(ex, "answerable", False))]
        for k, v in enumerate(sample):
            total[3 + k] += v
        if rows is not None:
            own = [rows[0][i], rows[1][i], rows[2][i], *sample]
            for key in getattr(ex, "skills", ()):
                groups[key][:7] = [a + b for a, b in zip(groups[key][:7], own, strict=True)]


def _row_sums(logits: Any, labels: Any, predictions: Any) -> tuple[list[float], list[int], list[int]]:
    """Per sample of the batch: loss sum, trained tokens and correct tokens (causal shift, fp32); the
    cross-entropy only over the trained positions, the fraction of the logits that matters."""
    targets = labels[:, 1:].to(logits.device)
    valid = targets != IGNORE_INDEX
    rows = valid.nonzero()[:, 0]
    per_token = F.cross_entropy(logits[:, :-1][valid].float(), targets[valid], reduction="none")
    loss = torch.zeros(len(labels), dtype=torch.float64, device=logits.device).index_add_(0, rows, per_token.double())
    correct = (predictions.to(targets.device) == targets) & valid
    return loss.tolist(), valid.sum(1).tolist(), correct.sum(1).tolist()


def _generate(
    model: Any,
    examples: list[EvalExample],
    pad_id: int,
    device: Any,
    autocast: Callable[[], AbstractContextManager[Any]],
    answers: AnswerDecoding,
    world_size: int,
) -> list[str]:
    """Greedy answers of ``examples`` from their prefixes up to the answer (left-padded into one batch)."""
    prefixes = [ex.input_ids[: ex.answer_positions[0]] for ex in examples]
    width = max(len(p) for p in prefixes)
    ids = np.full((len(prefixes), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(prefixes), width), dtype=np.int64)
    for i, prefix in enumerate(prefixes):
        ids[i, width - len(prefix) :] = prefix
        mask[i, width - len(prefix) :] = 1
    inputs: dict[str, Any] = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
    pixels = [ex for ex in examples if ex.pixel_values is not None and len(ex.image_grid_thw)]
    if pixels:  # every image sits before the answer, so the prefix keeps all of them
        inputs["pixel_values"] = torch.from_numpy(np.concatenate([ex.pixel_values for ex in pixels]))
        inputs["image_grid_thw"] = torch.tensor([g for ex in pixels for g in ex.image_grid_thw], dtype=torch.long)
    config = require("transformers").GenerationConfig(
        max_new_tokens=answers.max_new_tokens,
        do_sample=False,
        num_beams=1,
        eos_token_id=answers.stop_ids(),
        pad_token_id=pad_id,
    )
    with autocast(), _root_gathered(model):
        # synced_gpus: every rank keeps stepping until all are done (FSDP's collectives need it)
        out = model.generate(**model_inputs(inputs, device), generation_config=config, synced_gpus=world_size > 1)
    return [answers.text(row) for row in out[:, width:].tolist()]


@contextmanager
def _root_gathered(model: Any) -> Iterator[None]:
    """Under FSDP2, the root's own parameters (embeddings, head) gathered while generating: PEFT's
    ``generate`` calls the inner model, so the root's forward hook, which gathers them, does not run, and
    with them sharded the embedding fails on a DTensor (tried: 2 gloo ranks). The decoder layers are
    sharded units of their own and gather themselves. Nothing to do without FSDP."""
    if not isinstance(model, getattr(require("torch.distributed.fsdp"), "FSDPModule", ())):
        yield
        return
    model.unshard()
    try:
        yield
    finally:
        model.reshard()


def _metrics(total: list[float], answered: bool, skills: dict[str, CategoryMetrics] | None = None) -> CategoryMetrics:
    loss_sum, n_tok, n_correct, n_act, n_act_ok, n_samples, n_answered, n_right = (
        total[0],
        *(round(v) for v in total[1:]),
    )
    mean_loss = loss_sum / n_tok if n_tok else float("nan")
    return CategoryMetrics(
        loss=mean_loss,
        token_accuracy=n_correct / n_tok if n_tok else 0.0,
        exp_neg_loss=math.exp(-mean_loss) if n_tok else 0.0,
        # a category without tool calls has nothing to get wrong: fall back to token accuracy
        action_accuracy=n_act_ok / n_act if n_act else (n_correct / n_tok if n_tok else 0.0),
        n_samples=n_samples,
        n_tokens=n_tok,
        n_actions=n_act,
        answer_accuracy=n_right / n_answered if answered and n_answered else None,
        n_answered=n_answered,
        skills=skills or {},
    )
