"""An experiment's plan: the arms (curriculum policies) x seeds, and the `pixelis train` run of each.

Every run is an ordinary ``pixelis train`` on the same split, model, config, budget and eval set; only
``curriculum.policy`` (the arm) and ``--seed`` differ. Runs live in ``OUT/runs/ARM-seedS`` and are
started with ``--resume auto``, so an experiment that was killed continues where it stood: a finished
run is skipped, an interrupted one resumes from its last checkpoint. Torch-free.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pixelis_train.curriculum.config import POLICIES
from pixelis_train.runlog import METRICS_FILE, EndRecord, read_run_log

ADAPTER_DIR = "adapter"
"""A finished run's adapter (``pixelis_train.checkpoint.ADAPTER``; that module imports torch)."""
RUNS_DIR = "runs"
COMPARISON_FILE = "comparison.json"
ERROR_FILE = "error.txt"
STDOUT_FILE = "train.out"
STDERR_FILE = "train.err"
FINISHED_STOPS = ("completed", "early stopping")
"""How a run that needs no more work ended (an early-stopped run would only train past its own stop)."""
RESERVED_SETS = ("curriculum.policy", "seed")
"""Fields the experiment sets per run itself (--arms, --seeds), so a --set of them is refused."""

RunState = Literal["finished", "partial", "new"]


def parse_arms(text: str) -> tuple[str, ...]:
    """``'none,adaptive'`` -> ('none', 'adaptive'); unknown, duplicate or no arms are a ValueError."""
    arms = tuple(a.strip() for a in text.split(",") if a.strip())
    if not arms:
        raise ValueError(f"--arms: give at least one arm, comma-separated (known: {', '.join(POLICIES)})")
    unknown = [a for a in arms if a not in POLICIES]
    if unknown:
        raise ValueError(f"--arms: unknown arm(s) {', '.join(map(repr, unknown))} (known: {', '.join(POLICIES)})")
    repeated = sorted({a for a in arms if arms.count(a) > 1})
    if repeated:
        raise ValueError(f"--arms: arm(s) given twice: {', '.join(repeated)} (got {text!r})")
    return arms


def check_sets(sets: Sequence[str]) -> None:
    """Refuse a ``--set`` of a field the experiment sets per run (ValueError naming it)."""
    for item in sets:
        key = item.split("=", 1)[0].strip()
        if key in RESERVED_SETS:
            flag = "--arms" if key == "curriculum.policy" else "--seeds"
            raise ValueError(f"--set {item}: the experiment sets {key} of every run itself (use {flag})")


@dataclass(frozen=True)
class RunSpec:
    """One run of the experiment: an arm, a seed and its directory."""

    arm: str
    seed: int
    run_dir: Path

    @property
    def name(self) -> str:
        """``ARM-seedS``: the run directory's name and the run's label in tables."""
        return f"{self.arm}-seed{self.seed}"


@dataclass(frozen=True)
class ExperimentPlan:
    """What ``pixelis experiment`` runs: arms x seeds 0..K-1 of one split, model and config."""

    split_dir: Path
    model: str
    arms: tuple[str, ...]
    seeds: int
    """Number of seeds K: every arm runs with seeds 0..K-1 (the same seeds, so runs pair by seed)."""
    out: Path
    config: Path | None = None
    sets: tuple[str, ...] = ()
    steps: int | None = None
    parallel: int = 1
    python: str = field(default=sys.executable)
    """The interpreter that runs ``-m pixelis_cli.app train`` (= ``pixelis train``) in each child."""

    def __post_init__(self) -> None:
        if not self.arms:
            raise ValueError("--arms: give at least one arm")
        if self.seeds < 1:
            raise ValueError(f"--seeds: must be >= 1 (got {self.seeds})")
        if self.parallel < 1:
            raise ValueError(f"--parallel: must be >= 1 (got {self.parallel})")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"--steps: must be >= 1 (got {self.steps})")
        check_sets(self.sets)

    def runs(self) -> list[RunSpec]:
        """Seed by seed, every arm (so a stopped experiment has comparable pairs as early as possible)."""
        return [
            RunSpec(arm, seed, self.out / RUNS_DIR / f"{arm}-seed{seed}")
            for seed in range(self.seeds)
            for arm in self.arms
        ]

    def train_argv(self, spec: RunSpec) -> list[str]:
        """The ``pixelis train`` command line of ``spec`` (the user's --set items first: the arm wins)."""
        argv = [self.python, "-m", "pixelis_cli.app", "train", str(self.split_dir), "--model", self.model]
        if self.config is not None:
            argv += ["--config", str(self.config)]
        for item in self.sets:
            argv += ["--set", item]
        argv += ["--set", f"curriculum.policy={spec.arm}", "--seed", str(spec.seed)]
        if self.steps is not None:
            argv += ["--steps", str(self.steps)]
        return [*argv, "--out", str(spec.run_dir), "--resume", "auto", "--no-live"]

    def to_json(self) -> dict[str, Any]:
        return {
            "split": str(self.split_dir),
            "model": self.model,
            "arms": list(self.arms),
            "seeds": list(range(self.seeds)),
            "config": None if self.config is None else str(self.config),
            "sets": list(self.sets),
            "steps": self.steps,
            "parallel": self.parallel,
        }


def run_state(run_dir: Path) -> RunState:
    """``finished``: the log ends with an end record of a run that stopped by its own rules and the
    adapter is there; ``partial``: something was started; ``new``: nothing yet."""
    log_path = run_dir / METRICS_FILE
    if not log_path.is_file():
        return "partial" if run_dir.is_dir() and any(run_dir.iterdir()) else "new"
    records = read_run_log(log_path).records
    last = records[-1] if records else None
    if isinstance(last, EndRecord) and last.stopped in FINISHED_STOPS and (run_dir / ADAPTER_DIR).is_dir():
        return "finished"
    return "partial"
