"""``read.outcome_from_answer``: a record with answer and ground_truth but no sample_type is outcome_negative when
the answer is wrong (normalised comparison); the same rule on every reading path and on real DeepEyes records."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import polars as pl
import pytest

from pixelis_core.config_io import apply_overrides
from pixelis_data.config import AnswerMatchConfig, DataConfig, ReadConfig
from pixelis_data.readers import read_batches

DEEPEYES = Path("/work/shared/data/external/deepeyes_vstar_relative_position.jsonl")
if not DEEPEYES.exists():  # the shared checkout keeps it one level above the repository
    DEEPEYES = Path(__file__).resolve().parents[2] / "shared/data/external/deepeyes_vstar_relative_position.jsonl"

# (answer, ground_truth, sample_type given or None, expected sample_type) under the default answer_match
CASES = [
    ("The cat", "the cat.", None, "positive"),  # case, punctuation, article
    ("a red  car", "Red car", None, "positive"),  # article, whitespace
    ("dog", "cat", None, "outcome_negative"),
    ("dog", None, None, "positive"),  # no ground truth: nothing to compare
    ("dog", "   ", None, "positive"),  # a blank ground truth is none
    (None, "cat", None, "positive"),  # no answer
    ("dog", "cat", "positive", "positive"),  # an explicit sample_type always wins
    ("cat", "cat", "trap_logical", "trap_logical"),
    ("(B)", "B. A red car", None, "positive"),  # a letter-only answer matches the label's letter
    ("A", "B. a red car", None, "outcome_negative"),
    ("B", "B. a red car", None, "positive"),
    ("A. The shovel is on the right side.", "The shovel is on the right side", None, "positive"),  # DeepEyes shape
    ("B. The shovel is on the left side.", "The shovel is on the right side.", None, "outcome_negative"),
    ("b", "(B)", None, "positive"),
    ("The woman’s bag", "the womans bag", None, "positive"),  # a typographic apostrophe is punctuation
]


def record(i: int, answer, truth, kind) -> dict:
    rec = {"sample_id": f"s{i}", "question": "q", "trajectory": [{"action": "THINK", "thought": "t"}]}
    for key, value in (("answer", answer), ("ground_truth", truth), ("sample_type", kind)):
        if value is not None:
            rec[key] = value
    return rec


def sample_types(path: Path, cfg: ReadConfig | None = None) -> list[str]:
    frame = pl.concat([b.frame for b in read_batches(path, cfg)])
    return frame.sort("sample_id", descending=False)["sample_type"].to_list()


def ordered(rows: list[str], n: int) -> list[str]:
    """Sample types in case order (ids s0..s{n-1} sort as strings)."""
    by_id = dict(zip(sorted(f"s{i}" for i in range(n)), rows, strict=True))
    return [by_id[f"s{i}"] for i in range(n)]


@pytest.fixture
def cases_jsonl(write_jsonl) -> Path:
    return write_jsonl([record(i, *case[:3]) for i, case in enumerate(CASES)])


def test_hand_written_cases(cases_jsonl):
    got = ordered(sample_types(cases_jsonl), len(CASES))
    assert got == [case[3] for case in CASES]
    # the plain-Python oracle used on the DeepEyes file below agrees with the hand-written expectations
    derived = [(a, g, want) for a, g, kind, want in CASES if kind is None]
    assert [("outcome_negative" if _wrong(a, g) else "positive") for a, g, _ in derived] == [w for *_, w in derived]


def test_every_reading_path_gives_the_same_types(tmp_path, cases_jsonl):
    records = [record(i, *case[:3]) for i, case in enumerate(CASES)]
    as_json = tmp_path / "cases.json"
    as_json.write_text(json.dumps({"samples": records}))
    as_parquet = tmp_path / "cases.parquet"
    pl.DataFrame(records).write_parquet(as_parquet)
    general = tmp_path / "general.jsonl"  # an unknown step key sends the chunk to the per-record path
    general.write_text("\n".join(json.dumps({**r, "trajectory": [{"action": "THINK", "note": 1}]}) for r in records))
    expected = [case[3] for case in CASES]
    for path in (cases_jsonl, as_json, as_parquet, general):
        assert ordered(sample_types(path), len(CASES)) == expected, path.name


def test_options_switch_each_normalisation(write_jsonl):
    pairs = [("Cat", "cat"), ("cat.", "cat"), ("a red car", "red car"), ("B. red car", "red car")]
    path = write_jsonl([record(i, a, g, None) for i, (a, g) in enumerate(pairs)])
    wrong = "outcome_negative"
    assert ordered(sample_types(path), 4) == ["positive"] * 4
    for option, value, which in (
        ("ignore_case", False, 0),
        ("ignore_punctuation", False, 1),
        ("articles", (), 2),
        ("option_letters", False, 3),
    ):
        cfg = ReadConfig(answer_match=AnswerMatchConfig(**{option: value}))
        assert ordered(sample_types(path, cfg), 4) == [wrong if i == which else "positive" for i in range(4)], option
    off = apply_overrides(DataConfig(), {"read.outcome_from_answer": False}).read
    assert ordered(sample_types(write_jsonl([record(0, "dog", "cat", None)], name="b.jsonl"), off), 1) == ["positive"]


def _normalised(text: str) -> str:
    """The documented normalisation in plain Python (re, unicodedata)."""
    text = text.strip()
    letter = re.fullmatch(r"[\(\[]?([A-Za-z])[\)\]\.:]?", text)
    if letter:
        return letter.group(1).lower()
    text = re.sub(r"^[\(\[]?[A-Za-z][\)\]\.:]\s+", "", text).lower()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith(("P", "S")))
    return " ".join(re.sub(r"\b(?:a|an|the)\b", " ", text).split())


def _wrong(answer: str | None, truth: str | None) -> bool:
    if not answer or not answer.strip() or not truth or not truth.strip():
        return False
    only = [re.fullmatch(r"\s*[\(\[]?([A-Za-z])[\)\]\.:]?\s*", t) for t in (answer, truth)]
    labels = [o or re.match(r"\s*[\(\[]?([A-Za-z])[\)\]\.:]\s", t) for o, t in zip(only, (answer, truth), strict=True)]
    same_letter = any(only) and all(labels) and labels[0].group(1).lower() == labels[1].group(1).lower()
    return _normalised(answer) != _normalised(truth) and not same_letter


def test_deepeyes_wrong_answers_become_outcome_negative():
    if not DEEPEYES.exists():
        pytest.skip(f"shared data not found: {DEEPEYES}")
    source = [json.loads(line) for line in DEEPEYES.read_text().splitlines() if line.strip()]
    # the reader's answer is pred_ans unless that is raw model output (the one unfinished run): then none
    expected = sum(_wrong(r["pred_ans"] if r["status"] == "success" else None, r["answer"]) for r in source)
    frame = pl.concat([b.frame for b in read_batches(DEEPEYES)])
    assert frame["sample_type"].value_counts().sort("sample_type").rows() == [
        ("outcome_negative", expected),
        ("positive", 76 - expected),
    ]
    assert expected == 25  # of the 76 V* answers, 25 are wrong
    off = pl.concat([b.frame for b in read_batches(DEEPEYES, ReadConfig(outcome_from_answer=False))])
    assert off["sample_type"].unique().to_list() == ["positive"]
    assert off["sample_id"].to_list() == frame["sample_id"].to_list()  # ids come from the record as given
