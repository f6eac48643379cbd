"""`pixelis report`: self-contained HTML with every named figure, valid PNGs, numbers shared with the
terminal reports, CLI behaviour and one-line errors for bad paths."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from PIL import Image
from test_report_run import write_run_dir
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_data.config import DataConfig
from pixelis_data.generate import write_samples
from pixelis_data.report import ReportDependencyError, ReportInputError, figures_dir_for
from pixelis_data.report.scores import SCORE_BINS, scores_view
from pixelis_data.report.split import split_view
from pixelis_data.schema import CATEGORIES, FACTOR_COLUMNS, SCORE_COLUMN
from pixelis_data.score import score_to_parquet
from pixelis_data.split import compute_thresholds, split_to_dir
from pixelis_data.summary import HIST_BINS, factor_summary, histogram
from pixelis_train.report import build_report, detect_kind

runner = CliRunner()
FIGURES = {
    "scores": ["scores-histogram", "scores-factors", "scores-by-type", "scores-correlation"],
    "split": ["split-categories", "split-diversity", "split-eval", "split-scores"],
    "run": ["run-loss", "run-performance", "run-curriculum", "run-throughput"],
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A scores file, its split and a run directory (built once for the module)."""
    root = tmp_path_factory.mktemp("report")
    raw = root / "data.jsonl"
    write_samples(raw, 300, seed=11, progress=False)
    scores = root / "data.scores.parquet"
    score_to_parquet(raw, scores, DataConfig(), progress=None)
    split_to_dir(scores, root / "data.split", DataConfig())
    return {"scores": scores, "split": root / "data.split", "run": write_run_dir(root / "run")}


@pytest.fixture(scope="module")
def reports(inputs, tmp_path_factory) -> dict[str, tuple[Path, list[Path]]]:
    out = tmp_path_factory.mktemp("out")
    built = {}
    for kind, path in inputs.items():
        result = build_report(path, out / f"{kind}.html")
        assert result.kind == kind
        built[kind] = (result.html, result.figures)
    return built


def external_references(html: str) -> list[str]:
    """Every src/href that is not an embedded data URI or an in-page anchor, and any external resource."""
    refs = [v for v in re.findall(r'(?:src|href)\s*=\s*["\']([^"\']*)', html) if not v.startswith(("data:", "#"))]
    refs += re.findall(r"https?://", html)
    refs += re.findall(r"<script|<link|@import|url\(", html, flags=re.I)
    return refs


@pytest.mark.parametrize("kind", list(FIGURES))
def test_html_is_self_contained_and_holds_every_named_figure(reports, kind):
    html_path, pngs = reports[kind]
    html = html_path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert external_references(html) == []
    for fig_id in FIGURES[kind]:
        match = re.search(rf'<figure id="{fig_id}"><img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', html)
        assert match, fig_id
        assert match.group(1).strip()
        embedded = base64.b64decode(match.group(2))
        assert embedded == (figures_dir_for(html_path) / f"{fig_id}.png").read_bytes()
    assert [p.stem for p in pngs] == FIGURES[kind]


@pytest.mark.parametrize("kind", list(FIGURES))
def test_pngs_are_valid_images_of_a_sensible_size(reports, kind):
    for png in reports[kind][1]:
        with Image.open(png) as im:
            im.verify()
        with Image.open(png) as im:
            assert im.format == "PNG"
            width, height = im.size
            assert 600 <= width <= 1600 and 250 <= height <= 1600, (png.name, im.size)
            colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
            assert colours is not None and len(colours) > 20, png.name  # a drawing, not a blank canvas


def test_rerun_gives_identical_files(inputs, reports, tmp_path):
    again = build_report(inputs["scores"], tmp_path / "scores.html")
    html, pngs = reports["scores"]
    assert again.html.read_bytes() == html.read_bytes()
    assert [p.read_bytes() for p in again.figures] == [p.read_bytes() for p in pngs]


def test_scores_numbers_are_the_terminal_reports_numbers(inputs):
    cfg = DataConfig()
    view = scores_view(inputs["scores"], cfg)
    lf = pl.scan_parquet(inputs["scores"])
    terminal = histogram(lf, cfg.score.clip_min, cfg.score.clip_max, HIST_BINS)
    per = SCORE_BINS // HIST_BINS
    merged = [sum(c for _, _, c in view.score_bins[i * per : (i + 1) * per]) for i in range(HIST_BINS)]
    assert merged == [c for _, _, c in terminal]
    assert view.summary.equals(factor_summary(lf, [*FACTOR_COLUMNS, SCORE_COLUMN]))
    scores = lf.select(SCORE_COLUMN).collect()[SCORE_COLUMN]
    assert view.thresholds == compute_thresholds(scores, cfg.split)
    manifest_thresholds = split_view(inputs["split"]).thresholds
    assert manifest_thresholds == (view.thresholds.t_simple, view.thresholds.t_medium)
    assert sum(view.category_counts.values()) == view.n == 300
    by_task = lf.group_by("task_type").agg(pl.col(SCORE_COLUMN).mean()).collect()
    assert dict(by_task.iter_rows()) == pytest.approx(
        dict(zip(view.by_task["task_type"], view.by_task["mean"], strict=True))
    )
    for i, row in enumerate(view.correlation):
        assert row[i] == 1.0 and all(-1 - 1e-9 <= v <= 1 + 1e-9 for v in row if v == v)


def test_split_numbers_are_the_manifest_numbers(inputs):
    view = split_view(inputs["split"])
    manifest = view.manifest
    assert [c["category"] for c in view.categories] == list(CATEGORIES)
    assert view.eval_rows.height == manifest["counts"]["eval"]
    assert view.scores.height == manifest["n_samples"]
    eval_table = pl.read_ipc(inputs["split"] / "eval.arrow")
    assert sorted(view.eval_rows["sample_type"].to_list()) == sorted(eval_table["sample_type"].to_list())
    for c in view.categories:
        assert view.eval_rows.filter(pl.col("category") == c["category"]).height == c["n_eval"]


def test_detect_kind_and_bad_paths(inputs, tmp_path):
    assert [detect_kind(inputs[k]) for k in ("scores", "split", "run")] == ["scores", "split", "run"]
    (tmp_path / "empty").mkdir()
    (tmp_path / "data.json").write_text('{"samples": []}')
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "plain.parquet")
    cases = {
        tmp_path / "missing": r"missing: no such file or directory",
        tmp_path / "empty": r"empty: a directory with neither manifest.json .* nor metrics.jsonl",
        tmp_path / "data.json": r"data.json: not a scores Parquet",
        tmp_path / "plain.parquet": r"plain.parquet: a Parquet file without a difficulty_score column",
    }
    for path, message in cases.items():
        with pytest.raises(ReportInputError, match=message):
            detect_kind(path)


def test_cli_writes_the_report_and_says_where(inputs, tmp_path):
    out = tmp_path / "nested" / "report.html"
    result = runner.invoke(app, ["report", str(inputs["run"]), "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "run report, 4 figures: run-loss, run-performance, run-curriculum, run-throughput" in text
    assert sorted(p.name for p in (tmp_path / "nested" / "report_figures").iterdir()) == sorted(
        f"{f}.png" for f in FIGURES["run"]
    )
    html = out.read_text()
    # the events' reasons reach the page, and the end record's time split as the terminal summary prints it
    for part in ("after the advance; back to simple", "forced advance from mixed to full", "compute 80.0%"):
        assert part in html, part


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "nope", "nope: no such file or directory"),
        (lambda d: (d / "x.jsonl").write_text("{}\n") and d / "x.jsonl", "x.jsonl: not a scores Parquet"),
        (lambda d: d, "a directory with neither manifest.json"),
    ],
)
def test_cli_bad_paths_are_one_line_errors(tmp_path, make, message):
    path = make(tmp_path)
    result = runner.invoke(app, ["report", str(path), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not (tmp_path / "r.html").exists()


def test_cli_output_that_is_a_directory_is_refused(inputs, tmp_path):
    result = runner.invoke(app, ["report", str(inputs["run"]), "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "is a directory" in result.output


def test_missing_matplotlib_gives_the_install_hint(inputs, tmp_path, monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` raise ImportError
    with pytest.raises(ReportDependencyError, match=r"pip install 'pixelis\[report\]'"):
        build_report(inputs["run"], tmp_path / "r.html")
    result = runner.invoke(app, ["report", str(inputs["run"]), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert "pip install 'pixelis[report]'" in result.output
    assert not (tmp_path / "r.html").exists()


def test_importing_the_report_code_imports_neither_torch_nor_matplotlib():
    code = (
        "import sys; import pixelis_data.report, pixelis_data.report.explain; "
        "import pixelis_cli.report, pixelis_cli.explain, pixelis_cli.app; "
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_png_bytes_decode_to_the_same_pixels_as_the_files(reports):
    html_path, pngs = reports["split"]
    html = html_path.read_text()
    first = re.search(r'src="data:image/png;base64,([^"]+)"', html)
    assert first
    with Image.open(io.BytesIO(base64.b64decode(first.group(1)))) as a, Image.open(pngs[0]) as b:
        assert a.size == b.size and a.tobytes() == b.tobytes()
