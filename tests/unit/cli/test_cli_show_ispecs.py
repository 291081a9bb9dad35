"""``show-ispecs-cmd``: the policy options text, checked against Ganeti's own printer."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from corral.cli.ipolicy_opts import policy_options_text

GANETI_PYTHON = "/usr/bin/python3"
GANETI_PATH = "/usr/share/ganeti/3.0"

POLICY: dict[str, Any] = {
    "std": {"memory-size": 128, "cpu-count": 1, "disk-count": 1, "disk-size": 1024,
            "nic-count": 1, "spindle-use": 1},
    "minmax": [
        {"min": {"memory-size": 16, "cpu-count": 1, "disk-count": 0, "disk-size": 4,
                 "nic-count": 0, "spindle-use": 1},
         "max": {"memory-size": 4096, "cpu-count": 8, "disk-count": 16, "disk-size": 102400,
                 "nic-count": 8, "spindle-use": 12}},
        {"min": {"memory-size": 8192, "cpu-count": 2, "disk-count": 1, "disk-size": 1024,
                 "nic-count": 1, "spindle-use": 1},
         "max": {"memory-size": 65536, "cpu-count": 32, "disk-count": 16, "disk-size": 1048576,
                 "nic-count": 8, "spindle-use": 12}},
    ],
    "disk-templates": ["file", "plain"],
    "vcpu-ratio": 4.0,
}

_GANETI_PRINT = """
import io, json, sys
sys.path.insert(0, sys.argv[1])
from ganeti import cli
buf = io.StringIO()
cli.PrintIPolicyCommand(buf, json.loads(sys.argv[2]), sys.argv[3] == "group")
print(buf.getvalue(), end="")
"""


def _ganeti_text(ipolicy: dict[str, Any], is_group: bool) -> str:
    if not Path(GANETI_PATH, "ganeti", "cli.py").exists():
        pytest.skip("Ganeti's Python package (Debian ganeti-3.0) is not installed")
    kind = "group" if is_group else "cluster"
    done = subprocess.run([GANETI_PYTHON, "-c", _GANETI_PRINT, GANETI_PATH, json.dumps(ipolicy),
                           kind], capture_output=True, text=True, check=True)
    return done.stdout


@pytest.mark.parametrize("is_group", [False, True], ids=["cluster", "group"])
@pytest.mark.parametrize("ipolicy", [POLICY, {"minmax": POLICY["minmax"][:1]}, {}],
                         ids=["two-bounds", "one-bound", "empty"])
def test_options_text_matches_ganeti(ipolicy: dict[str, Any], is_group: bool) -> None:
    assert policy_options_text(ipolicy, is_group) == _ganeti_text(ipolicy, is_group)


def test_cluster_text_starts_with_std_specs() -> None:
    text = policy_options_text(POLICY, is_group=False)
    assert text.startswith(" --ipolicy-std-specs cpu-count=1,disk-count=1,")
    assert "//min:cpu-count=2," in text
