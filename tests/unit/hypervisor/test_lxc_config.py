"""The lxc driver's pure parts: container configuration, cgroup files, tool output, params."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.errors import HypervisorError, ParameterError
from corral.hypervisor.base import DiskSpec, InstanceSpec, NicSpec
from corral.hypervisor.lxc import cgroups, tools
from corral.hypervisor.lxc.config import ContainerPaths, render_config
from corral.hypervisor.params import check_syntax, defaults
from corral.objects.instance import NicMode

V1 = cgroups.CgroupSystem(legacy=frozenset({"memory", "cpu", "cpuacct", "cpuset", "devices"}),
                          memsw=True)
V2 = cgroups.CgroupSystem(legacy=frozenset())
PATHS = ContainerPaths(rootfs=Path("/run/corral/lxc/web1/rootfs"),
                       console_log=Path("/run/corral/lxc/web1/console.log"))


def spec(vcpus: int = 1, nics: tuple[NicSpec, ...] = (), **hvparams: object) -> InstanceSpec:
    return InstanceSpec(name="web1", uuid="u-1", hvparams={**defaults("lxc"), **hvparams},
                        memory_mib=256, vcpus=vcpus, nics=nics,
                        disks=(DiskSpec(path="/dev/xenvg/disk0"),))


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_default_config_on_a_legacy_cgroup_node() -> None:
    got = lines(render_config(spec(), PATHS, V1))
    assert got[:4] == ["lxc.uts.name = web1", "lxc.rootfs.path = dir:/run/corral/lxc/web1/rootfs",
                       "lxc.autodev = 1", "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed"]
    mounts = [line.split()[2:4] for line in got if line.startswith("lxc.mount.entry")]
    assert mounts == [["tmpfs", "run"], ["tmpfs", "run/lock"], ["tmpfs", "dev/shm"]]
    assert "lxc.tty.max = 6" in got
    assert "lxc.console.logfile = /run/corral/lxc/web1/console.log" in got
    assert "lxc.cgroup.memory.limit_in_bytes = 256M" in got
    assert "lxc.cgroup.memory.memsw.limit_in_bytes = 256M" in got
    assert [line for line in got if ".cpu." in line] \
        == ["lxc.cgroup.cpu.cfs_period_us = 100000", "lxc.cgroup.cpu.cfs_quota_us = 100000"]
    allow = [line for line in got if line.startswith("lxc.cgroup.devices")]
    assert allow[0] == "lxc.cgroup.devices.deny = a"
    assert allow[1:3] == ["lxc.cgroup.devices.allow = c 1:3 rw",
                          "lxc.cgroup.devices.allow = c 1:5 rw"]
    assert allow[-1] == "lxc.cgroup.devices.allow = c 136:* rw"
    assert "lxc.net.0.type = empty" in got
    assert got[-1] == "lxc.cap.drop = mac_override sys_boot sys_module sys_time sys_admin"


def test_unified_cgroup_node_uses_cgroup2_keys() -> None:
    got = lines(render_config(spec(vcpus=2), PATHS, V2))
    assert "lxc.cgroup2.memory.max = 256M" in got
    assert "lxc.cgroup2.cpu.max = 200000 100000" in got
    assert "lxc.cgroup2.devices.deny = a" in got
    assert not [line for line in got if line.startswith("lxc.cgroup.")]


def test_cpu_mask_becomes_the_cpuset_and_must_match_vcpus() -> None:
    got = lines(render_config(spec(vcpus=2, cpu_mask="1,3"), PATHS, V1))
    assert "lxc.cgroup.cpuset.cpus = 1,3" in got
    assert not [line for line in got if "cfs_quota" in line]
    with pytest.raises(HypervisorError, match=r"vCPUs \(1\) does not match .* cpu_mask \(2\)"):
        render_config(spec(vcpus=1, cpu_mask="0-1"), PATHS, V1)


def test_nics_are_veths_on_their_bridge() -> None:
    nics = (NicSpec(mac="aa:00:00:00:00:01", link="br0"),
            NicSpec(mac="aa:00:00:00:00:02", link="br1", tap="veth-web1-1"))
    got = lines(render_config(spec(nics=nics), PATHS, V1))
    assert [line for line in got if line.startswith("lxc.net.")] == [
        "lxc.net.0.type = veth", "lxc.net.0.link = br0", "lxc.net.0.hwaddr = aa:00:00:00:00:01",
        "lxc.net.0.name = eth0", "lxc.net.0.flags = up",
        "lxc.net.1.type = veth", "lxc.net.1.link = br1", "lxc.net.1.hwaddr = aa:00:00:00:00:02",
        "lxc.net.1.name = eth1", "lxc.net.1.flags = up", "lxc.net.1.veth.pair = veth-web1-1"]


@pytest.mark.parametrize(("nic", "message"), [
    (NicSpec(mac="aa:00:00:00:00:01", mode=NicMode.ROUTED), "only supports bridged NICs"),
    (NicSpec(mac="aa:00:00:00:00:01", link=""), "needs a bridge"),
])
def test_unsupported_nics_are_refused(nic: NicSpec, message: str) -> None:
    with pytest.raises(HypervisorError, match=message):
        render_config(spec(nics=(nic,)), PATHS, V1)


def test_ttys_capabilities_and_extra_config() -> None:
    got = lines(render_config(spec(num_ttys=0, drop_capabilities="CAP_SYS_ADMIN, net_raw",
                                   extra_config="lxc.signal.halt = SIGUSR2,lxc.seccomp.profile ="),
                              PATHS, V1))
    assert not [line for line in got if line.startswith("lxc.tty.max")]
    assert "lxc.cap.drop = sys_admin net_raw" in got
    assert got[-2:] == ["lxc.signal.halt = SIGUSR2", "lxc.seccomp.profile = "]


def test_no_capabilities_dropped_means_no_line() -> None:
    got = lines(render_config(spec(drop_capabilities=""), PATHS, V1))
    assert not [line for line in got if line.startswith("lxc.cap.drop")]


# --- parameter refusals (master side) ----------------------------------------------------

@pytest.mark.parametrize(("name", "value"), [
    ("devices", "c 1:3 rx"), ("devices", "x 1:3 rw"), ("devices", "c 1 rw"),
    ("devices", "c 1:3 rrw"), ("drop_capabilities", "sys_everything"),
    ("extra_cgroups", "Net-Cls"), ("extra_config", "lxc.tty.max"),
    ("extra_config", "tty = 4"), ("extra_config", "lxc.rootfs.path = /srv"),
    ("cpu_mask", "0:1"), ("cpu_mask", "all"), ("cpu_mask", "3-1"),
    ("num_ttys", "-1"), ("startup_timeout", "-5"), ("startup_timeout", "soon"),
])
def test_bad_values_are_refused_naming_the_parameter(name: str, value: str) -> None:
    with pytest.raises(ParameterError, match=f"'{name}'"):
        check_syntax("lxc", {name: value})


@pytest.mark.parametrize(("name", "value"), [
    ("devices", "a"), ("devices", "b 8:* rwm,c 136:* rw"), ("drop_capabilities", "sys_boot"),
    ("extra_cgroups", "net_cls,hugetlb"), ("extra_config", "lxc.apparmor.profile = unconfined"),
    ("cpu_mask", "0-1,3"), ("num_ttys", "0"), ("startup_timeout", "0"),
])
def test_good_values_pass(name: str, value: str) -> None:
    check_syntax("lxc", {name: value})


def test_ganeti_defaults_pass_the_syntax_check() -> None:
    assert check_syntax("lxc", defaults("lxc"), complete=True) == defaults("lxc")


# --- tool output ---------------------------------------------------------------------------

def test_lxc_info_ls_and_version() -> None:
    state = tools.parse_info("State:          RUNNING\nPID:            3551\n")
    assert state == tools.ContainerState(state="RUNNING", pid=3551)
    assert tools.parse_info("State:          STOPPED\n") == tools.ContainerState("STOPPED", None)
    assert tools.parse_ls("web1\nweb2\n\n") == ["web1", "web2"]
    assert tools.parse_version("5.0.2\n") == (5, 0, 2)
    with pytest.raises(ValueError, match="no LXC version"):
        tools.parse_version("lxc-start: unknown option")


def test_first_partition_from_sfdisk_json() -> None:
    text = ('{"partitiontable": {"label": "dos", "unit": "sectors", "sectorsize": 512,'
            ' "partitions": [{"node": "d2", "start": 206848, "size": 1000},'
            ' {"node": "d1", "start": 2048, "size": 204800, "type": "83"}]}}')
    assert tools.first_partition(text) == tools.Partition(offset=2048 * 512,
                                                          size=204800 * 512)
    assert tools.first_partition('{"partitiontable": {"partitions": []}}') is None
    with pytest.raises(ValueError, match="unexpected sfdisk output"):
        tools.first_partition("{}")


# --- cgroup files ----------------------------------------------------------------------------

def fake_proc(tmp_path: Path, *, memsw: bool) -> Path:
    """A /proc with a hybrid cgroup layout whose hierarchies live under ``tmp_path``."""
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "77").mkdir()
    mounts = []
    for index, ctrl in enumerate(("memory", "cpu", "cpuacct", "cpuset")):
        top = tmp_path / "cg" / ctrl
        (top / "lxc.payload.web1").mkdir(parents=True)
        mounts.append(f"{40 + index} 31 0:{30 + index} / {top} rw,relatime - cgroup cgroup "
                      f"rw,{ctrl}")
    mounts.append(f"50 31 0:50 / {tmp_path / 'cg' / 'unified'} rw - cgroup2 cgroup2 rw")
    (proc / "self" / "mountinfo").write_text("\n".join(mounts) + "\n")
    (proc / "77" / "cgroup").write_text(
        "4:memory:/lxc.payload.web1\n1:cpu:/lxc.payload.web1\n2:cpuacct:/lxc.payload.web1\n"
        "3:cpuset:/lxc.payload.web1\n0::/lxc.payload.web1\n")
    group = tmp_path / "cg"
    (group / "memory/lxc.payload.web1/memory.limit_in_bytes").write_text("268435456\n")
    if memsw:
        (group / "memory/lxc.payload.web1/memory.memsw.limit_in_bytes").write_text("268435456\n")
    (group / "cpu/lxc.payload.web1/cpu.cfs_quota_us").write_text("200000\n")
    (group / "cpu/lxc.payload.web1/cpu.cfs_period_us").write_text("100000\n")
    (group / "cpuacct/lxc.payload.web1/cpuacct.usage").write_text("2500000000\n")
    (group / "cpuset/lxc.payload.web1/cpuset.cpus").write_text("0-1\n")
    return proc


def test_figures_come_from_the_container_cgroups(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, memsw=False)
    assert cgroups.read_figures(77, proc) == cgroups.CgroupFigures(
        memory_mib=256, vcpus=2, cpu_time_s=2.5)
    quota = tmp_path / "cg/cpu/lxc.payload.web1/cpu.cfs_quota_us"
    quota.write_text("-1\n")
    assert cgroups.read_figures(77, proc).vcpus == 2  # from the cpuset 0-1


def test_balloon_writes_memory_and_memsw(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, memsw=True)
    group = tmp_path / "cg/memory/lxc.payload.web1"
    cgroups.set_memory_limit(77, 128, proc)
    assert (group / "memory.limit_in_bytes").read_text() == str(128 * 1024 * 1024)
    assert (group / "memory.memsw.limit_in_bytes").read_text() == str(128 * 1024 * 1024)
    assert cgroups.read_figures(77, proc).memory_mib == 128


def test_controller_dir_honours_the_mount_root(tmp_path: Path) -> None:
    mounts = cgroups.parse_cgroup_mounts(
        f"35 31 0:32 /process_api {tmp_path} rw - cgroup cgroup rw,memory\n")
    paths = cgroups.parse_proc_cgroup("4:memory:/process_api/lxc.payload.a\n")
    assert cgroups.controller_dir(mounts, paths, "memory") == tmp_path / "lxc.payload.a"
    outside = cgroups.parse_proc_cgroup("4:memory:/elsewhere\n")
    assert cgroups.controller_dir(mounts, outside, "memory") is None


def test_enabled_controllers_from_proc_cgroups() -> None:
    text = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t2\t1\nrdma\t0\t1\t0\n"
    assert cgroups.enabled_controllers(text) == frozenset({"cpuset"})
