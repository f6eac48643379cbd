"""Messages of a train that cannot run: missing images are found before the model is built and the message
names the file and the flags that fix it; a failed fresh train leaves nothing behind that looks like a run."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_train.demo_data import make_demo_split
from pixelis_train.stream.split_files import open_arrow

pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture
def split(tmp_path):
    split_dir = make_demo_split(tmp_path / "split", tmp_path / "images", n_per_category=4, n_eval_per_category=2)
    return split_dir, tmp_path / "images"


def _one_line(result) -> str:
    assert "Traceback" not in result.output, result.output
    return " ".join(result.output.split())


def _train(split_dir, run, *extra: str):
    args = ["train", str(split_dir), "--model", "tiny-vl", "--out", str(run), "--steps", "2", "--no-live"]
    return runner.invoke(app, [*args, "--set", "data.format.max_length=512", "--set", "lora.r=4", *extra])


def test_missing_images_are_reported_before_the_model_is_built(split, tmp_path, monkeypatch):
    from pixelis_train import build

    def no_model(*_args, **_kwargs):
        raise AssertionError("the model was built before the images were checked")

    monkeypatch.setattr(build, "_model", no_model)
    split_dir, images = split
    run = tmp_path / "run"
    result = _train(split_dir, run)  # no --image-root: the relative paths do not resolve
    assert result.exit_code == 2
    text = _one_line(result)
    assert "image not found: simple-00000.png" in text and "sample 'simple-00000'" in text, text
    n_images = len(list(images.iterdir()))  # the demo split references every image it drew, once
    assert f"({n_images} sample(s) of {split_dir} miss {n_images} of {n_images} image file(s))" in text, text
    assert "pass --image-root DIR" in text and "--skip-bad-samples" in text
    assert not run.exists()  # nothing left behind, not even an empty directory

    (images / "medium-00002.png").unlink()
    result = _train(split_dir, run, "--image-root", str(images))
    assert result.exit_code == 2
    text = _one_line(result)
    assert f"sample 'medium-00002': image not found: {images / 'medium-00002.png'} (1 sample(s)" in text, text
    assert not run.exists()


def test_a_failed_fresh_train_leaves_nothing_that_looks_like_a_run(split, tmp_path):
    split_dir, images = split
    # every training image unreadable (present, so the up-front check passes): the first step fails,
    # after the base model, config.yaml and the start of metrics.jsonl were written
    for name in ("simple", "medium", "hard"):
        for paths in open_arrow(split_dir / f"{name}.arrow").column("images").to_pylist():
            for path in paths:
                (images / path).write_bytes(b"not an image")
    run = tmp_path / "run"
    run.mkdir()
    (run / "train.out").write_text("an experiment's log of this run\n")  # not the run's: kept
    result = _train(split_dir, run, "--image-root", str(images))
    assert result.exit_code == 2
    text = _one_line(result)
    assert "image unreadable" in text and "--skip-bad-samples" in text and "--image-root" in text, text
    assert sorted(p.name for p in run.iterdir()) == ["train.out"]


def test_which_models_get_their_images_checked_up_front(tmp_path):
    from pixelis_train.preflight import model_is_vl

    vl, text = tmp_path / "vl", tmp_path / "text"
    for directory, config in ((vl, '{"model_type": "qwen2_5_vl", "vision_config": {}}'), (text, "{}")):
        directory.mkdir()
        (directory / "config.json").write_text(config)
    assert (model_is_vl("tiny-vl"), model_is_vl("tiny-text")) == (True, False)
    assert (model_is_vl(str(vl)), model_is_vl(str(text))) == (True, False)
    assert model_is_vl(str(tmp_path / "no-such-model")) is None  # not local, not cached: checked per sample
