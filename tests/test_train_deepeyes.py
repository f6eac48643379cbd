"""Real data nobody here wrote: every DeepEyes V* trajectory (scored, split) formats for the tiny VL model.

The original images are not shipped, so each is replaced by a grey stand-in large enough to hold every
bbox the trajectory zooms into; the observations' inline images were stripped by the export, so each
ZOOM_IN observation must be re-created by cropping the source image.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_data.schema import CATEGORIES
from pixelis_train.chat import IGNORE_INDEX, ChatFormatter
from pixelis_train.config import FormatConfig, ModelConfig
from pixelis_train.images import parse_bbox
from pixelis_train.models import load_base
from pixelis_train.stream.split_files import open_arrow
from pixelis_train.tiny import build_tiny, corpus_from_split

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "external" / "deepeyes_vstar_relative_position.jsonl"
if not DATA.is_file():
    DATA = Path("/work/shared/data/external/deepeyes_vstar_relative_position.jsonl")


@pytest.mark.skipif(not DATA.is_file(), reason="the external DeepEyes file is not available")
def test_every_deepeyes_record_formats_for_tiny_vl(tmp_path):
    runner = CliRunner()
    data = tmp_path / DATA.name
    shutil.copy(DATA, data)
    scored = runner.invoke(app, ["score", str(data)])
    assert scored.exit_code == 0, scored.output
    split = runner.invoke(
        app, ["split", str(tmp_path / f"{data.stem}.scores.parquet"), "--by-category", "-o", str(tmp_path / "split")]
    )
    assert split.exit_code == 0, split.output

    rows = [r for name in (*CATEGORIES, "eval") for r in open_arrow(tmp_path / "split" / f"{name}.arrow").to_pylist()]
    assert len(rows) == sum(1 for line in DATA.read_text().splitlines() if line.strip())  # nothing went missing

    # stand-in images, big enough for every bbox of the trajectories that use them
    images = tmp_path / "images"
    images.mkdir()
    sizes: dict[str, tuple[int, int]] = {}
    for row in rows:
        w, h = sizes.get(row["images"][0], (64, 64))
        for step in row["trajectory"]:
            bbox = parse_bbox(json.loads(step["parameters"])) if step["parameters"] else None
            if bbox:
                w, h = max(w, int(bbox[2]) + 1), max(h, int(bbox[3]) + 1)
        sizes[row["images"][0]] = (w, h)
    for name, size in sizes.items():
        Image.new("RGB", size, (120, 120, 120)).save(images / name)

    base = load_base(
        build_tiny("tiny-vl", corpus_from_split(tmp_path / "split", FormatConfig()), tmp_path / "m"),
        ModelConfig(),
        torch.device("cpu"),
    )
    fmt = ChatFormatter(base.tokenizer, FormatConfig(max_length=100_000), base.image_processor, images)
    n_zooms = n_cut = 0
    for row in rows:
        ex = fmt.format(row)
        zooms = sum(step["action"] == "ZOOM_IN" for step in row["trajectory"])
        n_zooms += zooms
        assert len(ex.image_grid_thw) == 1 + zooms, row["sample_id"]  # the source image + one crop per zoom
        assert len(ex.action_positions) == zooms
        trained = base.tokenizer.decode(
            [t for t, lab in zip(ex.input_ids, ex.labels, strict=True) if lab != IGNORE_INDEX]
        )
        assert trained.count('"name": "ZOOM_IN"') == zooms
        if row["answer"]:
            assert trained.endswith(f"<answer>{row['answer']}</answer><|im_end|>")
        else:  # a trajectory cut off before its answer gets no (empty) answer turn
            n_cut += 1
            assert "<answer>" not in trained
        assert "Think first, call" not in trained  # the tool's observation text is masked
    assert n_zooms >= len(rows) and n_cut < len(rows) // 4
