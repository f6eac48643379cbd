"""A small, learnable split directory with real images, for tests, benchmarks and quick demos.

Each sample shows one coloured shape on a grey background; the question asks for its colour and the
trajectory looks at it (THINK, ZOOM_IN to its bounding box, ...) before answering. Categories differ by
trajectory length, like scored data would. Written in the layout ``pixelis split`` produces.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from pixelis_data.schema import CATEGORIES
from pixelis_train._deps import require
from pixelis_train.stream.synthetic import write_split_dir

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (30, 60, 220), "yellow": (230, 210, 30)}
SHAPES = ("square", "disc")
EXTRA_STEPS = {"simple": 0, "medium": 2, "hard": 4}


def _record(i: int, category: str, rng: np.random.Generator, image_dir: Path, size: int) -> dict:
    Image = require("PIL.Image")
    ImageDraw = require("PIL.ImageDraw")
    colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    side = int(rng.integers(size // 5, size // 3))
    x, y = (int(v) for v in rng.integers(0, size - side, 2))
    bbox = [x, y, x + side, y + side]
    name = f"{category}-{i:05d}.png"
    img = Image.new("RGB", (size, size), (128, 128, 128))
    draw = ImageDraw.Draw(img)
    (draw.rectangle if shape == "square" else draw.ellipse)(bbox, fill=COLOURS[colour])
    img.save(image_dir / name)
    steps = [
        {"action": "THINK", "thought": f"I need the colour of the {shape}.", "parameters": "{}", "result": ""},
        {
            "action": "ZOOM_IN",
            "thought": f"Zoom in on the {shape}.",
            "parameters": json.dumps({"bbox": bbox}),
            "result": json.dumps({"description": f"a {colour} {shape}"}),
        },
    ]
    for k in range(EXTRA_STEPS[category]):
        if k % 2 == 0:
            steps.append(
                {
                    "action": "GET_PROPERTIES",
                    "thought": f"Check the {shape}'s properties.",
                    "parameters": json.dumps({"object": shape}),
                    "result": json.dumps({"colour": colour, "size": side}),
                }
            )
        else:
            steps.append({"action": "THINK", "thought": f"The {shape} is {colour}.", "parameters": "{}", "result": ""})
    return {
        "sample_id": f"{category}-{i:05d}",
        "task_type": "attribute_recognition",
        "sample_type": "positive",
        "question": f"What colour is the {shape}?",
        "images": [name],
        "trajectory": steps,
        "answer": colour,
        "ground_truth": colour,
        "sampling_weight": 1.0,
        "source_format": "pixelis",
        "extra": "{}",
        "difficulty_score": {"simple": 0.2, "medium": 0.5, "hard": 0.8}[category],
    }


def make_demo_split(
    out_dir: Path,
    image_dir: Path,
    n_per_category: int = 16,
    n_eval_per_category: int = 4,
    seed: int = 0,
    image_size: int = 64,
) -> Path:
    """Write images to ``image_dir`` and a split directory (simple/medium/hard/eval + manifest) to ``out_dir``."""
    image_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tables: dict[str, pa.Table] = {}
    eval_rows = []
    for category in CATEGORIES:
        rows = [_record(i, category, rng, image_dir, image_size) for i in range(n_per_category)]
        tables[category] = pa.Table.from_pylist(rows)
        for i in range(n_eval_per_category):
            row = _record(n_per_category + i, category, rng, image_dir, image_size)
            eval_rows.append({**row, "category": category})
    tables["eval"] = pa.Table.from_pylist(eval_rows)
    return write_split_dir(out_dir, tables)
