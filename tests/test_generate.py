"""`pixelis generate`: files, determinism (also across processes), atomicity, images, errors, the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_data.generate import generate_samples, write_samples
from pixelis_data.generate import writer as writer_mod
from pixelis_data.generate.trajectories import generate_with_scenes
from pixelis_data.generate.vocab import COLOURS
from pixelis_data.schema import SAMPLE_TYPES, TASK_TYPES

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("name", ["s.jsonl", "s.json"])
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, name):
    a, b, c = tmp_path / "a" / name, tmp_path / "b" / name, tmp_path / "c" / name
    write_samples(a, 150, seed=7, progress=False)
    write_samples(b, 150, seed=7, progress=False)
    write_samples(c, 150, seed=8, progress=False)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_same_bytes_in_another_process_with_another_hash_seed(tmp_path):
    here = tmp_path / "here.jsonl"
    write_samples(here, 120, seed=3, progress=False)
    code = "import sys; from pixelis_data.generate import write_samples; write_samples(sys.argv[1], 120, seed=3)"
    for hash_seed in ("1", "987654"):
        there = tmp_path / f"there{hash_seed}.jsonl"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", code, str(there)], check=True, cwd=ROOT, env=env)
        assert sha(there) == sha(here)


def test_worker_processes_do_not_change_the_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(writer_mod, "CHUNK", 40)  # several chunks, so order of arrival matters
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    write_samples(one, 130, seed=5, progress=False, workers=1)
    write_samples(two, 130, seed=5, progress=False, workers=2)
    assert sha(one) == sha(two)


def test_jsonl_and_json_hold_the_same_samples_as_the_iterator(tmp_path):
    result = write_samples(tmp_path / "s.jsonl", 60, seed=2, progress=False)
    write_samples(tmp_path / "s.json", 60, seed=2, progress=False)
    lines = read_jsonl(tmp_path / "s.jsonl")
    doc = json.loads((tmp_path / "s.json").read_text())
    assert list(doc) == ["samples"]
    assert lines == doc["samples"] == list(generate_samples(60, seed=2))
    assert result.count == 60 and result.path == tmp_path / "s.jsonl" and result.images_written == 0
    assert sum(result.task_counts.values()) == sum(result.sample_type_counts.values()) == 60
    assert result.task_counts == {t: sum(s["task_type"] == t for s in lines) for t in TASK_TYPES}
    assert result.sample_type_counts == {t: sum(s["sample_type"] == t for s in lines) for t in SAMPLE_TYPES}


def test_sample_i_does_not_depend_on_n():
    assert list(generate_samples(40, seed=9)) == list(generate_samples(90, seed=9))[:40]


def test_ids_and_image_paths_are_unique_and_named_by_index():
    samples = list(generate_samples(25, seed=4))
    assert [s["image_path"] for s in samples] == [f"img_{i:07d}.png" for i in range(1, 26)]
    assert len({s["sample_id"] for s in samples}) == 25
    assert {s["sample_id"] for s in samples}.isdisjoint(s["sample_id"] for s in generate_samples(25, seed=5))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n must be an integer from 1 to .*, got 0"),
        ({"n": -3}, "got -3"),
        ({"n": True}, "got True"),
        ({"n": 2.5}, "got 2.5"),
        ({"n": 5, "seed": -1}, "seed must be an integer >= 0, got -1"),
        ({"n": 0, "seed": -1}, "n must be .*; seed must be"),  # every problem at once
    ],
)
def test_bad_arguments_are_value_errors_naming_the_value(tmp_path, kwargs, message):
    n = kwargs.pop("n")
    with pytest.raises(ValueError, match=message):
        write_samples(tmp_path / "s.jsonl", n, progress=False, **kwargs)
    with pytest.raises(ValueError, match=message):
        next(generate_samples(n, **kwargs))
    assert not (tmp_path / "s.jsonl").exists()


@pytest.mark.parametrize("name", ["s.txt", "s.parquet", "s", "s.jsonl.gz"])
def test_unknown_extension_is_an_error_naming_the_file(tmp_path, name):
    with pytest.raises(ValueError, match=f"must end in .jsonl or .json, got '.*{name}'"):
        write_samples(tmp_path / name, 3, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_failure_midway_leaves_old_file_and_no_temp_files(tmp_path, monkeypatch):
    out = tmp_path / "s.jsonl"
    out.write_text("previous complete file\n")
    real = writer_mod.build_sample

    def failing(seed: int, index: int):
        if index == 30:
            raise RuntimeError("boom")
        return real(seed, index)

    monkeypatch.setattr(writer_mod, "build_sample", failing)
    with pytest.raises(RuntimeError, match="boom"):
        write_samples(out, 50, progress=False)
    assert out.read_text() == "previous complete file\n"
    assert [p.name for p in tmp_path.iterdir()] == ["s.jsonl"]


def test_images_are_valid_pngs_of_the_stated_size_and_deterministic(tmp_path):
    from PIL import Image

    result = write_samples(tmp_path / "s.jsonl", 21, seed=11, images_dir=tmp_path / "img", progress=False)
    assert result.images_written == 21 and result.images_dir == tmp_path / "img"
    samples = read_jsonl(tmp_path / "s.jsonl")
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == [s["image_path"] for s in samples]
    for s in samples:
        with Image.open(tmp_path / "img" / s["image_path"]) as im:
            assert im.format == "PNG" and list(im.size) == s["image_size"]
            im.verify()
    digests = {p.name: sha(p) for p in (tmp_path / "img").iterdir()}
    write_samples(tmp_path / "t.jsonl", 21, seed=11, images_dir=tmp_path / "img2", progress=False)
    assert {p.name: sha(p) for p in (tmp_path / "img2").iterdir()} == digests
    assert (tmp_path / "t.jsonl").read_bytes() == (tmp_path / "s.jsonl").read_bytes()  # images change no sample


def test_images_show_the_scene_objects_in_their_colours(tmp_path):
    """The pixel at each shape's centre has that shape's colour (signs: their background around the text)."""
    import io

    from PIL import Image

    from pixelis_data.generate.images import render_png

    checked = 0
    for sample, scene in generate_with_scenes(40, seed=12):
        im = Image.open(io.BytesIO(render_png(scene))).convert("RGB")
        assert list(im.size) == sample["image_size"]
        for i, o in enumerate(scene.objects):
            later = scene.objects[i + 1 :]
            cx, cy = o.centre
            px, py = (cx, o.box[1] + 2) if o.shape == "sign" else (cx, cy)
            if any(b.box[0] <= px <= b.box[2] and b.box[1] <= py <= b.box[3] for b in later):
                continue  # covered by a later object
            assert im.getpixel((px, py)) == COLOURS[o.colour], (sample["sample_id"], o)
            checked += 1
    assert checked > 100


def test_without_images_neither_pillow_nor_torch_is_imported(tmp_path):
    code = (
        "import sys; from pixelis_data.generate import write_samples; "
        "write_samples(sys.argv[1], 20, progress=False); "
        "print(sorted(m for m in ('PIL', 'torch') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "s.jsonl")], check=True, cwd=ROOT, capture_output=True, text=True
    )
    assert out.stdout.strip() == "[]"


def test_missing_pillow_gives_the_install_hint(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "PIL" or m.startswith("PIL.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes `import PIL` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'pixelis\[train\]'"):
        write_samples(tmp_path / "s.jsonl", 3, images_dir=tmp_path / "img", progress=False)
    assert not (tmp_path / "s.jsonl").exists()
    result = runner.invoke(app, ["generate", "3", "-o", str(tmp_path / "s.jsonl"), "--images", str(tmp_path / "img")])
    assert result.exit_code == 2
    assert "pip install 'pixelis[train]'" in result.output
    assert "Traceback" not in result.output


def test_images_path_that_is_a_file_is_an_error(tmp_path):
    (tmp_path / "img").write_text("not a directory")
    with pytest.raises(ValueError, match="must be a directory, got the file"):
        write_samples(tmp_path / "s.jsonl", 3, images_dir=tmp_path / "img", progress=False)


# ---------------------------------------------------------------- CLI


def flat(text: str) -> str:
    """CLI output without the error box's borders and line wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def invoke(*args: object):
    return runner.invoke(app, ["generate", *map(str, args)])


def test_cli_writes_the_file_and_a_summary(tmp_path):
    out = tmp_path / "data" / "s.jsonl"
    result = invoke(200, "-o", out, "--seed", 3, "--images", tmp_path / "img")
    assert result.exit_code == 0, result.output
    samples = read_jsonl(out)
    assert len(samples) == 200
    assert len(list((tmp_path / "img").glob("img_*.png"))) == 200
    assert "generated 200 samples (seed 3)" in result.output
    for name in (*TASK_TYPES, *SAMPLE_TYPES, str(out), f"{tmp_path / 'img'} (200 PNG files)"):
        assert name in result.output, name
    counts = {t: sum(s["task_type"] == t for s in samples) for t in TASK_TYPES}
    assert any(f"{t}" in line and f" {c} " in line for t, c in counts.items() for line in result.output.splitlines())
    write_samples(tmp_path / "api.jsonl", 200, seed=3, progress=False)
    assert out.read_bytes() == (tmp_path / "api.jsonl").read_bytes()


def test_cli_json_output(tmp_path):
    result = invoke(5, "--output", tmp_path / "s.json", "--no-progress")
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "s.json").read_text())["samples"]) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["0", "-o", "s.jsonl"], "must be at least 1, got 0"),
        (["-o", "s.jsonl", "--", "-4"], "must be at least 1, got -4"),
        (["ten", "-o", "s.jsonl"], "Invalid value for 'N'"),
        (["5", "-o", "s.csv"], "must end in .jsonl or .json, got 's.csv'"),
        (["5", "-o", "s.jsonl", "--seed", "-1"], "must be an integer >= 0, got -1"),
        (["5"], "Missing option '--output'"),
        (["5", "-o", "s.jsonl", "--workers", "-2"], "--workers"),
    ],
)
def test_cli_bad_arguments_exit_2_naming_the_value(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["generate", *args])
    assert result.exit_code == 2
    assert message in flat(result.output), result.output
    assert not list(tmp_path.iterdir())


def test_cli_unwritable_output_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke(3, "-o", blocker / "s.jsonl")
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output


def test_cli_help_explains_every_option():
    result = runner.invoke(app, ["generate", "--help"])
    assert result.exit_code == 0
    text = flat(result.output)
    for fragment in ("--output", "--seed", "--images", "--workers", "byte-identical", "pixelis[train]", ".jsonl"):
        assert fragment in text, fragment
