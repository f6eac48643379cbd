"""Curriculum config: shipped YAML = defaults, docs/design.md §6 values, validation reporting every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixelis_core.config_io import ConfigError, dump_yaml, from_dict, load_yaml
from pixelis_data.schema import CATEGORIES
from pixelis_train.curriculum.config import CurriculumConfig, StageConfig

REPO = Path(__file__).resolve().parents[1]


def test_shipped_yaml_is_the_defaults() -> None:
    assert load_yaml(CurriculumConfig, REPO / "configs" / "curriculum.yaml") == CurriculumConfig()


def test_defaults_are_design_section_6() -> None:
    cfg = CurriculumConfig()
    table = [(s.name, s.steps, tuple(s.weights.values())) for s in cfg.stages]
    assert table == [
        ("simple", 2000, (1.0, 0.0, 0.0)),
        ("simple_medium", 2000, (0.7, 0.3, 0.0)),
        ("balanced", 2000, (0.4, 0.4, 0.2)),
        ("medium_hard", 2000, (0.2, 0.4, 0.4)),
        ("full", None, (0.2, 0.3, 0.5)),
    ]
    assert (cfg.policy, cfg.eval_interval, cfg.min_performance, cfg.rollback_threshold) == ("adaptive", 500, 0.6, -0.05)
    assert (cfg.cooldown_steps, cfg.interval_backoff, cfg.window, cfg.max_stage_steps) == (1000, 2.0, 3, None)
    assert cfg.metric == "token_accuracy"
    # 'none' without static_weights mixes in proportion to the category sizes (equal ones when none are given)
    assert cfg.resolved_static_weights() == dict.fromkeys(CATEGORIES, 1 / 3)
    assert cfg.resolved_static_weights({"simple": 6, "medium": 3, "hard": 1}) == {
        "simple": 0.6,
        "medium": 0.3,
        "hard": 0.1,
    }


def test_yaml_round_trip_with_nested_stages(tmp_path: Path) -> None:
    cfg = CurriculumConfig(
        policy="fixed",
        stages=(StageConfig("a", 10, {"simple": 1.0}), StageConfig("b", None, {"medium": 0.5, "hard": 0.5})),
        max_stage_steps=50,
        static_weights={"hard": 1.0},
    )
    path = tmp_path / "c.yaml"
    path.write_text(dump_yaml(cfg))
    loaded = load_yaml(CurriculumConfig, path)
    assert loaded == cfg
    assert isinstance(loaded.stages, tuple) and isinstance(loaded.stages[0], StageConfig)
    # a category left out of a mixture is 0 (the stream reads every category)
    assert loaded.stages[0].weights == {"simple": 1.0, "medium": 0.0, "hard": 0.0}
    assert loaded.resolved_static_weights() == {"simple": 0.0, "medium": 0.0, "hard": 1.0}


def test_every_top_level_problem_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        CurriculumConfig(
            policy="greedy",  # type: ignore[arg-type]
            eval_interval=0,
            min_performance=1.5,
            rollback_threshold=0.1,
            cooldown_steps=-1,
            interval_backoff=0.5,
            window=0,
            max_stage_steps=100,
            metric="bleu",  # type: ignore[arg-type]
            static_weights={"simple": 0.5},
        )
    problems = info.value.problems
    for field in (
        "policy",
        "eval_interval",
        "min_performance",
        "rollback_threshold",
        "cooldown_steps",
        "interval_backoff",
        "window",
        "max_stage_steps",
        "metric",
        "static_weights",
    ):
        assert any(p.startswith(field + ":") for p in problems), (field, problems)
    assert len(problems) == 10
    with pytest.raises(
        ConfigError,
        match=r"max_stage_steps: must be an integer >= the longest planned stage "
        r"\(2000 steps\) or null \(got 100\)",
    ):
        CurriculumConfig(max_stage_steps=100)


def test_stage_problems_name_the_stage_and_value() -> None:
    with pytest.raises(
        ConfigError,
        match=r"steps: must be an integer >= 1 or null \(got 0\).*"
        r"weights.bogus: unknown category.*weights.hard: must be a finite number",
    ):
        StageConfig("x", 0, {"simple": 0.5, "bogus": 0.5, "hard": -1.0})
    with pytest.raises(ConfigError, match=r"weights: weights must sum to 1 \(got 0.9"):
        StageConfig("x", 5, {"simple": 0.6, "medium": 0.3})
    with pytest.raises(
        ConfigError,
        match=r"stages\[1\].name: duplicate stage name "
        r"\(got 'a'\).*stages\[1\].steps: the last stage runs until the end",
    ):
        CurriculumConfig(stages=(StageConfig("a", 5, {"simple": 1.0}), StageConfig("a", 5, {"hard": 1.0})))
    with pytest.raises(ConfigError, match=r"stages\[0\].steps: only the last stage may run until the end"):
        CurriculumConfig(stages=(StageConfig("a", None, {"simple": 1.0}), StageConfig("b", None, {"hard": 1.0})))
    with pytest.raises(ConfigError, match=r"stages: must be a non-empty list"):
        CurriculumConfig(stages=())


def test_yaml_problems_carry_the_field_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "policy: greedy\nstages:\n  - {name: a, steps: 0, weights: {simple: 1.0}}\n"
        "  - {name: b, steps: null, weights: {medium: 0.2}}\nwindow: two\nunknown_key: 1\n"
    )
    with pytest.raises(ConfigError) as info:
        load_yaml(CurriculumConfig, path)
    text = str(info.value)
    assert str(path) in text
    for expected in (
        "policy: must be one of 'adaptive', 'fixed', 'none', 'shuffled', 'anti' (got 'greedy')",
        "stages[0].steps: must be an integer >= 1 or null (got 0)",
        "stages[1].weights: weights must sum to 1 (got 0.2",
        "window: must be an integer (got 'two')",
        "unknown_key: unknown field",
    ):
        assert expected in text, (expected, text)


def test_missing_stage_field_is_reported() -> None:
    with pytest.raises(ConfigError, match=r"stages\[0\].*weights"):
        from_dict(CurriculumConfig, {"stages": [{"name": "a", "steps": None}]})
