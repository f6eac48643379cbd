"""The PyTorch wrapper: workers fetch and collate, planning stays in the main process, weights never stale."""

from __future__ import annotations

import os
import pickle

import pyarrow as pa
import pytest

from pixelis_train.stream import CurriculumStream, StreamConfig

torch_data = pytest.importorskip("pixelis_train.stream.torch_data")

from pixelis_train.stream.synthetic import synthetic_split_dir  # noqa: E402

SIZES = {"simple": 40, "medium": 20, "hard": 9, "eval": 3}
SIMPLE, MIXED, HARD = {"simple": 1.0}, {"simple": 0.5, "medium": 0.25, "hard": 0.25}, {"hard": 1.0}


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory: pytest.TempPathFactory):
    return synthetic_split_dir(tmp_path_factory.mktemp("split"), SIZES, seed=2)


def tag_rows(rows: list[dict]) -> dict:
    """A collate hook that records which process ran it."""
    return {"ids": [r["sample_id"] for r in rows], "categories": [r["category"] for r in rows], "pid": os.getpid()}


def reference(split_dir, cfg: StreamConfig, schedule: dict[int, dict], steps: int) -> list[list[list[str]]]:
    """Per step, this rank's micro-batches of sample ids, from the stream alone (no torch)."""
    stream = CurriculumStream(split_dir, cfg, weights=SIMPLE)
    out = []
    for step in range(steps):
        if step in schedule:
            stream.set_weights(schedule[step])
        out.append([stream.fetch(m)["sample_id"].to_pylist() for m in stream.next_step().micro_batches])
    return out


def test_weight_change_at_step_s_reaches_step_s_plus_1_with_two_workers(split_dir) -> None:
    cfg = StreamConfig(global_batch=8, micro_batch=2, seed=4)
    stream = CurriculumStream(split_dir, cfg, weights=SIMPLE)
    loader = torch_data.make_loader(stream, collate_fn=tag_rows, num_workers=2, prefetch_factor=4)
    schedule = {3: HARD, 5: MIXED}  # decided after steps 2 and 4
    seen = []
    for step in range(7):
        if step in schedule:
            stream.set_weights(schedule[step])
        micro = list(loader)
        assert loader.batch_sampler.last_plan.step == step
        assert len(micro) == cfg.grad_accum
        assert all(m["pid"] != os.getpid() for m in micro)  # fetched and collated in the workers
        categories = {c for m in micro for c in m["categories"]}
        if step < 3:
            assert categories == {"simple"}
        elif step < 5:
            assert categories == {"hard"}
        else:
            assert categories == {"simple", "medium", "hard"}
        seen.append([m["ids"] for m in micro])
    assert seen == reference(split_dir, cfg, schedule, 7)
    assert stream.step == 7  # nothing planned ahead: the state is exactly at the step boundary
    assert stream.state_dict()["cursor"] == reference_state(split_dir, cfg, schedule, 7)["cursor"]


def reference_state(split_dir, cfg, schedule, steps) -> dict:
    stream = CurriculumStream(split_dir, cfg, weights=SIMPLE)
    for step in range(steps):
        if step in schedule:
            stream.set_weights(schedule[step])
        stream.next_step()
    return stream.state_dict()


def test_rank_loaders_and_table_collation_in_process(split_dir) -> None:
    cfg = StreamConfig(global_batch=8, micro_batch=2, world_size=2, rank=1)
    stream = CurriculumStream(split_dir, cfg, weights=MIXED)
    loader = torch_data.make_loader(stream, as_table=True, columns=["sample_id"])
    tables = list(loader)
    assert len(tables) == 2 and all(isinstance(t, pa.Table) for t in tables)
    assert tables[0].column_names == ["sample_id", "category"]
    assert [t["sample_id"].to_pylist() for t in tables] == reference(split_dir, cfg, {0: MIXED}, 1)[0]


def test_dataset_pickles_without_rows_and_fetches_by_key(split_dir) -> None:
    stream = CurriculumStream(split_dir, StreamConfig(global_batch=4), weights=SIMPLE)
    ds = torch_data.StreamDataset.for_stream(stream)
    assert len(ds) == 69
    assert len(pickle.dumps(ds)) < 1000  # the memory maps are reopened in the worker, not copied
    clone = pickle.loads(pickle.dumps(ds))
    assert clone[("hard", 3)]["sample_id"] == "hard-3"
    rows = clone.__getitems__([("medium", 2), ("simple", 0), ("medium", 1)])
    assert [r["sample_id"] for r in rows] == ["medium-2", "simple-0", "medium-1"]
    with pytest.raises(ValueError, match="unknown category 'expert'"):
        clone[("expert", 0)]
