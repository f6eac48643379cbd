"""What `pixelis generate` produces: coverage, realistic parameters, answers that match the drawn scene,
self-corrections built from independent copies, and error patterns the scorer sees."""

from __future__ import annotations

import copy
import json
import re
import statistics

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from pixelis_data.config import DEFAULT_PHRASES
from pixelis_data.generate import generate_samples, write_samples
from pixelis_data.generate.scene import Obj, Scene
from pixelis_data.generate.trajectories import build_sample, generate_with_scenes
from pixelis_data.generate.vocab import LOOKALIKE, SHAPE_AREA, SIGN_WORDS
from pixelis_data.schema import SAMPLE_TYPES, TASK_TYPES

N = 300
PHRASE = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in DEFAULT_PHRASES) + r")\b", re.IGNORECASE)
ACTIONS = {"THINK", "ZOOM_IN", "SEGMENT_OBJECT_AT", "GET_PROPERTIES", "READ_TEXT", "TRACK_OBJECT"}


@pytest.fixture(scope="module")
def pairs() -> list[tuple[dict, Scene]]:
    return list(generate_with_scenes(N, seed=0))


@pytest.fixture(scope="module")
def samples(pairs) -> list[dict]:
    return [s for s, _ in pairs]


def correction_index(trajectory: list[dict]) -> int | None:
    """Index of the self-correction THINK (the step after the wrong one), if any."""
    return next((i for i, s in enumerate(trajectory) if s["action"] == "THINK" and PHRASE.search(s["thought"])), None)


# ---------------------------------------------------------------- coverage and shape


def test_every_task_type_and_sample_type_and_most_combinations_occur(samples):
    assert {s["task_type"] for s in samples} == set(TASK_TYPES)
    assert {s["sample_type"] for s in samples} == set(SAMPLE_TYPES)
    combos = {(s["task_type"], s["sample_type"]) for s in samples}
    assert len(combos) >= 30  # of 35


def test_trajectory_lengths_spread_from_2_to_beyond_12(samples):
    lengths = [len(s["trajectory"]) for s in samples]
    assert min(lengths) == 2
    assert max(lengths) >= 14
    assert sum(n >= 12 for n in lengths) >= 0.05 * N
    assert 6.5 <= statistics.mean(lengths) <= 10
    assert len(set(lengths)) >= 12


def test_answers_sampling_weights_and_image_fields(samples):
    weights = {
        "positive": 1.0,
        "outcome_negative": 1.0,
        "trap_perceptual": 1.5,
        "trap_logical": 1.5,
        "self_correction": 1.2,
    }
    for s in samples:
        assert s["ground_truth"] and s["answer"]
        assert (s["answer"] != s["ground_truth"]) == (s["sample_type"] == "outcome_negative"), s["sample_id"]
        assert s["sampling_weight"] == weights[s["sample_type"]]
        assert s["image_path"].endswith(".png")
        assert s["image_size"] in ([224, 224], [320, 240], [256, 256], [336, 252])
        last = s["trajectory"][-1]
        assert last["action"] == "THINK" and s["answer"] in last["thought"]


def check_step_parameters(s: dict) -> None:
    """Every action's parameters have a realistic shape, and regions / points lie inside the image."""
    w, h = s["image_size"]
    for step in s["trajectory"]:
        action, params = step["action"], step["parameters"]
        assert action in ACTIONS
        assert isinstance(step["thought"], str) and step["thought"]
        assert isinstance(params, dict)
        if action == "THINK":
            assert params == {} and step["result"] == ""
            continue
        assert isinstance(step["result"], str) and step["result"]
        if action in ("ZOOM_IN", "READ_TEXT"):
            (key,) = params
            assert key == ("bbox" if action == "ZOOM_IN" else "region")
            x1, y1, x2, y2 = params[key]
            assert all(isinstance(v, int) for v in params[key])
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, (s["sample_id"], params)
        elif action == "SEGMENT_OBJECT_AT":
            x, y = params["coordinates"]
            assert list(params) == ["coordinates"] and isinstance(x, int) and isinstance(y, int)
            assert 0 <= x < w and 0 <= y < h
        elif action == "GET_PROPERTIES":
            assert set(params) == {"object", "properties"} and params["object"]
            assert params["properties"] and all(isinstance(p, str) for p in params["properties"])
        elif action == "TRACK_OBJECT":
            assert set(params) == {"object", "frames"} and params["frames"] == [0, 1, 2, 3]


def test_parameters_are_realistic_and_inside_the_image(samples):
    for s in samples:
        check_step_parameters(s)


def test_regions_and_points_hit_drawn_objects(pairs):
    """Every ZOOM_IN / READ_TEXT region overlaps a drawn object and every SEGMENT point lies on one,
    except the deliberately wrong step of a self-correction."""
    for s, scene in pairs:
        traj = s["trajectory"]
        fix = correction_index(traj)
        for i, step in enumerate(traj):
            if fix is not None and i == fix - 1:
                continue
            params = step["parameters"]
            boxes = [o.box for o in scene.objects] + [b for _, b in scene.outlines]
            if "bbox" in params or "region" in params:
                x1, y1, x2, y2 = params.get("bbox") or params["region"]
                assert any(x1 < b[2] and b[0] < x2 and y1 < b[3] and b[1] < y2 for b in boxes), s["sample_id"]
            if "coordinates" in params:
                x, y = params["coordinates"]
                assert any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes), s["sample_id"]


# ---------------------------------------------------------------- the answer is what the scene shows


def _one(objs: list[Obj], name: str) -> Obj:
    found = [o for o in objs if o.name == name]
    assert len(found) == 1, (name, found)
    return found[0]


def oracle_answer(s: dict, scene: Scene) -> str:
    """The true answer computed from the scene alone, by a plain reading of the question."""
    q, objs = s["question"], scene.objects
    if m := re.search(r"How many (\w+) (\w+)s are in the image\?$", q):
        return str(sum(o.colour == m[1] and o.shape == m[2] for o in objs))
    if m := re.search(r"What color is the (\w+)\?$", q):
        return next(o.colour for o in objs if o.shape == m[1] and [x.shape for x in objs].count(m[1]) == 1)
    if m := re.search(r"What shape is the (\w+) object\?$", q):
        (o,) = [o for o in objs if o.colour == m[1]]
        return o.shape
    if m := re.search(r"Is the (\w+ \w+) (to the left of|to the right of|above|below) the (\w+ \w+)\?$", q):
        a, b = _one(objs, m[1]).centre, _one(objs, m[3]).centre
        holds = {
            "to the left of": a[0] < b[0],
            "to the right of": a[0] > b[0],
            "above": a[1] < b[1],
            "below": a[1] > b[1],
        }[m[2]]
        return "yes" if holds else "no"
    if m := re.search(r"Which is larger, the (\w+ \w+) or the (\w+ \w+)\?$", q):
        a, b = _one(objs, m[1]), _one(objs, m[2])
        area = {o.name: (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]) * SHAPE_AREA[o.shape] for o in (a, b)}
        assert abs(area[a.name] - area[b.name]) > 0.03 * max(area.values())  # measurably different
        return max(area, key=area.get)
    if m := re.search(r"Which shape is inside the (\w+) frame\?$", q):
        (frame,) = [b for c, b in scene.outlines if c == m[1]]
        inside = [
            o
            for o in objs
            if frame[0] <= o.box[0] and o.box[2] <= frame[2] and frame[1] <= o.box[1] and o.box[3] <= frame[3]
        ]
        assert len(inside) == 1
        return inside[0].name
    if m := re.search(r"What does the (\w+) sign say\?$", q):
        return _one(objs, f"{m[1]} sign").text
    if m := re.search(r"In which direction does the (\w+ \w+) move across the four frames\?$", q):
        track = sorted((o for o in objs if o.name == m[1]), key=lambda o: o.frame)
        assert [o.frame for o in track] == [0, 1, 2, 3]
        w2, h2 = scene.width // 2, scene.height // 2
        local = [(o.centre[0] - (o.frame % 2) * w2, o.centre[1] - (o.frame // 2) * h2) for o in track]
        dx, dy = local[-1][0] - local[0][0], local[-1][1] - local[0][1]
        return ("right" if dx > 0 else "left") if abs(dx) > abs(dy) else ("down" if dy > 0 else "up")
    raise AssertionError(f"unrecognised question: {q}")


def test_ground_truth_is_what_the_scene_shows(pairs):
    for s, scene in pairs:
        assert oracle_answer(s, scene) == s["ground_truth"], (s["sample_id"], s["question"])


def test_logical_traps_state_a_false_premise_that_the_trajectory_rejects(pairs):
    logical = [(s, scene) for s, scene in pairs if s["sample_type"] == "trap_logical"]
    assert logical
    for s, _ in logical:
        claim = s["question"].split(". ")[0]
        assert claim and claim in s["trajectory"][0]["thought"] + s["trajectory"][1]["thought"]
        assert any(step["thought"].startswith("The premise is wrong") for step in s["trajectory"])


def named_objects(s: dict, scene: Scene) -> list[Obj]:
    """The objects a question is about: named in it ("the red circle", "the triangle", "the red object")
    or its answer."""
    q = s["question"]
    return [
        o
        for o in scene.objects
        if o.name in q or o.name == s["ground_truth"] or f"the {o.shape}?" in q or f"the {o.colour} object" in q
    ]


def test_perceptual_traps_draw_a_look_alike_and_check_it(pairs):
    near_word = dict(SIGN_WORDS)
    perceptual = [(s, scene) for s, scene in pairs if s["sample_type"] == "trap_perceptual"]
    assert perceptual
    for s, scene in perceptual:
        named = named_objects(s, scene)
        assert named, s["question"]
        if s["task_type"] == "geometric_comparison":  # near-equal sizes, both measured
            a, b = (o.area for o in named)
            assert 0.7 <= a / b <= 1.4
            lures = named
        elif s["task_type"] == "text_extraction":  # another sign with the near-miss word
            lures = [o for o in scene.objects if o.text == near_word[named[0].text]]
        else:  # an object in the look-alike colour of a named one
            lures = [o for o in scene.objects if o not in named and any(o.colour == LOOKALIKE[n.colour] for n in named)]
        assert lures, s["sample_id"]
        mentioned = " ".join(
            f"{st['thought']} {st['result']} {st['parameters'].get('object', '')}" for st in s["trajectory"]
        )
        assert any(o.name in mentioned for o in lures), s["sample_id"]  # the trajectory checks the look-alike


# ---------------------------------------------------------------- self-corrections


def containers(obj: object) -> list[object]:
    """Every list and dict reachable from ``obj`` (including itself)."""
    out: list[object] = []
    stack = [obj]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            out.append(x)
            stack.extend(x.values())
        elif isinstance(x, list):
            out.append(x)
            stack.extend(x)
    return out


def test_self_corrections_have_a_phrase_and_an_independent_corrected_copy(samples):
    corrections = [s for s in samples if s["sample_type"] == "self_correction"]
    assert len(corrections) >= 20
    for s in corrections:
        traj = s["trajectory"]
        i = correction_index(traj)
        assert i is not None and 1 <= i < len(traj) - 1
        wrong, corrected = traj[i - 1], traj[i + 1]
        assert wrong["action"] == corrected["action"] != "THINK"
        assert wrong["parameters"].keys() == corrected["parameters"].keys()
        assert wrong["parameters"] != corrected["parameters"]
        assert wrong["result"] != corrected["result"]
        # no list or dict shared between the two steps
        ids_wrong = {id(c) for c in containers(wrong)}
        assert ids_wrong.isdisjoint(id(c) for c in containers(corrected)), s["sample_id"]
        # behaviour, not just identity: editing the corrected step leaves the wrong one as it was
        before = copy.deepcopy(wrong)
        for value in corrected["parameters"].values():
            if isinstance(value, list):
                value.append(-1)
        corrected["parameters"]["edited"] = True
        assert wrong == before


def test_no_step_shares_a_container_with_another(samples):
    for s in samples:
        seen: set[int] = set()
        for step in s["trajectory"]:
            ids = {id(c) for c in containers(step)}
            assert seen.isdisjoint(ids), s["sample_id"]
            seen |= ids


def test_only_self_corrections_use_self_correction_phrases(samples):
    for s in samples:
        hit = any(PHRASE.search(step["thought"]) for step in s["trajectory"])
        assert hit == (s["sample_type"] == "self_correction"), s["sample_id"]


# ---------------------------------------------------------------- error patterns


def test_some_samples_repeat_actions_or_segment_points_but_not_most(samples):
    triples = repeated_points = 0
    for s in samples:
        actions = [step["action"] for step in s["trajectory"]]
        triples += any(actions[i] == actions[i - 1] == actions[i - 2] for i in range(2, len(actions)))
        points = [tuple(st["parameters"]["coordinates"]) for st in s["trajectory"] if "coordinates" in st["parameters"]]
        repeated_points += len(points) != len(set(points))
    assert 0.02 * N <= triples <= 0.2 * N
    assert 0.02 * N <= repeated_points <= 0.2 * N


def test_scores_of_generated_data(tmp_path):
    """The lead's scorer reads every generated record, knows every action, and the scores spread."""
    from pixelis_data.score import score_to_parquet

    path = tmp_path / "g.jsonl"
    write_samples(path, 400, seed=1, progress=False)
    result = score_to_parquet(path, tmp_path / "g.parquet")
    assert (result.n_input, result.n_scored, result.n_rejected) == (400, 400, 0)
    assert not result.unknown_ops
    df = pl.read_parquet(tmp_path / "g.parquet")
    assert df["difficulty_score"].std() > 0.04
    assert df["difficulty_score"].max() - df["difficulty_score"].min() > 0.3
    assert df.filter(pl.col("sample_type") == "self_correction")["error_patterns"].min() >= 0.3
    assert (df["n_repetitions"] > 0).sum() > 0
    assert df["extra"].str.contains('"image_size"').all()
    assert df["images"].list.first().to_list() == [f"img_{i:07d}.png" for i in range(1, 401)]


# ---------------------------------------------------------------- any seed, any index


@settings(max_examples=150, deadline=None)
@given(seed=hs.integers(0, 2**40), index=hs.integers(1, 2**40 - 1))
def test_any_sample_is_valid_and_answers_what_its_scene_shows(seed, index):
    sample, scene = build_sample(seed, index)
    assert build_sample(seed, index)[0] == sample  # pure function of (seed, index)
    check_step_parameters(sample)
    assert oracle_answer(sample, scene) == sample["ground_truth"]
    assert (sample["answer"] != sample["ground_truth"]) == (sample["sample_type"] == "outcome_negative")
    for o in scene.objects:
        x1, y1, x2, y2 = o.box
        assert 0 <= x1 < x2 <= scene.width and 0 <= y1 < y2 <= scene.height, o


def test_generate_samples_is_lazy():
    it = generate_samples(10**9, seed=0)
    assert next(it)["sample_id"] == "syn-0-0000001"


def test_attribute_trajectories_do_not_name_the_answer_before_observing_it(samples):
    """Thoughts and parameters refer to "the triangle", not "the red triangle", when the colour is asked."""
    checked = 0
    for s in samples:
        if s["task_type"] != "attribute_recognition":
            continue
        for step in s["trajectory"][:-1]:
            if step["thought"].startswith("The premise is wrong"):
                continue
            text = step["thought"] + json.dumps(step["parameters"])
            assert not re.search(rf"\b{s['ground_truth']}\b", text), (s["sample_id"], step)
            checked += 1
    assert checked > 50
