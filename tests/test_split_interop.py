"""Every split file opens with polars, pyarrow (memory-mapped, zero-copy), DuckDB and Hugging Face datasets."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from test_split_support import scores_frame, write_scores

from pixelis_data.config import DataConfig
from pixelis_data.split import SplitConfig, split_to_dir

OUTPUTS = ("simple", "medium", "hard", "eval")
STREAM_COLUMNS = (
    "sampling_weight",
    "sample_id",
    "trajectory",
    "question",
    "images",
    "answer",
    "task_type",
    "sample_type",
    "difficulty_score",
    "category",
)


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    tmp = tmp_path_factory.mktemp("interop")
    inp = write_scores(tmp / "in.scores.parquet", scores_frame(np.linspace(0.1, 1.0, 240), seed=5))
    result = split_to_dir(inp, tmp / "out", DataConfig(split=SplitConfig(eval_fraction=0.2, batch_rows=50)))
    assert all(n > 0 for n in result.rows.values())
    return tmp / "out", result.rows


@pytest.mark.parametrize("name", OUTPUTS)
def test_pyarrow_memory_mapped_is_zero_copy(split_dir, name):
    out, rows = split_dir
    allocated = pa.total_allocated_bytes()
    with pa.memory_map(str(out / f"{name}.arrow")) as source:
        table = pa.ipc.open_file(source).read_all()
        assert pa.total_allocated_bytes() == allocated  # uncompressed: buffers point into the map
        assert table.num_rows == rows[name]
        assert set(STREAM_COLUMNS) <= set(table.column_names)
        assert table.schema.field("trajectory").type.value_type.names == ["action", "thought", "parameters", "result"]


@pytest.mark.parametrize("name", OUTPUTS)
def test_polars_reads_and_scans(split_dir, name):
    out, rows = split_dir
    assert pl.read_ipc(out / f"{name}.arrow").height == rows[name]
    assert pl.scan_ipc(out / f"{name}.arrow").select(pl.len()).collect().item() == rows[name]


@pytest.mark.parametrize("name", OUTPUTS)
def test_duckdb_queries(split_dir, name):
    out, rows = split_dir
    with pa.memory_map(str(out / f"{name}.arrow")) as source:
        table = pa.ipc.open_file(source).read_all()
        con = duckdb.connect()
        con.register("split_file", table)
        n, n_ids, steps = con.execute(
            "select count(*), count(distinct sample_id), sum(len(trajectory)) from split_file"
        ).fetchone()
        con.close()
    assert n == n_ids == rows[name]
    assert steps == int(pl.read_ipc(out / f"{name}.arrow")["trajectory"].list.len().sum())


@pytest.mark.parametrize("name", OUTPUTS)
def test_hugging_face_datasets_loads(split_dir, name, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    out, rows = split_dir
    # The packaged "arrow" builder reads the IPC file format; Dataset.from_file reads only the stream format.
    ds = datasets.load_dataset(
        "arrow", data_files=str(out / f"{name}.arrow"), split="train", cache_dir=str(tmp_path / "hf")
    )
    assert ds.num_rows == rows[name]
    first = pl.read_ipc(out / f"{name}.arrow").row(0, named=True)
    assert ds[0]["sample_id"] == first["sample_id"] and ds[0]["trajectory"] == first["trajectory"]


def test_view_and_dictionary_input_types_are_written_as_plain_large_types(tmp_path):
    table = scores_frame([0.2, 0.5, 0.9] * 10).to_arrow()
    table = table.set_column(
        table.schema.get_field_index("task_type"), "task_type", pc.dictionary_encode(table["task_type"])
    )
    table = table.set_column(
        table.schema.get_field_index("question"), "question", table["question"].cast(pa.string_view())
    )
    pq.write_table(table.replace_schema_metadata({b"pandas": b"{}"}), tmp_path / "in.parquet")
    split_to_dir(tmp_path / "in.parquet", tmp_path / "out")
    with pa.memory_map(str(tmp_path / "out" / "simple.arrow")) as source:
        schema = pa.ipc.open_file(source).schema
    assert schema.field("task_type").type == pa.large_string()
    assert schema.field("question").type == pa.large_string()
    assert schema.metadata is None
    source_rows = pl.read_parquet(tmp_path / "in.parquet").sort("sample_id")
    written = pl.concat([pl.read_ipc(tmp_path / "out" / f"{n}.arrow") for n in OUTPUTS]).sort("sample_id")
    assert written["question"].to_list() == source_rows["question"].to_list()
    assert written["task_type"].to_list() == source_rows["task_type"].cast(pl.String).to_list()


def test_training_stream_opens_the_split(split_dir):
    # Contract with pixelis_train.stream: it validates manifest["counts"] against each file's rows.
    split_files = pytest.importorskip("pixelis_train.stream.split_files")
    out, rows = split_dir
    opened = split_files.SplitFiles(out)
    assert {name: f.n_rows for name, f in opened.categories.items()} == {k: rows[k] for k in OUTPUTS[:3]}
    assert opened.eval_table().num_rows == rows["eval"]
