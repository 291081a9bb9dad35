"""Disk and vif entries of an xl domain config: built from a spec, read back from a file.

A disk entry is Ganeti's ``'<backend>:<path>,<vdev>,<access>'`` (``phy:`` for block
devices, ``file:`` for file-based disks; ``w`` or ``r``); the HVM CD-ROM is
``'file:<iso>,hdc:cdrom,r'``. A vif entry is ``'mac=…, ip=…, bridge=…, script=…'``,
with ``model=…, type=ioemu`` (or ``type=vif`` for a paravirtual NIC) on HVM.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corral.errors import HypervisorError
from corral.hypervisor.xen.spec import XenDisk, XenNic
from corral.objects.instance import NicMode

DISK_BACKENDS = ("tap2:tapdisk:aio", "tap:aio", "phy", "file")
"""The backend prefixes Corral writes (Ganeti's: block devices, loop, blktap, blktap2)."""

_LEGACY_PREFIXES = ("tap2:tapdisk:aio", "tap:aio", "tap:qcow2", "tap:vhd", "tap2", "tap",
                    "phy", "file", "aio", "qcow2", "qcow", "vhd", "raw")
_ACCESS = {"w": "w", "rw": "w", "r": "r", "ro": "r"}
_VDEV = re.compile(r"[a-z]+\Z")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z", re.IGNORECASE)
_WORD = re.compile(r"[\w.:@/+-]+\Z")
_VLAN = re.compile(r"([.:][0-9]+)*\Z")
CDROM_VDEV = "hdc"


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskEntry:
    """One disk of a domain config as xl reads it.

    ``backend`` is the legacy prefix of the target (``phy``, ``file``, ``tap:aio``…,
    ``""`` if none); ``access`` is ``w`` or ``r``; ``devtype`` ``cdrom`` or ``""``.
    """

    target: str
    vdev: str
    access: str = "w"
    backend: str = ""
    devtype: str = ""
    format: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class VifEntry:
    """One vif of a domain config: its ``key=value`` settings, in order."""

    settings: tuple[tuple[str, str], ...]

    def get(self, key: str, default: str = "") -> str:
        """The value of ``key`` (the last one given), or ``default``."""
        found = [v for k, v in self.settings if k == key]
        return found[-1] if found else default

    @property
    def mac(self) -> str:
        return self.get("mac")

    @property
    def bridge(self) -> str:
        return self.get("bridge")

    @property
    def ip(self) -> str:
        return self.get("ip")

    @property
    def model(self) -> str:
        return self.get("model")

    @property
    def type(self) -> str:
        return self.get("type")

    @property
    def script(self) -> str:
        return self.get("script")


# --- building ---------------------------------------------------------------------------

def disk_entry(index: int, disk: XenDisk) -> str:
    """Ganeti's ``backend:path,vdev,access`` for disk ``index``.

    Raises:
        HypervisorError: unknown backend, a path xl cannot carry, bad vdev or access.
    """
    where = f"disk {index}"
    if disk.backend not in DISK_BACKENDS:
        raise HypervisorError(f"{where}: unknown backend {disk.backend!r} "
                              f"(expected one of {', '.join(DISK_BACKENDS)})")
    if not disk.path.startswith("/") or "," in disk.path or "\n" in disk.path:
        raise HypervisorError(f"{where}: path {disk.path!r} must be absolute and free of "
                              "commas and line breaks")
    if not _VDEV.match(disk.vdev):
        raise HypervisorError(f"{where}: guest device name {disk.vdev!r} must be lower-case "
                              "letters (check blockdev_prefix)")
    if disk.access not in ("w", "r"):
        raise HypervisorError(f"{where}: access must be 'w' or 'r', got {disk.access!r}")
    return f"{disk.backend}:{disk.path},{disk.vdev},{disk.access}"


def cdrom_entry(iso_path: str, disks: Sequence[XenDisk]) -> str:
    """The HVM CD-ROM entry for ``cdrom_image_path``.

    Raises:
        HypervisorError: a disk already uses ``hdc``, or the path has a comma.
    """
    taken = [i for i, d in enumerate(disks) if d.vdev == CDROM_VDEV]
    if taken:
        raise HypervisorError(f"hypervisor parameter 'cdrom_image_path': the CD-ROM is "
                              f"{CDROM_VDEV}, which disk {taken[0]} already uses")
    if "," in iso_path:
        raise HypervisorError(f"hypervisor parameter 'cdrom_image_path': {iso_path!r} "
                              "must not contain a comma")
    return f"file:{iso_path},{CDROM_VDEV}:cdrom,r"


def _nic_model(nic: XenNic, nic_type: str | None) -> list[tuple[str, str]]:
    """Ganeti's ``model=…, type=ioemu`` / ``type=vif`` (HVM only; PV has no type)."""
    model = nic.model or nic_type
    if not model:
        return []
    if model == "paravirtual":
        return [("type", "vif")]
    return [("model", model), ("type", "ioemu")]


def vif_entry(index: int, nic: XenNic, hvparams: Mapping[str, Any],
              nic_type: str | None) -> str:
    """The vif entry of NIC ``index``: mac, [model, type], [ip], [bridge], [script].

    Raises:
        HypervisorError: bad MAC, IP, link or VLAN; the message names the NIC.
    """
    where = f"nic {index}"
    if not _MAC.match(nic.mac):
        raise HypervisorError(f"{where}: invalid MAC address {nic.mac!r}")
    pairs = [("mac", nic.mac.lower()), *_nic_model(nic, nic_type)]
    if nic.ip:
        try:
            ipaddress.ip_address(nic.ip)
        except ValueError:
            raise HypervisorError(f"{where}: invalid IP address {nic.ip!r}") from None
        pairs.append(("ip", nic.ip))
    bridge = _bridge(where, nic)
    if bridge:
        pairs.append(("bridge", bridge))
    script = str(hvparams.get("vif_script", ""))
    if script:
        pairs.append(("script", script))
    for key, value in pairs:
        if not _WORD.match(value):
            raise HypervisorError(f"{where}: {key} {value!r} has characters xl cannot carry")
    return ", ".join(f"{k}={v}" for k, v in pairs)


def _bridge(where: str, nic: XenNic) -> str:
    if nic.mode == NicMode.ROUTED:
        return ""
    if not nic.link:
        raise HypervisorError(f"{where}: {nic.mode.value} mode needs a link (the bridge)")
    if nic.mode == NicMode.OVS and nic.vlan:
        if not _VLAN.match(nic.vlan):
            raise HypervisorError(f"{where}: invalid VLAN {nic.vlan!r} (e.g. '.100' or ':1:2')")
        return nic.link + nic.vlan
    return nic.link


# --- reading ----------------------------------------------------------------------------

def parse_disk_entry(text: str) -> DiskEntry:
    """One xl disk specification, positional (``target,[format,]vdev,access``) or keyed.

    Raises:
        HypervisorError: no target or no vdev.
    """
    keyed: dict[str, str] = {}
    positional: list[str] = []
    rest = text
    while rest:
        head, sep, tail = rest.partition(",")
        head = head.strip()
        if head.startswith("target="):
            keyed["target"] = rest.strip()[len("target="):]
            break
        if "=" in head:
            key, _, value = head.partition("=")
            keyed[key.strip()] = value.strip()
        elif head:
            positional.append(head)
        rest = tail if sep else ""
    return _disk_from_parts(text, keyed, positional)


def _disk_from_parts(text: str, keyed: dict[str, str], positional: list[str]) -> DiskEntry:
    if positional and positional[-1] in _ACCESS:
        keyed.setdefault("access", positional.pop())
    if len(positional) >= 2:
        keyed.setdefault("vdev", positional.pop())
    if positional:
        keyed.setdefault("target", positional.pop(0))
    if positional:
        keyed.setdefault("format", positional.pop(0))
    if "target" not in keyed or "vdev" not in keyed:
        raise HypervisorError(f"disk entry {text!r}: needs a target and a vdev")
    backend, target = _split_prefix(keyed["target"])
    vdev, _, devtype = keyed["vdev"].partition(":")
    return DiskEntry(target=target, vdev=vdev, access=_ACCESS.get(keyed.get("access", "w"), "w"),
                     backend=backend or keyed.get("backendtype", ""),
                     devtype=devtype or keyed.get("devtype", ""), format=keyed.get("format", ""))


def _split_prefix(target: str) -> tuple[str, str]:
    for prefix in _LEGACY_PREFIXES:
        if target.startswith(prefix + ":"):
            return prefix, target[len(prefix) + 1:]
    return "", target


def parse_vif_entry(text: str) -> VifEntry:
    """One xl vif specification (``key=value`` pairs separated by commas)."""
    pairs = []
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if part.strip():
            pairs.append((key.strip(), value.strip() if sep else ""))
    return VifEntry(settings=tuple(pairs))
