"""The hooks_runner handler."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from corral.backend.context import NodeContext
from corral.backend.hooks import hooks_runner
from corral.errors import ParameterError
from corral.layout import NodeLayout
from tests.support.fake_rpc import wire


def _ctx(tmp_path: Path) -> NodeContext:
    return NodeContext(layout=NodeLayout(tmp_path), node_name="node1")


def test_runs_the_phase_directory_with_exactly_the_given_env(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    d = ctx.layout.hooks_dir / "instance-start-pre.d"
    d.mkdir(parents=True)
    script = d / "01-env"
    script.write_text('#!/bin/sh\necho "$GANETI_INSTANCE_NAME|$GANETI_FORCE|${HOME-unset}"\n')
    script.chmod(0o755)
    (d / "README.txt").write_text("docs")
    env = {"GANETI_INSTANCE_NAME": "inst1", "GANETI_FORCE": False, "PATH": "/bin"}
    result = wire(asyncio.run(hooks_runner(ctx, "instance-start", "pre", env)))
    assert result == [
        ["instance-start-pre.d/01-env", 2, "inst1|False|unset\n"],
        ["instance-start-pre.d/README.txt", 0, ""],
    ]
    assert wire(asyncio.run(hooks_runner(ctx, "instance-start", "post", env))) == []


def test_failure_status_and_timeout_setting(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    ctx.services.hook_timeout = 0.2
    d = ctx.layout.hooks_dir / "node-add-post.d"
    d.mkdir(parents=True)
    for name, body in (("a-fail", "echo no; exit 1"), ("b-slow", "exec sleep 20")):
        (d / name).write_text(f"#!/bin/sh\n{body}\n")
        (d / name).chmod(0o755)
    result = wire(asyncio.run(hooks_runner(ctx, "node-add", "post", {})))
    assert [(name, status) for name, status, _ in result] == [
        ("node-add-post.d/a-fail", 1), ("node-add-post.d/b-slow", 1)]
    assert result[0][2] == "no\n"
    assert "timed out" in result[1][2]


@pytest.mark.parametrize(("hpath", "phase"), [("../../tmp/x", "pre"), ("a/b", "pre"),
                                              (".hidden", "pre"), ("x", "middle"), ("", "pre")],
                         ids=["traversal", "slash", "hidden", "phase", "empty"])
def test_bad_path_or_phase_rejected(tmp_path: Path, hpath: str, phase: str) -> None:
    with pytest.raises(ParameterError):
        wire(asyncio.run(hooks_runner(_ctx(tmp_path), hpath, phase, {})))
