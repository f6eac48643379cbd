"""Training overhead on CPU: share of step time spent waiting for data, and in curriculum evaluation.

Builds generated data with images (``pixelis generate / score / split``), trains ``tiny-vl`` (or
``--model tiny-text``) with the default TrainConfig except the number of steps, and reports:

- data share = time planning + fetching + formatting batches / (that + forward/backward/optimizer time),
  measured over every step of the run (the loop is synchronous, so this is all time the model waits);
- eval share at the default interval = one evaluation / (eval_interval x mean step time + one evaluation),
  where one evaluation (the default ``eval.max_per_category`` samples per category, plus the policy
  decision) is timed in the run, which evaluates every ``--probe-interval`` steps to get several samples.

Targets (issue 7): data < 5%, eval < 3%.

    .venv/bin/python benchmarks/train_overhead.py [--steps 60] [--samples 400] [--model tiny-vl]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pixelis_core.config_io import from_dict, to_dict
from pixelis_train.config import TrainConfig
from pixelis_train.loop import train


def pixelis(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pixelis_cli.app", *args], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps to time")
    parser.add_argument("--samples", type=int, default=400, help="generated samples")
    parser.add_argument("--model", default="tiny-vl", choices=["tiny-vl", "tiny-text"])
    parser.add_argument("--probe-interval", type=int, default=20, help="eval every N steps while measuring")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        pixelis("generate", str(args.samples), "-o", str(tmp / "data.jsonl"), "--images", str(tmp / "images"))
        pixelis("score", str(tmp / "data.jsonl"))
        # as many eval samples per category as the default evaluation uses, so its cost is the default's
        per_category = str(TrainConfig().eval.max_per_category)
        pixelis(
            "split",
            str(tmp / "data.scores.parquet"),
            "--by-category",
            "--eval-per-category",
            per_category,
            "-o",
            str(tmp / "split"),
        )
        prep = time.perf_counter() - t0

        defaults = TrainConfig()
        data = to_dict(defaults)
        data["model"]["name"] = args.model
        data["optim"]["steps"] = args.steps
        data["data"]["image_root"] = str(tmp / "images")
        data["curriculum"]["eval_interval"] = args.probe_interval
        data["logging"]["live"] = False
        data["checkpoint"]["save_interval"] = args.steps
        cfg = from_dict(TrainConfig, data)
        summary = train(tmp / "split", cfg, tmp / "run")

    t = summary.timings
    n_evals = args.steps // args.probe_interval + (args.steps % args.probe_interval != 0)
    step_time = (t["data"] + t["compute"]) / args.steps
    eval_time = t["eval"] / n_evals
    interval = defaults.curriculum.eval_interval
    data_share = t["data"] / (t["data"] + t["compute"])
    eval_share = eval_time / (interval * step_time + eval_time)
    print(
        f"model {args.model}, {args.steps} steps, global batch "
        f"{defaults.optim.micro_batch * defaults.optim.grad_accum}, eval {defaults.eval.max_per_category}"
        f"/category, data prep {prep:.1f}s (not counted)"
    )
    print(
        f"mean step {step_time * 1000:.1f} ms (data {t['data'] / args.steps * 1000:.1f} ms), "
        f"one evaluation {eval_time:.2f} s ({n_evals} timed)"
    )
    print(f"data wait share:               {data_share:6.2%}   (target < 5%)")
    print(f"eval share at interval {interval}:    {eval_share:6.2%}   (target < 3%)")
    print(
        f"samples formatted {summary.format_stats} (eval set: {sum(m.n_samples for m in summary.final_eval.values())})"
    )


if __name__ == "__main__":
    main()
