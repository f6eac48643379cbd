"""torchrun with 2 CPU processes (gloo) on tiny-text: DDP and FSDP2 equal one process with the same
global batch, every rank takes the same curriculum decisions, resume continues exactly, a failing rank
ends the job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from run_records import assert_same_adapter, deterministic_log
from test_train_e2e import small_config

from pixelis_core.config_io import dump_yaml
from pixelis_train.checkpoint import checkpoint_dirs, resolve_resume
from pixelis_train.demo_data import make_demo_split
from pixelis_train.loop import train
from pixelis_train.runlog import read_run_log
from pixelis_train.stream import CurriculumStream, StreamConfig

pytestmark = pytest.mark.slow

N = 8
ROOT = Path(__file__).parent.parent

# One rank of a torchrun job: runs the loop, records every curriculum decision (its input numbers and its
# event) to decisions-rankR.json; optionally SIGTERMs rank 0 only, or raises on one rank, at a planned step.
WORKER = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    from pixelis_core.config_io import load_yaml
    from pixelis_train import build, loop
    from pixelis_train.checkpoint import resolve_resume
    from pixelis_train.config import TrainConfig

    split, cfg_path, run, resume, action, at_step = sys.argv[1:7]
    rank = int(os.environ["RANK"])
    decisions = []
    make_policy = build.make_policy

    class Recording:  # the policy is frozen: delegate to it, recording decide()
        def __init__(self, policy):
            self.policy = policy

        def __getattr__(self, name):
            return getattr(self.policy, name)

        def decide(self, state, evaluation):
            new_state, event = self.policy.decide(state, evaluation)
            decisions.append({"step": evaluation.step, "performance": evaluation.performance,
                              "event": event.to_json()})
            return new_state, event

    def recording_policy(cfg):
        return Recording(make_policy(cfg))

    build.make_policy = recording_policy
    real = build.CurriculumStream.next_step

    def next_step(self):
        if self.step == int(at_step):
            if action == "sigterm" and rank == 0:
                os.kill(os.getpid(), signal.SIGTERM)
            if action == "fail1" and rank == 1:
                raise RuntimeError("boom on rank 1")
        return real(self)

    build.CurriculumStream.next_step = next_step
    summary = loop.train(Path(split), load_yaml(TrainConfig, cfg_path), Path(run),
                         resume=resolve_resume(resume if resume != "-" else None, Path(run)))
    Path(run, f"decisions-rank{rank}.json").write_text(json.dumps(
        {"decisions": decisions, "stopped": summary.stopped, "steps_done": summary.steps_done}))
    """
)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _torchrun(tmp: Path, cfg, run: Path, resume: str = "-", action: str = "-", at_step: int = -1):
    cfg_path = run.parent / f"{run.name}.yaml"
    cfg_path.write_text(dump_yaml(cfg))
    script = tmp / "worker.py"
    script.write_text(WORKER)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    args = [str(tmp / "split"), str(cfg_path), str(run), resume, action, str(at_step)]
    return subprocess.run(command + args, env=_env(), capture_output=True, text=True, timeout=240)


def _config(images: Path, strategy: str, grad_accum: int = 1, **changes):
    """Global batch 4: 2 ranks x micro 2 x accum 1, or 1 process x micro 2 x accum 2. No dropout: the same
    gradients whatever the split of the batch."""
    return small_config(
        "tiny-text",
        images,
        **{
            "optim.steps": N,
            "optim.grad_accum": grad_accum,
            "lora.dropout": 0.0,
            "logging.every": 1,
            "checkpoint.average_last": 0,
            "distributed.strategy": strategy,
            "distributed.timeout_s": 60,
            **changes,
        },
    )


def _vl_config(images: Path, grad_accum: int):
    """tiny-vl, 4 steps of global batch 2 (micro 1), skipping samples whose image is missing."""
    return small_config(
        "tiny-vl",
        images,
        **{
            "optim.steps": 4,
            "optim.micro_batch": 1,
            "optim.grad_accum": grad_accum,
            "data.skip_bad_samples": True,
            "lora.dropout": 0.0,
            "logging.every": 1,
            "checkpoint.average_last": 0,
            "distributed.timeout_s": 60,
        },
    )


def _train_lines(run: Path) -> list[dict]:
    return [r for r in read_run_log(run / "metrics.jsonl").as_json() if r["kind"] == "train"]


def _deterministic(run: Path) -> list[dict]:
    """Log records without wall-clock fields (and checkpoint records: a stopped run writes one more)."""
    return deterministic_log(run, skip=("start", "end", "checkpoint", "resume"))


def _decisions(run: Path, rank: int) -> dict:
    return json.loads((run / f"decisions-rank{rank}.json").read_text())


def _assert_same_training(run: Path, reference: Path, rel: float) -> None:
    ours, ref = _train_lines(run), _train_lines(reference)
    assert [r["step"] for r in ours] == [r["step"] for r in ref] == list(range(1, N + 1))
    for a, b in zip(ours, ref, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=rel)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=rel)
        assert a["stage"] == b["stage"]
    evals = [r for r in read_run_log(run / "metrics.jsonl").as_json() if r["kind"] == "eval"]
    ref_evals = [r for r in read_run_log(reference / "metrics.jsonl").as_json() if r["kind"] == "eval"]
    assert len(evals) == len(ref_evals) == 2
    for a, b in zip(evals, ref_evals, strict=True):
        for key in b:
            if key.endswith(("/loss", "/exp_neg_loss")):
                assert a[key] == pytest.approx(b[key], rel=rel), key
            else:  # counts and accuracies are sums of integers: exact
                assert a[key] == b[key], key
    assert_same_adapter(run, reference, atol=1e-5)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The split, a single-process reference run and a straight 2-process DDP run."""
    tmp = tmp_path_factory.mktemp("dist")
    make_demo_split(tmp / "split", tmp / "images", n_per_category=12, n_eval_per_category=3)
    single = tmp / "single"
    train(tmp / "split", _config(tmp / "images", "auto", grad_accum=2), single)
    ddp = tmp / "ddp"
    done = _torchrun(tmp, _config(tmp / "images", "ddp"), ddp)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp, single, ddp


def test_ddp_equals_one_process_and_ranks_decide_alike(runs):
    _, single, ddp = runs
    _assert_same_training(ddp, single, rel=1e-5)
    # both ranks fed the policy the very same all-reduced numbers and got the very same events
    rank0, rank1 = _decisions(ddp, 0), _decisions(ddp, 1)
    assert rank0 == rank1
    assert [d["step"] for d in rank0["decisions"]] == [4, 8]
    assert [d["event"]["kind"] for d in rank0["decisions"]] == ["advance", "advance"]
    # only rank 0 wrote the log: every record once; the start record names the layout
    log = read_run_log(ddp / "metrics.jsonl").as_json()
    assert [r["kind"] for r in log].count("start") == 1
    assert {k: log[0][k] for k in ("world_size", "strategy")} == {"world_size": 2, "strategy": "ddp"}
    state = json.loads((checkpoint_dirs(ddp)[-1] / "state.json").read_text())
    assert (state["world_size"], state["stream"]["step"]) == (2, N)
    assert {p.name for p in checkpoint_dirs(ddp)[-1].iterdir()} >= {"rng.pt", "rng-rank1.pt", "optimizer.pt"}


def test_ddp_resume_after_a_signal_on_one_rank_continues_exactly(runs):
    tmp, _, ddp = runs
    cfg = _config(tmp / "images", "ddp")
    resumed = tmp / "ddp-resumed"
    # SIGTERM reaches rank 0 only, while it plans step 4 during step 3: both ranks stop after step 3
    first = _torchrun(tmp, cfg, resumed, action="sigterm", at_step=3)
    assert first.returncode == 0, first.stderr[-3000:]
    assert _decisions(resumed, 0)["stopped"] == "SIGTERM"
    assert _decisions(resumed, 1) == {"decisions": [], "stopped": "signal (on another rank)", "steps_done": 3}
    assert [p.name for p in checkpoint_dirs(resumed)] == ["step-00000003"]
    # continue through the CLI convenience (re-executes itself under torchrun)
    cfg_path = tmp / "ddp-resumed.yaml"
    pixelis = [sys.executable, "-m", "pixelis_cli.app", "train", str(tmp / "split"), "--config", str(cfg_path)]
    cont = subprocess.run(
        [*pixelis, "--out", str(resumed), "--resume", "auto", "--nproc", "2", "--no-live"],
        env=_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert cont.returncode == 0, cont.stderr[-3000:]
    assert "steps 3 -> 8 (completed)" in cont.stdout
    assert _deterministic(resumed) == _deterministic(ddp)
    assert_same_adapter(ddp, resumed)


def test_resume_with_another_world_size_warns_and_goes_on(runs, tmp_path):
    tmp, single, ddp = runs
    run = tmp_path / "run"
    # the checkpoint at step 4 of the 2-process run, continued by one process with the same global batch
    ckpt = checkpoint_dirs(ddp)[0]
    assert ckpt.name == "step-00000004"
    with pytest.warns(UserWarning, match=r"written by 2 process\(es\), resumed with 1: .*not bit-identical"):
        summary = train(tmp / "split", _config(tmp / "images", "auto", grad_accum=2), run, resume=ckpt)
    assert (summary.start_step, summary.steps_done) == (4, N)
    # no dropout here, so even the numbers continue as the single-process run's
    tail = {r["step"]: r["loss"] for r in _train_lines(single)}
    for record in _train_lines(run):
        assert record["loss"] == pytest.approx(tail[record["step"]], rel=1e-5)


def test_fsdp_equals_one_process_and_resumes(runs):
    tmp, single, _ = runs
    cfg = _config(tmp / "images", "fsdp")
    run = tmp / "fsdp"
    first = _torchrun(tmp, cfg, run, action="sigterm", at_step=5)
    assert first.returncode == 0, first.stderr[-3000:]
    assert [p.name for p in checkpoint_dirs(run)] == ["step-00000004", "step-00000005"]
    second = _torchrun(tmp, cfg, run, resume="auto")
    assert second.returncode == 0, second.stderr[-3000:]
    assert _decisions(run, 0) == _decisions(run, 1)
    # the optimizer state went through FSDP's full-state gathering and back: the run goes on as one process's
    _assert_same_training(run, single, rel=1e-5)
    # an fsdp checkpoint is not resumed by ddp (the optimizer state layouts differ)
    with pytest.raises(ValueError, match=r"written with strategy 'fsdp', resumed with 'none'"):
        train(tmp / "split", _config(tmp / "images", "auto", grad_accum=2), tmp / "x", resume=checkpoint_dirs(run)[-1])


def test_a_failing_rank_ends_the_job_with_its_error(runs, tmp_path):
    tmp, _, _ = runs
    # the subprocess timeout is the bound: a hang fails the test with TimeoutExpired
    done = _torchrun(tmp, _config(tmp / "images", "ddp"), tmp_path / "run", action="fail1", at_step=2)
    assert done.returncode != 0
    assert "RuntimeError: boom on rank 1" in done.stderr
    assert resolve_resume("auto", tmp_path / "run") is None  # it died before its first checkpoint


def test_a_rank_whose_samples_are_all_skipped_still_steps_in_lockstep(tmp_path):
    """tiny-vl with missing images and skip_bad_samples: in some steps one rank has no usable sample.
    It runs a filler micro-batch that trains no token, so the job neither hangs nor changes the math."""
    split = make_demo_split(tmp_path / "split", tmp_path / "images", n_per_category=8, n_eval_per_category=2)
    for i in (0, 2, 3, 5):
        (tmp_path / "images" / f"simple-{i:05d}.png").unlink()
    # the premise: with this seed, some step leaves exactly one of the two ranks with only missing images
    lonely = 0
    streams = [
        CurriculumStream(split, StreamConfig(global_batch=2, world_size=2, rank=r), weights={"simple": 1.0})
        for r in (0, 1)
    ]
    for _ in range(4):
        missing = []
        for stream in streams:
            (batch,) = stream.next_step().micro_batches
            images = stream.fetch(batch).column("images").to_pylist()[0]
            missing.append(not (tmp_path / "images" / images[0]).exists())
        lonely += missing[0] != missing[1]
    assert lonely >= 1

    single = tmp_path / "single"
    train(split, _vl_config(tmp_path / "images", grad_accum=2), single)
    ddp = tmp_path / "ddp"
    done = _torchrun(tmp_path, _vl_config(tmp_path / "images", grad_accum=1), ddp)
    assert done.returncode == 0, done.stderr[-3000:]
    ours, ref = _train_lines(ddp), _train_lines(single)
    assert [r["skipped_samples"] for r in ours] == [r["skipped_samples"] for r in ref] == [0, 2, 3, 4]
    for a, b in zip(ours, ref, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5, abs=1e-9)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-5, abs=1e-9)
