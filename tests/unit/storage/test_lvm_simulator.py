"""The LVM simulator against outputs captured from the real lvm2 2.03.16, and its devices."""

from __future__ import annotations

import asyncio
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from corral.process import CommandResult
from corral.testing.lvm import LvmSimulator
from corral.testing.lvm_model import human_size, report_size

DATA = Path(__file__).resolve().parents[2] / "data" / "lvm"
DM_NOISE = re.compile(
    r"  (WARNING: Activation disabled.*|WARNING: Logical volume \S+ not zeroed\."
    r"|/dev/mapper/control: open failed.*|Failure to communicate with kernel.*"
    r"|Check that device-mapper is available.*|Incompatible libdevmapper.*)\n"
)
ATTR = re.compile(r"\|-wi-(?:XX|a-|--)----")
REPORT = ["--noheadings", "--units=m", "--nosuffix", "--separator=|"]


@dataclass
class Step:
    directive: list[str] = field(default_factory=list)
    argv: list[str] = field(default_factory=list)
    rc: int = 0
    stdout: str = ""
    stderr: str = ""


def _steps(path: Path) -> list[Step]:
    steps: list[Step] = []
    section = ""
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith("#"):
            continue
        if line.startswith("! "):
            steps.append(Step(directive=line[2:].split()))
        elif line.startswith("$ "):
            steps.append(Step(argv=shlex.split(line[2:])))
        elif line.startswith("rc="):
            steps[-1].rc = int(line[3:])
        elif line.rstrip("\n") in {"--stdout", "--stderr"}:
            section = line.strip()
        elif section == "--stdout":
            steps[-1].stdout += line
        else:
            steps[-1].stderr += line
    return steps


def _normal(text: str) -> str:
    return ATTR.sub("|-wi-?-----", DM_NOISE.sub("", text))


def _apply(sim: LvmSimulator, directive: list[str]) -> None:
    kind, vg, pv, size = directive
    if kind == "add_vg":
        sim.add_vg(vg, [(pv, int(size))])
    else:
        sim.add_pv(vg, pv, int(size))


def test_replays_the_captured_session(tmp_path: Path) -> None:
    sim = LvmSimulator(tmp_path / "dev", vg=None)
    steps = _steps(DATA / "session-2.03.16.txt")
    assert len(steps) > 50
    for step in steps:
        if step.directive:
            _apply(sim, step.directive)
            continue
        got = sim.execute(step.argv)
        where = " ".join(step.argv)
        assert got.exit_code == step.rc, where
        assert _normal(got.stdout) == _normal(step.stdout), where
        assert _normal(got.stderr) == _normal(step.stderr), where


def _run(sim: LvmSimulator, *argv: str) -> CommandResult:
    return asyncio.run(sim.run(list(argv)))


@pytest.fixture
def sim(tmp_path: Path) -> LvmSimulator:
    return LvmSimulator(tmp_path / "dev", pvs=[("/dev/sdb", 1024), ("/dev/sdc", 1024)])


def test_active_lv_is_a_device_that_keeps_data(sim: LvmSimulator) -> None:
    assert _run(sim, "lvcreate", "--yes", "-L", "8m", "-n", "d0", "xenvg").exit_code == 0
    dev = sim.device("xenvg", "d0")
    assert dev.is_symlink()
    assert dev.stat().st_size == 8 * 1024 * 1024
    dev.write_bytes(b"hello")
    assert _run(sim, "lvchange", "-an", "xenvg/d0").exit_code == 0
    assert not dev.exists()
    assert not dev.parent.exists()
    assert _run(sim, "lvchange", "-ay", "xenvg/d0").exit_code == 0
    assert dev.read_bytes()[:5] == b"hello"
    assert _run(sim, "lvextend", "-L", "+4m", "xenvg/d0").exit_code == 0
    assert dev.stat().st_size == 12 * 1024 * 1024
    assert _run(sim, "lvremove", "-f", "xenvg/d0").exit_code == 0
    assert not dev.exists()
    assert not sim.data_file("xenvg", "d0").exists()


def test_attr_follows_activation(sim: LvmSimulator) -> None:
    _run(sim, "lvcreate", "-an", "-Zn", "-L", "4m", "-n", "d0", "xenvg")
    lvs = ["lvs", *REPORT, "-o", "lv_name,lv_attr", "xenvg/d0"]
    assert _run(sim, *lvs).stdout == "  d0|-wi-------\n"
    _run(sim, "lvchange", "-ay", "xenvg/d0")
    assert _run(sim, *lvs).stdout == "  d0|-wi-a-----\n"


def test_striped_lv_spans_pvs(sim: LvmSimulator) -> None:
    created = _run(sim, "lvcreate", "-i", "2", "-L", "20m", "-n", "s", "xenvg")
    assert created.exit_code == 0
    assert created.stdout.startswith("  Using default stripesize 64.00 KiB.\n")
    lvs = _run(sim, "lvs", *REPORT, "-o", "lv_name,lv_size,devices", "xenvg/s")
    assert lvs.stdout == "  s|24.00|/dev/sdb(0),/dev/sdc(0)\n"


def test_active_lv_needs_force(sim: LvmSimulator) -> None:
    _run(sim, "lvcreate", "-L", "4m", "-n", "d0", "xenvg")
    refused = _run(sim, "lvremove", "xenvg/d0")
    assert refused.exit_code == 5
    assert "not removed" in refused.stderr
    assert sim.device("xenvg", "d0").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["lvcreate", "-L", "abc", "-n", "x", "xenvg"], "  Invalid argument for --size: abc\n"),
        (["lvcreate", "-x", "xenvg"], "lvcreate: invalid option -- 'x'\n"),
        (["lvcreate", "-L"], "lvcreate: option requires an argument -- 'L'\n"),
        (["lvcreate", "-L", "4m", "-n", "a$b", "xenvg"],
         '  Logical volume name "a$b" is invalid.\n'),
        (["lvchange", "xenvg/x"], "  No command with matching syntax recognised."),
        (["lvs", "--units=g", "--separator=|"], "only --separator reports"),
    ],
    ids=["bad-size", "bad-short-option", "missing-value", "bad-name", "no-change", "units"],
)
def test_command_line_errors_exit_3(sim: LvmSimulator, argv: list[str], message: str) -> None:
    result = _run(sim, *argv)
    assert result.exit_code == 3
    assert message in result.stderr


def test_unknown_field_and_pv(sim: LvmSimulator) -> None:
    assert _run(sim, "lvs", *REPORT, "-o", "nope").stderr == "  Unrecognised field: nope\n"
    missing = _run(sim, "pvs", *REPORT, "/dev/nothing")
    assert missing.exit_code == 5
    assert missing.stderr == '  Failed to find physical volume "/dev/nothing".\n'


def test_state_file_survives_a_new_simulator(tmp_path: Path) -> None:
    state = tmp_path / "lvm.json"
    first = LvmSimulator(tmp_path / "dev", state_file=state)
    first.execute(["lvcreate", "-L", "4m", "-n", "kept", "xenvg"])
    second = LvmSimulator(tmp_path / "dev", state_file=state)
    out = second.execute(["lvs", *REPORT, "-o", "lv_name,lv_size,lv_attr"]).stdout
    assert out == "  kept|4.00|-wi-a-----\n"


def test_other_commands_use_the_fallback(tmp_path: Path) -> None:
    class Echo:
        async def run(self, argv, **_kwargs) -> CommandResult:  # type: ignore[no-untyped-def]
            return CommandResult(tuple(argv), 0, "fallback\n", "")

    sim = LvmSimulator(tmp_path / "dev", fallback=Echo())  # type: ignore[arg-type]
    assert asyncio.run(sim.run(["true"])).stdout == "fallback\n"
    alone = LvmSimulator(tmp_path / "dev2")
    assert asyncio.run(alone.run(["true"])).exit_code == 127


@pytest.mark.parametrize(
    ("mib", "text"),
    [(64, "64.00 MiB"), (1024, "1.00 GiB"), (1028, "1.00 GiB"), (1032, "<1.01 GiB"),
     (1024 * 1024, "1.00 TiB")],
    ids=["mib", "gib", "rounded-down", "rounded-up", "tib"],
)
def test_human_size(mib: int, text: str) -> None:
    assert human_size(mib) == text


def test_report_size_zero_is_bare() -> None:
    assert (report_size(0), report_size(12)) == ("0", "12.00")
