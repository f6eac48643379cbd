"""`pixelis model-score` throughput: length-packed batches vs one sample at a time, on one tiny model and data.

Builds generated data (``pixelis generate N --seed 0``, ``score``, ``split``), builds the tiny model from the
split exactly as ``pixelis model-score --model tiny-text`` does, formats every sample once (both chats: with
and without the question), then scores the same pairs three ways in one process and reports samples/s:

- one at a time: every sequence in a forward pass of its own (``--token-budget 1``);
- unsorted: batches in input order, filled up to the token budget (what packing saves over plain batching);
- packed: sorted by length and filled up to the token budget (what the command does).

Each token budget given is timed both ways (unsorted, packed). The script also checks that the packed
numbers equal the one-at-a-time numbers (max abs difference) and prints the padding share of each
batching. Target (issue): packed >= 3x one at a time. Results: docs/model_score.md.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/model_score_throughput.py [--samples 400] [--model tiny-text]
        [--token-budget 16384 2048] [--repeat 1]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pixelis_train.chat import ChatFormatter
from pixelis_train.config import TrainConfig
from pixelis_train.model_score.inputs import open_input
from pixelis_train.model_score.packing import DEFAULT_TOKEN_BUDGET, pack_by_length, padding_of
from pixelis_train.model_score.scoring import Scorer, sample_score, sequence_nll
from pixelis_train.models import load_base
from pixelis_train.tiny import build_tiny, corpus_from_split


def pixelis(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pixelis_cli.app", *args], check=True, capture_output=True)


def unsorted_batches(lengths: list[int], budget: int) -> list[np.ndarray]:
    """Input order, each batch filled while count x longest stays within the budget."""
    batches, start, widest = [], 0, 0
    for k, n in enumerate(lengths):
        widest_with = max(widest, n)
        if k > start and (k - start + 1) * widest_with > budget:
            batches.append(np.arange(start, k))
            start, widest_with = k, n
        widest = widest_with
    batches.append(np.arange(start, len(lengths)))
    return batches


def score_unsorted(scorer: Scorer, pairs, budget: int):
    sequences = [ex for pair in pairs for ex in pair]
    lengths = [len(ex.input_ids) for ex in sequences]
    nll = [None] * len(sequences)
    with torch.no_grad():
        for batch in unsorted_batches(lengths, budget):
            values = sequence_nll(scorer.model, [sequences[i] for i in batch], scorer.pad_id, scorer.device)
            for i, row in zip(batch, values, strict=True):
                nll[i] = row
    return [sample_score(f, nll[2 * k], b, nll[2 * k + 1]) for k, (f, b) in enumerate(pairs)]


def timed(label: str, fn, n: int, repeat: int):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    print(f"{label:<16} {best:7.2f} s   {n / best:7.1f} samples/s")
    return result, n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=400, help="generated samples")
    parser.add_argument("--model", default="tiny-text", choices=["tiny-text", "tiny-vl"])
    parser.add_argument("--token-budget", type=int, nargs="+", default=[DEFAULT_TOKEN_BUDGET, 2048])
    parser.add_argument("--repeat", type=int, default=1, help="time each way this often, keep the fastest")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pixelis("generate", str(args.samples), "-o", str(tmp / "x.jsonl"), "--seed", "0", "--images", str(tmp / "img"))
        pixelis("score", str(tmp / "x.jsonl"))
        pixelis("split", str(tmp / "x.scores.parquet"), "--by-category", "-o", str(tmp / "split"))
        cfg = TrainConfig()
        texts = corpus_from_split(tmp / "split", cfg.data.format)
        model_dir = build_tiny(args.model, texts, tmp / "model", cfg.model.tiny_vocab_size, cfg.seed)
        base = load_base(model_dir, cfg.model, torch.device("cpu"))
        formatter = ChatFormatter(base.tokenizer, cfg.data.format, base.image_processor, tmp / "img")
        inp = open_input(tmp / "split")
        records = inp.records(np.arange(inp.n_rows))
        start = time.perf_counter()
        pairs = [(formatter.format(r), formatter.format(r, with_question=False)) for r in records]
        print(f"formatting {len(pairs)} samples x 2 chats: {time.perf_counter() - start:.2f} s (not timed below)")

    lengths = [len(ex.input_ids) for pair in pairs for ex in pair]
    print(
        f"model {args.model}, {len(pairs)} samples, tokens per chat mean {np.mean(lengths):.0f} "
        f"(min {min(lengths)}, max {max(lengths)}), torch threads {torch.get_num_threads()}"
    )
    device = torch.device("cpu")
    pad = int(base.tokenizer.pad_token_id)
    base.model.eval()
    one_scorer = Scorer(base.model, pad, device, 1)
    one, one_rate = timed("one at a time", lambda: one_scorer.score(pairs), len(pairs), args.repeat)
    for budget in args.token_budget:
        scorer = Scorer(base.model, pad, device, budget)
        print(f"-- token budget {budget}")
        _, unsorted_rate = timed(
            "unsorted", lambda s=scorer, b=budget: score_unsorted(s, pairs, b), len(pairs), args.repeat
        )
        packed, packed_rate = timed("packed", lambda s=scorer: s.score(pairs), len(pairs), args.repeat)
        for name, batches in (
            ("unsorted", unsorted_batches(lengths, budget)),
            ("packed", pack_by_length(lengths, budget)),
        ):
            share = padding_of(lengths, batches).overhead
            print(f"{name} batches: {len(batches)}, mean {len(lengths) / len(batches):.1f} chats, padding {share:.1%}")
        diff = max(
            abs(getattr(a, k) - getattr(b, k))
            for a, b in zip(one, packed, strict=True)
            for k in ("model_loss", "answer_loss", "ifd")
            if getattr(a, k) is not None
        )
        print(
            f"packed vs one at a time: {packed_rate / one_rate:.2f}x samples/s (target >= 3x); unsorted vs one "
            f"at a time: {unsorted_rate / one_rate:.2f}x; max |packed - one| = {diff:.2e}"
        )


if __name__ == "__main__":
    main()
