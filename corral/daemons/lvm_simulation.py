"""Route a node daemon's LVM commands to the LVM simulator of Corral's test tree.

For machines without device-mapper (where real LVM cannot run): the ``plain``
template's driver is unchanged, only the commands it runs are answered by a
faithful simulator (``tests/simulators/lvm.py`` in the source checkout), with
its state kept in a file so it survives daemon restarts.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import corral
from corral.backend.context import NodeContext
from corral.backend.services import DEV_DIR_KEY, LVM_RUNNER_KEY
from corral.errors import ConfigurationError
from corral.process import SubprocessRunner

SOURCE_ROOT = Path(corral.__file__).resolve().parents[1]


def _simulator_class() -> Any:
    if str(SOURCE_ROOT) not in sys.path:
        sys.path.append(str(SOURCE_ROOT))
    try:
        return importlib.import_module("tests.simulators.lvm").LvmSimulator
    except ImportError as err:
        raise ConfigurationError(
            f"--simulate-lvm needs Corral's source tree (tests/simulators) at {SOURCE_ROOT}"
        ) from err


def install(ctx: NodeContext, directory: Path, vg: str = "xenvg", size_mib: int = 10240) -> None:
    """Answer this daemon's LVM commands from a simulated volume group ``vg``."""
    directory.mkdir(parents=True, exist_ok=True)
    dev_dir = directory / "dev"
    simulator = _simulator_class()(
        dev_dir,
        vg=vg,
        pvs=((f"/dev/sim-{vg}", size_mib),),
        state_file=directory / "lvm-state.json",
        fallback=SubprocessRunner(),
    )
    ctx.extra[LVM_RUNNER_KEY] = simulator
    ctx.extra[DEV_DIR_KEY] = str(dev_dir)
