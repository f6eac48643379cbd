"""The experiment's arms: the 'shuffled' label permutation (a permutation, seeded, independent of the true
labels) in the stream, 'anti' (fixed's schedule reversed), 'none' (proportional to the category sizes), and
the simulator on the new policies."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_data.schema import CATEGORIES
from pixelis_data.split.hashing import reference_hash
from pixelis_train.curriculum import CurriculumConfig, Evaluation, StageConfig, make_policy
from pixelis_train.curriculum.policy import schedule_weights, shuffles_labels
from pixelis_train.curriculum.simulate import simulate_model
from pixelis_train.curriculum.synthetic import LearningCurveModel
from pixelis_train.stream import CurriculumStream, StreamConfig, StreamStateError
from pixelis_train.stream.labels import shuffle_salt, shuffled_assignment
from pixelis_train.stream.synthetic import synthetic_rows, write_split_dir


def _ids(sizes: list[int], prefix: str = "") -> list[pa.Array]:
    return [
        pa.array([f"{prefix}{c}-{i}" for i in range(n)], pa.large_string())
        for c, n in zip(CATEGORIES, sizes, strict=True)
    ]


def _members(assignment: list[tuple[np.ndarray, np.ndarray]], ids: list[pa.Array]) -> list[set[str]]:
    names = [a.to_pylist() for a in ids]
    return [{names[k][r] for k, r in zip(code.tolist(), row.tolist(), strict=True)} for code, row in assignment]


sizes_st = st.lists(st.integers(0, 60), min_size=3, max_size=3)


@settings(max_examples=80, deadline=None)
@given(sizes_st, st.integers(0, 2**31), st.text(max_size=4))
def test_shuffled_labels_are_a_permutation_and_deterministic(sizes: list[int], seed: int, prefix: str) -> None:
    ids = _ids(sizes, prefix)
    assignment = shuffled_assignment(ids, seed)
    # same category sizes, every training sample exactly once
    assert [len(code) for code, _ in assignment] == sizes
    pairs = sorted((int(k), int(r)) for code, row in assignment for k, r in zip(code, row, strict=True))
    assert pairs == [(k, r) for k, n in enumerate(sizes) for r in range(n)]
    again = shuffled_assignment(ids, seed)
    assert all(
        np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(assignment, again, strict=True)
    )
    # the plain-Python definition: shuffled category c holds the next sizes[c] ids in order of the salted hash
    pool = [i for a in ids for i in a.to_pylist()]
    order = sorted(range(len(pool)), key=lambda j: (reference_hash(pool[j], shuffle_salt(seed)), j))
    bounds = np.cumsum([0, *sizes])
    expected = [{pool[j] for j in order[bounds[c] : bounds[c + 1]]} for c in range(3)]
    assert _members(assignment, ids) == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(10, 60), min_size=3, max_size=3), st.integers(0, 2**31), st.integers(1, 2**31))
def test_shuffled_labels_differ_across_seeds(sizes: list[int], seed: int, delta: int) -> None:
    ids = _ids(sizes)
    assert _members(shuffled_assignment(ids, seed), ids) != _members(shuffled_assignment(ids, seed + delta), ids)


@settings(max_examples=30, deadline=None)
@given(sizes_st, st.integers(0, 2**31), st.randoms(use_true_random=False))
def test_shuffled_membership_ignores_the_true_labels(sizes: list[int], seed: int, rnd) -> None:
    # move the ids between the true categories (same sizes): the shuffled categories hold the same ids
    ids = _ids(sizes)
    pool = [i for a in ids for i in a.to_pylist()]
    rnd.shuffle(pool)
    bounds = np.cumsum([0, *sizes])
    relabelled = [pa.array(pool[bounds[c] : bounds[c + 1]], pa.large_string()) for c in range(3)]
    assert _members(shuffled_assignment(ids, seed), ids) == _members(shuffled_assignment(relabelled, seed), relabelled)


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(1500, 4000), min_size=3, max_size=3), st.integers(0, 2**31))
def test_shuffled_categories_mix_the_true_ones_in_the_overall_shares(sizes: list[int], seed: int) -> None:
    ids = _ids(sizes)
    total = sum(sizes)
    for code, _ in shuffled_assignment(ids, seed):
        n = len(code)
        for k in range(3):
            p = sizes[k] / total
            share = float(np.mean(code == k))
            # a random subset: the share is hypergeometric around p, sd below sqrt(p(1-p)/n)
            assert abs(share - p) < 5 * np.sqrt(p * (1 - p) / n), (k, share, p)


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory: pytest.TempPathFactory):
    sizes = {"simple": 40, "medium": 25, "hard": 15, "eval": 9}
    tables = {
        name: synthetic_rows(n, seed=i, steps=2, id_prefix=f"{name}-", category=name)
        for i, (name, n) in enumerate(sizes.items())
    }
    weights = tables["hard"].column("sampling_weight").to_numpy().copy()
    weights[:5] = 0.0  # never drawn, under whatever label
    tables["hard"] = tables["hard"].set_column(
        tables["hard"].schema.get_field_index("sampling_weight"), "sampling_weight", pa.array(weights)
    )
    return write_split_dir(tmp_path_factory.mktemp("split"), tables)


def test_stream_with_shuffled_labels_draws_each_shuffled_category_exactly(split_dir) -> None:
    cfg = StreamConfig(global_batch=5, micro_batch=5, seed=3, shuffle_labels=True)
    stream = CurriculumStream(split_dir, cfg, weights={"simple": 1.0})
    plain = CurriculumStream(split_dir, StreamConfig(global_batch=5, micro_batch=5, seed=3), weights={"simple": 1.0})
    assert stream.category_sizes == plain.category_sizes == {"simple": 40, "medium": 25, "hard": 15}
    ids = [stream.files.categories[c].table.column("sample_id").combine_chunks() for c in CATEGORIES]
    weights = {
        i: w
        for c in CATEGORIES
        for i, w in zip(ids[CATEGORIES.index(c)].to_pylist(), stream.files.weights(c), strict=True)
    }
    members = _members(shuffled_assignment(ids, 3), ids)[0]
    drawable = {i for i in members if weights[i] > 0}
    assert stream.epoch_sizes["simple"] == len(drawable)
    seen: list[str] = []
    while len(seen) < len(drawable):
        rows = stream.fetch(stream.next_step().micro_batches[0])
        assert set(rows.column("category").to_pylist()) == {"simple"}  # the label it was drawn under
        seen += rows.column("sample_id").to_pylist()
    # one epoch of shuffled 'simple': every drawable member once, true simple / medium / hard mixed
    assert sorted(seen[: len(drawable)]) == sorted(drawable)
    assert {s.split("-")[0] for s in seen} == {"simple", "medium", "hard"}
    assert stream.eval_table().column("category").to_pylist() == plain.eval_table().column("category").to_pylist()


def test_shuffled_stream_resumes_exactly_and_refuses_an_unshuffled_state(split_dir) -> None:
    cfg = StreamConfig(global_batch=6, micro_batch=3, seed=1, shuffle_labels=True)
    full = CurriculumStream(split_dir, cfg, weights={"simple": 0.5, "hard": 0.5})
    expected = [full.next_step().global_batch.row.tolist() for _ in range(12)]
    first = CurriculumStream(split_dir, cfg, weights={"simple": 0.5, "hard": 0.5})
    got = [first.next_step().global_batch.row.tolist() for _ in range(5)]
    saved = json.loads(json.dumps(first.state_dict()))
    assert saved["labels"] == {"shuffled": True, "seed": 1}
    second = CurriculumStream(split_dir, cfg, weights={"medium": 1.0})
    second.load_state_dict(saved)
    got += [second.next_step().global_batch.row.tolist() for _ in range(7)]
    assert got == expected
    plain = CurriculumStream(split_dir, StreamConfig(global_batch=6, micro_batch=3, seed=1), weights={"simple": 1.0})
    with pytest.raises(StreamStateError, match=r"labels were \{'shuffled': True, 'seed': 1\} in the checkpoint"):
        plain.load_state_dict(saved)


def test_torch_dataset_reads_the_shuffled_keys_like_the_stream(split_dir) -> None:
    pytest.importorskip("torch")
    import pickle

    from pixelis_train.stream.torch_data import StreamDataset

    stream = CurriculumStream(
        split_dir, StreamConfig(global_batch=4, micro_batch=4, shuffle_labels=True, seed=2), weights={"hard": 1.0}
    )
    micro = stream.next_step().micro_batches[0]
    dataset = pickle.loads(pickle.dumps(StreamDataset.for_stream(stream, columns=["sample_id"])))  # as a worker
    assert dataset.__getitems__(micro.to_keys()) == stream.fetch(micro, columns=["sample_id"]).to_pylist()


STAGES = st.lists(st.integers(1, 6), min_size=0, max_size=4).map(
    lambda steps: (
        *(StageConfig(f"s{i}", n, {CATEGORIES[i % 3]: 1.0}) for i, n in enumerate(steps)),
        StageConfig("last", None, {"simple": 0.2, "medium": 0.3, "hard": 0.5}),
    )
)


@settings(max_examples=60, deadline=None)
@given(STAGES, st.integers(1, 3), st.integers(5, 40))
def test_anti_trains_the_fixed_schedule_reversed_at_every_step(stages, interval: int, n_evals: int) -> None:
    fixed = make_policy(CurriculumConfig(policy="fixed", stages=stages, eval_interval=interval))
    anti = make_policy(CurriculumConfig(policy="anti", stages=stages, eval_interval=interval))
    shuffled = make_policy(CurriculumConfig(policy="shuffled", stages=stages, eval_interval=interval))
    n = len(stages)
    states = [p.initial_state() for p in (fixed, anti, shuffled)]
    for k in range(n_evals + 1):
        i = states[0]["stage"]
        # the same pacing: anti is in stage i exactly when fixed is; it trains stage n-1-i's weights
        assert states[1]["stage"] == i
        assert anti.weights(states[1]) == stages[n - 1 - i].weights
        assert anti.stage_name(states[1]) == stages[n - 1 - i].name
        assert shuffled.weights(states[2]) == fixed.weights(states[0]) == stages[i].weights
        perf = dict.fromkeys(CATEGORIES, k / (n_evals + 1))
        step = (k + 1) * interval
        states = [p.decide(s, Evaluation(step, perf))[0] for p, s in zip((fixed, anti, shuffled), states, strict=True)]
    assert shuffles_labels(shuffled.cfg) and not shuffles_labels(fixed.cfg) and not shuffles_labels(anti.cfg)
    assert schedule_weights(anti.cfg) == {i: stages[n - 1 - i].weights for i in range(n)}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=3, max_size=3).filter(lambda s: sum(s) > 0))
def test_none_defaults_to_the_category_sizes(sizes: list[int]) -> None:
    by_name = dict(zip(CATEGORIES, sizes, strict=True))
    policy = make_policy(CurriculumConfig(policy="none").with_category_sizes(by_name))
    weights = policy.weights(policy.initial_state())
    expected = np.asarray(sizes, dtype=float) / np.sum(sizes)
    np.testing.assert_allclose([weights[c] for c in CATEGORIES], expected, rtol=0, atol=1e-12)
    explicit = CurriculumConfig(policy="none", static_weights={"hard": 1.0}).with_category_sizes(by_name)
    assert make_policy(explicit).weights(policy.initial_state()) == {"simple": 0.0, "medium": 0.0, "hard": 1.0}
    # other policies ignore the sizes: their config is unchanged
    assert CurriculumConfig(policy="fixed").with_category_sizes(by_name) == CurriculumConfig(policy="fixed")


def test_simulator_runs_the_new_policies() -> None:
    cfg = CurriculumConfig(
        stages=(
            StageConfig("easy", 1000, {"simple": 1.0}),
            StageConfig("mid", 1000, {"simple": 0.5, "medium": 0.5}),
            StageConfig("all", None, {"simple": 0.2, "medium": 0.3, "hard": 0.5}),
        )
    )
    model = LearningCurveModel(noise=0.0, transfer=0.0)
    anti = simulate_model(CurriculumConfig(**{**cfg.__dict__, "policy": "anti"}), model, steps=4000)
    assert [s.stage_name for s in anti.segments] == ["all", "mid", "easy"]
    assert [(s.start, s.end) for s in anti.segments] == [(0, 1000), (1000, 2000), (2000, 4000)]
    assert anti.stage_weights[0] == cfg.stages[2].weights
    fixed = simulate_model(CurriculumConfig(**{**cfg.__dict__, "policy": "fixed"}), model, steps=4000)
    shuffled = simulate_model(CurriculumConfig(**{**cfg.__dict__, "policy": "shuffled"}), model, steps=4000)
    # the same pacing as fixed; but a shuffled label is a random sample of the pool, so without transfer the
    # learner under 'shuffled' learns hard data from the start (equal sizes: a third of every batch)
    assert [(s.start, s.end, s.stage_name) for s in shuffled.segments] == [
        (s.start, s.end, s.stage_name) for s in fixed.segments
    ]
    assert shuffled.evaluations[0].performance["hard"] > fixed.evaluations[0].performance["hard"] + 0.05
    sized = simulate_model(
        CurriculumConfig(policy="none"), model, steps=1000, category_sizes={"simple": 3, "medium": 1, "hard": 0}
    )
    assert sized.stage_weights == {0: {"simple": 0.75, "medium": 0.25, "hard": 0.0}}
    runner = CliRunner()
    for policy in ("shuffled", "anti"):
        result = runner.invoke(app, ["curriculum", "simulate", "--model", "noise=0", "--policy", policy])
        assert result.exit_code == 0, result.output
        assert f"policy {policy}" in result.output
