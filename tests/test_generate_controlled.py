"""`pixelis generate --task counting`: answers computed from the observations, observation counts per
category, the scene behind them, the scorer + split agreeing with the task, determinism, the CLI."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_data.generate import generate_samples, write_samples
from pixelis_data.generate import writer as writer_mod
from pixelis_data.generate.tasks_controlled import REGIONS, SIZE, build_counting_sample
from pixelis_data.generate.vocab import COLOURS

runner = CliRunner()
N = 300
# Observation counts of each category, as docs/generate.md states them.
DOCUMENTED = {"simple": {1}, "medium": {2, 3}, "hard": {4, 5, 6}}
# sha256 of write_samples(path.jsonl, 300, seed=3) before --task existed: the default output must not change.
MIXED_300_SEED_3 = "82a31bcff8768d8b811ef0de4ae6849127d0685c15929061c86247951e88e0ea"

Q_ONE = re.compile(r"^How many (\w+ \w+?)s are in region ([A-I])\?$")
Q_SUM = re.compile(r"^How many (\w+ \w+?)s are there in regions ([A-I, and]+) together\?$")
Q_MOST = re.compile(r"^Which of regions ([A-I, and]+) has the most (\w+ \w+?)s\?$")
Q_PROPERTY = re.compile(r"^How many of the shapes in regions? ([A-I, and]+) are (\w+)\?$")
O_ZOOM = re.compile(r"^Region ([A-I]): (\d+) (\w+ \w+?)s? and (\d+) other shapes?\.$")
O_COLOUR = re.compile(r"^color: (\w+) \(RGB \d+, \d+, \d+\); shape: (\w+)\.$")
T_STEP = re.compile(r"^Region ([A-I]): (\d+|yes|no)(?:; (?:(\d+) \+ \d+ = (\d+)|most so far: ([A-I]) \((\d+)\)))?\.$")


def letters(text: str) -> list[str]:
    return re.findall(r"[A-I]", text)


def parse_question(question: str) -> tuple[str, list[str], str]:
    """(function, regions in order, what is counted: an object name or a colour), from the question alone."""
    if m := Q_ONE.match(question):
        return "sum", [m[2]], m[1]
    if m := Q_SUM.match(question):
        return "sum", letters(m[2]), m[1]
    if m := Q_MOST.match(question):
        return "most", letters(m[1]), m[2]
    if m := Q_PROPERTY.match(question):
        return "property", letters(m[1]), m[2]
    raise AssertionError(f"unknown question {question!r}")


def observed(sample: dict, function: str, target: str) -> list[tuple[str, int]]:
    """(region, value) per observation step, parsed from its parameters and result text only."""
    out = []
    for step in (s for s in sample["trajectory"] if s["action"] != "THINK"):
        if function == "property":
            assert step["action"] == "GET_PROPERTIES"
            m = O_COLOUR.match(step["result"])
            assert m, step["result"]
            region = re.fullmatch(r"shape in region ([A-I])", step["parameters"]["object"])[1]
            out.append((region, int(m[1] == target)))
        else:
            assert step["action"] == "ZOOM_IN"
            m = O_ZOOM.match(step["result"])
            assert m and m[3] == target, (step["result"], target)
            out.append((m[1], int(m[2])))
    return out


def oracle(sample: dict) -> str:
    """The documented function of the observations: the sum, the region with the most, or the colour matches."""
    function, regions, target = parse_question(sample["question"])
    seen = observed(sample, function, target)
    assert [r for r, _ in seen] == regions  # the trajectory observes exactly the asked regions, in order
    values = [v for _, v in seen]
    if function == "most":
        assert values.count(max(values)) == 1, seen  # one region leads alone: the answer is unambiguous
        return regions[values.index(max(values))]
    return str(sum(values))


def check_running_thoughts(sample: dict) -> None:
    """Every THINK after an observation restates it, and its running step is the right arithmetic."""
    function, _, target = parse_question(sample["question"])
    seen = observed(sample, function, target)
    thinks = [s["thought"] for s in sample["trajectory"][1:] if s["action"] == "THINK"]
    assert len(thinks) == len(seen)
    total, best = 0, (-1, "")  # the running sum; the largest count so far and its (first) region
    for i, ((region, value), thought) in enumerate(zip(seen, thinks, strict=True)):
        m = T_STEP.match(thought)
        assert m and m[1] == region, thought
        said = m[2] if m[2].isdigit() else str(int(m[2] == "yes"))
        assert int(said) == value, thought
        shown = m[3] is not None or m[5] is not None
        assert shown == (0 < i < len(seen) - 1), thought  # only the steps between first and last show it
        best = (value, region) if value > best[0] else best
        if m[3] is not None:
            assert function != "most" and f"{total} + {value} = {total + value}" in thought, thought
        if m[5] is not None:
            assert function == "most" and (m[5], int(m[6])) == (best[1], best[0]), thought
        total += value


@pytest.fixture(scope="module")
def pairs():
    return [build_counting_sample(0, i) for i in range(1, N + 1)]


def category_of(index: int) -> str:
    return ("simple", "medium", "hard")[(index - 1) % 3]


def n_observations(sample: dict) -> int:
    return sum(s["action"] != "THINK" for s in sample["trajectory"])


# ---------------------------------------------------------------- answers and observations


def test_answer_is_the_documented_function_of_the_observations(pairs):
    functions = Counter()
    for sample, _ in pairs:
        assert sample["answer"] == sample["ground_truth"] == oracle(sample), sample["question"]
        check_running_thoughts(sample)
        functions[parse_question(sample["question"])[0]] += 1
        assert sample["sample_type"] == "positive"
        assert sample["task_type"] == (
            "attribute_recognition" if "of the shapes" in sample["question"] else "object_counting"
        )
    assert min(functions.values()) >= N // 6, functions
    answers = Counter(s["answer"] for s, _ in pairs)
    sums = [int(a) for a in answers if a.isdigit()]
    assert max(sums) >= 8 and len(sums) >= 9  # composed sums spread beyond one region's count
    assert {a for a in answers if not a.isdigit()} == set(REGIONS)  # the leading region can be any


@settings(max_examples=150, deadline=None)
@given(seed=hs.integers(0, 2**40), index=hs.integers(1, 2**40 - 1))
def test_any_sample_answers_from_its_observations(seed, index):
    sample, _ = build_counting_sample(seed, index)
    assert build_counting_sample(seed, index)[0] == sample  # a pure function of (seed, index)
    assert sample["answer"] == sample["ground_truth"] == oracle(sample)
    check_running_thoughts(sample)
    assert n_observations(sample) in DOCUMENTED[category_of(index)]


def test_observation_counts_per_category_are_as_documented(pairs):
    counts = {c: Counter() for c in DOCUMENTED}
    for index, (sample, _) in enumerate(pairs, start=1):
        counts[category_of(index)][n_observations(sample)] += 1
        # plan THINK, then observation + THINK per region: the length grows with the composition
        assert len(sample["trajectory"]) == 1 + 2 * n_observations(sample)
    for category, seen in counts.items():
        assert set(seen) == DOCUMENTED[category], (category, seen)
        assert sum(seen.values()) == N // 3


def within(inner: tuple[int, ...], outer: tuple[int, ...]) -> bool:
    return outer[0] <= inner[0] and inner[2] <= outer[2] and outer[1] <= inner[1] and inner[3] <= outer[3]


def test_the_scene_shows_what_the_observations_state(pairs):
    """Counts and colours are read off the drawn scene: the ZOOM_IN bbox is the region, and in it are exactly
    the stated number of targets and of other shapes (labels aside); a property's shape has its stated colour."""
    boxes = {
        REGIONS[i]: (x * 96, y * 96, x * 96 + 96, y * 96 + 96)
        for i, (y, x) in enumerate((r, c) for r in range(3) for c in range(3))
    }
    for sample, scene in pairs:
        assert (scene.width, scene.height) == SIZE == tuple(sample["image_size"])
        inside = {
            letter: [o for o in scene.objects if o.shape != "sign" and within(o.box, box)]
            for letter, box in boxes.items()
        }
        assert sum(map(len, inside.values())) == sum(o.shape != "sign" for o in scene.objects)  # nothing straddles
        assert sorted(o.text for o in scene.objects if o.shape == "sign") == list(REGIONS)
        for step in (s for s in sample["trajectory"] if s["action"] != "THINK"):
            if step["action"] == "ZOOM_IN":
                region, count, name, n_other = O_ZOOM.match(step["result"]).groups()
                assert tuple(step["parameters"]["bbox"]) == boxes[region]
                objs = inside[region]
                assert sum(o.name == name for o in objs) == int(count)
                assert len(objs) - int(count) == int(n_other)
            else:
                region = step["parameters"]["object"][-1]
                colour, shape = O_COLOUR.match(step["result"]).groups()
                assert [(o.colour, o.shape) for o in inside[region]] == [(colour, shape)]


# ---------------------------------------------------------------- the scorer and the split see the same difficulty


def test_score_and_split_categories_match_the_observation_counts(tmp_path):
    from pixelis_data.score import score_to_parquet
    from pixelis_data.split.run import split_to_dir

    data = tmp_path / "c.jsonl"
    write_samples(data, N, seed=4, progress=False, task="counting")
    result = score_to_parquet(data, tmp_path / "c.scores.parquet")
    assert (result.n_scored, result.n_rejected) == (N, 0) and not result.unknown_ops
    split_to_dir(tmp_path / "c.scores.parquet", tmp_path / "split")
    frames = [
        pl.from_arrow(pa.ipc.open_file(tmp_path / "split" / f"{f}.arrow").read_all())
        for f in ("simple", "medium", "hard", "eval")
    ]
    df = pl.concat([f.select("category", "trajectory", "difficulty_score") for f in frames])
    df = df.with_columns(
        n_obs=pl.col("trajectory").list.eval(pl.element().struct.field("action") != "THINK").list.sum()
    )
    confusion = {(c, n): k for c, n, k in df.group_by("category", "n_obs").len().iter_rows()}
    expected = {(c, n) for c, ns in DOCUMENTED.items() for n in ns}
    assert set(confusion) == expected, confusion
    assert sum(confusion.values()) == N
    # longer, more operations = a higher score: every observation count scores above every smaller one
    ranges = (
        df.group_by("n_obs").agg(lo=pl.col("difficulty_score").min(), hi=pl.col("difficulty_score").max()).sort("n_obs")
    )
    assert (ranges["lo"].slice(1) > ranges["hi"].slice(0, 5)).all(), ranges


# ---------------------------------------------------------------- determinism, the default output, files


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    for path, seed in ((a, 7), (b, 7), (c, 8)):
        write_samples(path, 120, seed=seed, progress=False, task="counting")
    assert sha(a) == sha(b) != sha(c)
    lines = a.read_text().splitlines()
    assert [json.loads(line) for line in lines] == list(generate_samples(120, seed=7, task="counting"))
    assert json.loads(lines[0])["sample_id"] == "cnt-7-0000001"


def test_worker_processes_write_the_same_counting_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(writer_mod, "CHUNK", 40)  # the parent cuts the jobs: 3 chunks over 2 workers
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    write_samples(one, 120, seed=2, progress=False, workers=1, task="counting")
    write_samples(two, 120, seed=2, progress=False, workers=2, task="counting")
    assert sha(one) == sha(two)
    assert json.loads(two.read_text().splitlines()[-1])["sample_id"] == "cnt-2-0000120"


def test_default_output_is_unchanged(tmp_path):
    path = tmp_path / "m.jsonl"
    write_samples(path, 300, seed=3, progress=False)
    assert sha(path) == MIXED_300_SEED_3
    explicit = tmp_path / "explicit.jsonl"
    write_samples(explicit, 300, seed=3, progress=False, task="mixed")
    assert sha(explicit) == MIXED_300_SEED_3
    assert list(generate_samples(20, seed=3)) == list(generate_samples(20, seed=3, task="mixed"))


def test_images_draw_the_scene_in_its_colours(tmp_path):
    from PIL import Image

    write_samples(tmp_path / "s.jsonl", 6, seed=1, images_dir=tmp_path / "img", progress=False, task="counting")
    write_samples(tmp_path / "t.jsonl", 6, seed=1, images_dir=tmp_path / "img2", progress=False, task="counting")
    for index in range(1, 7):
        name = f"img_{index:07d}.png"
        assert sha(tmp_path / "img" / name) == sha(tmp_path / "img2" / name)
        _, scene = build_counting_sample(1, index)
        with Image.open(tmp_path / "img" / name) as img:
            assert img.size == SIZE
            rgb = img.convert("RGB")
            for o in (o for o in scene.objects if o.shape != "sign"):
                assert rgb.getpixel(((o.box[0] + o.box[2]) // 2, (o.box[1] + o.box[3]) // 2)) == COLOURS[o.colour], o


def test_bad_task_is_a_value_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match=r"task must be one of mixed, counting, got 'sums'"):
        write_samples(tmp_path / "s.jsonl", 5, task="sums")
    with pytest.raises(ValueError, match=r"task must be one of"):
        next(generate_samples(5, task="sums"))
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- the CLI


def flat(text: str) -> str:
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_cli_task_counting_writes_the_task_and_a_summary(tmp_path):
    out = tmp_path / "c.jsonl"
    result = runner.invoke(app, ["generate", "30", "-o", str(out), "--task", "counting", "--seed", "5"])
    assert result.exit_code == 0, result.output
    samples = [json.loads(line) for line in out.read_text().splitlines()]
    assert samples == list(generate_samples(30, seed=5, task="counting"))
    text = flat(result.output)
    assert "task counting" in text and "positive 30" in text and "temporal_tracking" not in text


def test_cli_help_documents_the_task_option():
    result = runner.invoke(app, ["generate", "--help"])
    assert result.exit_code == 0
    text = flat(result.output)
    for fragment in ("--task", "mixed|counting", "counting", "--task counting", "docs/generate.md"):
        assert fragment in text, fragment


def test_cli_bad_task_is_a_one_line_error_exit_2(tmp_path):
    out = tmp_path / "c.jsonl"
    result = runner.invoke(app, ["generate", "5", "-o", str(out), "--task", "bogus"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["error: --task must be one of mixed, counting, got 'bogus'"], result.output
    assert not out.exists()


# ---------------------------------------------------------------- the shipped training config


def test_controlled_train_yaml_is_a_train_config_of_only_changed_keys():
    import yaml

    from pixelis_core.config_io import load_yaml
    from pixelis_train.config import TrainConfig

    path = Path(__file__).resolve().parents[1] / "configs" / "controlled_train.yaml"
    cfg, default = load_yaml(TrainConfig, path), TrainConfig()
    assert (cfg.model.name, cfg.curriculum.policy, cfg.optim.steps) == ("tiny-text", "adaptive", 300)
    for section, values in yaml.safe_load(path.read_text()).items():
        for key in values:
            assert getattr(getattr(cfg, section), key) != getattr(getattr(default, section), key), (section, key)
