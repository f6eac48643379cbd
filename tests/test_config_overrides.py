"""``apply_overrides`` / ``parse_sets`` (the one way to change a built config) and ``--set`` on every command."""

from __future__ import annotations

import dataclasses
import json
import math
import typing

import numpy as np
import polars as pl
import pytest
from test_split_support import scores_frame, write_scores
from typer.testing import CliRunner

import pixelis_cli.train as train_cli
from pixelis_cli.app import app
from pixelis_core.config_io import ConfigError, Problems, apply_overrides, parse_sets
from pixelis_data.config import DataConfig
from pixelis_train.config import TrainConfig
from pixelis_train.curriculum.config import CurriculumConfig
from pixelis_train.stream.config import StreamConfig
from tests.test_score_inputs import rec

runner = CliRunner()


def one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


# --- apply_overrides ---------------------------------------------------------------------------


def test_dotted_keys_reach_nested_fields_and_leave_the_original_alone() -> None:
    base = TrainConfig()
    cfg = apply_overrides(base, {"optim.lr": 0.05, "curriculum.policy": "fixed", "data.format.max_length": 64})
    assert (cfg.optim.lr, cfg.curriculum.policy, cfg.data.format.max_length) == (0.05, "fixed", 64)
    assert cfg.optim.steps == base.optim.steps and base.optim.lr == 2e-4
    split = apply_overrides(DataConfig(), {"split.eval_fraction": 0.1, "split.iqr_multiplier": math.inf})
    assert (split.split.eval_fraction, split.split.iqr_multiplier) == (0.1, math.inf)


def test_none_is_a_flag_not_given_unless_kept() -> None:
    base = CurriculumConfig(max_stage_steps=5000)
    assert apply_overrides(base, {"window": None, "max_stage_steps": None}) is base
    cleared = apply_overrides(base, {"max_stage_steps": None}, keep_none=True)
    assert cleared.max_stage_steps is None and cleared.window == base.window


def test_table_entries_and_section_mappings() -> None:
    cfg = apply_overrides(
        DataConfig(),
        {"score.operations.complexity.ZOOM_IN": 2.5, "read.extra_aliases.my.tool": "ZOOM_IN"},
    )
    assert cfg.score.operations.complexity["ZOOM_IN"] == 2.5
    assert cfg.score.operations.complexity["THINK"] == 0.5  # the other entries stay
    assert cfg.read.extra_aliases == {"my.tool": "ZOOM_IN"}  # everything after the table field is the key
    # a mapping for a section sets the fields it names; the others keep their (not default) values
    base = apply_overrides(TrainConfig(), {"optim.steps": 77})
    merged = apply_overrides(base, {"optim": {"lr": 0.1}})
    assert (merged.optim.lr, merged.optim.steps) == (0.1, 77)


def test_unknown_keys_name_the_known_fields_at_their_level() -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(TrainConfig(), {"optim.lrr": 1, "nope": 2, "optim.lr.x": 3})
    problems = info.value.problems
    assert "optim.lrr: unknown field (known: steps, micro_batch, grad_accum, lr," in problems[0]
    assert problems[1].startswith("nope: unknown field (known: seed, model, lora, optim, data, eval, curriculum,")
    assert problems[2] == "optim.lr.x: unknown field (optim.lr is a single value, not a section)"
    assert str(info.value).startswith("command line: ")


def test_every_problem_at_once_with_dotted_name_and_value() -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(
            TrainConfig(),
            {"optim.lr": -1, "optim.grad_accum": 0, "curriculum.policy": "greedy", "lora.typo": 1},
            source="--set",
        )
    text = str(info.value)
    assert text.startswith("--set: lora.typo: unknown field")
    for part in (
        "optim.lr: must be > 0 (got -1.0)",
        "optim.grad_accum: must be >= 1 (got 0)",
        "curriculum.policy: must be one of 'adaptive', 'fixed', 'none', 'shuffled', 'anti' (got 'greedy')",
    ):
        assert part in text, part


def test_parse_sets_reads_yaml_values() -> None:
    values = parse_sets(
        [
            "optim.lr=0.05",
            "curriculum.policy=fixed",
            "split.iqr_multiplier=.inf",
            "curriculum.max_stage_steps=null",
            "optim.betas=[0.8, 0.9]",
            "optim.eps=1e-6",  # YAML 1.1 would keep this a string
            "model.name=a=b",  # only the first '=' separates
            "optim.steps=5",
            "optim.steps=6",  # the later one wins
        ]
    )
    assert values == {
        "optim.lr": 0.05,
        "curriculum.policy": "fixed",
        "split.iqr_multiplier": math.inf,
        "curriculum.max_stage_steps": None,
        "optim.betas": [0.8, 0.9],
        "optim.eps": 1e-6,
        "model.name": "a=b",
        "optim.steps": 6,
    }
    del values["split.iqr_multiplier"]
    cfg = apply_overrides(TrainConfig(), values, keep_none=True)
    assert cfg.optim.betas == (0.8, 0.9) and cfg.optim.eps == 1e-6 and cfg.curriculum.max_stage_steps is None


def test_parse_sets_reports_every_malformed_item() -> None:
    with pytest.raises(ConfigError) as info:
        parse_sets(["oops", "=1", "optim.betas=[1, 2", "optim.lr=0.1"])
    assert info.value.source == "--set"
    assert [p.split(":")[0] for p in info.value.problems] == ["'oops'", "'=1'", "'optim.betas=[1, 2'"]
    assert "expected KEY=VALUE" in info.value.problems[0]
    assert "the value is not valid YAML" in info.value.problems[2]


# --- the shared checks -------------------------------------------------------------------------


def _config_classes() -> set[type]:
    seen: set[type] = set()
    todo: list[type] = [TrainConfig, DataConfig, StreamConfig, CurriculumConfig]
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        for tp in typing.get_type_hints(cls).values():
            todo.extend(t for t in (tp, *typing.get_args(tp)) if dataclasses.is_dataclass(t))
    return seen


def test_every_literal_field_is_refused_by_a_direct_constructor_call() -> None:
    checked = []
    for cls in _config_classes():
        for name, tp in typing.get_type_hints(cls).items():
            if typing.get_origin(tp) is typing.Literal:
                with pytest.raises(ConfigError, match=rf"^{name}: must be one of .* \(got 'bogus'\)$"):
                    dataclasses.replace(cls(), **{name: "bogus"})
                checked.append(f"{cls.__name__}.{name}")
    assert len(checked) >= 7, checked  # dtype, attn, stream_mode, strategy, backend, policy, metric, mode


def test_problems_helpers_refuse_bools_and_non_finite_numbers() -> None:
    p = Problems()
    assert not p.integer("n", True, 1)
    assert p.integer("m", None, 0, optional=True)
    assert not p.integer("k", 1.0, 0, 10)
    assert not p.number("x", math.nan, 0, 1)
    assert not p.number("y", False, 0)
    assert not p.number("z", 1.0, 0, 1, high_open=True)
    assert not p.non_negative_table("t", {"a": -1.0, "b": math.inf})
    assert not p.non_negative_table("w", {"simple": 0.5, "zzz": 0.5}, known=("simple",), what="category", total=1)
    assert not p.non_negative_table("s", {"a": 0.5}, total=1.0)
    assert p.items == [
        "n: must be an integer >= 1 (got True)",
        "k: must be an integer in [0, 10] (got 1.0)",
        "x: must be in [0, 1] (got nan)",
        "y: must be a finite number >= 0 (got False)",
        "z: must be in [0, 1) (got 1.0)",
        "t.a: must be a finite number >= 0 (got -1.0)",
        "t.b: must be a finite number >= 0 (got inf)",
        "w.zzz: unknown category (known: simple)",
        "s: weights must sum to 1 (got 0.5 from {'a': 0.5})",
    ]


# --- --set on every command ----------------------------------------------------------------------


@pytest.mark.parametrize("command", [["train"], ["score"], ["split"], ["curriculum", "simulate"]])
def test_help_documents_set_and_its_order(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.translate({ord(ch): " " for ch in "│╭╮╰╯─"}).split())
    assert "--set KEY=VALUE" in text and "then every --set, then the specific flags" in text


def test_train_set_reaches_the_config_and_flags_win(tmp_path, monkeypatch) -> None:
    seen = {}
    real = train_cli.resolve_config

    def spy(*args, **kwargs):
        seen["cfg"] = real(*args, **kwargs)
        return seen["cfg"]

    monkeypatch.setattr(train_cli, "resolve_config", spy)
    args = ["train", str(tmp_path / "nope"), "--set", "optim.lr=0.05", "--set", "curriculum.policy=fixed"]
    result = runner.invoke(app, [*args, "--set", "optim.steps=5", "--steps", "9"])
    assert result.exit_code == 2 and "split directory does not exist" in result.output  # after the config
    cfg = seen["cfg"]
    assert (cfg.optim.lr, cfg.curriculum.policy, cfg.optim.steps) == (0.05, "fixed", 9)
    assert train_cli.resolve_config is spy
    assert real(None, {"optim.steps": None}, ["optim.steps=5"]).optim.steps == 5


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("oops", "invalid config: --set: 'oops': expected KEY=VALUE"),
        ("optim.lrr=1", "invalid config: command line: optim.lrr: unknown field (known: steps, micro_batch,"),
        ("optim.lr=-1", "invalid config: command line: optim.lr: must be > 0 (got -1.0)"),
        ("optim.lr=[1", "invalid config: --set: 'optim.lr=[1': the value is not valid YAML"),
    ],
)
def test_train_bad_set_is_one_line_exit_2(tmp_path, item: str, message: str) -> None:
    result = runner.invoke(app, ["train", str(tmp_path), "--set", item])
    assert result.exit_code == 2
    assert message in one_line(result.output)


def test_score_set_reaches_the_config(tmp_path, write_jsonl) -> None:
    path = write_jsonl([rec(0), rec(1, task_type="text_extraction")])
    out = tmp_path / "s.parquet"
    result = runner.invoke(
        app, ["score", str(path), "-o", str(out), "--set", "score.clip_min=0.9", "--set", "score.clip_max=0.9"]
    )
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out)["difficulty_score"].to_list() == [0.9, 0.9]
    worse = runner.invoke(app, ["score", str(path), "--set", "score.clip_max=0.05"])
    assert worse.exit_code == 2
    assert "score.clip_min/clip_max: clip_min must be <= clip_max (got 0.1, 0.05)" in one_line(worse.output)


def test_split_set_reaches_the_config_and_the_flag_wins(tmp_path) -> None:
    inp = write_scores(tmp_path / "data.scores.parquet", scores_frame(np.linspace(0.1, 1.0, 120), seed=2))
    out = tmp_path / "o"
    args = ["split", str(inp), "--by-category", "-o", str(out), "--set", "split.iqr_multiplier=.inf"]
    result = runner.invoke(app, [*args, "--set", "split.eval_per_category=2"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["split"]["eval_per_category"] == 2 and manifest["n_eval"] == 6
    assert manifest["config"]["split"]["iqr_multiplier"] in ("inf", "Infinity", math.inf)
    # --eval-fraction (a flag) wins over a --set, and chooses the fraction mode
    result = runner.invoke(app, [*args, "--set", "split.eval_per_category=2", "--eval-fraction", "0.5"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["split"]["eval_per_category"] is None
    assert manifest["config"]["split"]["eval_fraction"] == 0.5
    bad = runner.invoke(app, ["split", str(inp), "--by-category", "--set", "split.nope=1"])
    assert bad.exit_code == 2
    assert "split.nope: unknown field (known: simple_percentile," in one_line(bad.output)


def test_curriculum_simulate_set_reaches_the_config(tmp_path) -> None:
    base = ["curriculum", "simulate", "--model", "default"]
    fixed = runner.invoke(app, [*base, "--set", "policy=fixed"])
    assert fixed.exit_code == 0, fixed.output
    assert "policy fixed" in fixed.output and "4 advances, 0 rollbacks" in " ".join(fixed.output.split())
    flag_wins = runner.invoke(app, [*base, "--set", "policy=fixed", "--policy", "none"])
    assert flag_wins.exit_code == 0 and "policy none" in flag_wins.output
    bad = runner.invoke(app, [*base, "--set", "window=0"])
    assert bad.exit_code == 2
    assert "invalid config: command line: window: must be an integer >= 1 (got 0)" in one_line(bad.output)
    bad_flag = runner.invoke(app, [*base, "--policy", "greedy"])
    expected = "--policy: must be one of 'adaptive', 'fixed', 'none', 'shuffled', 'anti' (got 'greedy')"
    assert expected in one_line(bad_flag.output)
