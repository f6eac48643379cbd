"""The console-script entry point: the allocator and exit tuning of the pipelined commands."""

from __future__ import annotations

import gc
import platform
import sys

import pytest

from pixelis_cli import app as app_module
from pixelis_core import allocator


def test_the_allocator_tuning_takes_on_glibc_and_is_skipped_elsewhere(monkeypatch):
    if platform.libc_ver()[0] == "glibc":
        assert allocator.keep_freed_memory()
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert not allocator.keep_freed_memory()


@pytest.mark.parametrize(("command", "tuned"), [("score", True), ("split", True), ("generate", False)])
def test_main_tunes_allocator_and_exit_for_the_pipelined_commands_only(monkeypatch, command, tuned):
    calls: list[bool] = []
    monkeypatch.setattr(app_module, "keep_freed_memory", lambda: calls.append(True) or True)
    monkeypatch.setattr(app_module, "exit_on_sigterm", lambda: None)  # not in the test process
    monkeypatch.setattr(sys, "argv", ["pixelis", command, "--help"])
    gc.unfreeze()
    try:
        with pytest.raises(SystemExit) as exit_info:
            app_module.main()
        frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()  # the test process goes on collecting
    assert exit_info.value.code == 0
    assert calls == ([True] if tuned else [])
    assert (frozen > 0) == tuned  # the collector's pass at exit skips the objects of the run
