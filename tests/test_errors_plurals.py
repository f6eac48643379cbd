"""Counts in CLI output agree with their nouns: '1 step', '2 steps', never '1 steps' or 'record(s)'."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_core.text import plural, plural_word

runner = CliRunner()
CLI = Path(__file__).parent.parent / "pixelis_cli"


@pytest.mark.parametrize(
    ("n", "word", "many", "expected"),
    [
        (1, "step", None, "1 step"),
        (0, "step", None, "0 steps"),
        (2, "advance", None, "2 advances"),
        (1_200, "record", None, "1,200 records"),
        (3, "category", None, "3 categories"),
        (1, "process", "processes", "1 process"),
        (4, "process", "processes", "4 processes"),
        (1.0, "epoch", None, "1 epoch"),
        (2.5, "epoch", None, "2.5 epochs"),
    ],
)
def test_plural(n, word, many, expected):
    assert plural(n, word, many) == expected


def test_plural_word_agrees_verbs_too():
    assert [plural_word(n, "has") for n in (1, 2)] == ["has", "have"]
    assert [plural_word(n, "does", "do") for n in (1, 0)] == ["does", "do"]


def test_no_cli_message_hedges_its_plural():
    """'{n} record(s)', 'process(es)' in an f-string: every count in pixelis_cli goes through plural() instead."""
    hedged = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(CLI.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "{" in line and re.search(r"(?<![_\w])[a-z]+\((?:s|es)\)(?=[\s:;,.)\"'])", line)
    ]
    assert hedged == []


def test_one_generated_sample_is_singular(tmp_path):
    out = tmp_path / "one.jsonl"
    result = runner.invoke(app, ["generate", "1", "-o", str(out), "--images", str(tmp_path / "img")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "generated 1 sample (seed 0)" in text and "(1 PNG file)" in text


def test_explain_counts_the_steps_of_a_one_step_trajectory(tmp_path, write_jsonl):
    data = write_jsonl([{"sample_id": "a", "question": "q", "trajectory": [{"action": "THINK"}], "answer": "x"}])
    scores = tmp_path / "s.parquet"
    assert runner.invoke(app, ["score", str(data), "-o", str(scores), "-q"]).exit_code == 0
    result = runner.invoke(app, ["explain", str(scores), "a"])
    assert result.exit_code == 0, result.output
    assert "trajectory (1 step)" in result.output
