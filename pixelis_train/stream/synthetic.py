"""Split directories built in memory, in the layout ``pixelis split`` writes (for tests, benchmarks, demos).

``synthetic_rows`` builds canonical-looking rows vectorised (string pools + take, no per-row Python),
so a million rows with eight-step trajectories take seconds. ``write_split_dir`` writes uncompressed
Arrow IPC files in record batches, then ``manifest.json`` last, like the real split.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pixelis_core.atomic import atomic_path, write_json_atomic
from pixelis_data import __version__
from pixelis_data.schema import CATEGORIES, SAMPLE_TYPES, TASK_TYPES

ACTIONS = ("THINK", "ZOOM_IN", "READ_TEXT", "SEGMENT_OBJECT_AT", "GET_PROPERTIES", "TRACK_OBJECT")
_THOUGHTS = tuple(
    f"I should look at the {part} of the image more closely before answering step {k}."
    for k in range(8)
    for part in ("upper left corner", "sign on the wall", "red car", "person holding a cup")
)
_RESULTS = tuple(
    json.dumps({"bbox": [k, k + 10, k + 50, k + 80], "text": f"label {k}", "confidence": round(0.5 + k / 80, 3)})
    for k in range(32)
)
_PARAMS = tuple(json.dumps({"x": k, "y": 2 * k, "scale": 2}) for k in range(16))
_TYPE_WEIGHT = {"trap_perceptual": 1.5, "trap_logical": 1.5, "self_correction": 1.2}


def _pool(values: tuple[str, ...], idx: np.ndarray) -> pa.Array:
    return pa.array(values, pa.large_string()).take(pa.array(idx))


def synthetic_rows(
    n: int, *, seed: int = 0, steps: int = 8, id_prefix: str = "s", category: str | None = None
) -> pa.Table:
    """``n`` canonical rows with ``steps``-step trajectories and the generator's sampling weights."""
    rng = np.random.default_rng(seed)
    empty = pa.scalar("", pa.large_string())
    ids = pc.binary_join_element_wise(
        pa.scalar(id_prefix, pa.large_string()), pc.cast(pa.array(np.arange(n)), pa.large_string()), empty
    )
    sample_type_idx = rng.integers(0, len(SAMPLE_TYPES), n)
    sample_types = np.array(SAMPLE_TYPES)[sample_type_idx]
    weights = np.array([_TYPE_WEIGHT.get(t, 1.0) for t in SAMPLE_TYPES])[sample_type_idx]
    m = n * steps
    step_struct = pa.StructArray.from_arrays(
        [
            _pool(ACTIONS, rng.integers(0, len(ACTIONS), m)),
            _pool(_THOUGHTS, rng.integers(0, len(_THOUGHTS), m)),
            _pool(_PARAMS, rng.integers(0, len(_PARAMS), m)),
            _pool(_RESULTS, rng.integers(0, len(_RESULTS), m)),
        ],
        names=["action", "thought", "parameters", "result"],
    )
    trajectory = pa.LargeListArray.from_arrays(pa.array(np.arange(0, m + 1, steps, dtype=np.int64)), step_struct)
    images = pa.LargeListArray.from_arrays(
        pa.array(np.arange(n + 1, dtype=np.int64)),
        pc.binary_join_element_wise(
            pa.scalar("images/", pa.large_string()), ids, pa.scalar(".png", pa.large_string()), empty
        ),
    )
    questions = tuple(
        f"What is the {w} of the object next to the {v}?"
        for w in ("color", "text", "count")
        for v in ("window", "door", "table", "sign")
    )
    answers = tuple(f"The answer is {k}." for k in range(20))
    columns = {
        "sample_id": ids,
        "task_type": _pool(TASK_TYPES, rng.integers(0, len(TASK_TYPES), n)),
        "sample_type": pa.array(sample_types, pa.large_string()),
        "question": _pool(questions, rng.integers(0, len(questions), n)),
        "images": images,
        "trajectory": trajectory,
        "answer": _pool(answers, rng.integers(0, len(answers), n)),
        "ground_truth": _pool(answers, rng.integers(0, len(answers), n)),
        "sampling_weight": pa.array(weights, pa.float64()),
        "source_format": pa.array(np.full(n, "pixelis"), pa.large_string()),
        "extra": pa.array(np.full(n, "{}"), pa.large_string()),
        "difficulty_score": pa.array(rng.random(n), pa.float64()),
    }
    if category is not None:
        columns["category"] = pa.array(np.full(n, category), pa.large_string())
    return pa.table(columns)


def write_arrow(path: Path, table: pa.Table, batch_rows: int = 65_536) -> None:
    """Write ``table`` atomically as an uncompressed Arrow IPC file in record batches of ``batch_rows``."""
    with atomic_path(path) as tmp, pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=batch_rows):
            writer.write_batch(batch)
        if table.num_rows == 0:
            writer.write_table(table)


def write_split_dir(out_dir: str | Path, tables: dict[str, pa.Table], *, format_version: int = 1) -> Path:
    """Write ``tables`` (keys: the categories and ``eval``) as a split directory; manifest.json last."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        write_arrow(out / f"{name}.arrow", table)
    counts = {name: t.num_rows for name, t in tables.items()}
    manifest = {
        "format_version": format_version,
        "pixelis_version": __version__,
        "counts": counts,
        "categories": list(CATEGORIES),
        "generator": "pixelis_train.stream.synthetic",
    }
    write_json_atomic(out / "manifest.json", manifest)
    return out


def synthetic_split_dir(out_dir: str | Path, sizes: dict[str, int], *, seed: int = 0, steps: int = 8) -> Path:
    """A split directory with ``sizes[name]`` synthetic rows per category/eval file (missing = 0)."""
    tables = {}
    for i, name in enumerate((*CATEGORIES, "eval")):
        tables[name] = synthetic_rows(
            sizes.get(name, 0), seed=seed + i, steps=steps, id_prefix=f"{name}-", category=name
        )
    # like the real split, eval rows keep the category they were held out from
    n_eval = tables["eval"].num_rows
    eval_categories = pa.array([CATEGORIES[i % len(CATEGORIES)] for i in range(n_eval)], pa.large_string())
    tables["eval"] = tables["eval"].set_column(
        tables["eval"].schema.get_field_index("category"), "category", eval_categories
    )
    return write_split_dir(out_dir, tables)
