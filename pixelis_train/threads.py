"""How many intra-op threads torch uses on CPU: chosen deliberately instead of torch's default.

Torch's default (one thread per core) makes its threads fight the data thread of the training loop
and any other process on a small machine: on a shared 2-core machine the demo's training took 484 s
with the default and 64 s with one thread, with identical decisions. The order of precedence:

1. an explicit value (``model.cpu_threads``, ``--threads N``) is used as given;
2. ``OMP_NUM_THREADS`` set in the environment: left to torch (torchrun sets it to 1 per process);
3. otherwise the CPUs this process may run on (``os.sched_getaffinity``) minus one for the data thread,
   at least 1.

On CUDA the threads are left alone: the work is on the GPU, and the CPU threads only feed it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pixelis_train._deps import require

OMP_ENV = "OMP_NUM_THREADS"


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def choose_threads(device_type: str, explicit: int | None, environ: Mapping[str, str] | None = None) -> int | None:
    """The torch thread count to set, or None to leave torch's own (CUDA, or ``OMP_NUM_THREADS`` set)."""
    if device_type == "cuda":
        return None
    if explicit is not None:
        return explicit
    env = os.environ if environ is None else environ
    if env.get(OMP_ENV, "").strip():
        return None
    # one core stays free for the background thread that formats the next step's batches
    return max(1, available_cpus() - 1)


def apply_cpu_threads(device_type: str, explicit: int | None) -> int:
    """Set torch's intra-op threads as :func:`choose_threads` says; returns the count torch uses now."""
    torch = require("torch")
    n = choose_threads(device_type, explicit)
    if n is not None and n != torch.get_num_threads():
        torch.set_num_threads(n)
    return torch.get_num_threads()
