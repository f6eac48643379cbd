"""docs/api.md cannot rot: its ``python`` blocks run in order in one namespace, its ``pixelis`` lines through the CLI.

Both run in one empty directory in document order, so a command sees the files the blocks above it wrote
and a block sees the command's output. The column tables of the custom factor contract are checked
against the columns a factor really sees.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_data.config import CustomFactorsConfig, ScoreConfig
from pixelis_data.custom_factors import FactorModuleError, custom_factors
from pixelis_data.schema import CANONICAL_SCHEMA, empty_canonical
from pixelis_data.score import count_exprs, load_custom, score_frame

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
COLUMNS_SECTION = "### The columns a factor can use"
TABLE_ROW = re.compile(r"^\| `(\w+)` \| `([^`]+)` \|", re.MULTILINE)


def doc_blocks() -> list[tuple[str, str, int]]:
    """(language, code, first line number) of every fenced block of docs/api.md, in order."""
    text = DOC.read_text(encoding="utf-8")
    return [(m[1], m[2], text.count("\n", 0, m.start()) + 2) for m in FENCE.finditer(text)]


def commands(code: str) -> list[str]:
    """The ``pixelis ...`` command lines of a bash block (backslash continuations joined)."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("pixelis ")]


def run_command(runner: CliRunner, line: str, where: str) -> None:
    """Run one documented command line in-process; ``> FILE`` writes its standard output there."""
    words = shlex.split(line, comments=True)
    target = None
    if ">" in words:
        at = words.index(">")
        words, target = words[:at], words[at + 1]
    result = runner.invoke(app, words[1:])
    assert result.exit_code == 0, f"{where}: `{line}` exited {result.exit_code}:\n{result.output}"
    if target is not None:
        Path(target).write_text(result.stdout, encoding="utf-8")


def test_every_example_of_the_api_page_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = doc_blocks()
    python = [b for b in blocks if b[0] == "python"]
    shell = [c for lang, code, _ in blocks if lang == "bash" for c in commands(code)]
    assert len(python) >= 15 and len(shell) >= 4, "the extraction found fewer examples than the page has"
    namespace: dict[str, object] = {"__name__": "docs_api"}
    runner = CliRunner()
    for lang, code, line in blocks:
        if lang == "python":
            exec(compile(code, f"{DOC}:{line}", "exec"), namespace)
        elif lang == "bash":
            for command in commands(code):
                run_command(runner, command, f"docs/api.md:{line}")
    # the blocks built what the page says they build
    assert Path("split/manifest.json").is_file() and Path("custom.scores.parquet").is_file()
    assert namespace["result"].n_rejected == 2


def documented_columns() -> dict[str, str]:
    """Column -> dtype of the tables in the custom factor section."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(COLUMNS_SECTION)
    section = text[start : text.index("\n### ", start + len(COLUMNS_SECTION))]
    return dict(TABLE_ROW.findall(section))


def test_the_documented_factor_columns_are_exactly_the_public_ones_a_factor_sees():
    seen = empty_canonical().lazy().with_columns(e.alias(n) for n, e in count_exprs(ScoreConfig()).items())
    public = {name: str(dtype) for name, dtype in seen.collect_schema().items() if not name.startswith("_")}
    assert documented_columns() == public
    assert set(CANONICAL_SCHEMA.names()) < set(public)


def _module(tmp_path: Path, body: str) -> str:
    path = tmp_path / "factors.py"
    path.write_text("import polars as pl\n\n\ndef probe():\n    return " + body + "\n", encoding="utf-8")
    return str(path)


def _score_with(module: str) -> pl.DataFrame:
    cfg = ScoreConfig(custom=CustomFactorsConfig(module=module, weights={"probe": 1.0}))
    return score_frame(empty_canonical().lazy(), cfg, load_custom(cfg)).collect()


def test_a_factor_can_read_every_documented_column(tmp_path):
    reads_all = " + ".join(f'pl.col("{c}").is_null().cast(pl.Float64)' for c in documented_columns())
    assert "probe" in _score_with(_module(tmp_path, reads_all)).columns


@pytest.mark.parametrize("column", ["trajectory_complexity", "difficulty_score", "has_self_correction"])
def test_a_factor_reading_what_is_computed_beside_it_is_refused_when_loaded(tmp_path, column):
    with pytest.raises(FactorModuleError, match=rf"probe\(\): uses column '{column}' that does not exist"):
        custom_factors(_module(tmp_path, f'pl.col("{column}")'), {"probe": 1.0})
