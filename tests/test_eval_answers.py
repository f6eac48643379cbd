"""Answer accuracy by generation and per-skill evaluation: the normaliser on hand-written cases, batched
greedy decoding against a one-sample-at-a-time argmax loop, an overfit model that is always right (and
graded against the wrong references always wrong), per-skill sums against the categories and a plain
per-sample oracle, the eval record's JSON layout and round trip."""

from __future__ import annotations

import json

import pytest

from pixelis_train.answers import AnswerDecoding, answers_match, cut_answer, normalize_answer, reference_answer
from pixelis_train.runlog import EvalRecord, dumps, from_json

# -- the normaliser ------------------------------------------------------------------------------------

SAME = [
    ("(A)", "A"),
    ("A.", "a"),
    ("A)", "(a)"),
    ("[b]", "B"),
    ("c:", "C"),
    ("(B) two cats", "B"),
    ("D. a red cube", "d"),
    ("The red cube.", "red cube"),
    ("  Red  ", "red"),
    ("an apple", "Apple!"),
    ("BUS 42", "bus 42"),
    ("Yes!", "yes"),
    ("ＲＥＤ", "red"),  # full-width letters (NFKC)
    ("light-blue", "light blue"),
    ("red,  green and blue", "red green and blue"),
    ("It's the cat", "it s cat"),
]
DIFFERENT = [
    ("red", "blue"),
    ("(A)", "B"),
    ("a red cube", "A"),  # an article, not option A
    ("e.g. red", "e"),  # "e." followed by a letter is not an option marker
    ("red cube", "red"),
    ("42", "4 2"),
    ("2", "two"),
    ("", "a"),
]


@pytest.mark.parametrize(("prediction", "reference"), SAME)
def test_normalised_answers_that_say_the_same(prediction, reference):
    assert answers_match(prediction, reference)


@pytest.mark.parametrize(("prediction", "reference"), DIFFERENT)
def test_normalised_answers_that_differ(prediction, reference):
    assert not answers_match(prediction, reference)


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("(A)", "a"),
        ("A", "a"),
        ("The Red Cube.", "red cube"),
        ("  a   big\tdog ", "big dog"),
        ("the", ""),
        ("BUS-42?", "bus 42"),
        ("Ｂ", "b"),
    ],
)
def test_normalize_answer_exact_forms(text, normal):
    assert normalize_answer(text) == normal


def test_reference_is_the_ground_truth_else_the_answer():
    assert reference_answer({"ground_truth": "teal square", "answer": "brown circle"}) == "teal square"
    assert reference_answer({"ground_truth": "  ", "answer": " red "}) == "red"
    assert reference_answer({"ground_truth": None, "answer": "red"}) == "red"
    assert reference_answer({"ground_truth": None, "answer": None}) is None


def test_cut_answer_at_the_first_stop():
    assert cut_answer(" red</answer><|im_end|>", ("</answer>", "<|im_end|>")) == "red"
    assert cut_answer("red<|im_end|>x</answer>", ("</answer>", "<|im_end|>", "")) == "red"
    assert cut_answer("red square", ("</answer>",)) == "red square"


class _PieceTokenizer:
    """A tokenizer whose ids are indexes into a list of pieces, ``</answer>`` being three of them."""

    pieces = ("<|endoftext|>", "<|im_end|>", "red", " cube", "</", "answer", ">", "!")
    eos_token_id, eos_token, unk_token_id = 0, "<|endoftext|>", None

    def convert_tokens_to_ids(self, token: str) -> int | None:
        return self.pieces.index(token) if token in self.pieces else None

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return "".join(self.pieces[i] for i in ids)


def test_answer_decoding_stops_at_tokens_and_at_a_multi_token_end_marker():
    decoding = AnswerDecoding(_PieceTokenizer(), max_new_tokens=8)
    assert decoding.stop_ids() == [0, 1]  # </answer> is no single token here
    assert decoding.text([2, 3, 1, 7]) == "red cube"
    assert decoding.text([2, 4, 5, 6, 7, 7]) == "red"  # </answer> spelled in three tokens
    assert decoding.text([2, 3, 7]) == "red cube!"  # max_new_tokens reached without a stop


# -- the eval record -----------------------------------------------------------------------------------


def _numbers(loss: float, n: int) -> dict[str, float | int | None]:
    return {"loss": loss, "token_accuracy": 0.5, "n_samples": n, "answer_accuracy": None if n == 1 else 0.25}


def test_eval_record_with_skills_round_trips_and_keeps_the_category_keys():
    record = EvalRecord(
        step=40,
        metric="token_accuracy",
        categories={"simple": _numbers(1.5, 4), "hard": _numbers(2.5, 3)},
        final=True,
        skills={
            "simple": {"task_type/counting": _numbers(1.2, 3), "task_type/a/b": _numbers(1.9, 1)},
            "hard": {"op/ZOOM_IN": _numbers(2.5, 3)},
        },
    )
    data = json.loads(dumps(record))
    assert from_json(data) == record == EvalRecord.from_json(record.to_json())
    assert data["simple/loss"] == 1.5 and data["hard/n_samples"] == 3
    assert data["simple/skill/task_type/a/b/loss"] == 1.9 and data["hard/skill/op/ZOOM_IN/n_samples"] == 3
    assert data["simple/skill/task_type/a/b/answer_accuracy"] is None
    # a reader that knows only <category>/<field> (the parse before skills existed) sees the same categories
    assert {key.split("/", 1)[0] for key in data if "/" in key} == {"simple", "hard"}
    # an old line (no skills) reads as before
    old = {"kind": "eval", "step": 4, "metric": "token_accuracy", "simple/loss": 2.0, "simple/n_samples": 2}
    assert from_json(old) == EvalRecord(4, "token_accuracy", {"simple": {"loss": 2.0, "n_samples": 2}})


# -- evaluation on tiny-text ---------------------------------------------------------------------------

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny-text model with LoRA, its formatter and the demo eval rows (built once)."""
    from pixelis_train.chat import ChatFormatter
    from pixelis_train.config import TrainConfig
    from pixelis_train.demo_data import make_demo_split
    from pixelis_train.models import add_lora, load_base
    from pixelis_train.stream.split_files import open_arrow
    from pixelis_train.tiny import build_tiny, corpus_from_split

    root = tmp_path_factory.mktemp("answers")
    split = make_demo_split(root / "split", root / "images", n_per_category=2, n_eval_per_category=4)
    cfg = TrainConfig()
    model_dir = build_tiny("tiny-text", corpus_from_split(split, cfg.data.format), root / "model", 1024, 0)
    base = load_base(model_dir, cfg.model, torch.device("cpu"))
    torch.manual_seed(0)
    model = add_lora(base, cfg.lora, cfg.model)
    formatter = ChatFormatter(base.tokenizer, cfg.data.format)
    return model, base.tokenizer, formatter, open_arrow(split / "eval.arrow").to_pylist()


def _eval_sets(formatter, rows, task_types=None):
    from pixelis_train.evaluate import eval_example

    sets: dict[str, list] = {}
    for i, row in enumerate(rows):
        if task_types is not None:
            row = {**row, "task_type": task_types[i % len(task_types)]}
        sets.setdefault(row["category"], []).append(eval_example(formatter.format(row), row, "THINK"))
    return sets


def _oracle_answer(model, tokenizer, example, max_new: int) -> str:
    """One sample, no cache, no padding: argmax until a stop token."""
    stops = {tokenizer.convert_tokens_to_ids(t) for t in ("</answer>", "<|im_end|>")} | {tokenizer.eos_token_id}
    ids = list(example.input_ids[: example.answer_positions[0]])
    new: list[int] = []
    with torch.no_grad():
        for _ in range(max_new):
            token = int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
            if token in stops:
                break
            new.append(token)
            ids.append(token)
    return tokenizer.decode(new).strip()


def test_batched_greedy_answers_equal_a_one_at_a_time_argmax_loop(tiny):
    from pixelis_train.evaluate import evaluate

    model, tokenizer, formatter, rows = tiny
    model.eval()
    sets = _eval_sets(formatter, rows)
    expected = {}
    for category, examples in sets.items():
        for k, ex in enumerate(examples):
            # graded against the oracle's own answer on even samples, against an impossible one on odd ones:
            # the accuracy is 1/2 only if the batched decoding produced exactly the oracle's texts
            ex.reference = _oracle_answer(model, tokenizer, ex, 6) if k % 2 == 0 else "no such answer"
        expected[category] = sum(k % 2 == 0 for k in range(len(examples))) / len(examples)
    rng = torch.get_rng_state()
    got = evaluate(model, sets, tokenizer.pad_token_id, torch.device("cpu"), 3, answers=AnswerDecoding(tokenizer, 6))
    assert torch.equal(rng, torch.get_rng_state())  # greedy generation draws no random numbers
    assert {c: m.answer_accuracy for c, m in got.items()} == expected
    assert all(m.n_answered == len(sets[c]) for c, m in got.items())
    without = evaluate(model, sets, tokenizer.pad_token_id, torch.device("cpu"), 3)
    assert all(m.answer_accuracy is None and m.n_answered == len(sets[c]) for c, m in without.items())
    # generating answers leaves the teacher-forced numbers as they were
    assert {c: m.loss for c, m in without.items()} == {c: m.loss for c, m in got.items()}


def test_an_overfit_model_is_always_right_and_wrong_against_swapped_references(tiny):
    """Two samples with one-token answers, trained on their answer and </answer> tokens only until it knows
    them: greedy answers are then right (1.0); graded against each other's reference, wrong (0.0)."""
    from pixelis_train.batch import collate, model_inputs
    from pixelis_train.chat import IGNORE_INDEX
    from pixelis_train.evaluate import evaluate

    model, tokenizer, formatter, rows = tiny
    first = rows[0]
    other = next(r for r in rows if r["answer"] != first["answer"])
    examples = _eval_sets(formatter, [first, {**other, "category": first["category"]}])
    pair = [ex for exs in examples.values() for ex in exs]
    assert [len(ex.answer_positions) for ex in pair] == [1, 1]  # one-token answers in this vocabulary
    for ex in pair:
        keep = {ex.answer_positions[0], ex.answer_positions[0] + 1}  # the answer and </answer>
        ex.labels = [t if i in keep else IGNORE_INDEX for i, t in enumerate(ex.input_ids)]
    batch = collate(pair, tokenizer.pad_token_id)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    params = [p.requires_grad_(True) for p in model.parameters()]  # all of it: memorises in ~20 steps
    optimizer = torch.optim.Adam(params, lr=1e-3)
    model.eval()  # no dropout: plain memorisation
    try:
        for _ in range(100):
            logits = model(**model_inputs(batch, "cpu")).logits[:, :-1]
            loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch["labels"][:, 1:])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if float(loss.detach()) < 0.01:
                break
        assert float(loss.detach()) < 0.01
        decoding = AnswerDecoding(tokenizer, 4)
        sets = {first["category"]: pair}
        right = evaluate(model, sets, tokenizer.pad_token_id, torch.device("cpu"), 2, answers=decoding)
        assert right[first["category"]].answer_accuracy == 1.0 and right[first["category"]].n_answered == 2
        pair[0].reference, pair[1].reference = pair[1].reference, pair[0].reference
        wrong = evaluate(model, sets, tokenizer.pad_token_id, torch.device("cpu"), 2, answers=decoding)
        assert wrong[first["category"]].answer_accuracy == 0.0
    finally:  # the module-scoped model stays untrained for the other tests
        model.load_state_dict(state)
        for name, p in model.named_parameters():
            p.requires_grad_(name in trainable)


def test_per_skill_numbers_add_up_to_the_categories_and_match_a_per_sample_oracle(tiny):
    from pixelis_train.batch import collate, model_inputs, token_stats
    from pixelis_train.evaluate import evaluate

    model, tokenizer, formatter, rows = tiny
    model.eval()
    sets = _eval_sets(formatter, rows, task_types=["counting", "colour", "reading"])
    got = evaluate(model, sets, tokenizer.pad_token_id, torch.device("cpu"), 3)
    for category, m in got.items():
        types = {k: s for k, s in m.skills.items() if k.startswith("task_type/")}
        assert sum(s.n_samples for s in types.values()) == m.n_samples == len(sets[category])
        for name in ("n_tokens", "n_actions", "n_answered"):
            assert sum(getattr(s, name) for s in types.values()) == getattr(m, name), name
        assert sum(s.loss * s.n_tokens for s in types.values()) == pytest.approx(m.loss * m.n_tokens, rel=1e-6)
        correct = sum(round(s.token_accuracy * s.n_tokens) for s in types.values())
        assert correct == round(m.token_accuracy * m.n_tokens)
        # every skill against the samples that have it, each evaluated alone
        for key, skill in m.skills.items():
            members = [ex for ex in sets[category] if key in ex.skills]
            assert skill.n_samples == len(members) > 0
            loss_sum, n_tok = 0.0, 0
            for ex in members:
                batch = collate([ex], tokenizer.pad_token_id)
                with torch.no_grad():
                    stats = token_stats(model(**model_inputs(batch, "cpu")).logits, batch["labels"])
                loss_sum, n_tok = loss_sum + float(stats.loss_sum), n_tok + stats.n_tokens
            assert skill.n_tokens == n_tok and skill.loss == pytest.approx(loss_sum / n_tok, rel=1e-5)
            assert skill.n_actions == sum(len(ex.action_positions) for ex in members)
    # the demo's trajectories: ZOOM_IN everywhere, GET_PROPERTIES in medium and hard only, THINK never a skill
    assert set(got["simple"].skills) == {"task_type/colour", "task_type/counting", "task_type/reading", "op/ZOOM_IN"}
    assert {"op/ZOOM_IN", "op/GET_PROPERTIES"} <= set(got["hard"].skills)
    assert not any(k == "op/THINK" for m in got.values() for k in m.skills)


def test_answer_config_fields_are_checked():
    from pixelis_core.config_io import ConfigError
    from pixelis_train.config import EvalConfig

    with pytest.raises(ConfigError, match=r"answer_every: must be an integer >= 0 \(got -1\)"):
        EvalConfig(answer_every=-1)
    with pytest.raises(ConfigError, match=r"answer_max_new_tokens: must be an integer >= 1 \(got 0\)"):
        EvalConfig(answer_max_new_tokens=0)
