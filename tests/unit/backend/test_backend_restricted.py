"""Restricted commands: checks, uniform refusal after a delay, one at a time."""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from corral.backend.context import NodeContext
from corral.backend.restricted import RestrictedSettings, restricted_command
from corral.errors import CommandError
from corral.layout import NodeLayout

DELAY = 0.05


def _ctx(tmp_path: Path, **settings: float) -> NodeContext:
    layout = NodeLayout(tmp_path)
    layout.run_dir.mkdir(parents=True)
    layout.restricted_commands_dir.mkdir(parents=True)
    layout.restricted_commands_dir.chmod(0o755)
    ctx = NodeContext(layout=layout, node_name="node1")
    opts: dict[str, float] = {"fail_delay": DELAY, "owner_uid": os.getuid(), **settings}
    ctx.services.restricted_settings = RestrictedSettings(**opts)  # type: ignore[arg-type]
    return ctx


def _command(ctx: NodeContext, name: str, body: str, mode: int = 0o755) -> Path:
    path = ctx.layout.restricted_commands_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(mode)
    return path


def _run(ctx: NodeContext, name: str) -> str:
    return asyncio.run(restricted_command(ctx, name))


def test_good_command_returns_its_output(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _command(ctx, "show-info.v2", 'echo "out $#"; echo err >&2')
    assert _run(ctx, "show-info.v2") == "out 0\nerr\n"


def _bad_name(ctx: NodeContext) -> str:
    _command(ctx, "x", "true")
    return "../restricted-commands/x"


def _missing(ctx: NodeContext) -> str:
    return "missing"


def _not_executable(ctx: NodeContext) -> str:
    _command(ctx, "noexec", "true", mode=0o644)
    return "noexec"


def _group_writable(ctx: NodeContext) -> str:
    _command(ctx, "gw", "true", mode=0o775)
    return "gw"


def _a_directory(ctx: NodeContext) -> str:
    (ctx.layout.restricted_commands_dir / "subdir").mkdir()
    return "subdir"


def _dir_writable(ctx: NodeContext) -> str:
    _command(ctx, "ok", "true")
    ctx.layout.restricted_commands_dir.chmod(0o777)
    return "ok"


def _no_dir(ctx: NodeContext) -> str:
    ctx.layout.restricted_commands_dir.rmdir()
    return "ok"


def _wrong_owner(ctx: NodeContext) -> str:
    _command(ctx, "ok", "true")
    ctx.services.restricted_settings = RestrictedSettings(
        fail_delay=DELAY, owner_uid=os.getuid() + 4242
    )
    return "ok"


@pytest.mark.parametrize(
    "prepare",
    [_bad_name, _missing, _not_executable, _group_writable, _a_directory, _dir_writable,
     _no_dir, _wrong_owner, lambda ctx: ".", lambda ctx: "..", lambda ctx: "",
     lambda ctx: "a b", lambda ctx: "/bin/true"],
    ids=["traversal", "missing", "not-executable", "group-writable", "directory",
         "dir-writable", "no-dir", "wrong-owner", "dot", "dotdot", "empty", "space", "absolute"],
)
def test_refusals_are_uniform_and_delayed(
    tmp_path: Path, prepare: Callable[[NodeContext], str], caplog: pytest.LogCaptureFixture
) -> None:
    ctx = _ctx(tmp_path)
    name = prepare(ctx)
    start = time.monotonic()
    with pytest.raises(CommandError) as info:
        _run(ctx, name)
    assert time.monotonic() - start >= DELAY
    assert str(info.value) == f"Executing command '{name}' failed"
    assert "Refusing restricted command" in caplog.text


def test_non_zero_exit_fails_after_delay_with_generic_prefix(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _command(ctx, "broken", "echo oops; exit 4")
    start = time.monotonic()
    with pytest.raises(CommandError, match=r"^Executing command 'broken' failed: .*status 4"):
        _run(ctx, "broken")
    assert time.monotonic() - start >= DELAY


def test_lock_timeout_refuses(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, lock_timeout=0.1)
    _command(ctx, "ok", "echo ran")
    fd = os.open(ctx.layout.restricted_commands_lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(CommandError, match=r"^Executing command 'ok' failed$"):
            _run(ctx, "ok")
    finally:
        os.close(fd)
    assert _run(ctx, "ok") == "ran\n"


def test_concurrent_calls_run_one_at_a_time(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    log = tmp_path / "log"
    _command(ctx, "step", f"echo start >> {log}; sleep 0.2; echo end >> {log}")

    async def both() -> tuple[str, str]:
        return await asyncio.gather(restricted_command(ctx, "step"),
                                    restricted_command(ctx, "step"))

    assert list(asyncio.run(both())) == ["", ""]
    assert log.read_text().split() == ["start", "end", "start", "end"]
