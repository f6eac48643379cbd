"""Save / rebuild / load / continue reproduces the uninterrupted stream exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelis_data.schema import CATEGORIES
from pixelis_train.stream import CurriculumStream, StreamConfig, StreamStateError
from pixelis_train.stream.synthetic import synthetic_rows, synthetic_split_dir, write_split_dir

SIZES = {"simple": 17, "medium": 9, "hard": 4, "eval": 3}
weight_values = st.sampled_from([0.0, 0.2, 0.3, 0.5, 1.0, 1.7])
weights_st = st.fixed_dictionaries({c: weight_values for c in CATEGORIES}).filter(lambda w: sum(w.values()) > 0)


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory: pytest.TempPathFactory):
    return synthetic_split_dir(tmp_path_factory.mktemp("split"), SIZES, seed=5)


def run(split_dir, cfg: StreamConfig, first: dict, changes: dict[int, dict], steps: int, resumes: set[int]):
    """Plans of ``steps`` steps; before step s in ``resumes`` the stream is saved, rebuilt and loaded."""
    stream = CurriculumStream(split_dir, cfg, weights=first)
    out = []
    for s in range(steps):
        if s in resumes:
            saved = json.loads(json.dumps(stream.state_dict()))
            # a new process: different initial weights, the saved ones must win
            stream = CurriculumStream(split_dir, cfg, weights={"simple": 1.0, "medium": 1.0})
            stream.load_state_dict(saved)
            assert stream.step == s
        if s in changes:
            stream.set_weights(changes[s])
        plan = stream.next_step()
        out.append(
            (
                plan.step,
                plan.counts,
                plan.global_batch.category.tolist(),
                plan.global_batch.row.tolist(),
                [m.row.tolist() for m in plan.micro_batches],
            )
        )
    return out, stream.state_dict()


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    mode=st.sampled_from(["stratified", "random"]),
    batch=st.sampled_from([1, 2, 6, 8, 12]),
    first=weights_st,
    changes=st.dictionaries(st.integers(1, 24), weights_st, max_size=4),
    resumes=st.sets(st.integers(1, 24), max_size=5),
)
def test_resume_reproduces_uninterrupted(split_dir, seed, mode, batch, first, changes, resumes) -> None:
    cfg = StreamConfig(global_batch=batch, micro_batch=batch // 2 or 1, seed=seed, mode=mode)
    plain, plain_state = run(split_dir, cfg, first, changes, 25, set())
    resumed, resumed_state = run(split_dir, cfg, first, changes, 25, resumes)
    assert resumed == plain
    assert resumed_state == plain_state


def test_state_dict_is_small_and_json(split_dir) -> None:
    stream = CurriculumStream(split_dir, StreamConfig(global_batch=4), weights={"simple": 0.5, "hard": 0.5})
    for _ in range(3):
        stream.next_step()
    state = stream.state_dict()
    text = json.dumps(state)
    assert len(text) < 2000
    assert state["step"] == 3 and state["seed"] == 0 and state["mode"] == "stratified"
    assert set(state["epoch"]) == set(state["cursor"]) == set(state["carry"]) == set(CATEGORIES)
    assert state["split"]["simple"]["rows"] == 17


def test_load_rejects_other_seed_mode_and_batch(split_dir) -> None:
    stream = CurriculumStream(split_dir, StreamConfig(global_batch=4), weights={"simple": 1.0})
    stream.next_step()
    state = stream.state_dict()
    other = CurriculumStream(split_dir, StreamConfig(global_batch=8, seed=1, mode="random"), weights={"simple": 1.0})
    with pytest.raises(
        StreamStateError,
        match=r"seed was 0 in the checkpoint but is 1 now.*mode was 'stratified'"
        r".*global_batch was 4 in the checkpoint but is 8 now",
    ):
        other.load_state_dict(state)
    # world size and micro-batch may change between runs: the global sequence is the same
    elastic = CurriculumStream(
        split_dir, StreamConfig(global_batch=4, micro_batch=2, world_size=2, rank=1), weights={"simple": 1.0}
    )
    elastic.load_state_dict(state)
    assert np.array_equal(elastic.next_step().global_batch.row, stream.next_step().global_batch.row)


def test_load_rejects_a_different_split(split_dir, tmp_path) -> None:
    stream = CurriculumStream(split_dir, StreamConfig(global_batch=4), weights={"simple": 1.0})
    state = stream.state_dict()
    # same sizes, other sample ids in one category (e.g. a re-split of other data): not the same stream
    tables = {c: synthetic_rows(n, seed=5 + i, id_prefix=f"{c}-", category=c) for i, (c, n) in enumerate(SIZES.items())}
    tables["medium"] = synthetic_rows(SIZES["medium"], seed=6, id_prefix="other-", category="medium")
    other = write_split_dir(tmp_path / "other", tables)
    with pytest.raises(StreamStateError, match=r"category 'medium' of .* differs from the checkpoint's split"):
        CurriculumStream(other, StreamConfig(global_batch=4), weights={"simple": 1.0}).load_state_dict(state)
    # same sizes and sample ids in a fresh directory (the fingerprint covers ids, not row text): allowed
    same = write_split_dir(tmp_path / "same", {**tables, "medium": synthetic_rows(9, seed=1, id_prefix="medium-")})
    CurriculumStream(same, StreamConfig(global_batch=4), weights={"simple": 1.0}).load_state_dict(state)
    resized = synthetic_split_dir(tmp_path / "resized", {**SIZES, "hard": 6}, seed=5)
    with pytest.raises(StreamStateError, match=r"category 'hard' .* differs"):
        CurriculumStream(resized, StreamConfig(global_batch=4), weights={"simple": 1.0}).load_state_dict(state)


def test_load_rejects_malformed_state(split_dir) -> None:
    stream = CurriculumStream(split_dir, StreamConfig(global_batch=4), weights={"simple": 1.0})
    with pytest.raises(StreamStateError, match="state is missing carry, split"):
        stream.load_state_dict({k: v for k, v in stream.state_dict().items() if k not in ("carry", "split")})
    bad = stream.state_dict()
    bad["cursor"]["hard"] = 4
    with pytest.raises(StreamStateError, match=r"cursor of 'hard' must be in \[0, 4\) \(got 4\)"):
        stream.load_state_dict(bad)
