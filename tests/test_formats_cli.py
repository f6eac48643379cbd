"""`pixelis score` with foreign formats: --format, the error naming the file, user aliases from --config."""

from __future__ import annotations

import json

import polars as pl
import yaml
from typer.testing import CliRunner

from pixelis_cli.app import app

runner = CliRunner()


def test_user_aliases_from_config_extend_the_table(tmp_path, write_jsonl):
    chat = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": '<tool_call>{"name": "magnify_region", "arguments": {"box": [1, 2, 3, 4]}}</tool_call>',
        },
        {"role": "user", "content": "done"},
        {"role": "assistant", "content": "<answer>a</answer>"},
    ]
    data = write_jsonl([{"messages": chat}])
    plain = runner.invoke(app, ["score", str(data), "-o", str(tmp_path / "plain.parquet"), "-q"])
    assert plain.exit_code == 0, plain.output
    row = pl.read_parquet(tmp_path / "plain.parquet").row(0, named=True)
    assert [s["action"] for s in row["trajectory"]] == ["magnify_region"] and row["n_unknown_ops"] == 1
    cfg = tmp_path / "data.yaml"
    cfg.write_text(yaml.safe_dump({"read": {"extra_aliases": {"MagnifyRegion": "ZOOM_IN"}}}))
    aliased = runner.invoke(
        app, ["score", str(data), "-o", str(tmp_path / "aliased.parquet"), "-q", "--config", str(cfg)]
    )
    assert aliased.exit_code == 0, aliased.output
    row = pl.read_parquet(tmp_path / "aliased.parquet").row(0, named=True)
    assert [s["action"] for s in row["trajectory"]] == ["ZOOM_IN"] and row["n_unknown_ops"] == 0


def test_format_option_forces_a_reader_and_names_the_file_when_nothing_fits(tmp_path, write_jsonl):
    data = write_jsonl([{"hello": 1}])
    auto = runner.invoke(app, ["score", str(data), "-o", str(tmp_path / "a.parquet")])
    assert auto.exit_code == 2 and "in.jsonl: no known record format fits" in auto.output
    forced = runner.invoke(app, ["score", str(data), "-o", str(tmp_path / "b.parquet"), "--format", "taco"])
    assert forced.exit_code == 0, forced.output
    assert "1 input = 0 scored + 1 rejected" in forced.output
    bad = runner.invoke(app, ["score", str(data), "-o", str(tmp_path / "c.parquet"), "--format", "nope"])
    assert bad.exit_code == 2 and "unknown format 'nope'" in bad.output


def test_json_array_of_chats_through_the_cli(tmp_path):
    chats = [
        {
            "messages": [
                {"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": f"<think>t{i}</think><answer>{i}</answer>"},
            ]
        }
        for i in range(3)
    ]
    data = tmp_path / "chats.json"
    data.write_text(json.dumps([*chats, "not a chat"]))
    result = runner.invoke(app, ["score", str(data)])
    assert result.exit_code == 0, result.output
    assert "4 input = 3 scored + 1 rejected" in result.output
    frame = pl.read_parquet(tmp_path / "chats.scores.parquet")
    assert frame["answer"].to_list() == ["0", "1", "2"] and frame["n_think"].to_list() == [1, 1, 1]
    (reject,) = [json.loads(line) for line in (tmp_path / "chats.scores.rejects.jsonl").read_text().splitlines()]
    assert (reject["index"], reject["raw"]) == (3, '"not a chat"')
    assert reject["reason"].startswith("no chat message list found")
