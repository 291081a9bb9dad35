"""Domain config files: golden PV and HVM configs, render → parse round trips, coverage
of every hvparam of the xen-pvm and xen-hvm tables."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corral.hypervisor.params import HvKind, defaults, parameters
from corral.hypervisor.xen.config import (
    NOT_IN_FILE,
    DiskEntry,
    ParsedDomainConfig,
    parse_domain_config,
    read_vnc_password,
    render_domain_config,
)
from tests.support.xen_config import HVM_CHANGED, PV_CHANGED, UUID, domain_spec

DATA = Path(__file__).resolve().parents[3] / "data" / "xen"
PV_XL = {**PV_CHANGED, "xen_cmd": "xl"}
HVM_XL = {**HVM_CHANGED, "xen_cmd": "xl"}
"""Every other parameter changed, in xl's spelling (xen_cmd=xm switches to xm's names)."""
PASSWORD = "Zq7+vW2x"
SCRIPT = "/etc/xen/scripts/vif-corral"


def _render(kind: HvKind, hvparams: Mapping[str, Any], **spec_args: Any) -> str:
    return render_domain_config(kind, domain_spec(kind, hvparams, **spec_args),
                                vnc_password=PASSWORD if kind == HvKind.XEN_HVM else "")


GOLDEN = {
    "pv_full.cfg": lambda: _render(HvKind.XEN_PVM, PV_XL),
    "pv_bootloader.cfg": lambda: _render(HvKind.XEN_PVM, {**PV_XL, "use_bootloader": True}),
    "hvm_full.cfg": lambda: _render(HvKind.XEN_HVM, HVM_XL),
    "hvm_defaults.cfg": lambda: render_domain_config(
        HvKind.XEN_HVM, domain_spec(HvKind.XEN_HVM, {}, vcpus=1, network_port=None, disks=(),
                                    nics=())),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_config(name: str) -> None:
    assert GOLDEN[name]() == (DATA / name).read_text()


def test_default_pv_config_is_ganetis() -> None:
    text = _render(HvKind.XEN_PVM, {}, vcpus=1, network_port=None, disks=(), nics=())
    lines = text.splitlines()
    assert lines[2:] == [
        "type = 'pv'", "kernel = '/boot/vmlinuz-3-xenU'", "memory = 512", "maxmem = 1024",
        "vcpus = 1", "cpu_weight = 256", "name = 'inst1.example.com'", f"uuid = '{UUID}'",
        "vif = []", "disk = []", "root = '/dev/xvda1'", "on_poweroff = 'preserve'",
        "on_reboot = 'restart'", "on_crash = 'restart'", "extra = 'ro'",
    ]


def _pv_expected(parsed: ParsedDomainConfig) -> dict[str, Any]:
    """What each non-default xen-pvm hvparam became in the parsed file."""
    return {
        "kernel_path": parsed.text("kernel"),
        "initrd_path": parsed.text("ramdisk"),
        "root_path": parsed.text("root"),
        "kernel_args": parsed.text("extra"),
        "cpu_mask": parsed.strings("cpus"),
        "cpu_cap": parsed.number("cpu_cap"),
        "cpu_weight": parsed.number("cpu_weight"),
        "reboot_behavior": parsed.text("on_reboot"),
        "blockdev_prefix": tuple(d.vdev for d in parsed.disks),
        "vif_script": {v.script for v in parsed.vifs},
        "cpuid": parsed.text("cpuid"),
        "soundhw": parsed.text("soundhw"),
    }


def test_pv_round_trip_with_every_parameter_changed() -> None:
    parsed = parse_domain_config(_render(HvKind.XEN_PVM, PV_XL))
    assert parsed.kind == HvKind.XEN_PVM
    assert _pv_expected(parsed) == {
        "kernel_path": PV_CHANGED["kernel_path"], "initrd_path": PV_CHANGED["initrd_path"],
        "root_path": "/dev/xvda2", "kernel_args": "console=hvc0 quiet",
        "cpu_mask": ("1", "2,3"), "cpu_cap": 50, "cpu_weight": 512,
        "reboot_behavior": "destroy", "blockdev_prefix": ("xvda", "xvdb"),
        "vif_script": {SCRIPT}, "cpuid": "host,tm=0,sse3=0", "soundhw": "ac97",
    }
    assert "bootloader" not in parsed.settings


def test_pv_round_trip_with_bootloader() -> None:
    parsed = parse_domain_config(_render(HvKind.XEN_PVM, {**PV_XL, "use_bootloader": True}))
    assert parsed.text("bootloader") == PV_CHANGED["bootloader_path"]
    assert parsed.strings("bootloader_args") == ("--entry=1", "-q")
    assert "kernel" not in parsed.settings
    assert "ramdisk" not in parsed.settings


def test_common_fields_round_trip() -> None:
    for kind, changed in ((HvKind.XEN_PVM, PV_CHANGED), (HvKind.XEN_HVM, HVM_CHANGED),
                          (HvKind.XEN_PVM, PV_XL), (HvKind.XEN_HVM, HVM_XL)):
        parsed = parse_domain_config(_render(kind, changed))
        assert (parsed.kind, parsed.name, parsed.uuid) == (kind, "inst1.example.com", UUID)
        assert (parsed.memory_mib, parsed.max_memory_mib, parsed.vcpus) == (512, 1024, 2)
        assert [(d.backend, d.target, d.access) for d in parsed.disks[:2]] == [
            ("phy", "/dev/xenvg/0f1e2d3c.disk0", "w"),
            ("file", "/srv/corral/file-storage/inst1/disk1", "r")]
        assert [(v.mac, v.ip, v.bridge) for v in parsed.vifs] == [
            ("aa:00:00:35:d6:9e", "192.0.2.10", "xen-br0"),
            ("aa:00:00:35:d6:9f", "198.51.100.7", ""),
            ("aa:00:00:35:d6:a0", "", "ovs0.100")]
        assert (parsed.text("on_poweroff"), parsed.text("on_crash")) == ("preserve", "restart")


def test_hvm_round_trip_with_every_parameter_changed() -> None:
    parsed = parse_domain_config(_render(HvKind.XEN_HVM, HVM_XL))
    assert parsed.kind == HvKind.XEN_HVM
    got = {
        "acpi": parsed.number("acpi"), "pae": parsed.number("pae"),
        "viridian": parsed.number("viridian"), "boot_order": parsed.text("boot"),
        "cdrom_image_path": parsed.disks[-1],
        "nic_type": {(v.model, v.type) for v in parsed.vifs},
        "vnc_bind_address": parsed.text("vnclisten"),
        "vnc_password_file": parsed.text("vncpasswd"),
        "kernel_path": parsed.text("firmware_override"),
        "device_model": parsed.text("device_model_override"),
        "use_localtime": parsed.number("localtime"),
        "blockdev_prefix": tuple(d.vdev for d in parsed.disks),
        "pci_pass": parsed.strings("pci"), "reboot_behavior": parsed.text("on_reboot"),
        "cpu_mask": parsed.text("cpus"), "cpu_cap": parsed.number("cpu_cap"),
        "cpu_weight": parsed.number("cpu_weight"),
        "vif_script": {v.script for v in parsed.vifs},
        "cpuid": parsed.strings("cpuid"), "soundhw": parsed.text("soundhw"),
    }
    assert got == {
        "acpi": 0, "pae": 0, "viridian": 1, "boot_order": "dc",
        "cdrom_image_path": DiskEntry(target="/srv/iso/debian-12.iso", vdev="hdc", access="r",
                                      backend="file", devtype="cdrom"),
        "nic_type": {("e1000", "ioemu")}, "vnc_bind_address": "127.0.0.1",
        "vnc_password_file": PASSWORD,
        "kernel_path": "/usr/lib/xen-4.17/boot/hvmloader",
        "device_model": "/usr/lib/xen-4.17/bin/qemu-system-i386", "use_localtime": 1,
        "blockdev_prefix": ("sda", "sdb", "hdc"), "pci_pass": ("0000:00:1f.0", "0000:00:1f.3"),
        "reboot_behavior": "destroy", "cpu_mask": "0,1", "cpu_cap": 25, "cpu_weight": 128,
        "vif_script": {SCRIPT},
        "cpuid": ("1:ecx=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx1", "0x80000001:edx=0xxxxxxxxxxx"),
        "soundhw": "hda",
    }
    assert (parsed.number("vncdisplay"), parsed.number("vncunused")) == (5102, 0)


def test_hvm_paravirtual_nic_and_free_vnc_display() -> None:
    parsed = parse_domain_config(_render(HvKind.XEN_HVM, {"nic_type": "paravirtual"},
                                         network_port=None))
    assert {(v.model, v.type) for v in parsed.vifs} == {("", "vif")}
    assert parsed.number("vncunused") == 1
    assert "vncdisplay" not in parsed.settings
    assert "localtime" not in parsed.settings


# --- every parameter either changes the file or is listed as not written ----------------

def _base(kind: HvKind, name: str) -> dict[str, Any]:
    """Parameters a change of ``name`` needs around it to show (the bootloader pair)."""
    if kind == HvKind.XEN_PVM and name in ("bootloader_path", "bootloader_args"):
        return {"use_bootloader": True, "bootloader_path": "/usr/bin/pygrub"}
    if kind == HvKind.XEN_PVM and name == "use_bootloader":
        return {"bootloader_path": PV_CHANGED["bootloader_path"]}
    return {}


def _cases() -> list[tuple[HvKind, str, Any]]:
    # vnc_password_file reaches the file through its content: see the test after this one
    return [(kind, name, value)
            for kind, changed in ((HvKind.XEN_PVM, PV_CHANGED), (HvKind.XEN_HVM, HVM_CHANGED))
            for name, value in changed.items() if name != "vnc_password_file"]


def test_the_changed_values_cover_both_tables() -> None:
    for kind, changed in ((HvKind.XEN_PVM, PV_CHANGED), (HvKind.XEN_HVM, HVM_CHANGED)):
        assert set(changed) == set(parameters(kind)), kind
        assert all(changed[n] != d for n, d in defaults(kind).items()
                   if n != "use_bootloader"), kind


@pytest.mark.parametrize(("kind", "name", "value"), _cases(),
                         ids=[f"{k.value}-{n}" for k, n, _ in _cases()])
def test_each_parameter_reaches_the_file(kind: HvKind, name: str, value: Any) -> None:
    base = _base(kind, name)
    if name == "use_bootloader":
        value = True
    before = _render(kind, base)
    after = _render(kind, {**base, name: value})
    if name in NOT_IN_FILE:
        assert after == before
    else:
        assert after != before


def test_vnc_password_file_content_reaches_the_file(tmp_path: Path) -> None:
    texts = []
    for index, password in enumerate(("first-secret", "second 'secret'")):
        path = tmp_path / f"vnc-{index}"
        path.write_text(password + "\n")
        hvparams = {"vnc_password_file": str(path)}
        spec = domain_spec(HvKind.XEN_HVM, hvparams)
        texts.append(render_domain_config(HvKind.XEN_HVM, spec,
                                          vnc_password=read_vnc_password(spec.hvparams)))
    assert [parse_domain_config(t).text("vncpasswd") for t in texts] == [
        "first-secret", "second 'secret'"]


def test_ganeti_pv_config_reads_back() -> None:
    parsed = parse_domain_config((DATA / "ganeti_pv.cfg").read_text())
    assert (parsed.kind, parsed.name, parsed.uuid) == (HvKind.XEN_PVM, "inst1.example.com", "")
    assert (parsed.memory_mib, parsed.max_memory_mib, parsed.vcpus) == (128, 256, 2)
    assert parsed.strings("cpus") == ("1", "0-63")
    assert parsed.number("cpu_weight") == 256
    assert [(d.backend, d.target, d.vdev, d.access) for d in parsed.disks] == [
        ("phy", "/dev/xenvg/0f1e2d3c.disk0", "sda", "w"),
        ("file", "/srv/ganeti/file-storage/inst1/disk1", "sdb", "r")]
    assert parsed.vifs[0].settings == (("mac", "aa:00:00:35:d6:9e"), ("ip", "192.0.2.10"),
                                       ("bridge", "xen-br0"))
    assert parsed.text("cpuid") == "host,tm=0"


def test_ganeti_hvm_config_reads_back() -> None:
    parsed = parse_domain_config((DATA / "ganeti_hvm.cfg").read_text())
    assert (parsed.kind, parsed.name, parsed.memory_mib, parsed.vcpus) == (
        HvKind.XEN_HVM, "inst2.example.com", 512, 1)
    assert parsed.text("kernel") == "/usr/lib/xen/boot/hvmloader"
    assert parsed.text("vncpasswd") == "secret"
    assert "vncdisplay" not in parsed.settings
    assert parsed.disks[1] == DiskEntry(target="/srv/iso/x.iso", vdev="hdc", access="r",
                                        backend="file", devtype="cdrom")
    assert (parsed.vifs[0].model, parsed.vifs[0].type) == ("rtl8139", "ioemu")
    assert parsed.strings("pci") == ("0000:00:1f.0", "0000:00:1f.3")


# --- against Ganeti's own output for the same instance ----------------------------------

XL_SPELLING = {"kernel@hvm": "firmware_override", "builder": "type",
               "device_model": "device_model_override", "cpu": "cpus"}
"""Ganeti's xm-era keys → the xl keys Corral writes (hv_xen.py's HVM ``kernel`` is the
loader, which xl calls ``firmware_override``; xl ignores ``device_model`` and ``cpu``)."""


_REFERENCES = [(HvKind.XEN_PVM, PV_CHANGED, "ganeti_ref_pv_full.cfg"),
               (HvKind.XEN_HVM, HVM_CHANGED, "ganeti_ref_hvm_full.cfg")]


@pytest.mark.parametrize(("kind", "changed", "reference"), _REFERENCES, ids=["pv", "hvm"])
def test_xm_spelling_is_ganetis_output(kind: HvKind, changed: Mapping[str, Any],
                                       reference: str) -> None:
    """The reference files are what hv_xen.py's _GetConfig writes for the same instance
    (xen_cmd=xm). Corral adds the uuid, and pins with ``cpus`` where Ganeti writes
    ``cpu`` for a single mask (xm's ``cpu`` pins vCPU 0 only)."""
    ganeti = parse_domain_config((DATA / reference).read_text()).settings
    ours = parse_domain_config(_render(kind, changed)).settings
    renamed = {("cpus" if key == "cpu" else key): value for key, value in ganeti.items()}
    assert {k: v for k, v in ours.items() if k != "uuid"} == renamed
    assert [k for k in ours if k != "uuid"] == list(renamed)


XL_SPELLING = {"kernel@hvm": "firmware_override", "builder": "type",
               "device_model": "device_model_override", "cpu": "cpus"}
"""Ganeti's xm-era keys → the xl keys Corral writes (hv_xen.py's HVM ``kernel`` is the
loader, which xl calls ``firmware_override``; xl ignores ``device_model``)."""


@pytest.mark.parametrize(("kind", "changed", "reference"), _REFERENCES, ids=["pv", "hvm"])
def test_xl_spelling_has_ganetis_settings(kind: HvKind, changed: Mapping[str, Any],
                                          reference: str) -> None:
    ganeti = parse_domain_config((DATA / reference).read_text()).settings
    ours = parse_domain_config(_render(kind, {**changed, "xen_cmd": "xl"})).settings
    suffix = "@hvm" if kind == HvKind.XEN_HVM else ""
    renamed = {XL_SPELLING.get(key + suffix, XL_SPELLING.get(key, key)): value
               for key, value in ganeti.items()}
    only_corral = ["uuid"] if kind == HvKind.XEN_HVM else ["uuid", "type"]
    assert {k: v for k, v in ours.items() if k not in only_corral} == renamed
    assert [k for k in ours if k not in only_corral] == list(renamed)


def test_xm_bootloader_arguments_are_one_string() -> None:
    parsed = parse_domain_config(_render(HvKind.XEN_PVM, {**PV_CHANGED, "use_bootloader": True}))
    assert (parsed.text("bootloader"), parsed.text("bootargs")) == (
        PV_CHANGED["bootloader_path"], "--entry=1 -q")
    assert "bootloader_args" not in parsed.settings
    assert "type" not in parsed.settings


_LINE = st.text(max_size=30).filter(lambda t: "\0" not in t and t.splitlines() in ([], [t]))
_MASK = st.lists(st.integers(0, 127), min_size=1, max_size=4).map(
    lambda cpus: ",".join(map(str, sorted(set(cpus)))))


@settings(max_examples=60, deadline=None)
@given(name=_LINE.filter(bool), kernel_args=_LINE, root=_LINE, memory=st.integers(1, 2**20),
       extra_mem=st.integers(0, 2**20), masks=st.lists(_MASK | st.just("all"), min_size=1,
                                                       max_size=4))
def test_random_specs_round_trip(name: str, kernel_args: str, root: str, memory: int,
                                 extra_mem: int, masks: list[str]) -> None:
    hvparams = {"kernel_args": kernel_args, "root_path": root, "cpu_mask": ":".join(masks)}
    spec = dataclasses.replace(domain_spec(HvKind.XEN_PVM, hvparams, vcpus=len(masks)),
                               name=name, memory_mib=memory, max_memory_mib=memory + extra_mem)
    parsed = parse_domain_config(render_domain_config(HvKind.XEN_PVM, spec))
    assert (parsed.name, parsed.memory_mib, parsed.max_memory_mib, parsed.vcpus) == (
        name, memory, memory + extra_mem, len(masks))
    assert (parsed.text("extra"), parsed.text("root")) == (kernel_args, root)
    if len(masks) > 1:
        assert parsed.strings("cpus") == tuple(masks)
    else:
        assert parsed.strings("cpus") == (() if masks == ["all"] else tuple(masks))
