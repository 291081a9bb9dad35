"""The lxc hypervisor passes the conformance kit with real containers (Debian's LXC).

The fixture builds a 32 MiB ext4 image holding a static busybox and the busybox
OS's own files (``os/busybox/rootfs``: busybox init, its inittab and rcS), so the
containers boot what ``gnt-instance add -o busybox`` installs. Each instance gets
its own sparse copy. Needs root, Debian's ``lxc``, ``mkfs.ext4`` and
``busybox-static``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import pytest

from corral.clock import SystemClock
from corral.errors import HypervisorError
from corral.hypervisor.base import DiskSpec, Hypervisor, InstanceSpec, NicSpec
from corral.hypervisor.lxc.driver import REQUIRED_TOOLS, LxcHypervisor
from corral.hypervisor.params import defaults
from corral.layout import NodeLayout
from corral.objects.instance import DiskTemplate, NicMode
from corral.process import SubprocessRunner
from tests.contract.hypervisor_kit import HypervisorContract, KitOptions

BUSYBOX = Path("/bin/busybox")
OS_ROOTFS = Path(__file__).resolve().parents[2] / "os" / "busybox" / "rootfs"


def missing() -> str | None:
    """Why this machine cannot run the containers of these tests (None: it can)."""
    if os.geteuid() != 0:
        return "lxc containers need root here"
    for prog in (*REQUIRED_TOOLS, "mkfs.ext4"):
        if shutil.which(prog) is None:
            return f"{prog} is not installed (Debian packages lxc, e2fsprogs)"
    if not BUSYBOX.is_file() or b"ld-linux" in BUSYBOX.read_bytes()[:8192]:
        return "a static /bin/busybox is needed (Debian package busybox-static)"
    return None


pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")


class SpecFactory(Protocol):
    """``make_spec``: the kit's factory plus vCPUs, NICs and hvparams."""

    def __call__(self, name: str, *, vcpus: int = 1, nics: tuple[NicSpec, ...] = (),
                 **hvparams: str) -> InstanceSpec: ...


def build_image(work: Path, size_mib: int = 32) -> Path:
    """An ext4 image holding a busybox system with the busybox OS's init files."""
    stage = work / "stage"
    for sub in ("bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "run",
                "root", "var/run", "var/log"):
        (stage / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, stage / "bin" / "busybox")
    applets = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        link = stage / applet
        if not link.exists() and not link.is_symlink():
            link.symlink_to("/bin/busybox")
    shutil.copytree(OS_ROOTFS, stage, dirs_exist_ok=True)
    (stage / "etc" / "init.d" / "rcS").chmod(0o755)
    (stage / "etc" / "hostname").write_text("lxc-kit\n")
    image = work / "root.img"
    with image.open("wb") as fh:
        fh.truncate(size_mib * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(stage), str(image)], check=True)
    return image


@pytest.fixture(scope="module")
def base_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_image(tmp_path_factory.mktemp("lxc-image"))


def mounts_below(path: Path) -> list[str]:
    """Mount points under ``path``, read straight from the kernel."""
    prefix = str(path).rstrip("/") + "/"
    with open("/proc/self/mountinfo") as fh:
        return [p for p in (line.split()[4] for line in fh) if p.startswith(prefix)]


async def stop_everything(hv: LxcHypervisor) -> None:
    names = set(await hv.list_instances())
    if hv.lxc_path.is_dir():
        names |= set(os.listdir(hv.lxc_path))
    for name in names:
        await hv.stop(name, force=True, timeout=10.0)


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Hypervisor]:
    hv = LxcHypervisor(NodeLayout(tmp_path / "node"), SubprocessRunner(), SystemClock())
    yield hv
    asyncio.run(stop_everything(hv))
    assert mounts_below(tmp_path) == []


@pytest.fixture
def make_spec(base_image: Path, tmp_path: Path) -> SpecFactory:
    def make(name: str, *, vcpus: int = 1, nics: tuple[NicSpec, ...] = (),
             **hvparams: str) -> InstanceSpec:
        disk = tmp_path / f"{name}.img"
        if not disk.exists():
            subprocess.run(["cp", "--sparse=always", str(base_image), str(disk)], check=True)
        return InstanceSpec(
            name=name, uuid=str(uuid.uuid4()), hvparams={**defaults("lxc"), **hvparams},
            memory_mib=128, vcpus=vcpus, primary_node="node1.example.com", nics=nics,
            disks=(DiskSpec(path=str(disk), size_mib=32, dev_type=DiskTemplate.FILE),))

    return make


class TestLxcHypervisor(HypervisorContract):
    """Every kit check, on real containers (a busybox soft stop takes about 2 s)."""

    kit_options = KitOptions(stop_timeout=20.0, settle_timeout=20.0)


# --- beyond the kit: what makes it a real container ----------------------------------------

def ns_id(pid: int | str, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/{'ns/' + kind}")


def status_field(pid: int, field: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == field:
            return value.strip()
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def lxc_info_pid(hv: LxcHypervisor, name: str) -> int:
    out = subprocess.run(["lxc-info", "-n", name, "-P", str(hv.lxc_path), "-p", "-H"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1])


def test_container_has_its_own_namespaces_and_init_is_pid_1(
        driver: LxcHypervisor, make_spec: SpecFactory) -> None:
    asyncio.run(driver.start(make_spec("ns1")))
    info = asyncio.run(driver.instance_info("ns1"))
    assert info is not None
    pid = lxc_info_pid(driver, "ns1")
    assert info.id == pid
    for kind in ("pid", "mnt", "uts", "net", "ipc"):
        assert ns_id(pid, kind) != ns_id("self", kind), kind
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "init"
    assert status_field(pid, "NSpid").split() == [str(pid), "1"]
    assert Path(f"/proc/{pid}/root/etc/hostname").read_text() == "lxc-kit\n"  # the disk
    inside = subprocess.run(["lxc-attach", "-n", "ns1", "-P", str(driver.lxc_path), "--",
                             "/bin/hostname"], capture_output=True, text=True, check=True)
    assert inside.stdout.strip() == "ns1"


def test_cgroup_limits_capabilities_and_ttys_apply(
        driver: LxcHypervisor, make_spec: SpecFactory) -> None:
    spec = make_spec("lim1", cpu_mask="0", num_ttys="2",
                     drop_capabilities="sys_admin,sys_module,net_raw")
    asyncio.run(driver.start(spec))
    pid = lxc_info_pid(driver, "lim1")
    cgroup = subprocess.run(["lxc-cgroup", "-n", "lim1", "-P", str(driver.lxc_path),
                             "memory.limit_in_bytes"], capture_output=True, text=True)
    if cgroup.returncode == 0:  # a legacy memory controller (else cgroup v2)
        assert int(cgroup.stdout) == 128 * 1024 * 1024
    info = asyncio.run(driver.instance_info("lim1"))
    assert info is not None
    assert (info.memory_mib, info.vcpus) == (128, 1)
    bounding = int(status_field(pid, "CapBnd"), 16)
    # bits: 21 sys_admin, 16 sys_module, 13 net_raw (dropped); 12 net_admin (kept)
    for bit, kept in ((21, False), (16, False), (13, False), (12, True)):
        assert bool(bounding & (1 << bit)) == kept, bit
    ttys = sorted(p.name for p in Path(f"/proc/{pid}/root/dev").glob("tty[0-9]*"))
    assert ttys == ["tty1", "tty2"]
    asyncio.run(driver.balloon("lim1", 96))
    info = asyncio.run(driver.instance_info("lim1"))
    assert info is not None
    assert info.memory_mib == 96


def test_console_command_reaches_the_busybox_shell(
        driver: LxcHypervisor, make_spec: SpecFactory) -> None:
    spec = make_spec("con1")
    asyncio.run(driver.start(spec))
    console = driver.console(spec)
    assert console.command[:3] == ("lxc-console", "-n", "con1")
    assert shutil.which("script"), "util-linux script gives lxc-console a terminal"
    shell = " ".join(console.command)
    # typed three times: input sent before lxc-console holds the terminal may be dropped
    feed = ("sleep 1; for i in 1 2 3; do printf 'echo marker-$((6*7))\\n'; sleep 1; done; "
            "printf '\\001q'")
    out = subprocess.run(["sh", "-c", f"({feed}) | script -qfec '{shell}' /dev/null"],
                         capture_output=True, text=True, timeout=30)
    assert "marker-42" in out.stdout
    log = driver.instance_dir("con1") / "console.log"
    assert "CORRAL-GUEST-READY" in log.read_text(errors="replace")


def test_stop_unmounts_and_removes_the_instance_files(
        driver: LxcHypervisor, make_spec: SpecFactory, tmp_path: Path) -> None:
    asyncio.run(driver.start(make_spec("st1")))
    assert str(driver.rootfs_dir("st1")) in mounts_below(tmp_path)
    asyncio.run(driver.stop("st1", force=False, timeout=20.0))
    assert asyncio.run(driver.instance_info("st1")) is None
    assert mounts_below(tmp_path) == []
    assert not driver.instance_dir("st1").exists()
    assert "st1" not in asyncio.run(driver.list_instances())


def test_killed_init_means_stopped_and_cleanup_unmounts(
        driver: LxcHypervisor, make_spec: SpecFactory, tmp_path: Path) -> None:
    asyncio.run(driver.start(make_spec("crash1")))
    pid = lxc_info_pid(driver, "crash1")
    os.kill(pid, 9)
    assert asyncio.run(wait_gone(driver, "crash1"))
    assert str(driver.rootfs_dir("crash1")) in mounts_below(tmp_path)
    with pytest.raises(HypervisorError, match="not running"):
        asyncio.run(driver.stop("crash1", force=False, timeout=1.0))
    asyncio.run(driver.cleanup("crash1"))
    assert mounts_below(tmp_path) == []


async def wait_gone(hv: LxcHypervisor, name: str) -> bool:
    for _ in range(200):
        if await hv.instance_info(name) is None:
            return True
        await asyncio.sleep(0.05)
    return False


def test_guest_reboot_when_sys_boot_is_kept(
        driver: LxcHypervisor, make_spec: SpecFactory) -> None:
    asyncio.run(driver.start(make_spec("rb1", drop_capabilities="sys_module,sys_admin")))
    before = lxc_info_pid(driver, "rb1")
    asyncio.run(driver.reboot("rb1"))
    after = lxc_info_pid(driver, "rb1")
    assert after != before
    log = (driver.instance_dir("rb1") / "console.log").read_text(errors="replace")
    assert "Requesting system reboot" in log


def test_partitioned_disk_boots_from_its_first_partition(
        driver: LxcHypervisor, base_image: Path, tmp_path: Path) -> None:
    disk = tmp_path / "part.img"
    with disk.open("wb") as fh:
        fh.truncate(40 * 1024 * 1024)
    subprocess.run(["sfdisk", "-q", str(disk)], input="label: dos\n2048,\n", text=True,
                   check=True)
    subprocess.run(["dd", f"if={base_image}", f"of={disk}", "bs=1M", "seek=1",
                    "conv=notrunc,sparse", "status=none"], check=True)
    spec = InstanceSpec(name="part1", uuid=str(uuid.uuid4()), hvparams=defaults("lxc"),
                        memory_mib=64, vcpus=1, disks=(DiskSpec(path=str(disk)),))
    asyncio.run(driver.start(spec))
    info = asyncio.run(driver.instance_info("part1"))
    assert info is not None
    loops = subprocess.run(["losetup", "--list", "--noheadings", "-O", "BACK-FILE,OFFSET"],
                           capture_output=True, text=True, check=True).stdout
    assert [str(disk), "1048576"] in [line.split() for line in loops.splitlines()]
    asyncio.run(driver.stop("part1", force=True, timeout=5.0))
    assert mounts_below(tmp_path) == []


@pytest.fixture
def bridge() -> Iterator[str]:
    name = f"lxbr{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


def test_nic_is_a_veth_on_the_bridge_with_the_instance_mac(
        driver: LxcHypervisor, make_spec: SpecFactory, bridge: str) -> None:
    mac = "aa:00:00:12:34:56"
    asyncio.run(driver.start(make_spec("net1", nics=(NicSpec(mac=mac, link=bridge),))))
    pid = lxc_info_pid(driver, "net1")
    ports = subprocess.run(["ip", "-o", "link", "show", "master", bridge],
                           capture_output=True, text=True, check=True).stdout
    assert len(ports.splitlines()) == 1
    inside = subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "-o", "link", "show",
                             "eth0"], capture_output=True, text=True, check=True).stdout
    assert mac in inside
    asyncio.run(driver.stop("net1", force=True, timeout=5.0))
    ports = subprocess.run(["ip", "-o", "link", "show", "master", bridge],
                           capture_output=True, text=True, check=True).stdout
    assert ports.strip() == ""


def test_two_containers_talk_over_the_bridge(
        driver: LxcHypervisor, make_spec: SpecFactory, bridge: str) -> None:
    subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
    for index in (1, 2):
        nic = NicSpec(mac=f"aa:00:00:00:10:0{index}", link=bridge)
        asyncio.run(driver.start(make_spec(
            f"ping{index}", nics=(nic,),
            extra_config=f"lxc.net.0.ipv4.address = 10.213.0.{index}/24")))
    ping = subprocess.run(["lxc-attach", "-n", "ping1", "-P", str(driver.lxc_path), "--",
                           "/bin/ping", "-c", "1", "-W", "5", "10.213.0.2"],
                          capture_output=True, text=True, timeout=30)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert "1 packets received" in ping.stdout


@pytest.mark.parametrize(("change", "message"), [
    ({"cpu_mask": "0"}, "number of vCPUs \\(2\\) does not match"),
    ({"cpu_mask": "99"}, "names CPUs \\[99\\] but this node has"),
    ({"nics": "routed"}, "only supports bridged NICs"),
    ({"disks": "none"}, "cannot run diskless"),
    ({"disks": "two"}, "exactly one disk"),
    ({"extra_cgroups": "no_such_controller"}, "no_such_controller"),
    ({"disks": "empty"}, "no /sbin/init"),
    ({"paused": "yes"}, "cannot be started paused"),
])
def test_refused_starts_leave_nothing_behind(
        driver: LxcHypervisor, make_spec: SpecFactory, tmp_path: Path,
        change: dict[str, str], message: str) -> None:
    spec = make_spec("bad1", vcpus=2, cpu_mask=change.get("cpu_mask", ""),
                     extra_cgroups=change.get("extra_cgroups", ""))
    if change.get("nics") == "routed":
        spec = replace(spec, nics=(NicSpec(mac="aa:00:00:00:00:01", mode=NicMode.ROUTED),))
    if change.get("disks") == "none":
        spec = replace(spec, disks=())
    if change.get("disks") == "two":
        spec = replace(spec, disks=spec.disks * 2)
    if change.get("disks") == "empty":
        empty = tmp_path / "empty.img"
        with empty.open("wb") as fh:
            fh.truncate(16 * 1024 * 1024)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(empty)], check=True)
        spec = replace(spec, disks=(DiskSpec(path=str(empty)),))
    with pytest.raises(HypervisorError, match=message):
        asyncio.run(driver.start(spec, paused=bool(change.get("paused"))))
    assert mounts_below(tmp_path) == []
    assert not driver.instance_dir("bad1").exists()
    assert asyncio.run(driver.list_instances()) == []


def test_node_info_carries_the_lxc_version(driver: LxcHypervisor) -> None:
    shown = subprocess.run(["lxc-start", "--version"], capture_output=True, text=True,
                           check=True).stdout.strip()
    info = asyncio.run(driver.node_info())
    assert ".".join(map(str, info.hv_version)) == shown
    assert info.memory_total > 0


def test_verify_is_clean_here_and_names_what_the_node_lacks(driver: LxcHypervisor) -> None:
    assert asyncio.run(driver.verify(defaults("lxc"))) == []
    problems = asyncio.run(driver.verify({**defaults("lxc"), "extra_cgroups": "no_such_ctl",
                                          "cpu_mask": "4096"}))
    assert any("'no_such_ctl' is not enabled" in p for p in problems)
    assert any("names CPUs [4096]" in p for p in problems)
    with pytest.raises(HypervisorError, match="cpu_mask"):
        asyncio.run(driver.validate_parameters({**defaults("lxc"), "cpu_mask": "4096"}))


# --- Debian (systemd) in a container -------------------------------------------------------

DEBOOTSTRAP_CACHE = Path("/var/cache/ganeti-instance-debootstrap")


def debian_tree() -> Path | None:
    """A Debian tree as a tar: ``$CORRAL_DEBIAN_TREE_TAR``, else the cache that Debian's
    debootstrap OS keeps of what it installs (``cache-<suite>-<arch>.tar``)."""
    given = os.environ.get("CORRAL_DEBIAN_TREE_TAR")
    if given:
        return Path(given) if Path(given).is_file() else None
    found = sorted(DEBOOTSTRAP_CACHE.glob("cache-*-amd64.tar"))
    return found[-1] if found else None


@pytest.fixture(scope="module")
def debian_disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A disk as the debootstrap OS writes it: an MBR, the Debian tree in partition 1."""
    tree = debian_tree()
    if tree is None:
        pytest.skip("no Debian tree: run the debootstrap OS once (it caches its tree in "
                    f"{DEBOOTSTRAP_CACHE}) or set CORRAL_DEBIAN_TREE_TAR")
    work = tmp_path_factory.mktemp("debian")
    stage = work / "stage"
    stage.mkdir()
    subprocess.run(["tar", "--acls", "--xattrs", "--xattrs-include=*", "-x", "-f", str(tree),
                    "-C", str(stage)], check=True)
    (stage / "etc" / "hostname").write_text("deb1\n")
    part, disk = work / "part1.img", work / "disk.img"
    for path, mib in ((part, 1000), (disk, 1024)):
        with path.open("wb") as fh:
            fh.truncate(mib * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(stage), str(part)], check=True)
    shutil.rmtree(stage)
    subprocess.run(["sfdisk", "-q", str(disk)], input="label: dos\n2048,\n", text=True,
                   check=True)
    subprocess.run(["dd", f"if={part}", f"of={disk}", "bs=1M", "seek=1",
                    "conv=notrunc,sparse", "status=none"], check=True)
    part.unlink()
    return disk


def wait_for_text(path: Path, text: str, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        time.sleep(0.2)
    return False


def test_debian_with_systemd_boots_reboots_and_stops(
        driver: LxcHypervisor, debian_disk: Path, tmp_path: Path) -> None:
    spec = InstanceSpec(name="deb1", uuid=str(uuid.uuid4()), hvparams=defaults("lxc"),
                        memory_mib=256, vcpus=1, disks=(DiskSpec(path=str(debian_disk)),))
    asyncio.run(driver.start(spec))  # Ganeti's default drops: no sys_admin, no sys_boot
    console = driver.instance_dir("deb1") / "console.log"
    assert wait_for_text(console, "deb1 login:"), console.read_text(errors="replace")[-2000:]
    pid = lxc_info_pid(driver, "deb1")
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "systemd"
    assert status_field(pid, "NSpid").split() == [str(pid), "1"]
    asyncio.run(driver.reboot("deb1"))
    assert lxc_info_pid(driver, "deb1") != pid
    asyncio.run(driver.stop("deb1", force=False, timeout=60.0))  # SIGRTMIN+3 for systemd
    assert asyncio.run(driver.instance_info("deb1")) is None
    assert mounts_below(tmp_path) == []
