"""What the report's figures hold (issue 18): the min_performance line, a resumed run's legs with their
markers and the whole run's time, throughput in two panels, mean-by-type axes that show close differences,
and the report written beside its input by default. Asserted on the matplotlib figures' data (captured
before rendering) and on the HTML, not on pixels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest
from test_report_run import CFG, LAST_STEP, write_run_dir
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_data.config import DataConfig
from pixelis_data.generate import write_samples
from pixelis_data.report import default_report_path, figures_dir_for
from pixelis_data.report import plots_data as data_plots
from pixelis_data.report.figures import close_range
from pixelis_data.report.scores import scores_view
from pixelis_data.schema import SCORE_COLUMN
from pixelis_data.score import score_to_parquet
from pixelis_train import runlog
from pixelis_train.report import build_report, run_section, run_view
from pixelis_train.report import plots as run_plots
from pixelis_train.report.legs import run_legs, total_times

runner = CliRunner()
RESUME_AT = 360
LEG_TIMES = ({"total": 40.0, "data": 2.0, "compute": 30.0, "eval": 6.0, "checkpoint": 2.0}, None)


@pytest.fixture
def captured(monkeypatch) -> dict[str, object]:
    """Figure id -> the matplotlib Figure, for every figure the report code renders."""
    figures: dict[str, object] = {}
    for module in (run_plots, data_plots):
        real = module.figure

        def capture(id, title, caption, fig, real=real):
            figures[id] = fig
            return real(id, title, caption, fig)

        monkeypatch.setattr(module, "figure", capture)
    return figures


def _records(path: Path) -> list[runlog.Record]:
    return runlog.read_run_log(path / runlog.METRICS_FILE).records


def _write(path: Path, records: list[runlog.Record]) -> None:
    (path / runlog.METRICS_FILE).write_text("".join(runlog.dumps(r) + "\n" for r in records))


def resumed_run_dir(path: Path, *, first_leg: str = "end", start_record: bool = False) -> Path:
    """write_run_dir's run as two legs, resumed at RESUME_AT, the log as the loop leaves it: leg 1 ends with
    its checkpoint and end record (``first_leg="end"``, a SIGTERM) or was killed after its checkpoint
    (``"killed"``: truncation kept nothing after it); leg 2 optionally opens with a start record."""
    write_run_dir(path)
    records = _records(path)
    before = [r for r in records if r.step <= RESUME_AT and not isinstance(r, runlog.CheckpointRecord)]
    after = [r for r in records if r.step > RESUME_AT]
    leg1 = [*before, runlog.CheckpointRecord(step=RESUME_AT, path=str(path / "checkpoints/step-360"))]
    if first_leg == "end":
        leg1.append(runlog.EndRecord(step=RESUME_AT, stopped="SIGTERM", times=LEG_TIMES[0]))
    first = records[0]
    assert isinstance(first, runlog.StartRecord)
    opener = [dataclasses.replace(first, step=RESUME_AT)] if start_record else []
    _write(path, [*leg1, *opener, *after])
    return path


def _lines_by_gid(ax) -> dict[str, list]:
    out: dict[str, list] = {}
    for line in ax.get_lines():
        if line.get_gid():
            out.setdefault(line.get_gid(), []).append(line)
    return out


# --- the min_performance line -------------------------------------------------------------------------


def test_the_performance_figure_has_the_threshold_line_at_the_configured_value(tmp_path, captured):
    run = write_run_dir(tmp_path / "run")
    # config.yaml of a real run names the policy; the adaptive events carry the value they decided with
    (run / "config.yaml").write_text(f"curriculum: {{policy: adaptive, min_performance: {CFG.min_performance}}}\n")
    view = run_view(run)
    assert view.min_performance == CFG.min_performance == 0.5
    build_report(run, tmp_path / "r.html")
    (ax,) = captured["run-performance"].axes
    (line,) = _lines_by_gid(ax)["min-performance"]
    assert list(line.get_ydata()) == [0.5, 0.5]
    assert line.get_label() == "min_performance 0.5"
    assert "min_performance 0.5" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Teal dashed: min_performance 0.5, what the mean" in (tmp_path / "r.html").read_text()


def test_the_threshold_comes_from_config_yaml_when_no_event_names_it(tmp_path, captured):
    run = write_run_dir(tmp_path / "run")
    records = [r for r in _records(run) if not isinstance(r, runlog.CurriculumRecord)]
    _write(run, records)
    (run / "config.yaml").write_text("curriculum: {policy: adaptive, min_performance: 0.72}\n")
    assert run_view(run).min_performance == 0.72
    build_report(run, tmp_path / "r.html")
    (line,) = _lines_by_gid(captured["run-performance"].axes[0])["min-performance"]
    assert list(line.get_ydata()) == [0.72, 0.72]


def test_no_threshold_line_for_a_policy_that_does_not_use_it(tmp_path, captured):
    run = write_run_dir(tmp_path / "run")
    _write(run, [r for r in _records(run) if not isinstance(r, runlog.CurriculumRecord)])
    (run / "config.yaml").write_text("curriculum: {policy: fixed, min_performance: 0.6}\n")
    assert run_view(run).min_performance is None
    build_report(run, tmp_path / "r.html")
    assert "min-performance" not in _lines_by_gid(captured["run-performance"].axes[0])
    assert "the fixed policy advances on planned steps" in (tmp_path / "r.html").read_text()


def test_an_unreadable_config_yaml_is_reported(tmp_path):
    run = write_run_dir(tmp_path / "run")
    (run / "config.yaml").write_text("curriculum: [unclosed\n")
    section = run_section(run_view(run))
    assert any("config.yaml: unreadable" in w for w in section.warnings)


# --- resumed runs ---------------------------------------------------------------------------------------


def test_the_legs_of_a_resumed_log(tmp_path):
    legs = run_legs(_records(resumed_run_dir(tmp_path / "a")))
    assert [(leg.number, leg.start, leg.last, leg.resumed) for leg in legs] == [
        (1, 0, RESUME_AT, False),
        (2, RESUME_AT, LAST_STEP, True),
    ]
    assert [leg.end.stopped for leg in legs] == ["SIGTERM", "completed"]
    # the whole run's time is the sum of the legs' (write_run_dir's end record: total 100, compute 80)
    assert total_times(legs) == {"total": 140.0, "data": 7.0, "compute": 110.0, "eval": 16.0, "checkpoint": 7.0}
    # a resuming start record right after the end record opens the same leg, not a third one
    both = run_legs(_records(resumed_run_dir(tmp_path / "b", start_record=True)))
    assert [(leg.start, leg.last) for leg in both] == [(0, RESUME_AT), (RESUME_AT, LAST_STEP)]
    # a killed first leg (no end record) is told apart by the resuming start record alone
    killed = run_legs(_records(resumed_run_dir(tmp_path / "c", first_leg="killed", start_record=True)))
    assert [(leg.start, leg.last, leg.end is None) for leg in killed] == [
        (0, RESUME_AT, True),
        (RESUME_AT, LAST_STEP, False),
    ]
    # a run that never resumed is one leg
    (one,) = run_legs(_records(write_run_dir(tmp_path / "d")))
    assert (one.start, one.last, one.end.stopped) == (0, LAST_STEP, "completed")


def test_a_resumed_run_shows_both_legs_the_markers_and_the_whole_time(tmp_path, captured):
    run = resumed_run_dir(tmp_path / "run")
    view = run_view(run)
    assert view.end is not None and view.end.stopped == "completed"
    # every leg's records are read: train records of both legs, the whole timeline
    assert view.train["step"].min() == 10 and view.train["step"].max() == LAST_STEP
    result = runner.invoke(app, ["report", str(run), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r.html").read_text()
    text = " ".join(html.split())
    assert f"steps 0 -&gt; {LAST_STEP} (completed) in 2 legs, resumed at step {RESUME_AT}" in text
    assert "whole run time 140.0s: data 5.0%, compute 78.6%, eval 11.4%, checkpoint 5.0%" in text
    # the legs table: each leg's steps, how it stopped, its own time
    for row in (
        '<td class="">1</td><td class="">0 -&gt; 360</td><td class="text">SIGTERM</td><td class="">40.0s</td>',
        '<td class="">2</td><td class="">360 -&gt; 720</td><td class="text">completed</td><td class="">100.0s</td>',
    ):
        assert row in html, row
    assert f"Dash-dot: resumed at step {RESUME_AT}" in html
    # a marker at the resume step on every step-axis figure (both throughput panels)
    for fig_id in ("run-loss", "run-performance", "run-curriculum", "run-throughput"):
        for ax in captured[fig_id].axes:
            (marker,) = _lines_by_gid(ax)[f"resume-{RESUME_AT}"]
            assert list(marker.get_xdata()) == [RESUME_AT, RESUME_AT], fig_id


def test_a_killed_leg_is_marked_and_its_unknown_time_said(tmp_path, captured):
    run = resumed_run_dir(tmp_path / "run", first_leg="killed", start_record=True)
    section = run_section(run_view(run))
    assert section.paragraphs[0] == (
        f"steps 0 -> {LAST_STEP} (completed) in 2 legs, resumed at step {RESUME_AT}; whole run time 100.0s: "
        "data 5.0%, compute 80.0%, eval 10.0%, checkpoint 5.0% (leg 1 has no end record: its time is not counted)"
    )
    assert _lines_by_gid(captured["run-loss"].axes[0])[f"resume-{RESUME_AT}"]


def test_a_resume_record_opens_a_leg_and_names_its_changes(tmp_path):
    resume_record = getattr(runlog, "ResumeRecord", None)
    if resume_record is None:
        pytest.skip("this runlog has no resume record")
    run = resumed_run_dir(tmp_path / "run", first_leg="killed")
    records = _records(run)
    at = next(i for i, r in enumerate(records) if r.step > RESUME_AT)
    change = resume_record(step=RESUME_AT, checkpoint="ckpt", changes={"optim.steps": [360, 720]})
    _write(run, [*records[:at], change, *records[at:]])
    view = run_view(run)
    assert [(leg.start, leg.last, leg.changes) for leg in view.legs] == [
        (0, RESUME_AT, {}),
        (RESUME_AT, LAST_STEP, {"optim.steps": [360, 720]}),
    ]
    legs = next(t for t in run_section(view).tables if t.title.startswith("legs"))
    assert legs.rows[1][-1] == "resumed from the step-360 checkpoint, changing optim.steps 360 -> 720"


def test_a_single_leg_run_has_no_resume_marker_or_legs_table(tmp_path, captured):
    section = run_section(run_view(write_run_dir(tmp_path / "run")))
    assert section.paragraphs[0] == (
        f"steps 0 -> {LAST_STEP} (completed); time 100.0s: data 5.0%, compute 80.0%, eval 10.0%, checkpoint 5.0%"
    )
    assert not any(t.title.startswith("legs") for t in section.tables)
    assert not any(gid.startswith("resume-") for ax in captured["run-loss"].axes for gid in _lines_by_gid(ax))


# --- throughput -----------------------------------------------------------------------------------------


def test_throughput_is_two_panels_on_a_shared_step_axis_each_with_its_line(tmp_path, captured):
    run = write_run_dir(tmp_path / "run")
    build_report(run, tmp_path / "r.html")
    top, bottom = captured["run-throughput"].axes
    # stacked panels (one above the other, as laid out when rendered), not twin axes on one frame
    assert top.get_position().y0 > bottom.get_position().y1
    assert top.get_shared_x_axes().joined(top, bottom)
    view = run_view(run)
    for ax, column, label in ((top, "samples_per_s", "samples/s"), (bottom, "tokens_per_s", "tokens/s")):
        (line,) = [ln for ln in ax.get_lines() if not ln.get_gid()]
        assert line.get_label() == label and ax.get_ylabel() == label
        assert list(line.get_xdata()) == view.train["step"].to_list()
        assert list(line.get_ydata()) == view.train[column].to_list()
        # its own scale: the line spans the panel, not squeezed into a corner by the other's range
        lo, hi = ax.get_ylim()
        values = view.train[column]
        assert lo <= values.min() and values.max() <= hi and (values.max() - values.min()) / (hi - lo) > 0.8


# --- mean by type ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [[0.5, 0.51, 0.52], [0.3], [0.61, 0.61], [0.1, 0.9]])
def test_close_range_spans_the_values_and_shows_their_differences(values):
    lo, hi = close_range(values)
    assert lo < min(values) and max(values) < hi
    spread = max(values) - min(values)
    if spread:
        # the differences fill most of the axis (a 0-1 axis would give them 2% for 0.50 vs 0.52)
        assert spread / (hi - lo) == pytest.approx(1 / 1.5)
    else:
        assert hi - lo == pytest.approx(0.5 * max(abs(values[0]) * 0.05, 0.01))  # 0.15 below + 0.35 above


def test_mean_by_type_axes_show_close_means_with_their_values(tmp_path, captured):
    raw = tmp_path / "data.jsonl"
    write_samples(raw, 120, seed=5, progress=False)
    scores = tmp_path / "data.scores.parquet"
    score_to_parquet(raw, scores, DataConfig(), progress=None)
    view = scores_view(scores, DataConfig())
    build_report(scores, tmp_path / "r.html")
    fig = captured["scores-by-type"]
    # the oracle: the means of the file, per type
    frame = pl.read_parquet(scores)
    for ax, key, shown in zip(fig.axes, ("task_type", "sample_type"), (view.by_task, view.by_sample), strict=True):
        means = dict(frame.group_by(key).agg(pl.col(SCORE_COLUMN).mean()).iter_rows())
        bars = [p.get_width() for p in ax.patches]
        assert sorted(bars) == pytest.approx(sorted(means.values()))
        lo, hi = ax.get_xlim()
        spread = max(means.values()) - min(means.values())
        assert lo < min(means.values()) and max(means.values()) < hi
        assert spread / (hi - lo) > 0.6  # differences are most of the axis, not a sliver of a 0-1 axis
        # every bar labelled with its mean, in the panel's order
        assert [t.get_text() for t in ax.texts] == [f"{m:.3f}" for m in shown["mean"]]
        assert sorted(f"{m:.3f}" for m in shown["mean"]) == sorted(f"{m:.3f}" for m in means.values())


# --- default output ---------------------------------------------------------------------------------------


def test_default_report_path_is_beside_the_input(tmp_path):
    assert default_report_path(Path("a/data.scores.parquet")) == Path("a/data.scores.report.html")
    assert default_report_path(Path("runs/demo")) == Path("runs/demo.report.html")
    (tmp_path / "here").mkdir()
    assert default_report_path(tmp_path / "here") == tmp_path / "here.report.html"


def test_cli_writes_beside_the_input_by_default_and_says_where(tmp_path, monkeypatch):
    run = write_run_dir(tmp_path / "runs" / "demo")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "runs" / "demo.report.html"
    assert out.is_file() and list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in figures_dir_for(out).iterdir())[0] == "run-curriculum.png"
    text = "".join(result.output.split())
    assert f"wrote{out}(runreport" in text and str(figures_dir_for(out)) in text
