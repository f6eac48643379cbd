"""Reading inputs and quarantining bad records: every case of issue 2, counts always add up."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelis_data.config import DataConfig, ReadConfig
from pixelis_data.readers import InputError, read_batches
from pixelis_data.score import rejects_path_for, score_to_parquet


def rec(i: int, **kw) -> dict:
    base = {
        "sample_id": f"s{i}",
        "task_type": "spatial_reasoning",
        "sample_type": "positive",
        "question": "q?",
        "image_path": f"img_{i}.png",
        "answer": "a",
        "ground_truth": "a",
        "sampling_weight": 1.0,
        "trajectory": [
            {"action": "ZoomIn", "thought": "look", "parameters": {"bbox": [1, 2, 3, 4]}, "result": "ok"},
            {"action": "THINK", "thought": "so", "parameters": {}, "result": None},
        ],
    }
    base.update(kw)
    return base


def read_all(path, cfg: ReadConfig | None = None, fmt: str | None = None):
    batches = list(read_batches(path, cfg, fmt=fmt))
    frame = pl.concat([b.frame for b in batches]) if batches else None
    rejects = [r for b in batches for r in b.rejects]
    assert sum(b.n_input for b in batches) == (frame.height if frame is not None else 0) + len(rejects)
    return frame, rejects


def test_bad_records_are_quarantined_with_location_reason_and_raw(tmp_path, write_jsonl):
    no_action = rec(4)
    no_action["trajectory"][1] = {"thought": "missing"}
    path = write_jsonl(
        [
            rec(0),
            '{"sample_id": "s1", "trajectory": [',  # malformed
            json.dumps({k: v for k, v in rec(2).items() if k != "trajectory"}),
            rec(3, trajectory="not a list"),
            no_action,
            rec(5, sampling_weight="heavy"),
            rec(0),  # duplicate of line 1
            rec(7, trajectory=[{"action": "ZOOM_IN"}, 5]),
            rec(8),
        ]
    )
    out = tmp_path / "scores.parquet"
    result = score_to_parquet(path, out)
    assert (result.n_input, result.n_scored, result.n_rejected) == (9, 2, 7)
    rejects = [json.loads(line) for line in rejects_path_for(out).read_text().splitlines()]
    by_line = {r["line"]: r for r in rejects}
    assert set(by_line) == {2, 3, 4, 5, 6, 7, 8}
    assert by_line[2]["reason"].startswith("malformed JSON")
    assert by_line[2]["raw"] == '{"sample_id": "s1", "trajectory": ['
    assert by_line[3]["reason"] == "missing trajectory"
    assert by_line[4]["reason"] == "trajectory must be a list, got a string"
    assert by_line[5]["reason"] == "trajectory[1] has no action"
    assert "sampling_weight must be a finite number" in by_line[6]["reason"]
    assert by_line[7]["reason"].startswith("duplicate sample_id 's0'")
    assert by_line[8]["reason"] == "trajectory[1] must be an object, got a number"
    assert all(r["source"] == str(path) for r in rejects)
    assert json.loads(by_line[6]["raw"])["sample_id"] == "s5"
    assert pl.read_parquet(out)["sample_id"].to_list() == ["s0", "s8"]


def test_canonical_record_mapping(write_jsonl):
    frame, rejects = read_all(write_jsonl([rec(0, custom_field={"a": 1}, another=3)]))
    assert not rejects
    row = frame.row(0, named=True)
    assert row["images"] == ["img_0.png"]
    assert [s["action"] for s in row["trajectory"]] == ["ZOOM_IN", "THINK"]  # alias ZoomIn -> ZOOM_IN
    assert json.loads(row["trajectory"][0]["parameters"]) == {"bbox": [1, 2, 3, 4]}
    assert json.loads(row["extra"]) == {"custom_field": {"a": 1}, "another": 3}
    assert row["source_format"] == "pixelis"


def test_defaults_and_content_hash_ids(write_jsonl):
    minimal = {"question": "q", "trajectory": [{"action": "THINK"}]}
    frame, _ = read_all(write_jsonl([minimal, {**minimal, "question": "other"}]))
    again, _ = read_all(write_jsonl([minimal], name="again.jsonl"))
    assert frame["task_type"].to_list() == ["unknown", "unknown"]
    assert frame["sample_type"].to_list() == ["positive", "positive"]
    assert frame["sampling_weight"].to_list() == [1.0, 1.0]
    ids = frame["sample_id"].to_list()
    assert ids[0].startswith("h-") and ids[0] != ids[1]
    assert again["sample_id"][0] == ids[0]  # stable: depends on content only


def test_unknown_step_keys_are_kept_in_extra(write_jsonl):
    r = rec(0)
    r["trajectory"][0]["confidence"] = 0.9
    frame, rejects = read_all(write_jsonl([r]))
    assert not rejects
    assert json.loads(frame["extra"][0]) == {"trajectory_extra": {"0": {"confidence": 0.9}}}


records = st.lists(
    st.builds(
        lambda i, n, w, extra: rec(
            i,
            sampling_weight=w,
            trajectory=[{"action": "ZOOM_IN", "parameters": {"coordinates": [n, 1.5]}}] * (i % 4),
            **extra,
        ),
        st.integers(0, 10**6),
        st.integers(-5, 5),
        st.one_of(st.none(), st.floats(0, 10)),
        st.dictionaries(st.sampled_from(["x", "y"]), st.integers(0, 3), max_size=1),
    ),
    min_size=1,
    max_size=20,
    unique_by=lambda r: r["sample_id"],
)


@settings(max_examples=40, deadline=None)
@given(records)
def test_jsonl_and_json_array_agree(tmp_path_factory, recs):
    tmp = tmp_path_factory.mktemp("agree")
    (tmp / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (tmp / "b.json").write_text(json.dumps({"samples": recs}))
    fast, _ = read_all(tmp / "a.jsonl")
    general, _ = read_all(tmp / "b.json")
    assert fast.drop("extra").equals(general.drop("extra"))
    for a, b in zip(fast["extra"], general["extra"], strict=True):
        assert (a is None and b is None) or json.loads(a) == json.loads(b)


def test_containers_json_list_samples_parquet_dir_glob(tmp_path):
    recs = [rec(i) for i in range(5)]
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "bare.json").write_text(json.dumps(recs[:2]))
    (tmp_path / "d" / "wrapped.json").write_text(json.dumps({"samples": recs[2:3]}))
    (tmp_path / "d" / "lines.jsonl").write_text("\n".join(json.dumps(r) for r in recs[3:4]))
    canonical, _ = read_all(tmp_path / "d" / "bare.json")
    canonical.slice(0, 1).with_columns(pl.lit("s4").alias("sample_id")).write_parquet(tmp_path / "d" / "p.parquet")
    frame, rejects = read_all(tmp_path / "d")
    assert not rejects
    assert sorted(frame["sample_id"]) == ["s0", "s1", "s2", "s3", "s4"]
    globbed, _ = read_all(str(tmp_path / "d" / "*.json"))
    assert globbed.height == 3


def test_parquet_roundtrip_of_a_scores_file(tmp_path, write_jsonl):
    out = tmp_path / "s.parquet"
    score_to_parquet(write_jsonl([rec(i) for i in range(3)]), out)
    again = tmp_path / "again.parquet"
    result = score_to_parquet(out, again)
    assert result.n_scored == 3
    assert pl.read_parquet(again).equals(pl.read_parquet(out))


def test_small_chunks_keep_line_numbers(tmp_path, write_jsonl):
    big = "x" * 3000
    lines = [rec(i, question=big) for i in range(800)]
    lines[700] = "{broken"
    lines.insert(400, "")  # a blank line in the middle shifts nothing but its own line
    path = write_jsonl(lines)
    assert path.stat().st_size > 2 * 1024 * 1024
    frame, rejects = read_all(path, ReadConfig(chunk_mb=1))
    assert frame.height == 799
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [(702, "malformed JSON")]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "the file is empty"), (b"[1, 2", "not valid JSON"), (b'{"a": 1}', "expected a JSON list")],
)
def test_unusable_json_files(tmp_path, content, message):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_all(path)


def test_missing_and_unsupported_inputs(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_all(tmp_path / "nope.jsonl")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(InputError, match=r"unsupported file type '\.csv'"):
        read_all(tmp_path / "x.csv")
    with pytest.raises(InputError, match="no file matches"):
        read_all(str(tmp_path / "*.jsonl"))


def test_undetectable_file_names_the_file(write_jsonl):
    path = write_jsonl([{"hello": 1}, {"world": 2}])
    with pytest.raises(InputError, match=r"in\.jsonl: no known record format fits"):
        read_all(path)
    frame, rejects = read_all(path, fmt="pixelis")
    assert frame.height == 0 and [r.reason for r in rejects] == ["missing trajectory"] * 2


def test_strict_writes_no_scores(tmp_path, write_jsonl):
    out = tmp_path / "s.parquet"
    result = score_to_parquet(write_jsonl([rec(0), "{bad"]), out, DataConfig(), strict=True)
    assert result.output is None and not out.exists()
    assert rejects_path_for(out).exists()


def test_rerun_is_idempotent_and_clears_stale_rejects(tmp_path, write_jsonl):
    out = tmp_path / "s.parquet"
    score_to_parquet(write_jsonl([rec(0), "{bad"]), out)
    assert rejects_path_for(out).exists()
    score_to_parquet(write_jsonl([rec(0)], name="clean.jsonl"), out)
    assert not rejects_path_for(out).exists()
    first = out.read_bytes()
    score_to_parquet(write_jsonl([rec(0)], name="clean.jsonl"), out)
    assert out.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.jsonl", "in.jsonl", "s.parquet"]


def test_all_rejected_still_writes_a_valid_empty_parquet(tmp_path, write_jsonl):
    out = tmp_path / "s.parquet"
    result = score_to_parquet(write_jsonl(["{bad", "[1]"]), out, fmt="pixelis")
    assert result.n_scored == 0 and result.n_rejected == 2
    assert pl.read_parquet(out).height == 0
    assert "difficulty_score" in pl.read_parquet(out).columns


def test_parquet_of_a_foreign_format_is_detected(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [
        {
            "id": f"t{i}",
            "question": "Which year?",
            "answer": "2020",
            "steps": [
                {
                    "thought": "Read the title.",
                    "actions": [{"name": "OCR", "arguments": {"region": [0, 0, 9, 9]}}],
                    "observation": "Sales 2020",
                },
                {
                    "thought": "Crop it.",
                    "actions": [{"name": "Crop", "arguments": {"region": [1, 1, 5, 5]}}],
                    "observation": "a crop",
                },
            ],
        }
        for i in range(3)
    ]
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "taco.parquet")
    (tmp_path / "taco.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    from_parquet, rejects = read_all(tmp_path / "taco.parquet")
    from_jsonl, _ = read_all(tmp_path / "taco.jsonl")
    assert not rejects
    assert from_parquet["source_format"].unique().to_list() == ["taco"]
    assert from_parquet.select("sample_id", "trajectory").equals(from_jsonl.select("sample_id", "trajectory"))
    assert [s["action"] for s in from_parquet["trajectory"][0]] == ["THINK", "READ_TEXT", "THINK", "ZOOM_IN"]


def test_many_rejects_in_one_fast_chunk_keep_their_lines_and_raw_text(write_jsonl):
    records = [rec(i) for i in range(300)]
    path = write_jsonl(records + records)  # the second half repeats every sample_id
    frame, rejects = read_all(path)
    assert frame.height == 300
    lines = path.read_text().splitlines()
    assert [r.line for r in rejects] == list(range(301, 601))
    assert all(r.raw == lines[r.line - 1] for r in rejects)
    assert all(r.reason.startswith("duplicate sample_id") for r in rejects)
