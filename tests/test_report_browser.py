"""A real browser renders report.html: headless Chromium (Debian's ``chromium``) takes a screenshot with no
network; the page must lay out its figures (a non-blank screenshot showing the figures' colours) and log no
console errors. Skipped where Chromium is not installed (CI installs it: ``apt-get install chromium``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from test_report_figures import resumed_run_dir
from test_report_run import write_run_dir

from pixelis_data.generate import write_samples
from pixelis_data.score import score_to_parquet
from pixelis_train.report import build_report

CHROMIUM = next(
    (
        p
        for p in (os.environ.get("PIXELIS_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium")
        if p and Path(p).is_file()
    ),
    None,
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs headless Chromium: `apt-get install chromium` (Debian; CI installs it before `make test`) "
    "or set PIXELIS_CHROMIUM to a Chromium binary",
)
WIDTH, HEIGHT = 1280, 4000
HIST_BLUE = (0x5B, 0x7D, 0xB1)  # bar colour of the score histogram (figures.py / plots_data.py)
ADVANCE_GREEN = (0x2E, 0x7D, 0x32)  # advance markers of the curriculum timeline


def screenshot(html: Path, tmp_path: Path) -> tuple[Image.Image, str]:
    """Render ``html`` (file://, no network) and return the screenshot and Chromium's log."""
    png = tmp_path / f"{html.stem}.png"
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={png}",
        f"--window-size={WIDTH},{HEIGHT}",
        html.resolve().as_uri(),
    ]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert png.is_file(), f"no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return Image.open(png).convert("RGB"), proc.stderr


def near(colours: list[tuple[int, tuple[int, int, int]]], target: tuple[int, int, int], tol: int = 12) -> int:
    return sum(n for n, c in colours if all(abs(a - b) <= tol for a, b in zip(c, target, strict=True)))


def console_errors(log: str) -> list[str]:
    """Console messages and load failures (the page has no scripts, so any console line is suspect)."""
    return [
        line
        for line in log.splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "net::ERR_" in line or "Failed to load" in line
    ]


def test_chromium_lays_out_the_scores_and_run_reports(tmp_path):
    raw = tmp_path / "data.jsonl"
    write_samples(raw, 150, seed=2, progress=False)
    score_to_parquet(raw, tmp_path / "s.parquet", progress=None)
    pages = {
        "scores": build_report(tmp_path / "s.parquet", tmp_path / "scores.html").html,
        "run": build_report(write_run_dir(tmp_path / "run"), tmp_path / "run.html").html,
        # a resumed run: the legs table, resume markers and the two throughput panels lay out as well
        "resumed": build_report(resumed_run_dir(tmp_path / "resumed"), tmp_path / "resumed.html").html,
    }
    for kind, html in pages.items():
        image, log = screenshot(html, tmp_path / kind)
        assert image.size == (WIDTH, HEIGHT)
        assert console_errors(log) == [], kind
        colours = image.getcolors(maxcolors=1 << 22)
        assert colours is not None and len(colours) > 200, f"{kind}: screenshot nearly blank"
        # the figures were decoded and painted: their own colours cover a real area of the page
        target = HIST_BLUE if kind == "scores" else ADVANCE_GREEN
        # (a few hundred pixels: about 500 of advance green in a run report, 0 when the figures are not painted)
        assert near(colours, target) > 300, f"{kind}: figure colours missing from the screenshot"
        # and laid out top to bottom: non-white content reaches well down the page
        rows = [y for y in range(0, HEIGHT, 50) if len(image.crop((0, y, WIDTH, y + 1)).getcolors(WIDTH) or []) > 3]
        assert max(rows) > 1500, f"{kind}: content stops at y={max(rows)}"


def test_console_errors_are_caught(tmp_path):
    """The check above can fail: a page with a script error is reported."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><p>x</p><script>undefinedFunction();</script></body></html>")
    _, log = screenshot(page, tmp_path)
    assert any("Uncaught" in line for line in console_errors(log))
