"""Scoring: the factors of the registry + diagnostics + composite as one lazy plan, streamed to Parquet."""

from __future__ import annotations

import functools
import operator
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pixelis_core.atomic import TEMP_NAME, atomic_path
from pixelis_core.threads import consumed_behind, prefetched
from pixelis_data import factors as F
from pixelis_data.config import DataConfig, ScoreConfig
from pixelis_data.custom_factors import custom_factors
from pixelis_data.factor_registry import BUILTIN_FACTORS, FACTORS, MODEL_FACTOR, Factor
from pixelis_data.model_scores import ModelScores, ModelScoreStats, load_model_scores
from pixelis_data.readers import InputError, read_batches
from pixelis_data.readers.files import expand_inputs
from pixelis_data.schema import DIAGNOSTIC_SCHEMA, SCORE_COLUMN, empty_canonical


def count_exprs(cfg: ScoreConfig) -> dict[str, pl.Expr]:
    """Per-sample counts the factors read (their ``inputs``): the public diagnostics plus private helpers."""
    return {
        "n_steps": F.n_steps().cast(pl.UInt32),
        "n_known_ops": F.n_known(cfg.operations).cast(pl.UInt32),
        "n_unique_ops": F.n_unique_known(cfg.operations).cast(pl.UInt32),
        "n_think": F.n_think(cfg.reasoning).cast(pl.UInt32),
        "n_repetitions": F.n_repetitions(cfg.errors, cfg.operations).cast(pl.UInt32),
        "_phrase": F.has_phrase(cfg.errors),
        "_repeated_coordinates": F.n_repeated_coordinates(cfg.errors).cast(pl.UInt32),
        "_known_weight": F.known_weight_sum(cfg.operations),
    }


def diagnostic_exprs() -> dict[str, pl.Expr]:
    """The diagnostics that are not plain counts (docs/design.md §4)."""
    return {
        "has_self_correction": pl.col("_phrase") | (pl.col("sample_type") == "self_correction").fill_null(False),
        "has_backtracking": pl.col("_repeated_coordinates") > 0,
        "n_unknown_ops": (pl.col("n_steps") - pl.col("n_known_ops")).cast(pl.UInt32),
    }


def uses_model(cfg: ScoreConfig) -> bool:
    """Whether ``cfg`` scores with the model factor (``score.model_scores.path`` is set)."""
    return cfg.model_scores.path is not None


def factor_columns(cfg: ScoreConfig) -> list[str]:
    """The factor columns of a file scored with ``cfg``, in file order: built-ins, custom ones, model factor."""
    return [*FACTORS, *cfg.custom.weights, *([MODEL_FACTOR.column] if uses_model(cfg) else [])]


def heuristic_weights(cfg: ScoreConfig) -> dict[str, float]:
    """Column -> weight of the heuristic factors: ``weights`` then ``custom.weights`` (renormalised only if asked).

    Config order is kept: it is the summation order of the composite, so it decides the last bit.
    """
    weights = {**cfg.weights, **cfg.custom.weights}
    if cfg.custom.renormalize:
        total = sum(weights.values())
        if total > 0:
            weights = {k: v / total for k, v in weights.items()}
    return weights


def _rescaled(weights: dict[str, float], to: float) -> dict[str, float]:
    """``weights`` scaled to sum to ``to`` (all zero when they sum to 0)."""
    total = sum(weights.values())
    return {k: (v * to / total if total > 0 else 0.0) for k, v in weights.items()}


def composite_weights(cfg: ScoreConfig) -> dict[str, float]:
    """Column -> weight in the composite: the heuristic weights, then (with model scores) ``model_difficulty``.

    With model scores of weight w the heuristic weights are scaled to sum to 1 - w (docs/design.md §4).
    """
    weights = heuristic_weights(cfg)
    if not uses_model(cfg):
        return weights
    w = cfg.model_scores.weight
    return {**_rescaled(weights, 1.0 - w), MODEL_FACTOR.column: w}


def weighted_sum(weights: dict[str, float]) -> pl.Expr:
    """sum(column * weight) in the order of ``weights``, left to right (a null column counts 0).

    Written as a chain of additions, not ``pl.sum_horizontal``: that sums in an order of its own, which
    differed in the last bit between Polars' in-memory and streaming engines (for 854 of 20,000 rows), so
    the CLI (in-memory per batch) and ``score_frame(...).collect()`` disagreed.
    """
    terms = [pl.col(c).fill_null(0.0) * w for c, w in weights.items()]
    return functools.reduce(operator.add, terms) if terms else pl.lit(0.0)


def composite_expr(cfg: ScoreConfig) -> pl.Expr:
    """``difficulty_score``: the weighted sum of the factor columns, clipped to [clip_min, clip_max].

    A sample without a model score (null ``model_difficulty``) gets the heuristic part alone, its weights
    rescaled to sum to 1.
    """
    weighted = weighted_sum(composite_weights(cfg))
    if uses_model(cfg):
        heuristic = weighted_sum(_rescaled(heuristic_weights(cfg), 1.0))
        weighted = pl.when(pl.col(MODEL_FACTOR.column).is_null()).then(heuristic).otherwise(weighted)
    return weighted.clip(cfg.clip_min, cfg.clip_max).alias(SCORE_COLUMN)


@dataclass(frozen=True)
class ScorePlan:
    """The expressions of ``score_frame`` for one config, built once: every batch of a run reuses them
    (building them per batch took about 2.3 ms each time: 0.36 CPU s over 1M records, cProfile)."""

    counts: list[pl.Expr]
    factors: list[pl.Expr]
    """The factor columns (built-in, custom, model) and the diagnostics."""
    composite: pl.Expr
    columns: list[str]
    """Names of the columns added, in file order."""
    model: ModelScores | None

    @classmethod
    def build(cls, cfg: ScoreConfig, custom: Sequence[Factor] = (), model: ModelScores | None = None) -> ScorePlan:
        """The plan of ``cfg``; ``model`` is required exactly when ``cfg`` names model scores."""
        if (model is None) == uses_model(cfg):  # an invariant of the callers, not user input
            raise ValueError("score_frame: pass the loaded model scores exactly when score.model_scores.path is set")
        factors = (*BUILTIN_FACTORS, *custom, *([MODEL_FACTOR] if model is not None else []))
        diagnostics = [e.alias(n) for n, e in diagnostic_exprs().items()]
        return cls(
            counts=[e.alias(n) for n, e in count_exprs(cfg).items()],
            factors=[f.build(cfg) for f in factors] + diagnostics,
            composite=composite_expr(cfg),
            columns=[*(f.column for f in factors), SCORE_COLUMN, *DIAGNOSTIC_SCHEMA.names()],
            model=model,
        )

    def apply(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        """``lf`` (canonical rows) with the plan's columns added."""
        order = [*lf.collect_schema().names(), *self.columns]
        if self.model is not None:
            lf = lf.join(self.model.ranks.lazy(), on="sample_id", how="left", maintain_order="left")
        return lf.with_columns(self.counts).with_columns(self.factors).with_columns(self.composite).select(order)


def score_frame(
    lf: pl.LazyFrame, cfg: ScoreConfig, custom: Sequence[Factor] = (), model: ModelScores | None = None
) -> pl.LazyFrame:
    """Add the factor (built-in, ``custom``, model), composite and diagnostic columns to a canonical LazyFrame.

    Three projections in one lazy plan: shared counts (and the model ranks, joined on sample_id), then
    factors + diagnostics, then the composite. ``model`` is
    required exactly when ``cfg`` names model scores.
    """
    return ScorePlan.build(cfg, custom, model).apply(lf)


def load_custom(cfg: ScoreConfig) -> tuple[Factor, ...]:
    """The custom factors named by the config (none without a module)."""
    return custom_factors(cfg.custom.module, cfg.custom.weights) if cfg.custom.module else ()


def rejects_path_for(output: Path) -> Path:
    """``scores.parquet`` -> ``scores.rejects.jsonl`` beside it."""
    return output.with_name(output.name.removesuffix(".parquet") + ".rejects.jsonl")


def default_output_for(input_path: Path) -> Path:
    """``data/input.json`` -> ``data/input.scores.parquet`` (docs/design.md §1)."""
    name = input_path.name
    for suffix in (".jsonl", ".ndjson", ".json", ".parquet", ".pq"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return input_path.with_name(name + ".scores.parquet")


def own_outputs(files: list[Path], output: Path) -> tuple[list[Path], list[Path]]:
    """(inputs, excluded): ``files`` without this run's own outputs (the scores, its rejects file, their temp files).

    A directory or glob input that holds ``-o`` would otherwise read the previous run's scores and rejects
    back as records (docs/formats.md).
    """
    output = Path(output).resolve()
    own = {output, rejects_path_for(output)}
    names = {p.name for p in own}

    def is_own(path: Path) -> bool:
        resolved = path.resolve()
        if resolved in own:
            return True
        match = TEMP_NAME.match(path.name)
        return match is not None and match["name"] in names and resolved.parent == output.parent

    kept = [p for p in files if not is_own(p)]
    return kept, [p for p in files if is_own(p)]


REPORT_COLUMNS = ("task_type", "sample_type")
"""Columns besides the factors and the composite that the report of `pixelis score` needs."""


@dataclass
class ScoreResult:
    """What a scoring run read, wrote and rejected."""

    output: Path | None
    rejects_path: Path | None
    n_input: int = 0
    n_scored: int = 0
    n_rejected: int = 0
    reject_reasons: Counter = field(default_factory=Counter)
    unknown_ops: Counter = field(default_factory=Counter)
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    model: ModelScoreStats | None = None
    """With ``score.model_scores``: how the scored samples matched the model-scores file."""
    excluded: list[Path] = field(default_factory=list)
    """Input files left out because they are this run's own outputs (``own_outputs``)."""
    report: pl.DataFrame | None = None
    """The factor, composite, task_type and sample_type columns of the rows written (the report reads these,
    never the output file, which a concurrent run may be replacing)."""

    @property
    def strict_failures(self) -> list[str]:
        """Why ``--strict`` withholds the scores: rejected records, samples without a model score."""
        out = []
        if self.n_rejected:
            out.append(f"{self.n_rejected:,} record(s) rejected (see {self.rejects_path})")
        if self.model is not None and self.model.n_missing:
            out.append(f"{self.model.n_missing:,} sample(s) without a model score in {self.model.path}")
        return out


def _unknown_ops(frame: pl.DataFrame, known: list[str]) -> Counter:
    if not frame["n_unknown_ops"].max():  # the usual batch (or an empty one): no step to look at
        return Counter()
    ops = frame.select(pl.col("trajectory").list.eval(pl.element().struct.field("action")).explode().alias("a"))
    counts = ops.filter(pl.col("a").is_not_null() & ~pl.col("a").is_in(known)).group_by("a").len()
    return Counter(dict(counts.iter_rows()))


PIPELINE_DEPTH = 4
"""Batches waiting between two stages of `pixelis score` at most (4 against 2: 2-4% faster, 300k and 1M)."""
UNINDEXED_COLUMNS = ("question", "images", "trajectory", "extra")
"""Free-text / nested columns of a scores file written without min/max statistics (nobody filters on them)."""


def parquet_options(schema: pa.Schema) -> dict[str, object]:
    """``pq.ParquetWriter`` options of the scores file (``benchmarks/score_plan.py`` times the alternatives).

    snappy with dictionaries (the trajectory texts repeat a lot): against zstd, `pixelis score` of 300,000
    records took 2.44 s instead of 2.57 s (median of 3 runs each) and pyarrow read the file back in 0.3 s
    instead of 0.9-1.4 s, for a file of 77 MB instead of 51 MB; snappy is also what pyarrow, DuckDB and
    Spark write by default, so every Parquet reader takes it. Statistics only for the
    columns one filters on (ids, types, factors, counts): min/max of the big text columns cost about a
    fifth of the write.
    """
    stats = [name for name in schema.names if name not in UNINDEXED_COLUMNS]
    return {"compression": "snappy", "write_statistics": stats}


class _ScoresWriter:
    """The Parquet writer of a scores file, opened with the schema of the first frame written to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tables = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, item: tuple[pl.DataFrame, pa.Array | None]) -> None:
        """Write a scored frame, taking its trajectory column from the Arrow array given with it, if any
        (``Batch.trajectory``)."""
        frame, trajectory = item
        if trajectory is None:
            table = frame.to_arrow()
        else:
            if len(trajectory) != frame.height:  # an invariant of read_batches, not user input
                raise RuntimeError(f"trajectory of {len(trajectory)} rows for a frame of {frame.height}")
            at = frame.columns.index("trajectory")
            table = frame.drop("trajectory").to_arrow()
            table = table.add_column(at, pa.field("trajectory", trajectory.type), trajectory)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema, **parquet_options(table.schema))
        self._writer.write_table(table)
        self.tables += 1

    def __enter__(self) -> _ScoresWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()


def score_to_parquet(
    inputs: str | Path | list[str | Path],
    output: Path,
    config: DataConfig | None = None,
    *,
    fmt: str | None = None,
    strict: bool = False,
    progress: Callable[[int], None] | None = None,
    keep_report: bool = True,
) -> ScoreResult:
    """Read, validate, score and write ``output`` (atomically); rejects go to ``<output>.rejects.jsonl``.

    ``keep_report``: keep the columns the report needs (``ScoreResult.report``, about 64 bytes per
    sample); without it the memory of a run does not grow with the input.

    With ``strict`` the scores are not written when anything was rejected or, with model scores, a scored
    sample has none (the rejects file is still written). Raises InputError for unusable input files,
    FactorModuleError for a bad custom factor module and ModelScoresError for a bad model-scores file.
    """
    config = config or DataConfig()
    cfg = config.score
    custom = load_custom(cfg)
    model = load_model_scores(cfg.model_scores.path) if uses_model(cfg) else None
    started = time.perf_counter()
    output = Path(output)
    rejects_path = rejects_path_for(output)
    files, excluded = own_outputs(expand_inputs(inputs), output)
    if not files:
        shown = ", ".join(map(str, excluded))
        raise InputError(f"{shown}: this run's own output (-o {output}); write the scores elsewhere")
    result = ScoreResult(output=output, rejects_path=None, files=files, excluded=excluded)
    if model is not None:
        result.model = ModelScoreStats(str(model.path), model.n)
    known = list(cfg.operations.complexity)
    plan = ScorePlan.build(cfg, custom, model)
    report_columns = [*factor_columns(cfg), SCORE_COLUMN, *REPORT_COLUMNS]
    reports: list[pl.DataFrame] = []
    with atomic_path(output) as tmp_out, atomic_path(rejects_path) as tmp_rej, open(tmp_rej, "w") as rej:
        batches = read_batches(result.files, config.read, fmt=fmt, progress=progress)
        # queues of PIPELINE_DEPTH batches between the stages absorb their uneven batch times
        with (
            _ScoresWriter(tmp_out) as writer,
            consumed_behind(writer.write, depth=PIPELINE_DEPTH, name="pixelis-write") as write,
        ):
            for batch in prefetched(batches, depth=PIPELINE_DEPTH, name="pixelis-read"):
                result.n_input += batch.n_input
                result.n_rejected += len(batch.rejects)
                for reject in batch.rejects:
                    rej.write(reject.to_json() + "\n")
                    result.reject_reasons[reject.reason.split(":")[0].split(" (")[0]] += 1
                if batch.frame.height == 0:  # every row rejected: nothing to write
                    continue
                # in-memory: the streaming engine (Polars' default) costs ~3.5 ms more per collect of a batch
                scored = plan.apply(batch.frame.lazy()).collect(engine="in-memory")
                result.n_scored += scored.height
                if result.model is not None:
                    result.model.add(scored)
                result.unknown_ops.update(_unknown_ops(scored, known))
                # categorical: the strings of the batch may be views into its whole parsed text, which a
                # plain select would keep alive for the rest of the run (memory growing with the file)
                if keep_report:
                    reports.append(
                        scored.select(report_columns).with_columns(pl.col(REPORT_COLUMNS).cast(pl.Categorical))
                    )
                write((scored, batch.trajectory))  # converted and encoded while the next batch scores
        if writer.tables == 0:
            plan.apply(empty_canonical().lazy()).collect().write_parquet(tmp_out)
        if result.n_input == 0:
            raise InputError(f"{', '.join(map(str, result.files))}: no records found")
        if result.n_input != result.n_scored + result.n_rejected:  # an invariant, not user input
            raise RuntimeError(f"count mismatch: {result.n_input} != {result.n_scored} + {result.n_rejected}")
        rej.flush()
        if result.n_rejected == 0:
            rejects_path.unlink(missing_ok=True)
            tmp_rej.unlink()
        else:
            result.rejects_path = rejects_path
        if strict and result.strict_failures:
            tmp_out.unlink()
            result.output = None
    if result.output is not None and reports:
        result.report = pl.concat(reports).with_columns(pl.col(REPORT_COLUMNS).cast(pl.String))
    result.seconds = time.perf_counter() - started
    return result
