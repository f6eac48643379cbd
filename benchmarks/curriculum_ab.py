"""Does the curriculum help? Every arm x 3 seeds on one split, through `pixelis experiment`.

Data: the controlled counting task (`pixelis generate --task counting`, where a hard sample composes the
observations a simple one reads off) or the demo data (`--data demo`: the default generator, whose
difficulty the model barely sees). Model: tiny-text, config configs/controlled_train.yaml (budget from
--steps). Prints the comparison table and the verdict; the HTML report is `pixelis report OUT/exp`.

    .venv/bin/python benchmarks/curriculum_ab.py [--data counting|demo] [--n 1500] [--steps 300]
        [--arms none,fixed,adaptive,shuffled,anti] [--seeds 3] [--parallel 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PX = [sys.executable, "-m", "pixelis_cli.app"]


def run(*argv: str | Path, check: bool = True) -> int:
    proc = subprocess.run([*PX, *(str(a) for a in argv)], cwd=ROOT)
    if check and proc.returncode != 0:
        sys.exit(f"pixelis {' '.join(str(a) for a in argv)} failed ({proc.returncode})")
    return proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=("counting", "demo"), default="counting")
    parser.add_argument("--n", type=int, default=1500, help="samples to generate")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps of every run (the budget)")
    parser.add_argument("--eval-per-category", type=int, default=40, help="held-out samples per category")
    parser.add_argument("--arms", default="none,fixed,adaptive,shuffled,anti")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "controlled_train.yaml")
    parser.add_argument("--out", type=Path, default=None, help="work directory (default: a temp dir)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix=f"pixelis-ab-{args.data}-"))
    out.mkdir(parents=True, exist_ok=True)
    samples = out / "samples.jsonl"
    task = ["--task", "counting"] if args.data == "counting" else []
    started = time.perf_counter()
    if not (out / "split" / "manifest.json").is_file():
        run("generate", args.n, "-o", samples, "--seed", 0, *task, "--no-progress")
        run("score", samples, "-o", out / "scores.parquet")
        run(
            "split", out / "scores.parquet", "-o", out / "split", "--by-category", "--set", "split.eval_per_category=60"
        )
    code = run(
        "experiment", out / "split", "--model", "tiny-text", "--config", args.config, "--arms", args.arms,
        "--seeds", args.seeds, "--steps", args.steps, "--parallel", args.parallel, "--out", out / "exp",
        check=False,
    )  # fmt: skip
    minutes = (time.perf_counter() - started) / 60
    comparison = json.loads((out / "exp" / "comparison.json").read_text())
    print(f"\n{args.data}: {args.arms} x {args.seeds} seeds, {args.steps} steps, {minutes:.1f} min; work in {out}")
    print(comparison["verdict"])
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main()
