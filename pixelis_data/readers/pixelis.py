"""The ``pixelis`` record format: its fields, the adapter's checks on adapter output, canonicalisation.

Every reader ends here: records are parsed by the JSON engine (``engine.py``) into the input schema,
records of other formats after their adapter turned them into pixelis-format dicts, and ``canonicalize``
gives the canonical rows, so that a record gives the same row whichever container or chunk it came in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import polars as pl

from pixelis_data.readers.base import RecordError
from pixelis_data.schema import STEP

STEP_KEYS = ("action", "thought", "parameters", "result")
TOP_KEYS = (
    "sample_id",
    "task_type",
    "sample_type",
    "question",
    "image_path",
    "images",
    "trajectory",
    "answer",
    "ground_truth",
    "sampling_weight",
    "extra",
    "source_format",
)
INPUT_SCHEMA = pl.Schema(
    {
        "sample_id": pl.String,
        "task_type": pl.String,
        "sample_type": pl.String,
        "question": pl.String,
        "image_path": pl.String,
        "images": pl.List(pl.String),
        "trajectory": pl.List(STEP),
        "answer": pl.String,
        "ground_truth": pl.String,
        "sampling_weight": pl.Float64,
        "extra": pl.String,
        "source_format": pl.String,
    }
)
REJECT_COL = "_reject_reason"
TYPE_REASON = "_type_reason"
DEFAULT_SAMPLE_TYPE = "positive"
HASHED_COLUMNS = ("task_type", "sample_type", "question", "images", "trajectory", "answer", "ground_truth")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


class PixelisAdapter:
    """The native format: checks the shape Polars cannot take, moves unknown fields to ``extra``."""

    name = "pixelis"

    def detect(self, record: Any) -> bool:
        if not isinstance(record, dict) or not isinstance(record.get("trajectory"), list):
            return False
        steps = record["trajectory"]
        return all(isinstance(s, dict) and "action" in s for s in steps[:5])

    def to_pixelis(self, record: Any) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise RecordError(f"expected a JSON object, got {_kind(record)}")
        out: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in record.items():
            (out if key in TOP_KEYS else extra)[key] = value
        trajectory = record.get("trajectory")
        if trajectory is None:
            raise RecordError("missing trajectory")
        if not isinstance(trajectory, list):
            raise RecordError(f"trajectory must be a list, got {_kind(trajectory)}")
        steps = []
        step_extra: dict[str, Any] = {}
        for i, step in enumerate(trajectory):
            if not isinstance(step, dict):
                raise RecordError(f"trajectory[{i}] must be an object, got {_kind(step)}")
            if isinstance(step.get("action"), (dict, list)):
                raise RecordError(f"trajectory[{i}].action must be a string, got {_kind(step['action'])}")
            steps.append({k: step[k] for k in STEP_KEYS if k in step})
            unknown = {k: v for k, v in step.items() if k not in STEP_KEYS}
            if unknown:
                step_extra[str(i)] = unknown
        out["trajectory"] = steps
        weight = record.get("sampling_weight")
        if weight is not None and (
            isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight)
        ):
            raise RecordError(f"sampling_weight must be a finite number, got {weight!r}")
        images = record.get("images")
        if isinstance(images, str):
            out["images"] = [images]
        elif images is not None and not isinstance(images, list):
            raise RecordError(f"images must be a list of paths, got {_kind(images)}")
        if step_extra:
            extra["trajectory_extra"] = step_extra
        if extra:
            out["extra"] = merge_extra(record.get("extra"), extra)
        return out


def merge_extra(existing: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """A record's own ``extra`` (object, JSON text or anything else) with ``extra`` merged in."""
    if existing is None:
        return extra
    if isinstance(existing, str):
        with contextlib.suppress(ValueError):
            existing = json.loads(existing)
    if isinstance(existing, dict):
        return {**existing, **extra}
    return {"extra": existing, **extra}


def _alias_expr(action: pl.Expr, alias_table: dict[str, str]) -> pl.Expr:
    action = action.str.strip_chars()
    key = action.str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]", "")
    return key.replace_strict(alias_table, default=action, return_dtype=pl.String)


@dataclass(frozen=True)
class ActionNames:
    """What ``canonicalize`` does to the action names of a frame."""

    blank: list[str]
    """Names that are only whitespace (their steps have no action)."""
    renamed: dict[str, str]
    """Name -> canonical name, where they differ (none: the trajectory column is kept as it is)."""


def action_names(frame: pl.DataFrame, alias_table: dict[str, str]) -> ActionNames:
    """The blank and renamed names among the distinct action names of ``frame``.

    The string work of ``canonicalize`` (blank check, ``_alias_expr``) is done once per distinct name, not
    per step: a batch has a handful of names over ~100k steps, and most are canonical already.
    """
    names = frame.select(pl.col("trajectory").explode().struct.field("action").drop_nulls().unique().alias("a"))
    names = names.with_columns(_alias_expr(pl.col("a"), alias_table).alias("to"))
    blank = names.filter(pl.col("a").str.strip_chars() == "")["a"].to_list()
    renamed = names.filter(pl.col("a") != pl.col("to"))
    return ActionNames(blank, dict(zip(renamed["a"].to_list(), renamed["to"].to_list(), strict=True)))


def canonicalize(
    frame: pl.DataFrame, source_format: str, alias_table: dict[str, str], names: ActionNames | None = None
) -> pl.DataFrame:
    """Input-schema frame -> canonical frame with a ``_reject_reason`` column (null for good rows).

    ``sample_type`` stays null where the record has none: ``readers/outcome.py`` decides it once the ids are
    filled (a content hash reads it as ``positive``). ``names``: ``action_names(frame, alias_table)``, if
    the caller has it already.
    """
    traj = pl.col("trajectory")
    step = pl.element()
    action = step.struct.field("action")
    names = names or action_names(frame, alias_table)
    blank, renamed = names.blank, names.renamed
    bad_step = traj.list.eval(step.is_null()).list
    no_action = traj.list.eval(action.is_null() | action.is_in(blank) if blank else action.is_null()).list
    weight = pl.col("sampling_weight")
    # the engine's reasons (engine.py: malformed JSON, wrong types, ...) come before these
    given = pl.col(TYPE_REASON) if TYPE_REASON in frame.columns else pl.lit(None, dtype=pl.String)
    reason = (
        pl.when(given.is_not_null())
        .then(given)
        .when(traj.is_null())
        .then(pl.lit("missing trajectory"))
        .when(bad_step.any())
        .then(pl.format("trajectory[{}] is null", bad_step.arg_max()))
        .when(no_action.any())
        .then(pl.format("trajectory[{}] has no action", no_action.arg_max()))
        .when(weight.is_not_null() & ((weight < 0) | weight.is_nan() | weight.is_infinite()))
        .then(pl.format("sampling_weight must be a finite number >= 0, got {}", weight))
    )
    images = (
        pl.when(pl.col("images").is_not_null())
        .then(pl.col("images"))
        .when(pl.col("image_path").is_not_null())
        .then(pl.concat_list(pl.col("image_path")))
        .otherwise(pl.lit([], dtype=pl.List(pl.String)))
    )
    normalised_traj = (
        traj.list.eval(step.struct.with_fields(action.replace(renamed).alias("action")))
        if renamed
        else traj  # every name is already canonical
    )
    return (
        frame.lazy()
        .select(
            pl.col("sample_id").str.strip_chars(),
            pl.col("task_type").fill_null("unknown"),
            pl.col("sample_type"),
            pl.col("question"),
            images.alias("images"),
            normalised_traj.alias("trajectory"),
            pl.col("answer"),
            pl.col("ground_truth"),
            weight.fill_null(1.0).alias("sampling_weight"),
            pl.col("source_format").fill_null(pl.lit(source_format)),
            pl.col("extra"),
            reason.alias(REJECT_COL),
        )
        .collect(engine="in-memory")  # one batch: the streaming engine's set-up would cost more than it saves
    )


def fill_content_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """Give rows without a sample_id a stable id: a hash of their content (not of their position)."""
    missing = pl.col("sample_id").is_null() | (pl.col("sample_id") == "")
    if not frame.select(missing.any()).item():
        return frame
    hashed = [pl.col(c).fill_null(DEFAULT_SAMPLE_TYPE) if c == "sample_type" else pl.col(c) for c in HASHED_COLUMNS]
    content = frame.filter(missing).select(pl.struct(hashed).struct.json_encode()).to_series()
    ids = ["h-" + hashlib.sha256(text.encode()).hexdigest()[:20] for text in content]
    filled = frame.with_columns(pl.when(missing).then(None).otherwise(pl.col("sample_id")).alias("sample_id"))
    idx = filled.with_row_index("_row").filter(missing)["_row"]
    values = filled["sample_id"].scatter(idx, ids)
    return filled.with_columns(values.alias("sample_id"))
