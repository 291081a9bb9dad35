"""The watcher hooks directory: run-parts rules, the watcher's environment, failures logged."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from corral.hooks.runner import HookStatus
from corral.layout import NodeLayout
from corral.watcher.hooks import run_watcher_hooks


def _script(directory: Path, name: str, body: str, mode: int = 0o755) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(mode)


def test_missing_directory_runs_nothing(tmp_path: Path) -> None:
    assert run_watcher_hooks(NodeLayout(tmp_path)) == []


def test_scripts_run_in_order_with_the_watcher_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    layout = NodeLayout(tmp_path)
    hooks = layout.hooks_dir / "watcher"
    hooks.mkdir(parents=True)
    trace = tmp_path / "trace"
    _script(hooks, "20-second", f'echo "second $CORRAL_HOOK_MARK" >> {trace}')
    _script(hooks, "10-first", f'echo first >> {trace}; exit 3')
    _script(hooks, "30-not-executable", f"echo never >> {trace}", mode=0o644)
    _script(hooks, "40-bad.name", f"echo never >> {trace}")
    monkeypatch.setenv("CORRAL_HOOK_MARK", "from-the-watcher")
    caplog.set_level(logging.DEBUG, logger="corral.watcher")
    outcomes = run_watcher_hooks(layout)
    assert [(o.name, o.status) for o in outcomes] == [
        ("10-first", HookStatus.FAIL),
        ("20-second", HookStatus.SUCCESS),
        ("30-not-executable", HookStatus.SKIP),
        ("40-bad.name", HookStatus.SKIP),
    ]
    assert trace.read_text() == "first\nsecond from-the-watcher\n"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["Watcher hook 10-first: failed (output: )"]
