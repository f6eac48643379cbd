"""``split_to_dir``: input (scores Parquet or raw data) -> four Arrow files + manifest, all-or-nothing."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

import pixelis_data
from pixelis_core.config_io import to_dict
from pixelis_core.json_safe import json_safe
from pixelis_data.schema import CATEGORIES, FACTOR_COLUMNS, SCORE_COLUMN
from pixelis_data.split.hashing import HASH_NAME
from pixelis_data.split.manifest import (
    FORMAT_VERSION,
    KIND,
    REJECTS,
    begin_rewrite,
    check_output_dir,
    input_hashes,
    sha256_file,
    write_manifest,
)
from pixelis_data.split.plan import SplitError, SplitPlan, plan_split
from pixelis_data.split.writer import EVAL, OUTPUTS, file_name, output_schema, write_split_files

if TYPE_CHECKING:
    from pixelis_data.config import DataConfig

SCORED_TMP = ".pixelis-split-scores.parquet"


@dataclass(frozen=True)
class SplitResult:
    """What a split wrote."""

    out_dir: Path
    input_kind: str
    """``scores`` (a scores Parquet split as is) or ``raw`` (scored on the way)."""
    plan: SplitPlan
    rows: dict[str, int]
    """Rows per output file (simple, medium, hard, eval)."""
    n_rejected: int
    """Raw input only: records the scorer rejected (written to ``rejects.jsonl``)."""
    manifest: dict[str, Any]
    seconds: float


def _is_parquet(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == b"PAR1"
    except OSError:
        return False


def input_kind(path: Path) -> str:
    """``scores`` for a Parquet with difficulty_score, ``raw`` for anything else; a broken scores file fails."""
    if not path.is_file() or not _is_parquet(path):
        return "raw"
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError) as err:
        raise SplitError(f"{path}: not a readable Parquet file ({err})") from None
    if SCORE_COLUMN in names:
        return "scores"
    looks_scored = path.name.endswith(".scores.parquet") or any(c in names for c in FACTOR_COLUMNS)
    if looks_scored:
        raise SplitError(
            f"{path}: a scores file without a {SCORE_COLUMN} column; re-run `pixelis score` on the raw data"
        )
    return "raw"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _score_raw(
    input_path: Path, out_dir: Path, config: DataConfig, fmt: str | None, progress: Callable[[int], None] | None
) -> tuple[Path, int, list[Path], dict[str, int]]:
    from pixelis_data.custom_factors import FactorModuleError
    from pixelis_data.model_scores import ModelScoresError
    from pixelis_data.readers import InputError
    from pixelis_data.score import score_to_parquet

    scored = out_dir / SCORED_TMP
    try:
        result = score_to_parquet(input_path, scored, config, fmt=fmt, progress=progress)
    except (InputError, FactorModuleError, ModelScoresError) as err:
        raise SplitError(str(err)) from None
    if result.rejects_path is not None and result.rejects_path.exists():
        os.replace(result.rejects_path, out_dir / REJECTS)
    counts: dict[str, Any] = {"n_input": result.n_input, "n_scored": result.n_scored, "n_rejected": result.n_rejected}
    if result.model is not None:
        counts["model_scores"] = result.model.to_dict()
    return scored, result.n_rejected, list(result.files), counts


def _model_score_warning(scoring: dict[str, Any] | None) -> str | None:
    """The warning for scored samples that had no model score (their composite is the heuristic part alone)."""
    model = (scoring or {}).get("model_scores")
    if not model or not model["missing"]:
        return None
    examples = ", ".join(map(repr, model["missing_examples"]))
    return (
        f"{model['missing']:,} sample(s) have no model score in {model['path']} (e.g. {examples}): "
        "their difficulty_score is the heuristic part alone"
    )


def _check_scores_input(input_path: Path, config: DataConfig) -> None:
    """Model scores are scored in with the raw data; a scores file without model difficulty cannot take them."""
    from pixelis_data.factor_registry import MODEL_FACTOR

    path = config.score.model_scores.path
    if path is not None and MODEL_FACTOR.column not in pq.read_schema(input_path).names:
        raise SplitError(
            f"{input_path}: already scored, without {MODEL_FACTOR.column}; model scores ({path}) are added when "
            f"raw data is scored: split the raw data with --model-scores, or re-run `pixelis score RAW "
            f"--model-scores {path}`"
        )


def build_manifest(
    *,
    input_path: Path,
    kind: str,
    inputs: list[dict[str, Any]],
    scoring: dict[str, int] | None,
    plan: SplitPlan,
    rows: dict[str, int],
    out_dir: Path,
    schema: pa.Schema,
    config: DataConfig,
    n_rejected: int,
    created_at: str,
) -> dict[str, Any]:
    """The manifest: what went in, how it was cut, what came out (timestamps are the only varying part)."""
    cfg = config.split
    t = plan.thresholds
    report = plan.report
    category_counts = {h.category: {"train": h.n_train, "eval": h.n_eval, "total": h.n} for h in plan.holdout}
    files = {
        dest: {
            "path": file_name(dest),
            "rows": rows[dest],
            "bytes": (out_dir / file_name(dest)).stat().st_size,
        }
        for dest in OUTPUTS
    }
    return json_safe(
        {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "pixelis_version": pixelis_data.__version__,
            "strategy": "by_category",
            "created_at": created_at,
            "finished_at": _now(),
            "input": {"path": str(input_path), "kind": kind, "files": inputs, "scoring": scoring},
            "n_samples": plan.n,
            "n_train": report.n_train,
            "n_eval": report.n_eval,
            "categories": list(CATEGORIES),
            "counts": {dest: rows[dest] for dest in OUTPUTS},
            "category_counts": category_counts,
            "files": files,
            "format": {
                "container": "arrow-ipc-file",
                "compression": None,
                "row_order": "input order within each file",
                "category_column": "category",
            },
            "schema": [{"name": f.name, "type": str(f.type)} for f in schema],
            "thresholds": {"simple": t.t_simple, "medium": t.t_medium},
            "percentiles": {"simple": t.simple_percentile, "medium": t.medium_percentile},
            "iqr": t.to_dict(),
            "ties": {
                "at_simple": report.ties.at_simple,
                "at_medium": report.ties.at_medium,
                "strict_rule_counts": report.ties.strict_counts,
            },
            "eval": {
                "mode": cfg.eval_mode,
                "fraction": cfg.eval_fraction if cfg.eval_per_category is None else None,
                "per_category": cfg.eval_per_category,
                "min_per_category": cfg.min_eval_per_category,
                "hash": HASH_NAME,
                "salt": cfg.eval_salt,
                "under_cutoff": {h.category: h.n_under_cutoff for h in plan.holdout},
            },
            "balance": report.to_dict(),
            "warnings": report.warnings,
            "rejects": {"path": REJECTS, "rows": n_rejected} if n_rejected else None,
            "config": to_dict(config),
        },
        as_string=True,
    )


def split_to_dir(
    input_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: DataConfig | None = None,
    *,
    overwrite: bool = False,
    fmt: str | None = None,
    on_rows: Callable[[int, int], None] | None = None,
    on_score_progress: Callable[[int], None] | None = None,
) -> SplitResult:
    """Split ``input_path`` into ``out_dir`` (docs/design.md §5). Raises SplitError for unusable input or output.

    ``on_rows(done, total)`` reports the writing pass; ``on_score_progress(n_bytes)`` the scoring of raw input.
    """
    if config is None:
        from pixelis_data.config import DataConfig

        config = DataConfig()
    started = time.perf_counter()
    input_path, out_dir = Path(input_path), Path(out_dir)
    if not input_path.exists():
        raise SplitError(f"{input_path}: no such file or directory")
    try:
        check_output_dir(out_dir, overwrite=overwrite)
    except FileExistsError as err:
        raise SplitError(str(err)) from None
    kind = input_kind(input_path)
    from pixelis_data.score import rejects_path_for  # not at import time: score imports pixelis_data.config

    scored = out_dir / SCORED_TMP
    begin_rewrite(out_dir, (*(file_name(d) for d in OUTPUTS), scored.name, rejects_path_for(scored).name))
    scored.unlink(missing_ok=True)
    rejects_path_for(scored).unlink(missing_ok=True)
    created_at = _now()
    scoring = None
    n_rejected = 0
    (out_dir / REJECTS).unlink(missing_ok=True)  # a stale one from an earlier run would mislead
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            if kind == "raw":
                scores_path, n_rejected, files, scoring = _score_raw(
                    input_path, out_dir, config, fmt, on_score_progress
                )
                if scoring["n_scored"] == 0:
                    raise SplitError(
                        f"{input_path}: all {scoring['n_input']} record(s) were rejected by scoring "
                        f"(reasons in {out_dir / REJECTS}); nothing to split"
                    )
                hashing = pool.submit(
                    lambda: [{"path": str(f), "bytes": f.stat().st_size, "sha256": sha256_file(f)} for f in files]
                )
            else:
                _check_scores_input(input_path, config)
                scores_path = input_path
                hashing = pool.submit(input_hashes, input_path)
            # hashlib releases the GIL: the input hash overlaps with planning and writing
            plan = plan_split(scores_path, config.split)
            if warning := _model_score_warning(scoring):
                plan.report.warnings.append(warning)
            schema = output_schema(pq.read_schema(scores_path))
            rows = write_split_files(
                scores_path, plan.destinations, out_dir, batch_rows=config.split.batch_rows, on_rows=on_rows
            )
            inputs = hashing.result()
    finally:
        scored.unlink(missing_ok=True)
    expected = {h.category: h.n_train for h in plan.holdout} | {EVAL: plan.report.n_eval}
    if rows != expected:  # an invariant of the writer, not user input
        raise RuntimeError(f"row counts written {rows} differ from the plan {expected}")
    manifest = build_manifest(
        input_path=input_path,
        kind=kind,
        inputs=inputs,
        scoring=scoring,
        plan=plan,
        rows=rows,
        out_dir=out_dir,
        schema=schema,
        config=config,
        n_rejected=n_rejected,
        created_at=created_at,
    )
    write_manifest(out_dir, manifest)
    return SplitResult(out_dir, kind, plan, rows, n_rejected, manifest, time.perf_counter() - started)
