"""`pixelis model-score` numbers: model_loss, answer_loss, IFD and n_tokens against a plain per-sample torch
computation, independence from the batching, packing, records input, and a tiny run's adapter."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import torch

from pixelis_core.config_io import apply_overrides
from pixelis_train import distributed
from pixelis_train.chat import IGNORE_INDEX, ChatFormatter
from pixelis_train.config import DistributedConfig, TrainConfig
from pixelis_train.demo_data import make_demo_split
from pixelis_train.model_score.inputs import SPLIT_FILES, pending_rows
from pixelis_train.model_score.packing import pack_by_length, padding_of
from pixelis_train.model_score.run import ModelScoreJob, ModelScoreResult, run_model_score
from pixelis_train.model_score.scoring import Scorer
from pixelis_train.model_score.shards import OUTPUT_SCHEMA, shard_dir_for
from pixelis_train.models import load_base
from pixelis_train.stream.split_files import open_arrow
from pixelis_train.tiny import build_tiny, corpus_from_split

pytestmark = pytest.mark.slow

COLUMNS = ["sample_id", "model_loss", "answer_loss", "ifd", "n_tokens"]


def score_config(model: str, **changes) -> TrainConfig:
    """The default train config with ``model`` and dotted-field ``changes`` (as ``--set`` gives them)."""
    return apply_overrides(TrainConfig(), {"model.name": model, **changes})


def split_rows(split_dir: Path) -> list[dict]:
    """Every row of the split, in the order model-score reads them."""
    return [row for name in SPLIT_FILES for row in open_arrow(split_dir / f"{name}.arrow").to_pylist()]


def run_job(inp: Path, out: Path, cfg: TrainConfig, **kw) -> pl.DataFrame:
    with distributed.session(DistributedConfig()) as ctx:
        run_model_score(ModelScoreJob(inp, out, cfg, **kw), ctx)
    return pl.read_parquet(out)


def run_job_result(inp: Path, out: Path, cfg: TrainConfig, **kw) -> ModelScoreResult:
    with distributed.session(DistributedConfig()) as ctx:
        result = run_model_score(ModelScoreJob(inp, out, cfg, **kw), ctx)
    assert result is not None
    return result


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A small demo split, its images, and a tiny-text model built from it exactly as train builds it."""
    root = tmp_path_factory.mktemp("ms")
    split = make_demo_split(root / "split", root / "images", n_per_category=6, n_eval_per_category=2)
    cfg = TrainConfig()
    tiny = build_tiny("tiny-text", corpus_from_split(split, cfg.data.format), root / "tiny", 2048, cfg.seed)
    return root, split, tiny


def reference(model, formatter: ChatFormatter, record: dict) -> dict:
    """One sample, one forward pass, own masking: NLL of token p from the logits at p - 1 where it is trained."""

    def nll_of(rec: dict) -> tuple[list[int], dict[int, float]]:
        ex = formatter.format(rec)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ex.input_ids])).logits[0].double()
        logp = torch.log_softmax(logits, dim=-1)
        trained = [p for p in range(1, len(ex.input_ids)) if ex.labels[p] != IGNORE_INDEX]
        return trained, {p: -float(logp[p - 1, ex.input_ids[p]]) for p in trained}

    trained, nll = nll_of(record)
    model_loss = sum(nll.values()) / len(trained)
    # the last assistant turn: the last run of consecutive trained positions (its "\n" after <|im_end|> is not)
    final = [trained[-1]]
    while final[0] - 1 in nll:
        final.insert(0, final[0] - 1)
    answer_loss = sum(nll[p] for p in final) / len(final) if (record.get("answer") or "").strip() else None
    # unconditioned: the same chat with an empty question (a text model shows no image anyway)
    bare_trained, bare_nll = nll_of({**record, "question": ""})
    assert len(bare_trained) == len(trained)
    ifd = model_loss / (sum(bare_nll.values()) / len(bare_trained))
    return {"model_loss": model_loss, "answer_loss": answer_loss, "ifd": ifd, "n_tokens": len(trained)}


def test_losses_answer_loss_and_ifd_match_a_per_sample_reference(env, tmp_path):
    _root, split, tiny = env
    out = tmp_path / "ms.parquet"
    got = run_job(split, out, score_config(str(tiny)), token_budget=4096, shard_rows=7)
    rows = split_rows(split)
    assert got.columns == COLUMNS
    assert pq.read_schema(out).remove_metadata() == OUTPUT_SCHEMA
    assert got["sample_id"].to_list() == sorted(r["sample_id"] for r in rows)  # every sample once, sorted
    assert not shard_dir_for(out).exists()
    base = load_base(tiny, TrainConfig().model, torch.device("cpu"))
    base.model.eval()
    formatter = ChatFormatter(base.tokenizer, TrainConfig().data.format)
    by_id = {r["sample_id"]: r for r in got.iter_rows(named=True)}
    for record in rows:
        want, have = reference(base.model, formatter, record), by_id[record["sample_id"]]
        assert have["n_tokens"] == want["n_tokens"]
        for key in ("model_loss", "answer_loss", "ifd"):
            assert have[key] == pytest.approx(want[key], abs=1e-5), (record["sample_id"], key)
    meta = pq.read_schema(out).metadata
    assert meta[b"pixelis.model"] == str(tiny).encode() and meta[b"pixelis.adapter"] == b""


def test_numbers_do_not_depend_on_the_batching(env):
    _, split, tiny = env
    base = load_base(tiny, TrainConfig().model, torch.device("cpu"))
    formatter = ChatFormatter(base.tokenizer, TrainConfig().data.format)
    pairs = [(formatter.format(r), formatter.format(r, with_question=False)) for r in split_rows(split)]
    results = {
        budget: Scorer(base.model, base.tokenizer.pad_token_id, torch.device("cpu"), budget).score(pairs)
        for budget in (1, 700, 3000, 10**6)  # one at a time, a few per batch, everything in one batch
    }
    one = results[1]
    for budget, scores in results.items():
        for a, b in zip(one, scores, strict=True):
            assert a.sample_id == b.sample_id and a.n_tokens == b.n_tokens
            for key in ("model_loss", "answer_loss", "ifd"):
                assert abs(getattr(a, key) - getattr(b, key)) < 1e-5, (budget, key)


def test_tiny_vl_batches_equal_one_at_a_time_and_the_bare_chat_drops_the_question_image(tmp_path):
    split = make_demo_split(tmp_path / "split", tmp_path / "images", n_per_category=2, n_eval_per_category=1)
    cfg = TrainConfig()
    tiny = build_tiny("tiny-vl", corpus_from_split(split, cfg.data.format), tmp_path / "tiny", 2048, cfg.seed)
    base = load_base(tiny, cfg.model, torch.device("cpu"))
    formatter = ChatFormatter(base.tokenizer, cfg.data.format, base.image_processor, tmp_path / "images")
    rows = split_rows(split)
    pairs = [(formatter.format(r), formatter.format(r, with_question=False)) for r in rows]
    for full, bare in pairs:  # the question's image is gone, the ZOOM_IN crop (an observation) stays
        assert len(full.image_grid_thw) == 2 and len(bare.image_grid_thw) == 1
    one = Scorer(base.model, base.tokenizer.pad_token_id, torch.device("cpu"), 1).score(pairs)
    packed = Scorer(base.model, base.tokenizer.pad_token_id, torch.device("cpu"), 10**6).score(pairs)
    for a, b in zip(one, packed, strict=True):
        for key in ("model_loss", "answer_loss", "ifd"):
            assert abs(getattr(a, key) - getattr(b, key)) < 1e-5, key
    assert all(s.ifd != 1.0 for s in one)  # the question and image change the loss


def test_pack_by_length_fills_the_budget_sorted_with_every_index_once():
    rng = np.random.default_rng(0)
    lengths = [*rng.integers(1, 400, 500).tolist(), 5000]  # the last one is longer than the budget
    batches = pack_by_length(lengths, 2048)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)
    for batch in batches:
        widest = max(lengths[i] for i in batch)
        assert len(batch) * widest <= 2048 or len(batch) == 1
    for a, b in itertools.pairwise(batches):  # greedy: the next one would not have fitted
        assert (len(a) + 1) * lengths[b[0]] > 2048
    assert padding_of(lengths, batches).overhead < 0.05
    with pytest.raises(ValueError, match="token_budget: must be >= 1"):
        pack_by_length([3], 0)


def test_records_input_rejects_null_answer_and_samples_without_trained_tokens(env, tmp_path):
    _, split, tiny = env
    rows = split_rows(split)[:3]
    records = [{k: v for k, v in r.items() if k != "category"} for r in rows]
    no_answer = {**records[0], "sample_id": "no-answer", "answer": ""}
    no_answer["trajectory"] = [s for s in no_answer["trajectory"] if s["action"] != "THINK"]
    too_long = {**records[1], "sample_id": "too-long", "question": "zebra " * 600}  # the prompt alone > 512
    lines = [json.dumps(r) for r in [*records, no_answer, too_long]] + ['{"sample_id": "broken", "trajectory": 1}']
    data = tmp_path / "records.jsonl"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "records.model.parquet"
    result = run_job_result(data, out, score_config(str(tiny), **{"data.format.max_length": 512}))
    assert (result.n_input, result.n_rejected, result.n_no_tokens, result.n_rows) == (6, 1, 1, 4)
    assert "'too-long': no trained token" in result.skip_reasons[0]
    got = pl.read_parquet(out)
    assert got["sample_id"].to_list() == sorted([r["sample_id"] for r in records] + ["no-answer"])
    row = got.filter(pl.col("sample_id") == "no-answer").row(0, named=True)
    assert row["answer_loss"] is None and row["model_loss"] > 0 and row["n_tokens"] > 0
    assert got.filter(pl.col("sample_id") != "no-answer")["answer_loss"].null_count() == 0
    rejects = (tmp_path / "records.model.rejects.jsonl").read_text().splitlines()
    assert len(rejects) == 1 and '"line": 6' in rejects[0]


def test_ranks_take_disjoint_shares_of_what_is_not_done():
    ids = pl.Series("sample_id", [f"s{i:02d}" for i in range(11)])
    done = pl.Series("sample_id", ["s01", "s04", "s07"])
    shares = [pending_rows(ids, rank, 3, done).tolist() for rank in range(3)]
    assert shares == [[0, 3, 6, 9], [10], [2, 5, 8]]  # row i goes to rank i % 3; s01, s04, s07 are skipped
    assert pending_rows(ids, 0, 1, pl.Series("sample_id", [], dtype=pl.String)).tolist() == list(range(11))
