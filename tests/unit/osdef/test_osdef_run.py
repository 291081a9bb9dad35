"""Running OS scripts: how they are called, their logs, and failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from corral.clock import FakeClock
from corral.osdef import OsInvalidError, OsScriptError
from corral.osdef.discovery import OsInfo, OsScript, inspect_os
from corral.osdef.run import log_file_name, log_tail, run_os_script
from corral.process import CommandResult, SubprocessRunner

if TYPE_CHECKING:
    from tests.unit.osdef.conftest import RecordingRunner

MakeOs = Callable[..., Path]
CLOCK = FakeClock(1_700_000_000.0)
STAMP = time.strftime("%Y-%m-%d_%H_%M_%S", time.localtime(1_700_000_000.0))
ENV = {"INSTANCE_NAME": "inst1.example.com", "PATH": "/sbin:/bin:/usr/sbin:/usr/bin"}


def _osinfo(make_os: MakeOs, **scripts: str) -> OsInfo:
    path = make_os("myos", scripts={k: f"#!/bin/sh\n{v}\n" for k, v in scripts.items()})
    return inspect_os("myos", path)


def _run(
    os: OsInfo, script: str, log_dir: Path, env: dict[str, str] = ENV, **kwargs: Any
) -> CommandResult:
    kwargs.setdefault("timeout", 30)
    coro = run_os_script(os, script, env, SubprocessRunner(), log_dir, clock=CLOCK, **kwargs)
    return asyncio.run(coro)


def test_runner_is_called_with_replaced_env_and_os_cwd(
    make_os: MakeOs, recorder: RecordingRunner, tmp_path: Path
) -> None:
    os = _osinfo(make_os)
    result = asyncio.run(
        run_os_script(os, "rename", ENV, recorder, tmp_path / "log", timeout=12.5, stdin=b"x")
    )
    assert result.exit_code == 0
    [call] = recorder.calls
    [log] = (tmp_path / "log").iterdir()
    assert call.argv == (
        "/bin/sh",
        "-c",
        'exec /usr/bin/env -u PWD -u OLDPWD -u SHLVL -u _ "$0" >>"$1" 2>&1',
        str(os.path / "rename"),
        str(log),
    )
    assert call.kwargs == {
        "timeout": 12.5,
        "env": ENV,
        "cwd": str(os.path),
        "stdin": b"x",
        "reset_env": True,
    }


def test_log_holds_output_under_ganetis_name(make_os: MakeOs, tmp_path: Path) -> None:
    os = _osinfo(make_os, create="echo to-stdout; echo to-stderr >&2; pwd -P")
    result = _run(os, "create", tmp_path / "logs")
    log = tmp_path / "logs" / f"add-myos-inst1.example.com-{STAMP}.log"
    assert [p.name for p in (tmp_path / "logs").iterdir()] == [log.name]
    assert log.read_text() == f"to-stdout\nto-stderr\n{os.path}\n"
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_same_second_runs_get_distinct_logs(make_os: MakeOs, tmp_path: Path) -> None:
    os = _osinfo(make_os, export="echo run")
    for _ in range(3):
        _run(os, "export", tmp_path / "logs")
    names = sorted(p.name for p in (tmp_path / "logs").iterdir())
    base = f"export-myos-inst1.example.com-{STAMP}"
    assert names == [f"{base}.1.log", f"{base}.2.log", f"{base}.log"]


def test_log_names() -> None:
    rename_env = {"INSTANCE_NAME": "new", "OLD_INSTANCE_NAME": "old"}
    assert log_file_name(OsScript.RENAME, "os", rename_env, 1_700_000_000.0) == (
        f"rename-os-old-new-{STAMP}.log"
    )
    assert log_file_name(OsScript.IMPORT, "os", {"INSTANCE_NAME": "a/b"}, 1_700_000_000.0) == (
        f"import-os-a_b-{STAMP}.log"
    )


def test_failure_raises_with_the_logs_last_twenty_lines(make_os: MakeOs, tmp_path: Path) -> None:
    body = 'i=1; while [ $i -le 30 ]; do echo "line $i"; i=$((i+1)); done; exit 3'
    os = _osinfo(make_os, create=body)
    with pytest.raises(OsScriptError) as caught:
        _run(os, "create", tmp_path)
    tail = "\n".join(f"line {i}" for i in range(11, 31))
    assert str(caught.value) == (
        f"OS create script failed (exit code 3), last lines in the log file:\n{tail}"
    )
    assert caught.value.log_path == tmp_path / f"add-myos-inst1.example.com-{STAMP}.log"
    assert caught.value.log_path.read_text().count("\n") == 30
    assert log_tail(caught.value.log_path, 2) == "line 29\nline 30"


def test_timeout_raises(make_os: MakeOs, tmp_path: Path) -> None:
    os = _osinfo(make_os, rename="echo started; sleep 30")
    started = time.monotonic()
    with pytest.raises(OsScriptError, match=r"OS rename script failed \(timed out\)") as caught:
        _run(os, "rename", tmp_path, timeout=0.5)
    assert time.monotonic() - started < 10
    assert caught.value.log_path is not None
    assert caught.value.log_path.read_text() == "started\n"


def test_killed_by_signal(make_os: MakeOs, tmp_path: Path) -> None:
    os = _osinfo(make_os, create="kill -TERM $$")
    with pytest.raises(OsScriptError, match=r"killed by signal 15"):
        _run(os, "create", tmp_path)


def test_stdin_bytes_reach_the_script(make_os: MakeOs, tmp_path: Path) -> None:
    os = _osinfo(make_os, **{"import": "cat > received"})
    _run(os, "import", tmp_path / "log", stdin=b"payload\n")
    assert (os.path / "received").read_bytes() == b"payload\n"


def test_stream_files_are_binary_safe(make_os: MakeOs, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    source, copy = tmp_path / "source", tmp_path / "copy"
    source.write_bytes(data)
    os = _osinfo(make_os, export="cat; echo exported >&2")
    _run(os, "export", tmp_path / "log", stdin_path=source, stdout_path=copy)
    assert copy.read_bytes() == data
    [log] = (tmp_path / "log").iterdir()
    assert log.read_text() == "exported\n"


def test_invalid_os_or_missing_script_is_refused(make_os: MakeOs, tmp_path: Path) -> None:
    broken = make_os("broken", omit=("rename",))
    with pytest.raises(OsInvalidError, match="missing script 'rename'"):
        _run(inspect_os("broken", broken), "create", tmp_path)
    with pytest.raises(OsInvalidError, match="has no 'create_untrusted' script"):
        _run(_osinfo(make_os), "create_untrusted", tmp_path)
    old = make_os("old", api=(10,))
    with pytest.raises(OsInvalidError, match="has no 'verify' script"):
        _run(inspect_os("old", old), "verify", tmp_path)
    with pytest.raises(ValueError, match="'destroy' is not a valid OsScript"):
        _run(_osinfo(make_os), "destroy", tmp_path)
    assert not list(tmp_path.glob("*.log"))
