"""Metrics sinks: ``metrics.jsonl`` always (records of :mod:`pixelis_train.runlog`); wandb / TensorBoard when asked.

On resume the file is cut back to the checkpoint's step (``runlog.truncate_run_log``), so a resumed
run's log equals an uninterrupted run's log line for line (what a crash wrote after the checkpoint is
discarded, as the training it describes is redone).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from pixelis_train.runlog import METRICS_FILE, Record, dumps


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


class MetricsLogger:
    """Writes records to metrics.jsonl (flushed per line) and their numbers to the optional sinks.

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

    def log(self, record: Record) -> None:
        """Append ``record`` and forward its numbers to the sinks as ``<kind>/<field>``."""
        if self._file is None:
            return
        line = dumps(record)
        self._file.write(line + "\n")
        self._file.flush()
        if self._wandb is None and self._tb is None:
            return
        data = json.loads(line)
        numbers = {
            f"{record.kind}/{k}": v
            for k, v in data.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step"
        }
        if self._wandb is not None:
            self._wandb.log(numbers, step=record.step)
        if self._tb is not None:
            for key, value in numbers.items():
                self._tb.add_scalar(key, value, record.step)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._wandb is not None:
            self._wandb.finish()
        if self._tb is not None:
            self._tb.close()
