"""Small node facts and probes: protocol version, clock, boot id, master name, delay."""

from __future__ import annotations

from pathlib import Path

from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.errors import ConfigurationError, ParameterError
from corral.version import PROTOCOL_VERSION

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
"""The kernel's, not the node's: nodes sharing a kernel (vcluster) share the boot id."""


@handles("version")
async def version(ctx: NodeContext) -> int:
    """The node daemon's protocol version (the master refuses nodes that differ)."""
    return PROTOCOL_VERSION


@handles("node_time")
async def node_time(ctx: NodeContext) -> float:
    """The node's wall clock, seconds since the epoch."""
    return ctx.clock.now()


@handles("node_boot_id")
async def node_boot_id(ctx: NodeContext) -> str:
    """The kernel boot id; it changes at every boot.

    Raises:
        OSError: the boot id cannot be read.
    """
    return _read_stripped(BOOT_ID_PATH)


def _read_stripped(path: Path) -> str:
    # A few bytes from a local file: not worth a thread.
    return path.read_text().strip()


@handles("master_node_name")
async def master_node_name(ctx: NodeContext) -> str:
    """The master node named by the node's ``ssconf_master_node`` file.

    Raises:
        ConfigurationError: the file is missing or empty.
    """
    path = ctx.layout.ssconf_file("master_node")
    try:
        name = _read_stripped(path)
    except FileNotFoundError:
        raise ConfigurationError(f"No master node known: {path} does not exist") from None
    if not name:
        raise ConfigurationError(f"No master node known: {path} is empty")
    return name


@handles("test_delay")
async def test_delay(ctx: NodeContext, duration: float) -> None:
    """Sleep ``duration`` seconds on the node's clock.

    Raises:
        ParameterError: ``duration`` is negative.
    """
    if duration < 0:
        raise ParameterError(f"test_delay: duration must be >= 0, got {duration}")
    await ctx.clock.sleep(duration)
