"""A rejected advance (a 'rollback' that leaves the stage where it was) reads as such in the plain
progress lines and the run report, never as 'rollback 0 -> 0'."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from pixelis_train.curriculum.events import Event
from pixelis_train.report.section import _event_words
from pixelis_train.reporter import TrainReporter

REJECTED = Event("rollback", 40, 0, 0, "warm", "advance rejected: stage performance fell", {"attempted_stage": 1})
ROLLBACK = Event("rollback", 90, 2, 1, "mid", "performance dropped after the advance")


def _lines(event: Event) -> str:
    out = StringIO()
    reporter = TrainReporter(Console(file=out, width=200), total=100, start_step=0, live=False)
    reporter.curriculum(event, "warm")
    return out.getvalue()


def test_plain_line_names_a_rejected_advance():
    text = _lines(REJECTED)
    assert "rejected advance, stays at warm" in text
    assert "rollback" not in text


def test_plain_line_of_a_real_rollback_keeps_its_stages():
    assert "rollback warm -> mid" in _lines(ROLLBACK)


def test_report_event_rows():
    assert _event_words(REJECTED) == ("rejected advance", "0 stays (1 rejected) (warm)")
    assert _event_words(ROLLBACK) == ("rollback", "2->1 (mid)")
