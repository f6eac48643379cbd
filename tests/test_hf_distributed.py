"""2 CPU processes (torchrun, gloo) with the real transformers.Trainer: every rank trains exactly its
contiguous slice of the stream's global batch (gradient accumulation 2), and both ranks decide alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_hf_trainer import env, reference_steps  # noqa: F401  (env is a fixture)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]

ROOT = Path(__file__).parent.parent
STEPS = 4

# One rank: the same script a user writes (TrainingArguments under torchrun), recording what its collator
# was given per step, its losses and its curriculum decisions to rank-R.json.
WORKER = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    import transformers
    from test_hf_trainer import curriculum_config, data_config, lora_model, training_args
    from pixelis_train.hf import PixelisCurriculum

    split, model_dir, out = (Path(a) for a in sys.argv[1:4])
    model, tokenizer = lora_model(model_dir)
    args = training_args(out, int(sys.argv[4]), per_device_train_batch_size=1, gradient_accumulation_steps=2,
                         ddp_backend="gloo")
    cur = PixelisCurriculum(split, args, tokenizer, curriculum=curriculum_config(), data=data_config(split),
                            global_batch=4)
    trained = {}

    def recording(features):
        trained.setdefault(trainer.state.global_step, []).append([[f["category"], f["row"]] for f in features])
        return cur.collator(features)

    trainer = transformers.Trainer(model=model, args=args, data_collator=recording)
    cur.attach(trainer)
    trainer.train()
    Path(out, f"rank-{args.process_index}.json").write_text(json.dumps({
        "world_size": args.world_size, "trained": trained,
        "decisions": [e.to_json() for e in cur.decisions],
        "losses": [r["loss"] for r in trainer.state.log_history if "loss" in r],
    }))
    """
)


def test_two_gloo_ranks_train_their_disjoint_slices(env, tmp_path):  # noqa: F811
    split, model_dir = env
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    paths = [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    proc = subprocess.run(
        [*command, str(split), str(model_dir), str(tmp_path / "out"), str(STEPS)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / "out" / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    whole = reference_steps(split, STEPS, global_batch=4, micro=1)  # one process, micro-batch 1: 4 per step
    for rank, got in enumerate(ranks):
        trained = {int(s): [[tuple(k) for k in micro] for micro in v] for s, v in got["trained"].items()}
        expected = reference_steps(split, STEPS, global_batch=4, micro=1, world=2, rank=rank)
        assert [trained[s] for s in range(STEPS)] == expected  # 2 micro-batches of 1 per step: its slice
        for step in range(STEPS):  # rank r's slice is [2r, 2r + 2) of the global batch
            assert trained[step] == whole[step][2 * rank : 2 * rank + 2]
    assert ranks[0]["decisions"] == ranks[1]["decisions"] and len(ranks[0]["decisions"]) == STEPS // 2
    assert ranks[0]["losses"] == ranks[1]["losses"] and len(ranks[0]["losses"]) == STEPS
