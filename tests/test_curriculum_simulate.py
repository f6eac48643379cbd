"""Simulator (traces, synthetic learner, timeline) and ``pixelis curriculum simulate`` via CliRunner."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_core.config_io import ConfigError, dump_yaml
from pixelis_data.schema import CATEGORIES
from pixelis_train.curriculum import CurriculumConfig, Evaluation
from pixelis_train.curriculum.simulate import Cooldown, simulate_model, simulate_trace
from pixelis_train.curriculum.synthetic import LearningCurveModel, SyntheticLearner, parse_model
from pixelis_train.curriculum.trace import TraceError, read_trace

runner = CliRunner()


def flat(output: str) -> str:
    """CLI output without table borders and line wraps (wrapped reason cells read as one sentence)."""
    return " ".join(output.translate({ord(ch): " " for ch in "│┃┏┓┗┛┡┩└┘━─┳┻╇┼┬┴"}).split())


Row = tuple[int, float, float, float]


def write_trace(path: Path, rows: list[Row], header: str = "step,simple,medium,hard") -> Path:
    path.write_text(header + "\n" + "".join(f"{s},{a},{b},{c}\n" for s, a, b, c in rows))
    return path


def steady_rows(last: int = 10_000, value: float = 0.8) -> list[tuple[int, float, float, float]]:
    return [(s, value, value, value) for s in range(500, last + 1, 500)]


def collapse_rows() -> list[tuple[int, float, float, float]]:
    """0.8 everywhere except one bad evaluation right after the advance to balanced at 4000."""
    return [(s, *([0.7] * 3 if s == 4500 else [0.8] * 3)) for s in range(500, 12_001, 500)]


def test_trace_timeline_segments_and_cooldowns(tmp_path: Path) -> None:
    result = simulate_trace(CurriculumConfig(), read_trace(write_trace(tmp_path / "t.csv", collapse_rows())))
    table = [(s.start, s.end, s.stage_name, s.interval_scale) for s in result.segments]
    assert table == [
        (0, 2000, "simple", 1.0),
        (2000, 4000, "simple_medium", 1.0),
        (4000, 4500, "balanced", 1.0),
        (4500, 8500, "simple_medium", 2.0),
        (8500, 12_000, "balanced", 2.0),
    ]
    assert result.cooldowns == [Cooldown(4500, 5500)]
    assert result.counts() == {"hold": 20, "advance": 3, "rollback": 1, "forced_advance": 0}
    assert len(result.events) == len(result.evaluations) == 24


def test_trace_steps_limit_and_empty_selection(tmp_path: Path) -> None:
    evaluations = read_trace(write_trace(tmp_path / "t.csv", steady_rows()))
    assert len(simulate_trace(CurriculumConfig(), evaluations, steps=3000).events) == 6
    with pytest.raises(ValueError, match="no evaluation at or before step 100"):
        simulate_trace(CurriculumConfig(), evaluations, steps=100)


def test_bad_csv_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("step,simple,medium,hard\n500,0.5,0.5,0.5\n1000,0.5,abc,0.5\n900,0.5,0.5,1.5\n1500,0.5\n")
    with pytest.raises(TraceError) as info:
        read_trace(path)
    text = str(info.value)
    for expected in (
        f"{path}: ",
        "line 3, column 'medium': not a number (got 'abc')",
        "line 4, column 'step': steps must increase (got 900 after 1000)",
        "line 4, column 'hard': must be in [0, 1] (got '1.5')",
        "line 5: expected 4 fields, got 2",
    ):
        assert expected in text, (expected, text)
    with pytest.raises(
        TraceError,
        match=r"bad.csv:1: header must have the columns step, simple, medium, hard "
        r"\(missing \['hard'\]; unknown \['difficult'\]",
    ):
        write_trace(path, steady_rows(1000), header="step,simple,medium,difficult")
        read_trace(path)
    with pytest.raises(TraceError, match=r"empty.csv: empty trace file"):
        (tmp_path / "empty.csv").write_text("\n")
        read_trace(tmp_path / "empty.csv")
    with pytest.raises(TraceError, match=r"nope.csv: trace file not found"):
        read_trace(tmp_path / "nope.csv")


def test_synthetic_learner_follows_its_documented_formula() -> None:
    model = LearningCurveModel(noise=0.0, transfer=0.5, collapse=2.0, recovery=1000.0)
    learner = SyntheticLearner(model)
    learner.train({"simple": 1.0, "medium": 0.0, "hard": 0.0}, 0, 1000)
    learner.train({"simple": 0.4, "medium": 0.4, "hard": 0.2}, 1000, 1500)
    exposure = {"simple": 1000 + 500 * 0.7, "medium": 500 + 500 * 0.7, "hard": 500 + 500 * 0.6}
    progress_hard_at_change = 1 - math.exp(-500 / model.tau_hard)
    dip = 2.0 * 0.2 * (1 - progress_hard_at_change) * math.exp(-500 / 1000)
    perf = learner.evaluate(1500)
    for c in CATEGORIES:
        ceil, tau = getattr(model, f"ceil_{c}"), getattr(model, f"tau_{c}")
        expected = model.floor + (ceil - model.floor) * (1 - math.exp(-exposure[c] / tau)) - dip
        assert perf[c] == pytest.approx(expected, abs=1e-12)


def test_model_runs_are_seeded_and_collapse_rolls_back() -> None:
    cfg = CurriculumConfig()
    steady = simulate_model(cfg, parse_model("default"))
    assert [(e.step, e.kind) for e in steady.events if e.kind != "hold"] == [
        (2000, "advance"),
        (4000, "advance"),
        (6000, "advance"),
        (8000, "advance"),
    ]
    again = simulate_model(cfg, parse_model("seed=0"))
    assert again.events == steady.events and again.evaluations == steady.evaluations
    assert simulate_model(cfg, parse_model("seed=1")).evaluations != steady.evaluations
    collapsing = simulate_model(cfg, parse_model("collapse=1.5"))
    assert [(e.step, e.kind, e.stage_after) for e in collapsing.events if e.kind != "hold"][:4] == [
        (2000, "advance", 1),
        (4000, "advance", 2),
        (4500, "rollback", 1),
        (8500, "advance", 2),
    ]
    assert len(steady.evaluations) == 32  # default length: twice the planned 8000 steps


def test_parse_model_reports_every_bad_item() -> None:
    assert parse_model("tau_simple=800, seed=3") == LearningCurveModel(tau_simple=800.0, seed=3)
    assert parse_model(LearningCurveModel(collapse=0.5).describe()) == LearningCurveModel(collapse=0.5)
    with pytest.raises(ConfigError, match=r"'oops': expected key=value.*seed: given twice"):
        parse_model("oops,seed=1,seed=2")
    with pytest.raises(ConfigError, match=r"taus: unknown field.*ceil_hard: must be in \[floor=0.2, 1\] \(got 2.0\)"):
        parse_model("taus=3,ceil_hard=2")


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_trace_prints_timeline_and_writes_jsonl(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "t.csv", collapse_rows())
    out = tmp_path / "out" / "timeline.jsonl"
    result = runner.invoke(app, ["curriculum", "simulate", "--trace", str(trace), "--jsonl", str(out)])
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "4500-8500 1: simple_medium 0.7/0.3/0 x2 4500-5500" in text
    assert "4500 rollback 2->1 0.700 performance 0.700 on balanced fell below p_before 0.800" in text
    assert "back to simple_medium" in text
    assert "3 advances, 1 rollback, 0 rejected advances, 0 forced advances, 20 holds" in text
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0]["type"] == "run" and records[0]["config"]["policy"] == "adaptive"
    kinds = [r["kind"] for r in records if r["type"] == "event"]
    assert len(kinds) == 24 and kinds.count("rollback") == 1
    assert [r["start"] for r in records if r["type"] == "segment"] == [0, 2000, 4000, 4500, 8500]
    assert [(r["start"], r["end"]) for r in records if r["type"] == "cooldown"] == [(4500, 5500)]
    assert not list(out.parent.glob(".*tmp"))


def test_cli_model_with_config_and_policy_override(tmp_path: Path) -> None:
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(dump_yaml(CurriculumConfig(max_stage_steps=3000)))
    result = runner.invoke(
        app,
        [
            "curriculum",
            "simulate",
            "--config",
            str(cfg_path),
            "--model",
            "ceil_simple=0.5,ceil_medium=0.5,ceil_hard=0.5",
            "--steps",
            "7000",
            "--holds",
        ],
    )
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "3000 forced advance 0->1" in text and ">= max_stage_steps 3000" in text
    assert "0 advances, 0 rollbacks, 0 rejected advances, 2 forced advances, 12 holds" in text
    fixed = runner.invoke(app, ["curriculum", "simulate", "--model", "default", "--policy", "fixed"])
    assert fixed.exit_code == 0 and "4 advances, 0 rollbacks" in flat(fixed.output)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "seed=1", "--trace", "x.csv"], "pass one of --trace CSV or --model PARAMS, not both"),
        (["--trace", "missing.csv"], "missing.csv: trace file not found"),
        (["--model", "tau_hard=-1"], "--model: tau_hard: must be > 0 (got -1.0)"),
        (["--model", "seed=0", "--steps", "100"], "steps: must be at least eval_interval (500)"),
        (
            ["--model", "seed=0", "--policy", "greedy"],
            "--policy: must be one of 'adaptive', 'fixed', 'none', 'shuffled', 'anti' (got 'greedy')",
        ),
        (["--model", "seed=0", "--config", "nope.yaml"], "invalid config: nope.yaml: cannot read config file"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(
    tmp_path: Path, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["curriculum", "simulate", *args])
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)
    assert "Traceback" not in result.output


def test_cli_bad_csv_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("step,simple,medium,hard\n500,0.5,x,0.5\n")
    result = runner.invoke(app, ["curriculum", "simulate", "--trace", str(path)])
    assert result.exit_code == 2
    assert "line 2, column 'medium': not a number (got 'x')" in flat(result.output)


def test_cli_replay_matches_library_result(tmp_path: Path) -> None:
    """The CLI shows the same decisions as the library call on the same trace."""
    trace = write_trace(tmp_path / "t.csv", steady_rows())
    out = tmp_path / "t.jsonl"
    assert runner.invoke(app, ["curriculum", "simulate", "--trace", str(trace), "--jsonl", str(out)]).exit_code == 0
    rows = steady_rows()
    lib = simulate_trace(CurriculumConfig(), [Evaluation(s, dict(zip(CATEGORIES, v, strict=True))) for s, *v in rows])
    events = [r for r in map(json.loads, out.read_text().splitlines()) if r["type"] == "event"]
    assert [e.pop("category_performance") for e in events] == [dict(ev.performance) for ev in lib.evaluations]
    assert [{k: v for k, v in e.items() if k != "type"} for e in events] == [e.to_json() for e in lib.events]


def test_bare_simulate_runs_the_default_synthetic_learner() -> None:
    bare = runner.invoke(app, ["curriculum", "simulate"])
    assert bare.exit_code == 0, bare.output
    explicit = runner.invoke(app, ["curriculum", "simulate", "--model", "default"])
    assert bare.output == explicit.output
    assert "source model " in flat(bare.output) and "4 advances, 0 rollbacks" in flat(bare.output)


def test_a_rejected_advance_is_not_called_a_rollback(tmp_path: Path) -> None:
    """Simple is learnt, medium and hard are not: every advance is rolled straight back (stage stays 0)."""
    trace = write_trace(tmp_path / "t.csv", [(s, 0.9, 0.2, 0.1) for s in range(500, 6001, 500)])
    result = runner.invoke(app, ["curriculum", "simulate", "--trace", str(trace)])
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "0->0" not in text and "rollback 0" not in text
    assert "rejected advance 0 stays (1 rejected)" in text
    assert "0 advances, 0 rollbacks, 2 rejected advances, 0 forced advances, 10 holds" in text
    # the JSONL keeps the policy's event kind (a rejected advance backs off like a rollback)
    lib = simulate_trace(CurriculumConfig(), read_trace(trace))
    assert lib.counts()["rollback"] == 2 and lib.rejected_advances() == 2


def test_counts_of_one_are_singular(tmp_path: Path) -> None:
    rows = [(s, 0.9, 0.2, 0.1) for s in range(500, 3001, 500)]  # one rejected advance, six holds before it
    trace = write_trace(tmp_path / "t.csv", rows)
    out = tmp_path / "t.jsonl"
    result = runner.invoke(app, ["curriculum", "simulate", "--trace", str(trace), "--jsonl", str(out)])
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "0 advances, 0 rollbacks, 1 rejected advance, 0 forced advances, 5 holds" in text, text
    assert f"wrote {len(out.read_text().splitlines())} records to" in text
