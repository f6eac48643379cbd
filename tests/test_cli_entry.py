"""The console-script entry point: the Polars pool and the allocator tuning of the pipelined commands."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from pixelis_cli import app as app_module
from pixelis_core import allocator


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (4, 1), (8, 5), (64, 61)])
def test_the_polars_pool_gets_the_cores_the_pipeline_threads_leave(monkeypatch, cores, threads):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert app_module.polars_threads() == threads


def _pool_of(argv: list[str], env: dict[str, str]) -> str | None:
    """POLARS_MAX_THREADS as `pixelis ARGV` leaves it in its own process (the command is --help: no work)."""
    code = (
        f"import sys, os, json; sys.argv = ['pixelis', *{argv!r}, '--help']\n"
        "from pixelis_cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(os.environ.get('POLARS_MAX_THREADS')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_score_and_split_set_the_pool_and_other_commands_do_not():
    env = {k: v for k, v in os.environ.items() if k != "POLARS_MAX_THREADS"}
    expected = str(app_module.polars_threads())
    assert _pool_of(["score"], env) == expected
    assert _pool_of(["split"], env) == expected
    assert _pool_of(["generate"], env) is None


def test_a_pool_size_the_user_set_is_kept():
    env = {**os.environ, "POLARS_MAX_THREADS": "7"}
    assert _pool_of(["score"], env) == "7"


def test_the_allocator_tuning_takes_on_glibc_and_is_skipped_elsewhere(monkeypatch):
    if platform.libc_ver()[0] == "glibc":
        assert allocator.keep_freed_memory()
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert not allocator.keep_freed_memory()
