"""Overhead of pixelis_train.hf in a Hugging Face ``Trainer`` run, against the same Trainer without it.

Same tiny model (fresh LoRA from one seed), same steps, same micro-batch and accumulation, same chat
formatting, in one process and one run of this script:

- ``plain``: a list of the very rows the stream will train, in its order (planned beforehand with the
  same seed and the static mixture of policy ``none``), read by the Trainer's sequential sampler and
  formatted by a collator doing what the pixelis collator does (``ChatFormatter`` + ``collate``); so the
  three runs compute exactly the same micro-batches (their final losses are printed: they agree);
- ``stream``: ``PixelisCurriculum`` (one pass over the dataloader per step, the stream's plan, its keys
  fetched by the collator) with the callback but no evaluation during the run (interval > steps);
- ``stream + eval``: the same with the callback's per-category evaluation every ``--eval-interval``
  (8 eval samples per category; policy ``none`` holds, so the weights, and the rows, stay the same).

Inside each run it times the data side (every ``iter`` / ``next`` on the Trainer's dataloader: sampler
or stream plan, fetch, formatting, accelerate's wrappers, and here the new pass per step) and the
callback's ``on_step_end`` (evaluation + decision + log). Reported per optimizer step, wall and this
process's CPU, medians over interleaved repeats: the sampler's overhead is the stream's data side minus
the plain one, the evaluation's is the callback time, both relative to a plain step; the whole-step ratios
are printed too (on a shared machine they carry the load's noise, the component times much less).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/hf_overhead.py [--steps 60] [--eval-interval 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import peft
import torch
import transformers

from pixelis_core.config_io import from_dict
from pixelis_train.batch import collate, format_rows
from pixelis_train.chat import ChatFormatter
from pixelis_train.config import EvalConfig, FormatConfig, ModelConfig, TrainDataConfig
from pixelis_train.curriculum.config import CurriculumConfig
from pixelis_train.curriculum.policy import make_policy
from pixelis_train.demo_data import make_demo_split
from pixelis_train.hf import PixelisCurriculum
from pixelis_train.progress import FormatStats
from pixelis_train.stream import CurriculumStream, SplitFiles, StreamConfig
from pixelis_train.tiny import build_tiny, corpus_from_split

transformers.utils.logging.set_verbosity_error()


def model_and_tokenizer(model_dir: Path):
    from pixelis_train.models import load_base

    base = load_base(model_dir, ModelConfig(), torch.device("cpu"))
    torch.manual_seed(0)
    lora = peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    return peft.get_peft_model(base.model, lora), base.tokenizer


def arguments(out: Path, steps: int, **changes) -> transformers.TrainingArguments:
    return transformers.TrainingArguments(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        logging_steps=10,
        save_strategy="no",
        remove_unused_columns=False,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        **changes,
    )


class Clock:
    """Accumulated wall and CPU seconds of the code run inside ``with clock:``."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> None:
        self._t = (time.perf_counter(), time.process_time())

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._t[0]
        self.cpu += time.process_time() - self._t[1]


class TimedLoader:
    """The Trainer's prepared dataloader, with every ``iter`` and ``next`` on it timed: all the data side
    of a step (sampler or stream plan, fetch, formatting, accelerate's wrappers, a new pass per step)."""

    def __init__(self, inner: object, clock: Clock) -> None:
        self._inner, self._clock = inner, clock

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def __len__(self) -> int:
        return len(self._inner)

    def __iter__(self):
        with self._clock:
            it = iter(self._inner)
        while True:
            with self._clock:
                try:
                    batch = next(it)
                except StopIteration:
                    return
            yield batch


def timed(trainer: transformers.Trainer, steps: int, callback: object = None) -> dict[str, float]:
    """Per step: total, data side and callback seconds (wall, CPU), and the run's mean training loss."""
    trainer.remove_callback(transformers.trainer_callback.PrinterCallback)  # keep the report readable
    data, hook = Clock(), Clock()
    make_loader = trainer.get_train_dataloader
    trainer.get_train_dataloader = lambda: TimedLoader(make_loader(), data)
    if callback is not None:
        on_step_end = callback.on_step_end

        def timed_step_end(*args: object, **kwargs: object) -> None:
            with hook:
                on_step_end(*args, **kwargs)

        callback.on_step_end = timed_step_end
    total = Clock()
    with total:
        loss = trainer.train().training_loss
    return {
        "wall": total.wall / steps,
        "cpu": total.cpu / steps,
        "data_wall": data.wall / steps,
        "data_cpu": data.cpu / steps,
        "hook_wall": hook.wall / steps,
        "hook_cpu": hook.cpu / steps,
        "loss": loss,
    }


def planned_rows(split: Path, steps: int) -> list[dict]:
    """The rows the stream trains in ``steps`` steps with policy 'none' (global batch 4), in order."""
    files = SplitFiles(split)
    cfg = CurriculumConfig(policy="none").with_category_sizes({c: f.n_drawable for c, f in files.categories.items()})
    policy = make_policy(cfg)
    stream = CurriculumStream(
        files, StreamConfig(global_batch=4, micro_batch=2), weights=policy.weights(policy.initial_state())
    )
    return [row for _ in range(steps) for row in stream.fetch(stream.next_step().global_batch).to_pylist()]


def plain_run(split: Path, model_dir: Path, out: Path, steps: int, data: TrainDataConfig):
    model, tokenizer = model_and_tokenizer(model_dir)
    rows = planned_rows(split, steps)
    formatter = ChatFormatter(tokenizer, data.format, None, Path(data.image_root))

    def collator(batch: list[dict]) -> dict:
        return collate(format_rows(batch, formatter, False, FormatStats()), tokenizer.pad_token_id)

    args = arguments(out, steps, train_sampling_strategy="sequential")
    trainer = transformers.Trainer(model=model, args=args, train_dataset=rows, data_collator=collator)
    return timed(trainer, steps)


def stream_run(split: Path, model_dir: Path, out: Path, steps: int, interval: int, data: TrainDataConfig):
    model, tokenizer = model_and_tokenizer(model_dir)
    args = arguments(out, steps)
    cfg = from_dict(CurriculumConfig, {"policy": "none", "eval_interval": interval})
    cur = PixelisCurriculum(split, args, tokenizer, curriculum=cfg, data=data, eval=EvalConfig(max_per_category=8))
    trainer = transformers.Trainer(model=model, args=args, data_collator=cur.collator)
    cur.attach(trainer)
    timing = timed(trainer, steps, cur.callback)
    return timing, len(cur.decisions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--eval-interval", type=int, default=20)
    parser.add_argument("--samples", type=int, default=60, help="training samples per category of the demo split")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs of each configuration")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        split = make_demo_split(root / "split", root / "images", n_per_category=opts.samples, n_eval_per_category=8)
        model_dir = build_tiny("tiny-text", corpus_from_split(split, FormatConfig()), root / "tiny", 2048, seed=0)
        data = TrainDataConfig(image_root=str(root / "images"))
        plain_run(split, model_dir, root / "warm-up", 5, data)  # first-use costs (imports, allocator) go here
        runs: dict[str, list[dict[str, float]]] = {"plain": [], "stream": [], "eval": []}
        for i in range(opts.repeats):  # interleaved, so load changes on the machine hit every configuration
            runs["plain"].append(plain_run(split, model_dir, root / f"plain-{i}", opts.steps, data))
            timing, _ = stream_run(split, model_dir, root / f"stream-{i}", opts.steps, opts.steps + 1, data)
            runs["stream"].append(timing)
            timing, n_evals = stream_run(split, model_dir, root / f"eval-{i}", opts.steps, opts.eval_interval, data)
            runs["eval"].append(timing)
    report(runs, opts.steps, n_evals, opts.repeats)


def report(runs: dict[str, list[dict[str, float]]], steps: int, n_evals: int, repeats: int) -> None:
    """Medians over the repeats, as a Markdown table, and the overheads relative to the plain step."""
    med = {k: {f: statistics.median(r[f] for r in v) for f in v[0]} for k, v in runs.items()}
    print(f"tiny-text, {steps} steps, micro-batch 2 x accumulation 2, {n_evals} evaluations in each `+ eval` run;")
    print(f"medians of {repeats} interleaved runs; ms per optimizer step (wall / CPU of this process)")
    print()
    print("| run | step | data side | callback | mean loss |")
    print("|---|---:|---:|---:|---:|")
    names = {"plain": "plain Trainer", "stream": "pixelis stream + callback", "eval": "  + evaluation"}
    for key, name in names.items():
        m = med[key]
        cells = [f"{1e3 * m[a]:.1f} / {1e3 * m[b]:.1f}" for a, b in (("wall", "cpu"), ("data_wall", "data_cpu"))]
        hook = f"{1e3 * m['hook_wall']:.1f} / {1e3 * m['hook_cpu']:.1f}" if key != "plain" else "-"
        print(f"| {name} | {cells[0]} | {cells[1]} | {hook} | {m['loss']:.6f} |")
    plain, stream, evald = med["plain"], med["stream"], med["eval"]
    for clock in ("wall", "cpu"):
        sampler = (stream[f"data_{clock}"] - plain[f"data_{clock}"]) / plain[clock]
        evaluation = evald[f"hook_{clock}"] / plain[clock]
        print(
            f"\n{clock}: sampler overhead {100 * sampler:+.1f}% of a plain step; evaluation {100 * evaluation:.1f}% "
            f"per step ({1e3 * evald[f'hook_{clock}'] * steps / max(n_evals, 1):.0f} ms each); whole step "
            f"{stream[clock] / plain[clock]:.3f}x (stream), {evald[clock] / plain[clock]:.3f}x (+ eval)"
        )


if __name__ == "__main__":
    main()
