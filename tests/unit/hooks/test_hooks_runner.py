"""run-parts semantics of the hooks runner, with real scripts."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from corral.hooks.runner import HookStatus, run_hooks_dir, run_parts
from corral.process import SubprocessRunner


def _script(path: Path, body: str, mode: int = 0o755) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(mode)
    return path


def test_missing_directory_gives_no_results(tmp_path: Path) -> None:
    result = asyncio.run(run_parts(tmp_path / "nope.d", {}, SubprocessRunner()))
    assert result == []


def test_order_skips_and_statuses(tmp_path: Path) -> None:
    d = tmp_path / "hooks.d"
    d.mkdir()
    log = tmp_path / "order"
    _script(d / "20-second", f"echo second >> {log}; echo out2")
    _script(d / "10-first", f"echo first >> {log}; echo out1; echo err1 >&2")
    _script(d / "30-fails", f"echo third >> {log}; echo broken; exit 3")
    _script(d / "40-after-failure", f"echo fourth >> {log}")
    _script(d / "bad.name", f"echo never >> {log}")
    _script(d / "50-not-executable", f"echo never >> {log}", mode=0o644)
    (d / "60-a-directory").mkdir()
    outcomes = asyncio.run(run_parts(d, {}, SubprocessRunner()))
    assert [(o.name, o.status) for o in outcomes] == [
        ("10-first", HookStatus.SUCCESS),
        ("20-second", HookStatus.SUCCESS),
        ("30-fails", HookStatus.FAIL),
        ("40-after-failure", HookStatus.SUCCESS),
        ("50-not-executable", HookStatus.SKIP),
        ("60-a-directory", HookStatus.SKIP),
        ("bad.name", HookStatus.SKIP),
    ]
    assert outcomes[0].output == "out1\nerr1\n"
    assert outcomes[2].output == "broken\n"
    assert outcomes[4].output == ""
    assert log.read_text().split() == ["first", "second", "third", "fourth"]


def test_environment_is_replaced(tmp_path: Path) -> None:
    d = tmp_path / "env.d"
    d.mkdir()
    _script(d / "dump", "/usr/bin/env")
    os.environ["CORRAL_TEST_LEAK"] = "leaked"
    try:
        outcomes = asyncio.run(run_parts(d, {"GANETI_X": "1", "PATH": "/bin"}, SubprocessRunner()))
    finally:
        del os.environ["CORRAL_TEST_LEAK"]
    seen = dict(line.split("=", 1) for line in outcomes[0].output.splitlines())
    seen.pop("PWD", None)  # the shell itself sets PWD
    assert seen == {"GANETI_X": "1", "PATH": "/bin"}


def test_no_arguments_and_root_cwd(tmp_path: Path) -> None:
    d = tmp_path / "args.d"
    d.mkdir()
    _script(d / "args", 'echo "$#:$(pwd)"')
    assert asyncio.run(run_parts(d, {}, SubprocessRunner()))[0].output == "0:/\n"


def test_timeout_fails_the_script(tmp_path: Path) -> None:
    d = tmp_path / "slow.d"
    d.mkdir()
    _script(d / "slow", "exec sleep 30")
    outcomes = asyncio.run(run_parts(d, {}, SubprocessRunner(), timeout=0.2))
    assert outcomes[0].status is HookStatus.FAIL
    assert "timed out" in outcomes[0].output


def test_wire_results_name_the_directory(tmp_path: Path) -> None:
    d = tmp_path / "node-add-post.d"
    d.mkdir()
    _script(d / "ok", "echo hi")
    result = asyncio.run(run_hooks_dir(tmp_path, "node-add", "post", {}, SubprocessRunner()))
    assert result == [["node-add-post.d/ok", 2, "hi\n"]]
