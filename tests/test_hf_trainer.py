"""pixelis_train.hf with the real transformers.Trainer (and TRL's SFTTrainer) on tiny-text: the trained
sequence is pixelis train's stream, decisions reach the next step, resume is exact, bad use is refused."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import peft
import pytest
import torch
import transformers

from pixelis_core.config_io import from_dict
from pixelis_train.config import FormatConfig, ModelConfig, TrainDataConfig
from pixelis_train.curriculum.config import CurriculumConfig
from pixelis_train.curriculum.policy import Evaluation, make_policy
from pixelis_train.demo_data import make_demo_split
from pixelis_train.hf import CollatorInputError, HFSetupError, PixelisCurriculum
from pixelis_train.models import load_base
from pixelis_train.stream import CurriculumStream, SplitDirError, SplitFiles, StreamConfig
from pixelis_train.tiny import build_tiny, corpus_from_split

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]

INTERVAL = 2
STAGES = [
    {"name": "easy", "steps": 2, "weights": {"simple": 1.0}},
    {"name": "hard", "steps": 2, "weights": {"hard": 1.0}},
    {"name": "mix", "steps": None, "weights": {"simple": 0.25, "medium": 0.25, "hard": 0.5}},
]


def curriculum_config(interval: int = INTERVAL) -> CurriculumConfig:
    return from_dict(CurriculumConfig, {"policy": "fixed", "eval_interval": interval, "stages": STAGES})


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A demo split and a tiny-text model directory (built once)."""
    root = tmp_path_factory.mktemp("hf")
    split = make_demo_split(root / "split", root / "images", n_per_category=10, n_eval_per_category=2)
    model_dir = build_tiny("tiny-text", corpus_from_split(split, FormatConfig()), root / "tiny", 1024, seed=0)
    return split, model_dir


def lora_model(model_dir: Path):
    """The tiny model with a LoRA adapter initialised from seed 0 (no dropout: runs are comparable)."""
    base = load_base(model_dir, ModelConfig(), torch.device("cpu"))
    torch.manual_seed(0)
    config = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    return peft.get_peft_model(base.model, config), base.tokenizer


def training_args(out: Path, steps: int, **changes):
    values = dict(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        learning_rate=3e-3,
        logging_steps=1,
        save_strategy="no",
        remove_unused_columns=False,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    values.update(changes)
    return transformers.TrainingArguments(**values)


def run(env, out: Path, steps: int, *, resume: str | None = None, trainer_cls=None, args=None, **arg_changes):
    """Train; returns (trainer, curriculum, {step: [micro-batch keys, ...]} as the collator saw them)."""
    split, model_dir = env
    model, tokenizer = lora_model(model_dir)
    args = args or training_args(out, steps, **arg_changes)
    curriculum = PixelisCurriculum(split, args, tokenizer, curriculum=curriculum_config(), data=data_config(split))
    trained: dict[int, list[list[tuple[str, int]]]] = {}

    def recording(features):
        trained.setdefault(trainer.state.global_step, []).append([(f["category"], f["row"]) for f in features])
        return curriculum.collator(features)

    if trainer_cls is None:
        trainer = transformers.Trainer(model=model, args=args, data_collator=recording)
    else:
        trainer = trainer_cls(
            model=model,
            args=args,
            data_collator=recording,
            train_dataset=curriculum.placeholder_dataset(),
            processing_class=tokenizer,
        )
    curriculum.attach(trainer)
    trainer.train(resume_from_checkpoint=resume)
    return trainer, curriculum, trained


def data_config(split: Path) -> TrainDataConfig:
    return TrainDataConfig(image_root=str(split.parent / "images"))


def reference_steps(split: Path, steps: int, global_batch: int, micro: int, world: int = 1, rank: int = 0):
    """What `pixelis train` trains (build.py's stream, the policy's weights applied after each decision):
    per step, this rank's micro-batches as keys."""
    files = SplitFiles(split)
    cfg = curriculum_config().with_category_sizes({c: f.n_drawable for c, f in files.categories.items()})
    policy = make_policy(cfg)
    state = policy.initial_state()
    stream = CurriculumStream(
        files,
        StreamConfig(global_batch=global_batch, micro_batch=micro, world_size=world, rank=rank, seed=0),
        weights=policy.weights(state),
    )
    out = []
    for step in range(steps):
        plan = stream.next_step()
        out.append([m.to_keys() for m in plan.micro_batches])
        if (step + 1) % cfg.eval_interval == 0:  # the fixed policy decides on steps; performance is logged only
            state, _ = policy.decide(state, Evaluation(step + 1, {"simple": 0.5, "medium": 0.5, "hard": 0.5}))
            stream.set_weights(policy.weights(state))
    return out


def losses(trainer) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in trainer.state.log_history if "loss" in r}


def curriculum_lines(trainer) -> list[dict]:
    return [r for r in trainer.state.log_history if "curriculum/stage" in r]


STEPS = 6


@pytest.fixture(scope="module")
def full(env, tmp_path_factory):
    """An uninterrupted run of STEPS steps with checkpoints every 3 steps (shared by the tests below)."""
    out = tmp_path_factory.mktemp("full")
    return (out, *run(env, out, STEPS, save_strategy="steps", save_steps=3))


def test_trained_sequence_is_pixelis_trains_stream_and_decisions_reach_the_next_step(env, full):
    steps = STEPS
    _, trainer, curriculum, trained = full
    expected = reference_steps(env[0], steps, global_batch=4, micro=2)
    assert [trained[s] for s in range(steps)] == expected
    # the schedule: steps 0-1 all simple, the decision after step 2 makes steps 2-3 all hard, then the mix
    categories = [{c for micro in trained[s] for c, _ in micro} for s in range(steps)]
    assert categories[:4] == [{"simple"}, {"simple"}, {"hard"}, {"hard"}]
    assert categories[4] != {"hard"} and "hard" in categories[4]
    assert [(e.step, e.kind, e.stage_after) for e in curriculum.decisions] == [
        (2, "advance", 1),
        (4, "advance", 2),
        (6, "hold", 2),
    ]
    # curriculum/* through the Trainer's own log, beside its loss line of the same step
    lines = curriculum_lines(trainer)
    assert [(r["step"], r["curriculum/stage"]) for r in lines] == [(2, 1), (4, 2), (6, 2)]
    assert all("eval/simple/token_accuracy" in r and "curriculum/rollback_count" in r for r in lines)
    assert sorted(losses(trainer)) == list(range(1, steps + 1))
    assert all(math.isfinite(v) for v in losses(trainer).values())


def test_labels_are_pixelis_trains_masked_labels(env, tmp_path):
    from pixelis_train.batch import collate, format_rows
    from pixelis_train.chat import ChatFormatter
    from pixelis_train.progress import FormatStats

    split, model_dir = env
    _, tokenizer = lora_model(model_dir)
    args = training_args(tmp_path, 2)
    curriculum = PixelisCurriculum(split, args, tokenizer, curriculum=curriculum_config(), data=data_config(split))
    keys = [("medium", 3), ("hard", 1)]
    batch = curriculum.collator([{"category": c, "row": r} for c, r in keys])
    rows = [SplitFiles(split).categories[c].table.slice(r, 1).to_pylist()[0] for c, r in keys]
    fmt = ChatFormatter(tokenizer, TrainDataConfig().format, None, split.parent / "images")
    reference = collate(format_rows(rows, fmt, False, FormatStats()), tokenizer.pad_token_id)
    for name in ("input_ids", "attention_mask", "labels"):
        assert torch.equal(batch[name], reference[name]), name
    assert int((batch["labels"] != -100).sum()) > 0 and int((batch["labels"] == -100).sum()) > 0


def test_resume_from_checkpoint_continues_the_same_losses_and_decisions(env, full, tmp_path):
    steps = STEPS
    out, full, full_cur, full_trained = full
    ckpt = out / "checkpoint-3"
    saved = json.loads((ckpt / "trainer_state.json").read_text())
    pixelis = saved["stateful_callbacks"]["CurriculumCallback"]["attributes"]["pixelis"]
    assert pixelis["step"] == 3 and pixelis["stream"]["step"] == 3
    assert [r["curriculum/stage"] for r in saved["log_history"] if "curriculum/stage" in r] == [1]
    shutil.copytree(ckpt, tmp_path / "resumed" / "checkpoint-3")

    resumed, cur, trained = run(env, tmp_path / "resumed", steps, save_strategy="steps", save_steps=3, resume=True)
    assert sorted(trained) == [3, 4, 5]
    assert {s: trained[s] for s in trained} == {s: full_trained[s] for s in (3, 4, 5)}
    after = {s: v for s, v in losses(full).items() if s > 3}
    assert losses(resumed).keys() >= after.keys()
    assert np.allclose([losses(resumed)[s] for s in after], list(after.values()), rtol=1e-6, atol=0)
    later = [r for r in curriculum_lines(full) if r["step"] > 3]
    assert [r for r in curriculum_lines(resumed) if r["step"] > 3] == later and len(later) == 2
    assert [e.to_json() for e in cur.progress.events] == [e.to_json() for e in full_cur.progress.events]
    assert [e.to_json() for e in cur.decisions] == [e.to_json() for e in full_cur.decisions if e.step > 3]


def test_sft_trainer_trains_the_same_sequence_and_loss(env, full, tmp_path):
    trl = pytest.importorskip("trl")
    steps = STEPS
    args = trl.SFTConfig(
        **{k: v for k, v in training_args(tmp_path / "sft", steps).to_dict().items() if k in _ARG_KEYS},
        dataset_kwargs={"skip_prepare_dataset": True},
    )
    sft, curriculum, trained = run(env, tmp_path / "sft", steps, trainer_cls=trl.SFTTrainer, args=args)
    assert [trained[s] for s in range(steps)] == reference_steps(env[0], steps, global_batch=4, micro=2)
    assert [(r["step"], r["curriculum/stage"]) for r in curriculum_lines(sft)] == [(2, 1), (4, 2), (6, 2)]
    decided = [(e.step, e.kind, e.stage_after) for e in curriculum.decisions]
    assert decided == [(2, "advance", 1), (4, "advance", 2), (6, "hold", 2)]
    # the same loss as the plain Trainer up to float noise: SFTTrainer computes it through its own fused head
    plain, got = losses(full[1]), losses(sft)
    assert np.allclose([got[s] for s in range(1, steps + 1)], [plain[s] for s in range(1, steps + 1)], rtol=1e-3)


_ARG_KEYS = (
    "output_dir",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "learning_rate",
    "logging_steps",
    "save_strategy",
    "remove_unused_columns",
    "report_to",
    "use_cpu",
    "disable_tqdm",
    "seed",
)


def test_bad_use_is_a_clear_error(env, tmp_path, monkeypatch):
    split, model_dir = env
    model, tokenizer = lora_model(model_dir)
    no_manifest = tmp_path / "incomplete"
    shutil.copytree(split, no_manifest)
    (no_manifest / "manifest.json").unlink()
    with pytest.raises(SplitDirError, match=r"incomplete/manifest.json: missing"):
        PixelisCurriculum(no_manifest, training_args(tmp_path, 2), tokenizer)

    args = training_args(tmp_path, 2, remove_unused_columns=True)
    curriculum = PixelisCurriculum(split, args, tokenizer, curriculum=curriculum_config(), data=data_config(split))
    trainer = transformers.Trainer(model=model, args=args, data_collator=curriculum.collator)
    with pytest.raises(HFSetupError, match=r"remove_unused_columns=True .* drops the 'category' and 'row' keys"):
        curriculum.attach(trainer)
    with pytest.raises(CollatorInputError, match=r"an item has no 'category'/'row' \(got \[\]\).*remove_unused"):
        curriculum.collator([{}, {}])

    with pytest.raises(HFSetupError, match=r"global_batch: 8 over 1 rank is 8 samples per rank, but .* = 2 x 2 = 4"):
        PixelisCurriculum(split, training_args(tmp_path, 2), tokenizer, global_batch=8)
    monkeypatch.setattr(transformers.TrainingArguments, "world_size", property(lambda self: 3))
    with pytest.raises(HFSetupError, match=r"global_batch: 4 is not divisible by the world size 3"):
        PixelisCurriculum(split, training_args(tmp_path, 2), tokenizer, global_batch=4)
