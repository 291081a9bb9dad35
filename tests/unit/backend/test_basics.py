"""Small node facts: version, clock, boot id, master name, delay."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from corral.backend import basics
from corral.backend.context import NodeContext
from corral.backend.handlers import HANDLERS
from corral.clock import FakeClock
from corral.errors import ConfigurationError, ParameterError
from corral.layout import NodeLayout
from corral.version import PROTOCOL_VERSION


@pytest.fixture
def ctx(tmp_path: Path) -> NodeContext:
    layout = NodeLayout(tmp_path)
    layout.ensure_dirs()
    return NodeContext(layout=layout, node_name="node1", clock=FakeClock(1_700_000_123.25))


def test_handlers_are_registered() -> None:
    for name in ("version", "node_time", "node_boot_id", "master_node_name", "test_delay"):
        assert HANDLERS[name] is getattr(basics, name)


def test_version(ctx: NodeContext) -> None:
    assert asyncio.run(basics.version(ctx)) == PROTOCOL_VERSION


def test_node_time_comes_from_the_clock(ctx: NodeContext) -> None:
    assert asyncio.run(basics.node_time(ctx)) == 1_700_000_123.25


def test_node_boot_id_is_the_kernel_one(ctx: NodeContext) -> None:
    boot_id = asyncio.run(basics.node_boot_id(ctx))
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", boot_id)
    assert boot_id == Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def test_node_boot_id_unreadable_raises_oserror(
    ctx: NodeContext, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(basics, "BOOT_ID_PATH", tmp_path / "missing")
    with pytest.raises(FileNotFoundError):
        asyncio.run(basics.node_boot_id(ctx))


def test_master_node_name_from_ssconf(ctx: NodeContext) -> None:
    ctx.layout.ssconf_file("master_node").write_text("master.example.com\n")
    assert asyncio.run(basics.master_node_name(ctx)) == "master.example.com"


def test_master_node_name_missing_or_empty(ctx: NodeContext) -> None:
    with pytest.raises(ConfigurationError, match="ssconf_master_node does not exist"):
        asyncio.run(basics.master_node_name(ctx))
    ctx.layout.ssconf_file("master_node").write_text("\n")
    with pytest.raises(ConfigurationError, match="is empty"):
        asyncio.run(basics.master_node_name(ctx))


def test_test_delay_sleeps_on_the_clock(ctx: NodeContext) -> None:
    assert asyncio.run(basics.test_delay(ctx, 30.0)) is None
    assert ctx.clock.now() == 1_700_000_153.25


def test_test_delay_refuses_negative(ctx: NodeContext) -> None:
    with pytest.raises(ParameterError, match="duration must be >= 0"):
        asyncio.run(basics.test_delay(ctx, -1.0))
