"""Model scores: a per-sample Parquet (``sample_id``, ``model_loss``, ...) read, checked and ranked once.

`pixelis model-score` writes such a file (one row per sample: ``sample_id`` string, ``model_loss`` float64 =
mean NLL of the assistant tokens, ``answer_loss`` / ``ifd`` nullable floats, ``n_tokens`` int64); any file
with the two required columns works. ``pixelis score --model-scores`` joins the ranks computed here to
every batch (the ``model_difficulty`` factor); ``pixelis calibrate`` joins the losses themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pixelis_data.factor_registry import MODEL_FACTOR

ID = "sample_id"
LOSS = "model_loss"
RANK, COUNT = MODEL_FACTOR.inputs
"""The joined helper columns the factor reads: the loss's average rank (1-based) and the file's row count."""
EXAMPLES = 3


class ModelScoresError(ValueError):
    """A model-scores file that cannot be used; the message is one line naming the file and the problem."""


def _examples(frame: pl.DataFrame, mask: pl.Expr) -> str:
    ids = frame.filter(mask)[ID].drop_nulls().unique(maintain_order=True).head(EXAMPLES).to_list()
    return f" (e.g. {', '.join(map(repr, ids))})" if ids else ""


def read_model_scores(path: str | Path) -> pl.DataFrame:
    """``sample_id`` (String) and ``model_loss`` (Float64) of a model-scores Parquet, every problem in one error."""
    path = Path(path)
    if not path.is_file():
        raise ModelScoresError(f"{path}: model scores: no such file")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as err:
        raise ModelScoresError(f"{path}: not a readable Parquet file ({str(err).splitlines()[0]})") from None
    missing = [c for c in (ID, LOSS) if c not in schema.names]
    if missing:
        raise ModelScoresError(
            f"{path}: model scores lack column(s) {', '.join(missing)} (need {ID} and {LOSS}; found "
            f"{', '.join(schema.names) or 'none'})"
        )
    id_type, loss_type = schema.field(ID).type, schema.field(LOSS).type
    problems = []
    if not (pa.types.is_string(id_type) or pa.types.is_large_string(id_type)):
        problems.append(f"{ID} must be strings (got {id_type})")
    if not (pa.types.is_floating(loss_type) or pa.types.is_integer(loss_type)):
        problems.append(f"{LOSS} must be numeric (got {loss_type})")
    if problems:
        raise ModelScoresError(f"{path}: " + "; ".join(problems))
    try:
        frame = pl.read_parquet(path, columns=[ID, LOSS]).with_columns(pl.col(LOSS).cast(pl.Float64))
    except (pl.exceptions.PolarsError, OSError) as err:
        raise ModelScoresError(f"{path}: not a readable Parquet file ({str(err).splitlines()[0]})") from None
    if frame.height == 0:
        raise ModelScoresError(f"{path}: model scores hold no rows")
    checks = (
        (pl.col(ID).is_null(), f"without a {ID}"),
        (pl.col(ID).is_duplicated() & pl.col(ID).is_not_null(), f"share a {ID} with another row"),
        (pl.col(LOSS).is_null() | ~pl.col(LOSS).is_finite(), f"with a null, NaN or infinite {LOSS}"),
    )
    for mask, what in checks:
        if n := frame.select(mask.sum()).item():
            problems.append(f"{n} row(s) {what}{_examples(frame, mask)}")
    if problems:
        raise ModelScoresError(f"{path}: " + "; ".join(problems))
    return frame


@dataclass(frozen=True)
class ModelScores:
    """The ranks of a checked model-scores file, ready to be joined to every scoring batch."""

    path: Path
    ranks: pl.DataFrame
    """``sample_id``, the 1-based average rank of ``model_loss`` (ties share it) and the row count n."""

    @property
    def n(self) -> int:
        return self.ranks.height


def load_model_scores(path: str | Path) -> ModelScores:
    """Read and check ``path`` and rank its losses once (over all its rows, before any batch is scored)."""
    frame = read_model_scores(path)
    ranks = frame.select(
        pl.col(ID),
        pl.col(LOSS).rank("average").cast(pl.Float64).alias(RANK),
        pl.lit(frame.height, dtype=pl.UInt32).alias(COUNT),
    )
    return ModelScores(Path(path), ranks)


@dataclass
class ModelScoreStats:
    """How the scored samples matched a model-scores file (part of the score report)."""

    path: str
    n_file: int
    """Rows of the model-scores file."""
    n_matched: int = 0
    """Scored samples with a model score."""
    n_missing: int = 0
    """Scored samples without one: their model_difficulty is null (composite: the heuristic part rescaled)."""
    missing_examples: list[str] = field(default_factory=list)

    @property
    def n_unused(self) -> int:
        """Rows of the file whose sample_id no scored sample has (the ranks still count them)."""
        return self.n_file - self.n_matched

    def to_dict(self) -> dict[str, object]:
        """The counts as the split manifest stores them (``input.scoring.model_scores``)."""
        return {
            "path": self.path,
            "rows": self.n_file,
            "matched": self.n_matched,
            "missing": self.n_missing,
            "missing_examples": self.missing_examples,
            "unused": self.n_unused,
        }

    def add(self, scored: pl.DataFrame) -> None:
        """Count one scored batch (its ``model_difficulty`` column)."""
        absent = scored.filter(pl.col(MODEL_FACTOR.column).is_null())[ID]
        self.n_missing += absent.len()
        self.n_matched += scored.height - absent.len()
        room = EXAMPLES - len(self.missing_examples)
        if room > 0:
            self.missing_examples.extend(absent.head(room).to_list())
