"""Performance traces for ``pixelis curriculum simulate --trace``: a CSV of per-category performance.

Format: a header row with exactly the columns ``step, simple, medium, hard`` (any order), then one
row per evaluation: ``step`` an integer >= 0, strictly increasing; each category a number in [0, 1].
Blank lines are skipped. Every problem is reported at once, naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from pixelis_data.schema import CATEGORIES
from pixelis_train.curriculum.events import Evaluation

TRACE_COLUMNS: tuple[str, ...] = ("step", *CATEGORIES)
MAX_REPORTED = 20


class TraceError(ValueError):
    """A trace file that cannot be read or has bad rows; the message names file, line and column."""


def read_trace(path: str | Path) -> list[Evaluation]:
    """Evaluations from a trace CSV, in file order (raises :class:`TraceError` listing every problem)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TraceError(f"{path}: trace file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise TraceError(f"{path}: cannot read trace file ({err})") from None
    rows = list(csv.reader(text.splitlines()))
    numbered = [(n, row) for n, row in enumerate(rows, start=1) if any(cell.strip() for cell in row)]
    if not numbered:
        raise TraceError(
            f"{path}: empty trace file (expected a header {', '.join(TRACE_COLUMNS)} and one row per evaluation)"
        )
    header_line, header = numbered[0]
    header = [h.strip() for h in header]
    problems: list[str] = []
    missing = [c for c in TRACE_COLUMNS if c not in header]
    unknown = [h for h in header if h not in TRACE_COLUMNS]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if missing or unknown or duplicated:
        what = [f"missing {missing}"] * bool(missing) + [f"unknown {unknown}"] * bool(unknown)
        what += [f"duplicated {duplicated}"] * bool(duplicated)
        raise TraceError(
            f"{path}:{header_line}: header must have the columns {', '.join(TRACE_COLUMNS)} "
            f"({'; '.join(what)}; got {', '.join(header)})"
        )
    index = {name: header.index(name) for name in TRACE_COLUMNS}
    evaluations: list[Evaluation] = []
    last_step: int | None = None
    for line, row in numbered[1:]:
        if len(row) != len(header):
            problems.append(f"line {line}: expected {len(header)} fields, got {len(row)}")
            continue
        raw_step = row[index["step"]].strip()
        step: int | None = None
        try:
            step = int(raw_step)
        except ValueError:
            problems.append(f"line {line}, column 'step': not an integer (got {raw_step!r})")
        if step is not None and step < 0:
            problems.append(f"line {line}, column 'step': must be >= 0 (got {step})")
            step = None
        if step is not None and last_step is not None and step <= last_step:
            problems.append(f"line {line}, column 'step': steps must increase (got {step} after {last_step})")
        performance: dict[str, float] = {}
        for name in CATEGORIES:
            raw = row[index[name]].strip()
            try:
                value = float(raw)
            except ValueError:
                problems.append(f"line {line}, column {name!r}: not a number (got {raw!r})")
                continue
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                problems.append(f"line {line}, column {name!r}: must be in [0, 1] (got {raw!r})")
                continue
            performance[name] = value
        if step is not None:
            last_step = step if last_step is None else max(step, last_step)
        if step is not None and len(performance) == len(CATEGORIES) and not problems:
            evaluations.append(Evaluation(step, performance))
    if problems:
        shown = problems[:MAX_REPORTED]
        more = f"; and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
        raise TraceError(f"{path}: " + "; ".join(shown) + more)
    if not evaluations:
        raise TraceError(f"{path}: the trace has a header but no evaluation rows")
    return evaluations
