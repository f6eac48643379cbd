"""Does the difficulty pixelis orders data by agree with what a model finds hard? (issue: model-based difficulty)

For each generated set: generate -> score -> split; train a *reference* model (tiny-text, seed 0, a short
run) and `pixelis model-score` the split with it; train a *different* model (seed 1, a longer run) and
model-score the split with that one too. Then the Spearman rank correlation with the different model's
per-sample loss of

- the heuristic composite (`pixelis score`, the five factors alone),
- the composite with model difficulty (`pixelis score --model-scores REFERENCE`),
- the reference model's own loss (how stable a model's order is).

The different model never feeds the composite, so the last two numbers measure transfer, not a tautology.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/difficulty_agreement.py [--sets 0,1,2] [--n 600] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

PX = [sys.executable, "-m", "pixelis_cli.app"]
ROOT = Path(__file__).resolve().parents[1]


def run(*argv: str | Path) -> None:
    argv = tuple(str(a) for a in argv)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run([*PX, *argv], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"pixelis {' '.join(argv)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = pl.Series(a).rank("average").to_numpy()
    rb = pl.Series(b).rank("average").to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


def train_and_score(split: Path, out: Path, seed: int, steps: int, config: Path) -> Path:
    """A tiny-text run on ``split`` and the per-sample losses of its model on every row of the split."""
    model = ["--model", "tiny-text", "--config", str(config), "--seed", str(seed), "--steps", str(steps)]
    run("train", str(split), *model, "--out", str(out), "--no-live")
    scores = out.with_suffix(".model.parquet")
    run("model-score", str(split), "--model", str(out / "base-model"), "--adapter", str(out / "adapter"), "-o", scores)
    return scores


def one_set(seed: int, n: int, work: Path, config: Path, ref_steps: int, other_steps: int) -> dict[str, float]:
    d = work / f"set{seed}"
    d.mkdir(parents=True, exist_ok=True)
    run("generate", str(n), "-o", str(d / "samples.jsonl"), "--seed", str(seed))
    run("score", str(d / "samples.jsonl"), "-o", str(d / "scores.parquet"))
    run("split", str(d / "scores.parquet"), "-o", str(d / "split"), "--by-category")
    ref = train_and_score(d / "split", d / "ref", 0, ref_steps, config)
    other = train_and_score(d / "split", d / "other", 1, other_steps, config)
    run("score", str(d / "samples.jsonl"), "--model-scores", str(ref), "-o", str(d / "scores-model.parquet"))
    heuristic = pl.read_parquet(d / "scores.parquet").select("sample_id", pl.col("difficulty_score").alias("h"))
    combined = pl.read_parquet(d / "scores-model.parquet").select("sample_id", pl.col("difficulty_score").alias("c"))
    ref_loss = pl.read_parquet(ref).select("sample_id", pl.col("model_loss").alias("ref"))
    other_loss = pl.read_parquet(other).select("sample_id", pl.col("model_loss").alias("other"))
    frame = heuristic.join(combined, on="sample_id").join(ref_loss, on="sample_id").join(other_loss, on="sample_id")
    target = frame["other"].to_numpy()
    return {
        "set": seed,
        "samples": frame.height,
        "heuristic": spearman(frame["h"].to_numpy(), target),
        "with_model_scores": spearman(frame["c"].to_numpy(), target),
        "reference_loss": spearman(frame["ref"].to_numpy(), target),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="0,1,2", help="generator seeds, one generated set each")
    parser.add_argument("--n", type=int, default=600, help="samples per set")
    parser.add_argument("--ref-steps", type=int, default=100)
    parser.add_argument("--other-steps", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None, help="keep the work here (default: a temp dir)")
    args = parser.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="pixelis-agreement-"))
    config = work / "train.yaml"
    work.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "lora: {r: 16, alpha: 32}\n"
        "optim: {micro_batch: 4, grad_accum: 1, lr: 0.005, warmup_steps: 10}\n"
        "eval: {max_per_category: 8}\n"
        "curriculum: {policy: none, eval_interval: 50}\n"
        "logging: {every: 25}\n"
        "checkpoint: {save_interval: 1000, keep_last: 1}\n"
        "data: {format: {max_length: 1024}}\n"
    )
    rows = [one_set(int(s), args.n, work, config, args.ref_steps, args.other_steps) for s in args.sets.split(",")]
    print("| set | samples | heuristic composite | composite with model scores | reference model's loss |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['set']} | {r['samples']} | {r['heuristic']:.3f} | {r['with_model_scores']:.3f} "
            f"| {r['reference_loss']:.3f} |"
        )
    (work / "agreement.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"(Spearman with the per-sample loss of a model trained with another seed for longer; work in {work})")


if __name__ == "__main__":
    main()
