"""Resumable output: finished windows go to ``FILE.shards/part-*.parquet``, merged into FILE at the end.

Each shard is written atomically, so a killed job leaves only complete shards; a rerun with the same
arguments reads their sample_ids and scores only the rest. ``meta.json`` records what the shards were
computed with (input, model, adapter, formatting); a rerun that differs is refused. The merge sorts by
sample_id, checks that every sample is there exactly once, writes FILE atomically and removes the shards.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pixelis_core.atomic import atomic_path, write_json_atomic
from pixelis_train.model_score.inputs import ModelScoreError

if TYPE_CHECKING:
    from pixelis_train.model_score.scoring import SampleScore

OUTPUT_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("model_loss", pa.float64()),
        ("answer_loss", pa.float64()),
        ("ifd", pa.float64()),
        ("n_tokens", pa.int64()),
    ]
)
META = "meta.json"
TINY_DIR = "base-model"
"""Where a tiny model is built for the job (reused by a resumed run: the very same weights)."""
DEFAULT_SHARD_ROWS = 1024
META_VERSION = 1
SHARD_NAME = re.compile(r"^part-(\d{4})-r(\d{3})-(\d{6})\.parquet$")


def shard_dir_for(output: Path) -> Path:
    """``out.parquet`` -> ``out.parquet.shards`` (beside the output, so a rename never crosses devices)."""
    return output.with_name(output.name + ".shards")


class ShardDir:
    """The shard directory of one output file."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.path = shard_dir_for(output)

    def claim(self, meta: dict[str, Any]) -> None:
        """Rank 0, before any work: keep the directory when it holds this job's shards, start it afresh when
        it holds no finished shard (a run that failed early), and refuse one that holds another job's."""
        if self.path.exists():
            stored = self._stored_meta()
            if stored == meta:
                return
            if self.shard_paths() or not self._only_ours():
                self._refuse(stored, meta)
            shutil.rmtree(self.path)  # nothing computed yet, but maybe a tiny model built for another job
        self.path.mkdir(parents=True)
        write_json_atomic(self.path / META, meta)

    def verify(self, meta: dict[str, Any]) -> None:
        """The other ranks, after rank 0's :meth:`claim`: the directory is this job's."""
        stored = self._stored_meta()
        if stored != meta:
            self._refuse(stored, meta)

    def _stored_meta(self) -> dict[str, Any] | None:
        path = self.path / META
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise ModelScoreError(f"{path}: not valid JSON ({err}); remove {self.path} or use another -o") from None

    def _only_ours(self) -> bool:
        """Whether every entry is one this module writes (so clearing the directory loses nothing else)."""
        return all(p.name in (META, TINY_DIR) or p.name.startswith(".") for p in self.path.iterdir())

    def _refuse(self, stored: dict[str, Any] | None, meta: dict[str, Any]) -> None:
        if stored is None:
            raise ModelScoreError(f"{self.path}: exists but holds no {META}; remove it or use another -o")
        keys = sorted(k for k in set(stored) | set(meta) if stored.get(k) != meta.get(k))
        what = "; ".join(f"{k}: {_short(stored.get(k))} then, {_short(meta.get(k))} now" for k in keys)
        raise ModelScoreError(
            f"{self.path}: shards of a different job ({what}); rerun with the same input, model and "
            "adapter, or remove the directory, or use another -o"
        )

    def shard_paths(self) -> list[Path]:
        """Complete shards (a killed write leaves only a dot-prefixed temporary file, which is ignored)."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.iterdir() if SHARD_NAME.match(p.name))

    def done_ids(self) -> pl.Series:
        """sample_ids of every complete shard."""
        paths = self.shard_paths()
        if not paths:
            return pl.Series("sample_id", [], dtype=pl.String)
        return pl.concat([pl.read_parquet(p, columns=["sample_id"])["sample_id"] for p in paths])

    def next_run(self) -> int:
        """1 + the highest run number of the existing shards (each (re)start writes under a new number)."""
        runs = [int(SHARD_NAME.match(p.name).group(1)) for p in self.shard_paths()]  # type: ignore[union-attr]
        return max(runs, default=0) + 1

    def write(self, run: int, rank: int, seq: int, rows: list[SampleScore]) -> Path:
        """One shard, atomically."""
        target = self.path / f"part-{run:04d}-r{rank:03d}-{seq:06d}.parquet"
        table = pa.Table.from_pylist([asdict(r) for r in rows], schema=OUTPUT_SCHEMA)
        with atomic_path(target) as tmp:
            pq.write_table(table, tmp)
        return target

    def merge(self, expected: pl.Series, left_out: Iterable[str], metadata: dict[str, str]) -> pa.Table:
        """Write the output from all shards (sorted by sample_id) and remove the shard directory.

        ``expected``: every input sample_id; ``left_out``: those not scored on purpose. Raises when a
        sample is missing or scored twice (the shards do not belong together). Returns the merged table.
        """
        paths = self.shard_paths()
        tables = [pq.read_table(p, schema=OUTPUT_SCHEMA) for p in paths]
        table = pa.concat_tables(tables) if tables else OUTPUT_SCHEMA.empty_table()
        ids = pl.Series("sample_id", table.column("sample_id").combine_chunks(), dtype=pl.String)
        twice = ids.filter(ids.is_duplicated())
        if len(twice):
            raise ModelScoreError(f"{self.path}: sample {twice[0]!r} was scored more than once")
        covered = pl.concat([ids, pl.Series("sample_id", list(left_out), dtype=pl.String)])
        missing = expected.filter(~expected.is_in(covered.implode()))
        if len(missing):
            raise ModelScoreError(f"{self.path}: {len(missing)} sample(s) not scored, e.g. {missing[0]!r}")
        table = table.sort_by("sample_id").replace_schema_metadata(
            {k.encode(): v.encode() for k, v in metadata.items()}
        )
        with atomic_path(self.output) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        self.remove()
        return table

    def remove(self) -> None:
        """Delete the shard directory (and a tiny model built into it)."""
        if self.path.exists():
            shutil.rmtree(self.path)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."
