"""The stream over a real `pixelis generate` -> `pixelis split --by-category` directory."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_data.schema import CATEGORIES
from pixelis_train.stream import CurriculumStream, StreamConfig

runner = CliRunner()


@pytest.fixture(scope="module")
def real_split(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("real")
    data = root / "data.jsonl"
    result = runner.invoke(app, ["generate", "240", "-o", str(data), "--seed", "3"])
    assert result.exit_code == 0, result.output
    out = root / "split"
    result = runner.invoke(app, ["split", str(data), "--by-category", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_stream_reads_a_real_split(real_split) -> None:
    manifest = json.loads((real_split / "manifest.json").read_text())
    stream = CurriculumStream(
        real_split, StreamConfig(global_batch=10, micro_batch=5), weights={"simple": 0.4, "medium": 0.4, "hard": 0.2}
    )
    assert stream.category_sizes == {c: manifest["counts"][c] for c in CATEGORIES}
    eval_ids = set(stream.eval_table()["sample_id"].to_pylist())
    assert eval_ids and len(eval_ids) == manifest["counts"]["eval"]
    seen: dict[str, set[str]] = {c: set() for c in CATEGORIES}
    steps = 3 * max(stream.epoch_sizes.values()) // 2  # > one epoch of every category at these weights
    for _ in range(steps):
        plan = stream.next_step()
        for micro in plan.micro_batches:
            rows = stream.fetch(micro)
            assert rows["category"].to_pylist() == [c for c, _ in micro.to_keys()]
            for cat, sid in zip(rows["category"].to_pylist(), rows["sample_id"].to_pylist(), strict=True):
                seen[cat].add(sid)
    for c in CATEGORIES:
        file_ids = set(stream.files.categories[c].table["sample_id"].to_pylist())
        assert seen[c] == file_ids  # every training row of the category was drawn, nothing else
        assert not (seen[c] & eval_ids)
    state = json.loads(json.dumps(stream.state_dict()))
    again = CurriculumStream(real_split, StreamConfig(global_batch=10, micro_batch=5), weights={"simple": 1.0})
    again.load_state_dict(state)
    assert again.next_step().global_batch == stream.next_step().global_batch
