"""What two training runs are compared on: their logs without wall-clock fields, their adapters' tensors."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file

from pixelis_train.runlog import read_run_log

TIMING = {"tokens_per_s", "samples_per_s", "path"}


def deterministic_log(run: Path, skip: tuple[str, ...] = ("start", "end", "resume")) -> list[dict]:
    """The run's log records without timing fields, paths and the records of the kinds in ``skip``."""
    return [
        {k: v for k, v in r.items() if k not in TIMING and not k.startswith("time_")}
        for r in read_run_log(run / "metrics.jsonl").as_json()
        if r["kind"] not in skip
    ]


def assert_same_adapter(a: Path, b: Path, atol: float = 0.0) -> None:
    """The final adapters of runs ``a`` and ``b`` have the same tensors (bitwise unless ``atol``)."""
    x = load_file(str(a / "adapter" / "adapter_model.safetensors"))
    y = load_file(str(b / "adapter" / "adapter_model.safetensors"))
    assert x.keys() == y.keys()
    for key in x:
        if atol:
            assert float((x[key] - y[key]).abs().max()) < atol, key
        else:
            assert (x[key] == y[key]).all(), key
