"""``explain_sample``: why one sample got its difficulty score, step by step and factor by factor.

Factor values are read from the scores file (what split and training used); contributions are
weight x value with the weights of the config, and they add up to the composite before clipping.
Which step matched which phrase, repeated an action or revisited coordinates is found with the very
expressions the scorer uses (``phrase_pattern``, the known-action run rule, ``json_path_match``),
here on the one sample's steps.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pixelis_data.config import DataConfig
from pixelis_data.factors import phrase_pattern
from pixelis_data.report.inputs import ReportInputError
from pixelis_data.schema import DIAGNOSTIC_SCHEMA, SCORE_COLUMN, STEP
from pixelis_data.score import composite_weights
from pixelis_data.split.manifest import read_manifest
from pixelis_data.split.thresholds import compute_thresholds

CLOSE_IDS = 5
CANDIDATE_LIMIT = 50_000  # difflib is slow per candidate: keep the error path around a second


class SampleNotFoundError(ReportInputError):
    """The sample_id is not in the scores file; ``close`` holds a few similar ids."""

    def __init__(self, message: str, close: list[str]) -> None:
        super().__init__(message)
        self.close = close


@dataclass(frozen=True)
class FactorPart:
    """One term of the composite."""

    name: str
    value: float
    weight: float

    @property
    def contribution(self) -> float:
        return self.value * self.weight


@dataclass(frozen=True)
class StepView:
    """One step of the trajectory and what the scorer noticed in it."""

    index: int
    """1-based position in the trajectory."""
    action: str
    thought: str
    parameters: str
    result: str
    known: bool
    """The action is in the complexity table."""
    phrases: tuple[str, ...]
    """Self-correction phrases matched in the thought."""
    repetition: bool
    """A known action equal to the (repetition_run - 1) known actions before it."""
    repeated_coordinates: str | None
    """Coordinates equal to those of an earlier coordinate step (backtracking), else None."""


@dataclass(frozen=True)
class Explanation:
    """Everything `pixelis explain` shows about one sample."""

    record: dict[str, Any]
    steps: list[StepView]
    factors: list[FactorPart]
    clip: tuple[float, float]
    stored_score: float
    diagnostics: dict[str, Any]
    percentile: float
    """Share of all scores <= this sample's score, in percent."""
    rank: int
    """1-based position of the score in ascending order (ties share the highest rank)."""
    n_scores: int
    category: str
    thresholds: tuple[float, float]
    category_source: str
    """Where the category comes from: thresholds recomputed on the scores file, or a split directory."""
    split_file: str | None = None
    """The split file holding the sample (``--split``), e.g. eval.arrow; None without --split or when absent."""

    @property
    def raw_composite(self) -> float:
        """Sum of contributions, before clipping."""
        return math.fsum(f.contribution for f in self.factors)

    @property
    def composite(self) -> float:
        """The clipped composite (equals the stored difficulty_score for a file scored with this config)."""
        return min(max(self.raw_composite, self.clip[0]), self.clip[1])

    @property
    def clipped(self) -> bool:
        return self.composite != self.raw_composite


def close_ids(scores: pl.LazyFrame, sample_id: str, k: int = CLOSE_IDS) -> list[str]:
    """A few ids similar to ``sample_id``: candidates sharing the longest prefix, ranked by difflib."""
    ids = pl.col("sample_id")
    candidates: list[str] = []
    for n in range(len(sample_id), 0, -1):
        found = scores.filter(ids.str.starts_with(sample_id[:n])).select(ids).head(CANDIDATE_LIMIT).collect()
        if found.height:
            candidates = found["sample_id"].to_list()
            break
    if not candidates:
        candidates = scores.select(ids).head(CANDIDATE_LIMIT).collect()["sample_id"].drop_nulls().to_list()
    return difflib.get_close_matches(sample_id, candidates, n=k, cutoff=0.0)


def _steps(record: dict[str, Any], cfg: DataConfig) -> list[StepView]:
    errors, ops = cfg.score.errors, cfg.score.operations
    steps = pl.DataFrame(record["trajectory"] or [], schema={f.name: f.dtype for f in STEP.fields}, orient="row")
    known = pl.col("action").is_in(list(ops.complexity))
    phrase_cols = {p: pl.col("thought").str.contains(phrase_pattern((p,))).fill_null(False) for p in errors.phrases}
    coords = (
        pl.when(pl.col("action") == errors.coordinate_action)
        .then(pl.col("parameters"))
        .str.json_path_match(f"$.{errors.coordinate_field}")
        .str.strip_chars()
    )
    coords = pl.when(~coords.is_in(["", "[]", '""'])).then(coords)
    frame = steps.with_columns(
        known.alias("_known"), coords.alias("_coords"), *(e.alias(f"_p{i}") for i, e in enumerate(phrase_cols.values()))
    )
    frame = frame.with_columns(
        (pl.col("_coords").is_not_null() & (pl.col("_coords").cum_count().over("_coords") > 1)).alias("_repeat_xy")
    )
    known_seq = [i for i, k in enumerate(frame["_known"].to_list()) if k]
    actions = frame["action"].to_list()
    run = errors.repetition_run
    repeated = {
        known_seq[j]
        for j in range(run - 1, len(known_seq))
        if all(actions[known_seq[j]] == actions[known_seq[j - b]] for b in range(1, run))
    }
    out = []
    for i, row in enumerate(frame.iter_rows(named=True)):
        out.append(
            StepView(
                index=i + 1,
                action=row["action"] or "?",
                thought=row["thought"] or "",
                parameters=row["parameters"] or "",
                result=row["result"] or "",
                known=bool(row["_known"]),
                phrases=tuple(p for j, p in enumerate(phrase_cols) if row[f"_p{j}"]),
                repetition=i in repeated,
                repeated_coordinates=row["_coords"] if row["_repeat_xy"] else None,
            )
        )
    return out


def _split_category(split_dir: Path, sample_id: str) -> tuple[tuple[float, float], str | None, str | None]:
    import pyarrow as pa
    import pyarrow.compute as pc

    manifest = read_manifest(split_dir)
    if manifest is None:
        raise ReportInputError(f"--split {split_dir}: no pixelis split manifest.json there")
    thresholds = (float(manifest["thresholds"]["simple"]), float(manifest["thresholds"]["medium"]))
    for entry in manifest["files"].values():
        table = (
            pa.ipc.open_file(pa.memory_map(str(split_dir / entry["path"]))).read_all().select(["sample_id", "category"])
        )
        hits = table.filter(pc.equal(table["sample_id"], sample_id))
        if hits.num_rows:
            return thresholds, str(hits["category"][0]), entry["path"]
    return thresholds, None, None


def explain_sample(
    scores_path: Path, sample_id: str, config: DataConfig | None = None, split_dir: Path | None = None
) -> Explanation:
    """Explain ``sample_id`` of a scores Parquet; SampleNotFoundError (with close ids) when it is absent."""
    config = config or DataConfig()
    scores = pl.scan_parquet(scores_path)
    names = scores.collect_schema().names()
    if SCORE_COLUMN not in names or "trajectory" not in names:
        raise ReportInputError(f"{scores_path}: not a scores file (needs trajectory and {SCORE_COLUMN} columns)")
    rows = scores.filter(pl.col("sample_id") == sample_id).head(1).collect()
    if rows.height == 0:
        close = close_ids(scores, sample_id)
        hint = f"; close ids: {', '.join(close)}" if close else ""
        raise SampleNotFoundError(f"{scores_path}: no sample_id {sample_id!r}{hint}", close)
    record = rows.row(0, named=True)
    weights = composite_weights(config.score)
    absent = [c for c in weights if c not in names]
    if absent:
        raise ReportInputError(f"{scores_path}: factor column(s) {', '.join(absent)} of the config are missing")
    all_scores = scores.select(SCORE_COLUMN).collect()[SCORE_COLUMN].drop_nulls()
    score = float(record[SCORE_COLUMN])
    at_or_below = int((all_scores <= score).sum())
    split_file = None
    if split_dir is not None:
        thresholds, category, split_file = _split_category(split_dir, sample_id)
        source = f"split {split_dir}" + ("" if category else " (sample not in it: category from its thresholds)")
    else:
        t = compute_thresholds(all_scores, config.split)
        thresholds, category, source = (t.t_simple, t.t_medium), None, "thresholds computed on the scores file"
    if category is None:
        category = "simple" if score <= thresholds[0] else "medium" if score <= thresholds[1] else "hard"
    return Explanation(
        record=record,
        steps=_steps(record, config),
        factors=[FactorPart(c, float(record[c]), w) for c, w in weights.items()],
        clip=(config.score.clip_min, config.score.clip_max),
        stored_score=score,
        diagnostics={k: record.get(k) for k in DIAGNOSTIC_SCHEMA.names()},
        percentile=100.0 * at_or_below / all_scores.len(),
        rank=at_or_below,
        n_scores=all_scores.len(),
        category=category,
        thresholds=thresholds,
        category_source=source,
        split_file=split_file,
    )
