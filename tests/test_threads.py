"""CPU thread choice: explicit value > OMP_NUM_THREADS (left to torch) > affinity minus one; CUDA untouched."""

from __future__ import annotations

import os

import pytest
import torch

from pixelis_core.config_io import ConfigError, apply_overrides
from pixelis_train import threads
from pixelis_train.config import TrainConfig


@pytest.fixture
def affinity(monkeypatch: pytest.MonkeyPatch):
    """Pretend the process may run on ``n`` CPUs."""

    def set_cpus(n: int) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(n)), raising=False)

    return set_cpus


@pytest.fixture
def restore_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(("cpus", "expected"), [(1, 1), (2, 1), (3, 2), (16, 15)])
def test_affinity_minus_one_for_the_data_thread(affinity, monkeypatch, cpus, expected):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    affinity(cpus)
    assert threads.available_cpus() == cpus
    assert threads.choose_threads("cpu", None) == expected


def test_omp_num_threads_set_leaves_torch_alone(affinity):
    affinity(8)
    assert threads.choose_threads("cpu", None, {"OMP_NUM_THREADS": "3"}) is None
    # an empty value is not a setting
    assert threads.choose_threads("cpu", None, {"OMP_NUM_THREADS": ""}) == 7


def test_explicit_value_wins_over_environment_and_affinity(affinity):
    affinity(8)
    assert threads.choose_threads("cpu", 5, {"OMP_NUM_THREADS": "1"}) == 5
    assert threads.choose_threads("cpu", 5, {}) == 5


def test_cuda_is_left_alone(affinity):
    affinity(8)
    assert threads.choose_threads("cuda", None, {}) is None
    assert threads.choose_threads("cuda", 4, {}) is None


def test_apply_sets_torch_threads(affinity, monkeypatch, restore_torch_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    affinity(3)
    assert threads.apply_cpu_threads("cpu", None) == 2 == torch.get_num_threads()
    assert threads.apply_cpu_threads("cpu", 1) == 1 == torch.get_num_threads()
    torch.set_num_threads(2)
    assert threads.apply_cpu_threads("cuda", 1) == 2  # untouched
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.apply_cpu_threads("cpu", None) == 2  # untouched: the environment decides


def test_config_field_validated_and_reachable_by_set():
    assert TrainConfig().model.cpu_threads is None
    assert apply_overrides(TrainConfig(), {"model.cpu_threads": 3}).model.cpu_threads == 3
    with pytest.raises(ConfigError, match=r"cpu_threads: must be an integer >= 1.*\(got 0\)"):
        apply_overrides(TrainConfig(), {"model.cpu_threads": 0})
