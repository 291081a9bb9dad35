"""Route a node daemon's ``xl`` commands to the xl simulator of :mod:`corral.testing`.

For machines without Xen: the ``xen-pvm``/``xen-hvm`` drivers are unchanged,
only the ``xl`` command lines they run are answered by the faithful simulator of
:mod:`corral.testing.xl`. Every node daemon of a virtual cluster names the same
state directory (one file per simulated host), so ``xl migrate`` reaches the
other node, found by its name or address.
"""

from __future__ import annotations

from pathlib import Path

from corral.backend.context import NodeContext
from corral.process import SubprocessRunner
from corral.testing.xl import XlSimulator
from corral.testing.xl_model import XlHost

SHUTDOWN_DELAY = 1.0
"""Seconds a simulated guest takes to act on a shutdown or reboot request."""


def install(ctx: NodeContext, shared_dir: Path) -> XlSimulator:
    """Answer this daemon's ``xl`` commands as the simulated Xen host ``ctx.node_name``."""
    shared_dir.mkdir(parents=True, exist_ok=True)
    simulator = XlSimulator(shared_dir, ctx.node_name, addresses=[ctx.address],
                            template=XlHost(name=ctx.node_name, shutdown_delay=SHUTDOWN_DELAY),
                            fallback=SubprocessRunner())
    ctx.services.xen_runner = simulator
    return simulator
