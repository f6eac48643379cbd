"""Train with the Hugging Face ``Trainer`` and the pixelis curriculum on a ``pixelis split`` directory.

    python examples/hf_trainer.py SPLIT_DIR OUT_DIR [--steps N] [--model tiny-text|DIR]

Checkpoints go to OUT_DIR/checkpoint-*; their trainer_state.json holds the curriculum state and the
``curriculum/*`` numbers in ``log_history``. Resume by running the same command again. (docs/hf.md)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import peft
import transformers

from pixelis_core.config_io import from_dict
from pixelis_train.config import ModelConfig, TrainDataConfig
from pixelis_train.curriculum.config import CurriculumConfig
from pixelis_train.hf import PixelisCurriculum
from pixelis_train.models import load_base
from pixelis_train.tiny import TINY_NAMES, build_tiny, corpus_from_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("split_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--model", default="tiny-text", help="tiny-text, tiny-vl or a local model directory")
    opts = parser.parse_args()

    data = TrainDataConfig(image_root=str(opts.split_dir.parent / "images"))  # where make_demo_split puts them
    source = opts.model
    if source in TINY_NAMES:  # a tiny random model with a tokenizer trained on the split (offline)
        source = str(build_tiny(source, corpus_from_split(opts.split_dir, data.format), opts.out_dir / "base-model"))
    device = transformers.TrainingArguments(".").device  # cuda when there is a GPU
    base = load_base(source, ModelConfig(), device)
    lora = peft.LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    model = peft.get_peft_model(base.model, lora)

    every = max(1, opts.steps // 4)
    args = transformers.TrainingArguments(
        output_dir=str(opts.out_dir),
        max_steps=opts.steps,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        learning_rate=3e-3,
        logging_steps=1,
        save_steps=max(every, opts.steps // 2),
        remove_unused_columns=False,  # the collator reads the stream's keys, not model inputs
        report_to=[],
        use_cpu=device.type != "cuda",
    )
    curriculum_cfg = from_dict(
        CurriculumConfig,
        {
            "policy": "fixed",
            "eval_interval": every,
            "stages": [
                {"name": "easy", "steps": every, "weights": {"simple": 1.0}},
                {"name": "mixed", "steps": every, "weights": {"simple": 0.5, "medium": 0.5}},
                {"name": "all", "steps": None, "weights": {"simple": 0.2, "medium": 0.3, "hard": 0.5}},
            ],
        },
    )
    curriculum = PixelisCurriculum(
        opts.split_dir, args, base.tokenizer, curriculum=curriculum_cfg, data=data, image_processor=base.image_processor
    )
    trainer = transformers.Trainer(model=model, args=args, data_collator=curriculum.collator)
    curriculum.attach(trainer)
    resume = any(opts.out_dir.glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=True if resume else None)
    for event in curriculum.decisions:
        print(f"step {event.step}: {event.kind} -> {event.stage_name}")


if __name__ == "__main__":
    main()
