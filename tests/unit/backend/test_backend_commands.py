"""run_oob, node_ensure_daemon and node_leave_cluster."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from corral import daemon_control
from corral.backend import commands
from corral.backend.commands import (
    MASTERD,
    node_ensure_daemon,
    node_leave_cluster,
    run_oob,
)
from corral.backend.context import NodeContext
from corral.backend.ssconf import ssconf_keys_on_disk, write_ssconf
from corral.daemon_control import daemon_pid
from corral.errors import ParameterError
from corral.layout import NodeLayout
from tests.support.fake_rpc import wire


def _ctx(tmp_path: Path) -> NodeContext:
    layout = NodeLayout(tmp_path)
    layout.ensure_dirs()
    return NodeContext(layout=layout, node_name="node1")


def test_run_oob_reports_exit_code_and_output(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    result = wire(asyncio.run(run_oob(ctx, ["sh", "-c", "echo hi; echo err >&2; exit 3"], 10.0)))
    assert result == {"exit_code": 3, "output": "hi\nerr\n"}
    missing = wire(asyncio.run(run_oob(ctx, ["/nonexistent/prog"], 0)))
    assert missing["exit_code"] == 127


def test_run_oob_timeout(tmp_path: Path) -> None:
    result = wire(asyncio.run(run_oob(_ctx(tmp_path), ["sleep", "20"], 0.2)))
    assert result["exit_code"] != 0
    assert "timed out" in result["output"]


@pytest.mark.parametrize("command", [[], ["ls", 3]], ids=["empty", "non-string"])
def test_run_oob_rejects_bad_commands(tmp_path: Path, command: list[object]) -> None:
    with pytest.raises(ParameterError):
        wire(asyncio.run(run_oob(_ctx(tmp_path), command, 1.0)))


def test_ensure_masterd_starts_once_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _ctx(tmp_path)
    stand_in = [sys.executable, "-c", "import time; time.sleep(300)", "corral-masterd"]
    monkeypatch.setattr(daemon_control, "masterd_argv", lambda root: stand_in)
    pid_file = ctx.layout.pid_file(MASTERD)
    try:
        asyncio.run(node_ensure_daemon(ctx, MASTERD, True))
        pid = daemon_pid(pid_file, "corral-masterd")
        assert pid is not None
        asyncio.run(node_ensure_daemon(ctx, MASTERD, True))
        assert daemon_pid(pid_file, "corral-masterd") == pid
        asyncio.run(node_ensure_daemon(ctx, MASTERD, False))
        assert daemon_pid(pid_file, "corral-masterd") is None
        assert not Path(f"/proc/{pid}/cmdline").exists() or \
            Path(f"/proc/{pid}/cmdline").read_bytes() == b""
    finally:
        commands.ensure_masterd(ctx.layout, False)


def test_masterd_argv_names_the_node_root(tmp_path: Path) -> None:
    argv = daemon_control.masterd_argv(NodeLayout(tmp_path).root)
    assert argv == [sys.executable, "-m", "corral.daemons.masterd", "--root", str(tmp_path)]


def test_unknown_daemon_rejected(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="Unknown daemon"):
        asyncio.run(node_ensure_daemon(_ctx(tmp_path), "ganeti-confd", True))


class _Store:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_leave_cluster_removes_cluster_files_then_shuts_down(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    layout = ctx.layout
    for path in (layout.ca_cert, layout.node_key, layout.config_db,
                 layout.data_dir / "config.db-wal", layout.queue_dir / "job-1",
                 layout.queue_archive_dir / "0" / "job-2"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    write_ssconf(layout, {"cluster_name": "c", "master_node": "n"})
    store, calls = _Store(), []
    ctx.services.config_replica = store  # type: ignore[assignment]
    ctx.services.shutdown = lambda: calls.append("shutdown")

    async def leave() -> list[str]:
        await node_leave_cluster(ctx, True)
        before = list(calls)
        await asyncio.sleep(0)
        return before

    assert asyncio.run(leave()) == []
    assert calls == ["shutdown"]
    assert store.closed
    assert ctx.services.config_replica is None
    assert list(layout.crypto_dir.iterdir()) == []
    assert not layout.config_db.exists()
    assert not (layout.data_dir / "config.db-wal").exists()
    assert ssconf_keys_on_disk(layout) == []
    assert sorted(p.name for p in layout.queue_dir.iterdir()) == ["archive"]
    assert layout.crypto_dir.is_dir()
    assert layout.data_dir.is_dir()
