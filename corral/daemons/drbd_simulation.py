"""Route a node daemon's DRBD commands and ``/proc/drbd`` to the DRBD simulator.

For machines without the DRBD kernel module: the ``drbd`` template's driver is
unchanged, only the commands it runs and the ``/proc/drbd`` it reads are answered
by the faithful simulator of :mod:`corral.testing.drbd`. Every node daemon of a
virtual cluster names the same state directory, so the two nodes of a resource
see each other; each node's devices appear under its own ``dev_dir``.
"""

from __future__ import annotations

from pathlib import Path

from corral.backend.context import NodeContext
from corral.process import SubprocessRunner
from corral.testing.drbd import DrbdSimulator

STATE_FILE = "drbd-state.json"


def install(ctx: NodeContext, shared_dir: Path, dev_dir: Path) -> DrbdSimulator:
    """Answer this daemon's DRBD commands from the state shared in ``shared_dir``."""
    shared_dir.mkdir(parents=True, exist_ok=True)
    dev_dir.mkdir(parents=True, exist_ok=True)
    simulator = DrbdSimulator(ctx.node_name, shared_dir / STATE_FILE, dev_dir,
                              fallback=SubprocessRunner())
    ctx.services.drbd_runner = simulator
    ctx.services.drbd_dev_dir = dev_dir
    ctx.services.drbd_proc_reader = simulator.proc_text
    return simulator
