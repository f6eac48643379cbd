"""Index planning of the curriculum stream: category counts, epochs, weighted order, rank slices."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelis_data.schema import CATEGORIES
from pixelis_train.stream import CurriculumStream, StreamConfig
from pixelis_train.stream.allocation import stratified_counts
from pixelis_train.stream.permutation import weighted_permutation
from pixelis_train.stream.synthetic import synthetic_rows, synthetic_split_dir, write_split_dir

SIZES = {"simple": 23, "medium": 11, "hard": 5, "eval": 4}

weight_values = st.sampled_from([0.0, 0.0, 0.1, 0.2, 0.25, 0.3, 1 / 3, 0.4, 0.5, 0.7, 1.0, 2.0, 3.7])
weights_st = st.fixed_dictionaries({c: weight_values for c in CATEGORIES}).filter(lambda w: sum(w.values()) > 0)


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory: pytest.TempPathFactory):
    return synthetic_split_dir(tmp_path_factory.mktemp("split"), SIZES, seed=3)


def normalised(w: dict[str, float]) -> list[float]:
    total = sum(w.values())
    return [w[c] / total for c in CATEGORIES]


@settings(max_examples=200, deadline=None)
@given(
    batch=st.integers(1, 64),
    schedule=st.lists(st.tuples(st.integers(1, 12), weights_st), min_size=1, max_size=6),
)
def test_stratified_counts_exact_per_batch_and_cumulative(batch: int, schedule: list) -> None:
    """Per batch: count is floor or ceil of the quota; cumulative: within 1 of the summed quotas."""
    carry = [0.0, 0.0, 0.0]
    realised = np.zeros(3)
    ideal = np.zeros(3)
    for n_steps, w in schedule:
        p = normalised(w)
        for _ in range(n_steps):
            counts, carry = stratified_counts(p, batch, carry)
            assert sum(counts) == batch
            for i in range(3):
                quota = p[i] * batch
                assert abs(counts[i] - quota) < 1 or math.isclose(counts[i], quota), (counts, p, batch)
                if p[i] == 0:
                    assert counts[i] == 0
            realised += counts
            ideal += np.array(p) * batch
            assert np.all(np.abs(realised - ideal) < 1.0), (realised, ideal)


def test_stratified_long_run_mix_is_exact() -> None:
    """70/30 of 16 is 11.2/4.8: the carry hands out the fractional seat so that 1000 steps give 11200/4800."""
    carry = [0.0, 0.0, 0.0]
    total = np.zeros(3, dtype=int)
    for _ in range(1000):
        counts, carry = stratified_counts([0.7, 0.3, 0.0], 16, carry)
        assert counts[0] in (11, 12) and counts[1] in (4, 5)
        total += counts
    assert total.tolist() == [11200, 4800, 0]


def test_stream_counts_follow_weights_and_changes_apply_next_step(split_dir) -> None:
    stream = CurriculumStream(split_dir, StreamConfig(global_batch=10, micro_batch=5), weights={"simple": 1.0})
    plans = [stream.next_step() for _ in range(3)]
    assert [p.counts for p in plans] == [{"simple": 10, "medium": 0, "hard": 0}] * 3
    stream.set_weights({"simple": 0.4, "medium": 0.4, "hard": 0.2})
    assert stream.step == 3
    nxt = stream.next_step()
    assert nxt.step == 3 and nxt.counts == {"simple": 4, "medium": 4, "hard": 2}
    assert nxt.weights == pytest.approx({"simple": 0.4, "medium": 0.4, "hard": 0.2})
    assert nxt.global_batch.counts() == nxt.counts


def test_random_mode_converges_and_depends_on_step_only(split_dir) -> None:
    w = {"simple": 0.2, "medium": 0.3, "hard": 0.5}
    cfg = StreamConfig(global_batch=16, micro_batch=4, mode="random", seed=11)
    stream = CurriculumStream(split_dir, cfg, weights=w)
    counts = np.array([[p.counts[c] for c in CATEGORIES] for p in (stream.next_step() for _ in range(1500))])
    assert counts.sum(axis=1).tolist() == [16] * 1500
    assert len({tuple(r) for r in counts.tolist()}) > 5  # really random, not stratified
    share = counts.sum(axis=0) / counts.sum()
    sd = np.sqrt(np.array(normalised(w)) * (1 - np.array(normalised(w))) / counts.sum())
    assert np.all(np.abs(share - normalised(w)) < 4 * sd), share
    # the counts of step s do not depend on the weights used before s
    other = CurriculumStream(split_dir, cfg, weights={"simple": 1.0})
    for _ in range(7):
        other.next_step()
    other.set_weights(w)
    again = CurriculumStream(split_dir, cfg, weights=w)
    for _ in range(7):
        again.next_step()
    assert other.next_step().counts == again.next_step().counts


def per_category_sequences(stream: CurriculumStream, steps: int) -> dict[str, list[int]]:
    seqs: dict[str, list[int]] = {c: [] for c in CATEGORIES}
    for _ in range(steps):
        batch = stream.next_step().global_batch
        for code, row in zip(batch.category.tolist(), batch.row.tolist(), strict=True):
            seqs[CATEGORIES[code]].append(row)
    return seqs


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    w=weights_st,
    batch=st.sampled_from([1, 3, 8, 16]),
    mode=st.sampled_from(["stratified", "random"]),
)
def test_no_sample_repeats_within_an_epoch(split_dir, seed: int, w: dict, batch: int, mode: str) -> None:
    stream = CurriculumStream(split_dir, StreamConfig(global_batch=batch, seed=seed, mode=mode), weights=w)
    seqs = per_category_sequences(stream, 40)
    for c in CATEGORIES:
        n = SIZES[c]
        seq = seqs[c]
        for start in range(0, len(seq), n):
            epoch = seq[start : start + n]
            assert len(set(epoch)) == len(epoch), (c, epoch)
            if len(epoch) == n:
                assert sorted(epoch) == list(range(n))
        assert stream.epochs[c] == len(seq) // n


def test_weight_zero_rows_are_never_drawn(tmp_path) -> None:
    rows = synthetic_rows(12, seed=1, category="simple")
    weights = np.array([0.0, 1.0, 0.0, 2.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 3.0, 1.0])
    rows = rows.set_column(rows.schema.get_field_index("sampling_weight"), "sampling_weight", pa.array(weights))
    tables = {c: synthetic_rows(4, seed=i, category=c) for i, c in enumerate(("medium", "hard", "eval"))}
    split = write_split_dir(tmp_path / "split", {"simple": rows, **tables})
    stream = CurriculumStream(split, StreamConfig(global_batch=4), weights={"simple": 1.0})
    assert stream.epoch_sizes["simple"] == 8 and stream.category_sizes["simple"] == 12
    drawn = per_category_sequences(stream, 20)["simple"]
    assert set(drawn) == set(np.flatnonzero(weights > 0).tolist())
    assert stream.epochs["simple"] == 10


def test_first_draw_of_an_epoch_follows_sampling_weight() -> None:
    """Chi-square: the first row of an epoch is row i with probability w_i / sum(w)."""
    w = np.array([0.5, 1.0, 1.5, 2.0, 5.0])
    firsts = np.array([weighted_permutation(w, 7, 0, epoch)[0] for epoch in range(3000)])
    observed = np.bincount(firsts, minlength=len(w))
    expected = w / w.sum() * len(firsts)
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert chi2 < 18.47, (observed, expected)  # df = 4, p = 0.001


def test_partial_epoch_frequencies_match_numpy_choice_oracle() -> None:
    """Rows seen in the first k draws of an epoch: same distribution as numpy's choice without replacement."""
    w = np.array([1.0, 1.0, 1.2, 1.5, 1.5, 3.0, 0.5, 2.0])
    k, trials = 3, 4000
    ours = np.zeros(len(w))
    for epoch in range(trials):
        ours[weighted_permutation(w, 1, 2, epoch)[:k]] += 1
    rng = np.random.default_rng(5)
    oracle = np.zeros(len(w))
    for _ in range(trials):
        oracle[rng.choice(len(w), size=k, replace=False, p=w / w.sum())] += 1
    # binomial sd of an inclusion count is at most sqrt(trials / 4) ~ 32; two samples -> diff sd ~ 45
    assert np.all(np.abs(ours - oracle) < 4 * 45), (ours, oracle)
    assert np.argmax(ours) == 5 and np.argmin(ours) == 6


def test_heavier_rows_come_earlier_in_the_stream(split_dir) -> None:
    """Through the stream: trap rows (weight 1.5) sit earlier in the epoch than positives (1.0) on average."""
    stream = CurriculumStream(split_dir, StreamConfig(global_batch=23), weights={"simple": 1.0})
    weights = stream.files.weights("simple")
    mean_pos = {1.5: [], 1.0: []}
    for _ in range(300):
        rows = stream.next_step().global_batch.row  # one step = one whole epoch of the 23 simple rows
        for pos, r in enumerate(rows.tolist()):
            if weights[r] in mean_pos:
                mean_pos[weights[r]].append(pos)
    assert np.mean(mean_pos[1.5]) < np.mean(mean_pos[1.0]) - 1.0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), w=weights_st, micro=st.sampled_from([1, 2]), steps=st.integers(1, 6))
def test_rank_slices_partition_the_global_batch(split_dir, seed: int, w: dict, micro: int, steps: int) -> None:
    batch = 8
    single = CurriculumStream(split_dir, StreamConfig(global_batch=batch, micro_batch=micro, seed=seed), weights=w)
    reference, wrapped = [], []
    for _ in range(steps):
        before = single.state_dict()
        reference.append(single.next_step())
        after = single.state_dict()
        # a category whose epoch ended inside this step may legitimately repeat a row (new epoch)
        wrapped.append(
            any(after["epoch"][c] - before["epoch"][c] >= (1 if after["cursor"][c] > 0 else 2) for c in CATEGORIES)
        )
    for world in (1, 2, 4):
        ranks = [
            CurriculumStream(split_dir, StreamConfig(batch, micro, world, r, seed), weights=w) for r in range(world)
        ]
        for ref, wrap in zip(reference, wrapped, strict=True):
            plans = [s.next_step() for s in ranks]
            for p in plans:
                assert np.array_equal(p.global_batch.row, ref.global_batch.row)
                assert len(p.micro_batches) == batch // (world * micro)
                assert all(len(m) == micro for m in p.micro_batches)
                joined = np.concatenate([m.row for m in p.micro_batches])
                assert np.array_equal(joined, p.rank_batch.row)
            union_cat = np.concatenate([p.rank_batch.category for p in plans])
            union_row = np.concatenate([p.rank_batch.row for p in plans])
            assert np.array_equal(union_cat, ref.global_batch.category)
            assert np.array_equal(union_row, ref.global_batch.row)
            # disjoint: within one step no (category, row) key repeats unless a category wrapped its epoch
            keys = list(zip(union_cat.tolist(), union_row.tolist(), strict=True))
            if not wrap:
                assert len(set(keys)) == len(keys)


def test_ranks_get_a_balanced_category_mix(split_dir) -> None:
    w = {"simple": 0.5, "medium": 0.25, "hard": 0.25}
    plans = [CurriculumStream(split_dir, StreamConfig(16, 2, 4, r), weights=w).next_step() for r in range(4)]
    for p in plans:
        assert p.rank_batch.counts() == {"simple": 2, "medium": 1, "hard": 1}


def test_planning_draws_only_what_the_step_needs(split_dir) -> None:
    stream = CurriculumStream(split_dir, StreamConfig(global_batch=4), weights={"simple": 0.5, "medium": 0.5})
    stream.next_step()
    state = stream.state_dict()
    assert state["cursor"] == {"simple": 2, "medium": 2, "hard": 0}
    assert state["step"] == 1
