"""One parsing path: the same records give the same scores whatever the chunks, the container and the lines beside."""

from __future__ import annotations

import json

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixelis_data.config import DataConfig, ReadConfig
from pixelis_data.score import score_to_parquet

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8) | st.sampled_from(
    ["wait, no", "é\u2028", 'say "hi"', "back\\slash", "NaN", ", ]", "Infinity"]
)
SCALAR = st.none() | st.booleans() | st.integers(-5, 10**12) | st.floats(-1e6, 1e6, allow_nan=False) | TEXT
VALUE = st.recursive(
    SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8
)
STEP = st.fixed_dictionaries(
    {"action": st.sampled_from(["ZoomIn", "THINK", "OCR", "segment_object_at", "custom", " Think "])},
    optional={
        "thought": TEXT,
        "parameters": st.dictionaries(st.sampled_from(["bbox", "coordinates", "x"]), VALUE, max_size=2)
        | st.sampled_from(["notadict", '{"coordinates": [1, 2]}']),
        "result": VALUE,
        "zz": VALUE,  # an unknown step key
    },
)
RECORD = st.fixed_dictionaries(
    {"trajectory": st.lists(STEP, max_size=5)},
    optional={
        "question": TEXT,
        "answer": TEXT,
        "ground_truth": TEXT,
        "task_type": st.sampled_from(["spatial_reasoning", "text_extraction", "odd"]),
        "sample_type": st.sampled_from(["positive", "self_correction", "trap_logical"]),
        "sampling_weight": st.floats(0, 5),
        "image_path": TEXT,
        "extra": st.dictionaries(TEXT, VALUE, max_size=2) | st.just('{"k": 1}'),
        "image_size": VALUE,  # an unknown field
    },
)
NOISE = st.sampled_from(["", "   ", "\t", "{bad", "[1, 2]", '"text"', "7", '{"a": 1, "a": 2}', '{"x": NaN}'])


def scores_of(path, chunk_mb: int = 32) -> pl.DataFrame:
    out = path.with_name(path.name + ".scores.parquet")
    config = DataConfig(read=ReadConfig(chunk_mb=chunk_mb))
    score_to_parquet(path, out, config)
    return pl.read_parquet(out).sort("sample_id")


@SETTINGS
@given(
    records=st.lists(RECORD, min_size=1, max_size=8),
    noise=st.lists(st.tuples(st.integers(0, 8), NOISE), max_size=5),
    chunk_mb=st.sampled_from([1, 2, 5]),
)
def test_scores_do_not_depend_on_chunks_neighbours_or_container(tmp_path, monkeypatch, records, noise, chunk_mb):
    records = [{"sample_id": f"s{i}", **r} for i, r in enumerate(records)]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    plain = tmp_path / "plain.jsonl"
    plain.write_text("\n".join(lines) + "\n", encoding="utf-8")
    noisy_lines = list(lines)
    for pos, text in sorted(noise, reverse=True):
        noisy_lines.insert(min(pos, len(noisy_lines)), text)
    noisy = tmp_path / "noisy.jsonl"
    noisy.write_text("\n".join(noisy_lines) + "\n", encoding="utf-8")
    array = tmp_path / "array.json"
    array.write_text(json.dumps({"samples": records}, indent=1, ensure_ascii=True), encoding="utf-8")

    reference = scores_of(plain)
    monkeypatch.setattr("pixelis_data.readers.CHUNK_UNIT", 97)  # chunks of 97-485 bytes: a few lines or less
    assert scores_of(noisy, chunk_mb).equals(reference)
    assert scores_of(array).equals(reference)
    # every record either scored or rejected, whatever its neighbours
    assert reference.height + len(_rejects(plain)) == len(records)


def _rejects(path) -> list[str]:
    rejects = path.with_name(path.name + ".scores.rejects.jsonl")
    return rejects.read_text().splitlines() if rejects.exists() else []
