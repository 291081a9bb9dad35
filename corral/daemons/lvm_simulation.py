"""Route a node daemon's LVM commands to the LVM simulator of :mod:`corral.testing`.

For machines without device-mapper (where real LVM cannot run): the ``plain``
template's driver is unchanged, only the commands it runs are answered by a
faithful simulator, with its state kept in a file so it survives daemon restarts.
"""

from __future__ import annotations

from pathlib import Path

from corral.backend.context import NodeContext
from corral.process import SubprocessRunner
from corral.testing.lvm import LvmSimulator


def install(ctx: NodeContext, directory: Path, vg: str = "xenvg", size_mib: int = 10240) -> None:
    """Answer this daemon's LVM commands from a simulated volume group ``vg``."""
    directory.mkdir(parents=True, exist_ok=True)
    dev_dir = directory / "dev"
    simulator = LvmSimulator(
        dev_dir,
        vg=vg,
        pvs=((f"/dev/sim-{vg}", size_mib),),
        state_file=directory / "lvm-state.json",
        fallback=SubprocessRunner(),
    )
    ctx.services.lvm_runner = simulator
    ctx.services.storage_dev_dir = dev_dir
