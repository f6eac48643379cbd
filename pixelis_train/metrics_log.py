"""Metrics sinks: ``metrics.jsonl`` always; wandb / TensorBoard when asked for (and installed).

Each record is one JSON line with a ``kind`` (``train``, ``eval``, ``curriculum``, ``checkpoint``,
``end``) and the optimizer ``step``. On resume the file is cut back to the checkpoint's step, so a
resumed run's log equals an uninterrupted run's log line for line (what a crash wrote after the
checkpoint is discarded, as the training it describes is redone).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from pixelis_core.atomic import write_text_atomic
from pixelis_core.json_safe import json_safe

METRICS_FILE = "metrics.jsonl"


class SinkUnavailableError(RuntimeError):
    """A ``--log-to`` target whose package is not installed."""


def _install_hint(target: str) -> str:
    package = {"wandb": "wandb", "tensorboard": "tensorboard"}[target]
    return f"--log-to {target} needs the {package} package: pip install {package}"


def check_sinks(targets: tuple[str, ...]) -> None:
    """Raise :class:`SinkUnavailableError` for the first requested sink that cannot be imported."""
    for target in targets:
        module = "wandb" if target == "wandb" else "torch.utils.tensorboard"
        try:
            importlib.import_module(module)
        except ImportError:
            raise SinkUnavailableError(_install_hint(target)) from None


def truncate_log(path: Path, last_step: int) -> None:
    """Keep only records with ``step <= last_step`` (atomically); used when resuming."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line torn by a kill mid-write; the work it describes is redone
        if isinstance(record, dict) and int(record.get("step", 0)) <= last_step:
            kept.append(line)
    write_text_atomic(path, "".join(line + "\n" for line in kept))


class MetricsLogger:
    """Writes records to metrics.jsonl (flushed per line) and to the optional sinks.

    ``enabled=False`` (every rank but 0 of a multi-process run) makes it write nothing anywhere.
    """

    def __init__(
        self, run_dir: Path, targets: tuple[str, ...], project: str, config: dict[str, Any], *, enabled: bool = True
    ) -> None:
        check_sinks(targets)
        self.path = run_dir / METRICS_FILE
        self.enabled = enabled
        self._file = None
        self._wandb = None
        self._tb = None
        if not enabled:
            return
        self._file = self.path.open("a", encoding="utf-8")
        if "wandb" in targets:
            import wandb

            self._wandb = wandb.init(project=project, dir=str(run_dir), config=config, name=run_dir.name)
        if "tensorboard" in targets:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def log(self, record: dict[str, Any]) -> None:
        """Append ``record`` (must hold ``kind`` and ``step``) and forward its numbers to the sinks."""
        if self._file is None:
            return
        record = json_safe(record)
        self._file.write(json.dumps(record, sort_keys=True) + "\n")
        self._file.flush()
        numbers = {
            f"{record['kind']}/{k}": v
            for k, v in record.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step"
        }
        if self._wandb is not None:
            self._wandb.log(numbers, step=record["step"])
        if self._tb is not None:
            for key, value in numbers.items():
                self._tb.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._wandb is not None:
            self._wandb.finish()
        if self._tb is not None:
            self._tb.close()


def read_log(path: Path) -> list[dict[str, Any]]:
    """All records of a metrics.jsonl file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
