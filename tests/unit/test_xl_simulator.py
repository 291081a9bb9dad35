"""The xl simulator against recorded Xen 4.17 outputs and xl's behaviour."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from corral.testing.xl import XlSimulator
from corral.testing.xl_cli import parse_config
from corral.testing.xl_model import XlHost

DATA = Path(__file__).resolve().parents[1] / "data" / "xen"
PV_CONFIG = """# written by a test
name = '{name}'
memory = 256
maxmem = 512
vcpus = 2
kernel = '{kernel}'
extra = 'root=/dev/xvda1 ro'
disk = ['phy:/dev/xenvg/{name}.disk0,xvda,w']
vif = ['mac=00:16:3e:00:00:01, bridge=xenbr0']
"""
HVM_CONFIG = """name = "{name}"
builder = "hvm"
memory = 512
vcpus = 1
boot = "cd"
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def xl(tmp_path: Path, clock: Clock) -> XlSimulator:
    return XlSimulator(tmp_path / "xen", "node1", addresses=["192.0.2.1"], clock=clock,
                       template=XlHost(name="node1", shutdown_delay=2.0))


def _config(tmp_path: Path, name: str, template: str = PV_CONFIG) -> str:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"kernel")
    path = tmp_path / f"{name}.cfg"
    path.write_text(template.format(name=name, kernel=kernel))
    return str(path)


def _columns(line: str) -> list[int]:
    """End positions of the fields of a list line (right-aligned numbers, letters)."""
    return [m.end() for m in re.finditer(r"\S+", line)][1:]


def test_list_layout_matches_the_recorded_outputs(xl: XlSimulator, tmp_path: Path) -> None:
    assert xl.execute(["xl", "create", _config(tmp_path, "web1")]).exit_code == 0
    ours = xl.execute(["xl", "list"]).stdout.splitlines()
    for sample in ("xl-list-manpage.txt", "xl-list-ganeti.txt"):
        recorded = (DATA / sample).read_text().splitlines()
        assert ours[0] == recorded[0]
        assert _columns(ours[1]) == _columns(recorded[1])  # Domain-0
        assert _columns(ours[2]) == _columns(recorded[2])
    assert ours[1].split()[:5] == ["Domain-0", "0", "1024", "4", "r-----"]
    assert ours[2].split()[:5] == ["web1", "1", "256", "2", "-b----"]
    assert re.fullmatch(r"\d+\.\d", ours[2].split()[5])


def test_info_prints_every_key_of_xen_4_17_in_order(xl: XlSimulator) -> None:
    def keys(text: str) -> list[str]:
        return [line.split(":", 1)[0].rstrip() for line in text.splitlines()]

    recorded = (DATA / "xl-info-4.17.txt").read_text()
    ours = xl.execute(["xl", "info"]).stdout
    assert keys(ours) == keys(recorded)
    for ours_line, recorded_line in zip(ours.splitlines(), recorded.splitlines(), strict=True):
        assert ours_line.index(":") == recorded_line.index(":") == 23
    fields = {key.strip(): value.strip() for key, _, value in
              (line.partition(":") for line in ours.splitlines())}
    assert fields["xen_version"] == "4.17.3"
    assert int(fields["total_memory"]) == 16383


def test_uptime_and_long_list_formats(xl: XlSimulator, tmp_path: Path, clock: Clock) -> None:
    xl.execute(["xl", "create", _config(tmp_path, "web1")])
    clock.now += 760
    ours = xl.execute(["xl", "uptime"]).stdout.splitlines()
    recorded = (DATA / "xl-uptime.txt").read_text().splitlines()
    assert ours[0] == recorded[0]
    assert ours[2].replace(" 1 ", " 3 ", 1) == recorded[2]
    long = json.loads(xl.execute(["xl", "list", "-l", "web1"]).stdout)
    sample = json.loads((DATA / "xl-list-l.json").read_text())
    assert set(long[0]) == set(sample[0]) == {"domid", "config"}
    assert set(long[0]["config"]) == set(sample[0]["config"])
    assert long[0]["config"]["b_info"]["max_memkb"] == 512 * 1024
    assert long[0]["config"]["disks"][0]["vdev"] == "xvda"


def test_unknown_domains_fail_as_xl_does(xl: XlSimulator) -> None:
    for line in (DATA / "errors.txt").read_text().splitlines():
        if line.startswith("#"):
            continue
        command, code, stderr = line.split("\t")
        result = xl.execute(command.split())
        assert (result.exit_code, result.stderr) == (int(code), stderr + "\n"), command


def test_create_refusals(xl: XlSimulator, tmp_path: Path) -> None:
    path = _config(tmp_path, "web1")
    assert xl.execute(["xl", "create", path]).exit_code == 0
    again = xl.execute(["xl", "create", path])
    assert again.exit_code == 1
    assert 'Domain with name "web1" already exists' in again.stderr
    missing = tmp_path / "nokernel.cfg"
    missing.write_text("name = 'nokernel'\nmemory = 128\nkernel = '/no/such/vmlinuz'\n")
    result = xl.execute(["xl", "create", str(missing)])
    assert result.exit_code == 1
    assert "failed to open file '/no/such/vmlinuz'" in result.stderr
    assert result.stderr.startswith(f"Parsing config from {missing}\n")
    bad = tmp_path / "bad.cfg"
    bad.write_text("name = 'x'\nmemory = = 3\n")
    result = xl.execute(["xl", "create", str(bad)])
    assert "config parsing error" in result.stderr
    assert result.exit_code == 1
    huge = tmp_path / "huge.cfg"
    huge.write_text(HVM_CONFIG.format(name="huge").replace("512", "999999"))
    assert "Out of memory" in xl.execute(["xl", "create", str(huge)]).stderr
    assert [d.name for d in xl.state().domains] == ["web1"]


def test_shutdown_takes_time_and_reboot_changes_the_id(
        xl: XlSimulator, tmp_path: Path, clock: Clock) -> None:
    xl.execute(["xl", "create", _config(tmp_path, "web1")])
    assert xl.execute(["xl", "reboot", "web1"]).exit_code == 0
    assert xl.state().domain("web1").domid == 1  # type: ignore[union-attr]
    clock.now += 2.5
    assert xl.state().domain("web1").domid == 2  # type: ignore[union-attr]
    xl.execute(["xl", "shutdown", "web1"])
    clock.now += 1.0
    assert "web1" in xl.execute(["xl", "list"]).stdout
    clock.now += 1.5
    assert "web1" not in xl.execute(["xl", "list"]).stdout


def test_a_stubborn_guest_ignores_shutdown_until_destroyed(
        xl: XlSimulator, tmp_path: Path, clock: Clock) -> None:
    xl.configure(ignore_shutdown=["stubborn*"])
    xl.execute(["xl", "create", _config(tmp_path, "stubborn1")])
    xl.execute(["xl", "shutdown", "stubborn1"])
    clock.now += 600
    assert xl.state().domain("stubborn1") is not None
    waited = asyncio.run(xl.run(["xl", "shutdown", "-w", "stubborn1"], timeout=0.2))
    assert waited.timed_out
    assert xl.execute(["xl", "destroy", "stubborn1"]).exit_code == 0
    assert xl.state().domains == []


def test_pause_mem_set_vcpu_set_and_console(
        xl: XlSimulator, tmp_path: Path, clock: Clock) -> None:
    xl.execute(["xl", "create", "-p", _config(tmp_path, "web1")])
    assert "--p---" in xl.execute(["xl", "list", "web1"]).stdout
    clock.now += 100
    assert xl.execute(["xl", "list", "web1"]).stdout.split()[-1] == "0.0"
    xl.execute(["xl", "unpause", "web1"])
    assert xl.execute(["xl", "mem-set", "web1", "384m"]).exit_code == 0
    assert xl.state().domain("web1").memory == 384  # type: ignore[union-attr]
    too_much = xl.execute(["xl", "mem-set", "web1", "1024"])
    assert too_much.exit_code == 1
    assert "memory_static_max" in too_much.stderr
    assert xl.execute(["xl", "vcpu-set", "web1", "1"]).exit_code == 0
    assert xl.execute(["xl", "vcpu-set", "web1", "3"]).exit_code == 1
    console = xl.execute(["xl", "console", "web1"])
    assert console.exit_code == 0
    assert "web1 login:" in console.stdout


def test_migrate_moves_the_domain_to_the_other_host(
        xl: XlSimulator, tmp_path: Path, clock: Clock) -> None:
    other = XlSimulator(tmp_path / "xen", "node2", addresses=["192.0.2.2"], clock=clock)
    xl.execute(["xl", "create", _config(tmp_path, "web1")])
    result = xl.execute(["xl", "migrate", "-C", "/etc/xen/web1", "web1", "192.0.2.2"])
    assert result.exit_code == 0
    assert "Migration successful." in result.stderr
    assert xl.state().domains == []
    moved = other.state().domain("web1")
    assert moved is not None
    assert moved.memory == 256
    nowhere = other.execute(["xl", "migrate", "web1", "no-such-host"])
    assert nowhere.exit_code == 1
    assert "Could not resolve hostname" in nowhere.stderr


def test_config_parser_reads_lists_over_several_lines() -> None:
    parsed = parse_config("name = 'a'\ndisk = [\n 'phy:/x,xvda,w',\n 'phy:/y,xvdb,r'\n]\n"
                          "vcpus = 2\n", "/cfg")
    assert parsed == {"name": "a", "disk": ["phy:/x,xvda,w", "phy:/y,xvdb,r"], "vcpus": 2}


def test_on_reboot_and_on_poweroff_actions(xl: XlSimulator, tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "exit.cfg"
    path.write_text(HVM_CONFIG.format(name="exit1") + "on_reboot = 'destroy'\n")
    xl.execute(["xl", "create", str(path)])
    xl.execute(["xl", "reboot", "exit1"])
    clock.now += 3
    assert xl.state().domain("exit1") is None
    path.write_text(HVM_CONFIG.format(name="kept1") + "on_poweroff = 'preserve'\n")
    xl.execute(["xl", "create", str(path)])
    xl.execute(["xl", "shutdown", "kept1"])
    clock.now += 3
    line = xl.execute(["xl", "list", "kept1"]).stdout.splitlines()[1]
    assert line.split()[4] == "---s--"
    assert xl.execute(["xl", "destroy", "kept1"]).exit_code == 0
