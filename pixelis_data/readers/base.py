"""What readers produce: canonical batches plus quarantined rejects, with counts that always add up."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl
import pyarrow as pa

RAW_LIMIT = 4000  # characters of the raw record kept in a reject; enough to see what was wrong


class RecordError(ValueError):
    """A record that cannot become a canonical record; the message is the reject reason."""


@dataclass(frozen=True)
class Reject:
    """A quarantined input record: where it came from, why, and its raw text."""

    source: str
    reason: str
    raw: str
    line: int | None = None
    index: int | None = None

    def to_json(self) -> str:
        obj: dict[str, Any] = {"source": self.source}
        if self.line is not None:
            obj["line"] = self.line
        if self.index is not None:
            obj["index"] = self.index
        obj["reason"] = self.reason
        obj["raw"] = self.raw if len(self.raw) <= RAW_LIMIT else self.raw[:RAW_LIMIT] + "...[truncated]"
        return json.dumps(obj, ensure_ascii=False)


@dataclass
class Batch:
    """Canonical rows read from one part of one file, and what was rejected there.

    ``n_input == frame.height + len(rejects)`` always holds.
    """

    source: str
    frame: pl.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    n_input: int = 0
    positions: pl.Series | None = None
    """Position of each frame row among the batch's input records (for late rejects)."""
    reject_for: Callable[[int, str], Reject] | None = None
    """Builds the reject of the input record at a position, with its location and raw text."""
    trajectory: pa.Array | None = None
    """``frame``'s trajectory column as Arrow, row for row, where the C parser built it and nothing changed
    it since; the scores writer then skips converting Polars' column back (the biggest part of that
    conversion). None once a row is rejected."""

    def reject_rows(self, mask: pl.Series, reason: Callable[[dict[str, Any]], str]) -> None:
        """Move the rows where ``mask`` is true into ``rejects`` (reason built from each row)."""
        if not mask.any():
            return
        positions = self.positions if self.positions is not None else pl.Series(range(self.frame.height))
        for pos, row in zip(positions.filter(mask), self.frame.filter(mask).iter_rows(named=True), strict=True):
            if self.reject_for is not None:
                self.rejects.append(self.reject_for(int(pos), reason(row)))
            else:
                self.rejects.append(Reject(self.source, reason(row), json.dumps(row, default=str)))
        self.frame = self.frame.filter(~mask)
        self.positions = positions.filter(~mask)
        self.trajectory = None


@dataclass(frozen=True)
class RawItem:
    """One input record before parsing: a Python value (JSON arrays, Parquet) or its JSON text (JSONL)."""

    value: Any
    line: int | None = None
    index: int | None = None
    text: str | None = None
    error: str | None = None  # set when the record could not even be decoded (e.g. not UTF-8)

    def raw_text(self) -> str:
        if self.text is not None:
            return self.text
        try:
            return json.dumps(self.value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return repr(self.value)


class RecordAdapter(Protocol):
    """Turns one record of a foreign format into a ``pixelis``-format dict, or raises RecordError."""

    name: str

    def detect(self, record: Any) -> bool:
        """True when ``record`` looks like this format (used for per-file auto-detection)."""
        ...

    def to_pixelis(self, record: Any) -> dict[str, Any]:
        """The record in the pixelis input format; unmapped fields go to its ``extra``."""
        ...
