"""Start-time file checks (check_files), the VNC password file, xl's disk and vif forms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from corral.errors import HypervisorError
from corral.hypervisor.base import DiskSpec
from corral.hypervisor.params import HvKind
from corral.hypervisor.xen.config import check_files, read_vnc_password
from corral.hypervisor.xen.config_devices import DiskEntry, parse_disk_entry, parse_vif_entry
from tests.support.xen_config import domain_spec


def _files(tmp_path: Path, *names: str) -> dict[str, str]:
    paths = {}
    for name in names:
        path = tmp_path / name
        path.write_text("x\n")
        paths[name] = str(path)
    return paths


def test_pv_without_bootloader_needs_kernel_and_initrd(tmp_path: Path) -> None:
    missing = str(tmp_path / "vmlinuz")
    spec = domain_spec(HvKind.XEN_PVM, {"kernel_path": missing,
                                        "initrd_path": str(tmp_path / "initrd")}, disks=())
    assert check_files(HvKind.XEN_PVM, spec) == [
        f"hypervisor parameter 'kernel_path': {missing} is not an existing regular file",
        f"hypervisor parameter 'initrd_path': {tmp_path}/initrd is not an existing regular "
        "file"]
    present = _files(tmp_path, "vmlinuz", "initrd")
    spec = domain_spec(HvKind.XEN_PVM, {"kernel_path": present["vmlinuz"],
                                        "initrd_path": present["initrd"]}, disks=())
    assert check_files("xen-pvm", spec) == []


def test_pv_with_bootloader_needs_only_the_bootloader(tmp_path: Path) -> None:
    hvparams: dict[str, Any] = {"use_bootloader": True, "kernel_path": "/nonexistent/vmlinuz"}
    spec = domain_spec(HvKind.XEN_PVM, hvparams, disks=())
    assert check_files(HvKind.XEN_PVM, spec) == [
        "hypervisor parameter 'bootloader_path' is required"]
    loader = _files(tmp_path, "pygrub")["pygrub"]
    spec = domain_spec(HvKind.XEN_PVM, {**hvparams, "bootloader_path": loader}, disks=())
    assert check_files(HvKind.XEN_PVM, spec) == []


def test_hvm_needs_loader_device_model_password_cdrom_script_and_disks(tmp_path: Path) -> None:
    files = _files(tmp_path, "hvmloader", "qemu", "vnc-pw", "disk0")
    hvparams = {"kernel_path": files["hvmloader"], "device_model": files["qemu"],
                "vnc_password_file": files["vnc-pw"]}
    disks = (DiskSpec(path=files["disk0"]), DiskSpec(path=str(tmp_path / "disk1")))
    spec = domain_spec(HvKind.XEN_HVM, hvparams, disks=disks)
    assert check_files(HvKind.XEN_HVM, spec) == [f"disk 1: {tmp_path}/disk1 does not exist"]
    spec = domain_spec(HvKind.XEN_HVM, {**hvparams, "cdrom_image_path": "/none/x.iso",
                                        "vif_script": "/none/vif", "device_model": "/none/q"},
                       disks=disks[:1])
    assert check_files(HvKind.XEN_HVM, spec) == [
        "hypervisor parameter 'device_model': /none/q is not an existing regular file",
        "hypervisor parameter 'cdrom_image_path': /none/x.iso is not an existing regular file",
        "hypervisor parameter 'vif_script': /none/vif is not an existing regular file"]


def test_read_vnc_password(tmp_path: Path) -> None:
    path = tmp_path / "vnc"
    path.write_text("s3cret\nignored second line\n")
    assert read_vnc_password({"vnc_password_file": str(path)}) == "s3cret"
    with pytest.raises(HypervisorError, match=f"Failed to open VNC password file {tmp_path}/no"):
        read_vnc_password({"vnc_password_file": str(tmp_path / "no")})


@pytest.mark.parametrize(("text", "expected"), [
    ("phy:/dev/vg/lv,xvda,w", DiskEntry(target="/dev/vg/lv", vdev="xvda", backend="phy")),
    ("file:/srv/x.iso,hdc:cdrom,r",
     DiskEntry(target="/srv/x.iso", vdev="hdc", access="r", backend="file", devtype="cdrom")),
    ("tap:aio:/srv/d.img,xvdb,rw",
     DiskEntry(target="/srv/d.img", vdev="xvdb", backend="tap:aio")),
    ("tap2:tapdisk:aio:/srv/d.img,xvdb,ro",
     DiskEntry(target="/srv/d.img", vdev="xvdb", access="r", backend="tap2:tapdisk:aio")),
    ("/dev/vg/lv,raw,xvda,w",
     DiskEntry(target="/dev/vg/lv", vdev="xvda", format="raw")),
    ("format=qcow2, vdev=xvdc, access=r, backendtype=qdisk, target=/srv/a,b.qcow2",
     DiskEntry(target="/srv/a,b.qcow2", vdev="xvdc", access="r", backend="qdisk",
               format="qcow2")),
    ("vdev=hdc, devtype=cdrom, target=/srv/x.iso",
     DiskEntry(target="/srv/x.iso", vdev="hdc", devtype="cdrom")),
], ids=["phy", "cdrom", "tap-aio", "tap2", "format", "keyed-target-with-comma", "keyed-cdrom"])
def test_disk_entry_forms(text: str, expected: DiskEntry) -> None:
    assert parse_disk_entry(text) == expected


def test_vif_entry_forms() -> None:
    vif = parse_vif_entry("mac=00:16:3e:00:00:01,bridge=xenbr0, rate=10Mb/s , type=vif,")
    assert (vif.mac, vif.bridge, vif.type, vif.get("rate"), vif.ip) == (
        "00:16:3e:00:00:01", "xenbr0", "vif", "10Mb/s", "")
    assert parse_vif_entry("").settings == ()
