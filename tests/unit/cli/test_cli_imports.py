"""The command line tools stay light: no msgspec, aiohttp, asyncio or config objects.

A structural check (which modules get imported), not a timing one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("msgspec", "aiohttp", "asyncio", "corral.objects", "corral.opcodes", "dataclasses")


def _imported_modules(stderr: str) -> set[str]:
    """Module names from ``-X importtime`` output."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def _heavy(names: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY))


def test_gnt_node_import_is_light() -> None:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import corral.cli.gnt_node"],
                          capture_output=True, text=True, check=True)
    names = _imported_modules(proc.stderr)
    assert "corral.cli.gnt_node" in names
    assert "corral.luxi.client" in names
    assert _heavy(names) == []


@pytest.mark.parametrize("tool", ["gnt_node", "gnt_cluster", "gnt_group", "gnt_job", "gnt_debug"])
def test_running_a_command_stays_light(tool: str, tmp_path: Path) -> None:
    code = (f"import sys; from corral.cli.{tool} import main; main(['list-tags', 'x']);"
            " main(['list']); main(['info']); print('\\n'.join(sorted(sys.modules)))")
    env = dict(os.environ, CORRAL_LUXI=str(tmp_path / "absent.sock"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True)
    assert "Traceback" not in proc.stderr
    assert _heavy(set(proc.stdout.split())) == []
