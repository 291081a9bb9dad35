"""Instance opcodes: create, life cycle, disks, modification, console and data queries.

Field names, types and defaults are Ganeti 3.0's. Disks and NICs travel as plain
dicts (Ganeti's ``IDiskParams``/``INicParams``); modifications of an existing
instance's disks and NICs are Ganeti's lists ``[[action, index or name, params]]``
(or the older ``[[index | "add" | "remove", params]]``). Checks that need no I/O
run in ``__post_init__`` and raise ``ValueError`` whose message starts with the
field (``disks[0].size: ...``); decoding turns them into ``ParameterError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from corral.opcodes.base import OpCode
from corral.opcodes.params import (
    DEFAULT_SHUTDOWN_TIMEOUT,
    MAX_DISKS,
    DiskIndex,
    DiskTemplateName,
    HypervisorName,
    InstanceName,
    InstanceShutdownTimeout,
    NonEmptyString,
    NonNegativeInt,
    OptionalName,
    OptionalUuid,
    ParamDict,
    WaitForSync,
)

CreateMode = Literal["create", "import", "remote-import"]
FileDriver = Literal["loop", "blktap", "blktap2"]
RebootType = Literal["soft", "hard", "full"]
AdminStateSourceName = Literal["admin", "user"]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]

NIC_PARAMS = frozenset({"mac", "ip", "mode", "link", "name", "vlan", "bridge", "network"})
"""Keys of a NIC definition (Ganeti's INIC_PARAMS)."""
NIC_MODES = ("bridged", "routed", "openvswitch")
MAC_SPECIALS = ("auto", "generate")
"""MAC values the master replaces with a generated address."""
DISK_MODES = ("rw", "ro")
DISK_TEXT_PARAMS = ("adopt", "vg", "metavg", "name", "provider", "access")
DDM_ADD, DDM_ATTACH, DDM_MODIFY, DDM_REMOVE, DDM_DETACH = (
    "add",
    "attach",
    "modify",
    "remove",
    "detach",
)
DDM_ACTIONS = (DDM_ADD, DDM_ATTACH, DDM_MODIFY, DDM_REMOVE, DDM_DETACH)
"""Actions of a disk/NIC modification (Ganeti's DDM_*)."""

_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")

ParamCheck = Callable[[str, Any, str], None]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _expect_dict(where: str, value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a dict of {what} parameters, got {value!r}")
    return value


def check_nic(where: str, nic: Any, action: str = DDM_ADD) -> None:
    """Shape of one NIC definition; raises ValueError naming ``where``."""
    for key, value in _expect_dict(where, nic, "NIC").items():
        if key not in NIC_PARAMS:
            raise ValueError(f"{where}.{key}: unknown NIC parameter")
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{where}.{key}: expected a string, got {value!r}")
    mac, mode = nic.get("mac"), nic.get("mode")
    if mac is not None and mac not in MAC_SPECIALS and not _MAC.match(mac):
        raise ValueError(f"{where}.mac: invalid MAC address '{mac}'")
    if mode is not None and mode not in NIC_MODES:
        raise ValueError(f"{where}.mode: invalid NIC mode '{mode}' (one of {', '.join(NIC_MODES)})")


def check_disk(where: str, disk: Any, action: str = DDM_ADD, need_size: bool = True) -> None:
    """Shape of one disk definition (unknown keys are provider parameters and pass)."""
    params = _expect_dict(where, disk, "disk")
    for key in ("size", "spindles"):
        value = params.get(key)
        if value is not None and (not _is_int(value) or value < 0):
            raise ValueError(f"{where}.{key}: expected a non-negative integer, got {value!r}")
    mode = params.get("mode")
    if mode is not None and mode not in DISK_MODES:
        raise ValueError(f"{where}.mode: invalid disk access mode '{mode}' (rw or ro)")
    for key in DISK_TEXT_PARAMS:
        value = params.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    if need_size and action == DDM_ADD and "size" not in params and "adopt" not in params:
        raise ValueError(f"{where}: missing disk size")


def _check_modification(where: str, entry: Any, check: ParamCheck) -> None:
    if not isinstance(entry, list | tuple) or len(entry) not in (2, 3):
        raise ValueError(f"{where}: expected [action, index or name, params], got {entry!r}")
    if len(entry) == 2:
        first, params = entry
        if not (first in (DDM_ADD, DDM_REMOVE) or (_is_int(first) and first >= 0)):
            raise ValueError(f"{where}: expected 'add', 'remove' or an index, got {first!r}")
        action = first if isinstance(first, str) else DDM_MODIFY
    else:
        action, ident, params = entry
        if action not in DDM_ACTIONS:
            raise ValueError(
                f"{where}: unknown action {action!r} (one of {', '.join(DDM_ACTIONS)})"
            )
        if not (_is_int(ident) or (isinstance(ident, str) and ident)):
            raise ValueError(f"{where}: expected an index or a name, got {ident!r}")
    check(where, params, action)


def check_modifications(field: str, mods: list[Any], check: ParamCheck) -> None:
    """Ganeti's SetParamsMods shape for every entry of ``mods``."""
    for idx, entry in enumerate(mods):
        _check_modification(f"{field}[{idx}]", entry, check)


def _check_recreate_disks(disks: list[Any]) -> None:
    plain = [d for d in disks if _is_int(d)]
    if plain and len(plain) != len(disks):
        raise ValueError("disks: give either disk indices or [index, params] pairs, not both")
    for idx, entry in enumerate(disks):
        where = f"disks[{idx}]"
        if not plain and (not isinstance(entry, list | tuple) or len(entry) != 2):
            raise ValueError(f"{where}: expected an index or [index, params], got {entry!r}")
        index = entry if plain else entry[0]
        if not _is_int(index) or not 0 <= index < MAX_DISKS:
            raise ValueError(f"{where}: invalid disk index {index!r} (0 to {MAX_DISKS - 1})")
        if not plain:
            check_disk(where, entry[1], need_size=False)


class _InstanceOp(OpCode, kw_only=True, frozen=True):
    """Base of opcodes about one instance (not an opcode itself)."""

    OP_DSC_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: InstanceName
    instance_uuid: OptionalUuid = None


class OpInstanceCreate(OpCode, kw_only=True, frozen=True):
    """Create an instance: a new install, a local import or a remote import."""

    OP_DSC_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: InstanceName
    force_variant: bool = False
    wait_for_sync: WaitForSync = True
    name_check: bool = True
    ignore_ipolicy: bool = False
    opportunistic_locking: bool = False
    beparams: ParamDict = {}
    disks: list[ParamDict]
    disk_template: DiskTemplateName | None = None
    group_name: OptionalName = None
    file_driver: FileDriver | None = None
    file_storage_dir: OptionalName = None
    hvparams: ParamDict = {}
    hypervisor: HypervisorName | None = None
    iallocator: OptionalName = None
    identify_defaults: bool = False
    ip_check: bool = True
    conflicts_check: bool = True
    mode: CreateMode = "create"
    nics: list[ParamDict]
    no_install: bool | None = None
    osparams: ParamDict = {}
    osparams_private: ParamDict | None = None
    osparams_secret: ParamDict | None = None
    os_type: OptionalName = None
    pnode: OptionalName = None
    pnode_uuid: OptionalName = None
    snode: OptionalName = None
    snode_uuid: OptionalName = None
    source_handshake: list[Any] | None = None
    source_instance_name: OptionalName = None
    source_shutdown_timeout: InstanceShutdownTimeout = DEFAULT_SHUTDOWN_TIMEOUT
    source_x509_ca: OptionalName = None
    src_node: OptionalName = None
    src_node_uuid: OptionalName = None
    src_path: OptionalName = None
    compress: str = "none"
    start: bool = True
    forthcoming: bool = False
    commit: bool = False
    tags: list[NonEmptyString] = []
    instance_communication: bool = False
    helper_startup_timeout: int | None = None
    helper_shutdown_timeout: int | None = None

    def __post_init__(self) -> None:
        if self.mode == "create" and self.os_type is None:
            raise ValueError("os_type: no guest OS specified (required in mode 'create')")
        if self.ip_check and not self.name_check:
            raise ValueError("ip_check: cannot do IP address check without a name check")
        if self.iallocator is not None and self.pnode is not None:
            raise ValueError("iallocator: Do not specify both, iallocator and node")
        if self.mode == "remote-import":
            self._check_remote_import()
        self._check_disks()
        for idx, nic in enumerate(self.nics):
            check_nic(f"nics[{idx}]", nic)

    def _check_disks(self) -> None:
        need_size = self.mode == "create"
        for idx, disk in enumerate(self.disks):
            check_disk(f"disks[{idx}]", disk, need_size=need_size)
        adopted = sum(1 for disk in self.disks if "adopt" in disk)
        if adopted and adopted != len(self.disks):
            raise ValueError("disks: either all disks are adopted or none is")

    def _check_remote_import(self) -> None:
        for name in ("source_handshake", "source_x509_ca", "source_instance_name"):
            if not getattr(self, name):
                raise ValueError(f"{name}: required in mode 'remote-import'")


class OpInstanceReinstall(_InstanceOp, kw_only=True, frozen=True):
    """Reinstall the OS of a stopped instance, optionally changing it."""

    force_variant: bool = False
    os_type: OptionalName = None
    osparams: ParamDict | None = None
    osparams_private: ParamDict | None = None
    osparams_secret: ParamDict | None = None


class OpInstanceRemove(_InstanceOp, kw_only=True, frozen=True):
    """Shut an instance down and delete it with its disks."""

    shutdown_timeout: InstanceShutdownTimeout = DEFAULT_SHUTDOWN_TIMEOUT
    ignore_failures: bool = False


class OpInstanceRename(_InstanceOp, kw_only=True, frozen=True):
    """Rename an instance (Ganeti shows no descriptive field for it)."""

    OP_DSC_FIELD: ClassVar[str | None] = None
    new_name: NonEmptyString
    name_check: bool = True
    ip_check: bool = True

    def __post_init__(self) -> None:
        if self.ip_check and not self.name_check:
            raise ValueError("ip_check: IP address check requires a name check")


class OpInstanceStartup(_InstanceOp, kw_only=True, frozen=True):
    """Start an instance; ``hvparams``/``beparams`` apply to this start only."""

    force: bool = False
    ignore_offline_nodes: bool = False
    hvparams: ParamDict = {}
    beparams: ParamDict = {}
    no_remember: bool = False
    startup_paused: bool = False
    shutdown_timeout: InstanceShutdownTimeout = DEFAULT_SHUTDOWN_TIMEOUT


class OpInstanceShutdown(_InstanceOp, kw_only=True, frozen=True):
    """Stop an instance; ``timeout`` seconds before it is forced off."""

    force: bool = False
    ignore_offline_nodes: bool = False
    timeout: InstanceShutdownTimeout = DEFAULT_SHUTDOWN_TIMEOUT
    no_remember: bool = False
    admin_state_source: AdminStateSourceName | None = None


class OpInstanceReboot(_InstanceOp, kw_only=True, frozen=True):
    """Reboot: ``soft`` (inside the guest), ``hard`` (restart) or ``full`` (stop and start)."""

    shutdown_timeout: InstanceShutdownTimeout = DEFAULT_SHUTDOWN_TIMEOUT
    ignore_secondaries: bool = False
    reboot_type: RebootType


class OpInstanceConsole(_InstanceOp, kw_only=True, frozen=True):
    """Describe how to reach the instance's console (the result is a dict)."""


class OpInstanceActivateDisks(_InstanceOp, kw_only=True, frozen=True):
    """Assemble the instance's disks; returns ``[[node, iv_name, device path], ...]``."""

    ignore_size: bool = False
    wait_for_sync: WaitForSync = False


class OpInstanceDeactivateDisks(_InstanceOp, kw_only=True, frozen=True):
    """Shut the instance's disks down."""

    force: bool = False


class OpInstanceRecreateDisks(_InstanceOp, kw_only=True, frozen=True):
    """Recreate missing disks: all (``[]``), some indices, or ``[[index, params], ...]``."""

    disks: list[Any] = []
    nodes: list[NonEmptyString] = []
    node_uuids: list[NonEmptyString] | None = None
    iallocator: OptionalName = None

    def __post_init__(self) -> None:
        _check_recreate_disks(self.disks)
        if self.nodes and self.iallocator is not None:
            raise ValueError("iallocator: give either new nodes or an iallocator, not both")


class OpInstanceQueryData(OpCode, kw_only=True, frozen=True):
    """Configuration and (unless ``static``) runtime data of instances, keyed by name."""

    use_locking: bool = False
    instances: list[NonEmptyString] = []
    static: bool = False


class OpInstanceSetParams(_InstanceOp, kw_only=True, frozen=True):
    """Modify an instance: parameters, disks and NICs, OS, primary node, offline flag."""

    force: bool = False
    force_variant: bool = False
    ignore_ipolicy: bool = False
    nics: list[list[Any]] = []
    disks: list[list[Any]] = []
    beparams: ParamDict = {}
    runtime_mem: PositiveInt | None = None
    hvparams: ParamDict = {}
    disk_template: DiskTemplateName | None = None
    ext_params: ParamDict = {}
    file_driver: FileDriver | None = None
    file_storage_dir: OptionalName = None
    pnode: OptionalName = None
    pnode_uuid: OptionalName = None
    remote_node: OptionalName = None
    remote_node_uuid: OptionalName = None
    iallocator: OptionalName = None
    os_name: OptionalName = None
    osparams: ParamDict = {}
    osparams_private: ParamDict | None = None
    wait_for_sync: WaitForSync = True
    offline: bool | None = None
    conflicts_check: bool = True
    hotplug: bool = False
    hotplug_if_possible: bool = False
    instance_communication: bool | None = None

    def __post_init__(self) -> None:
        check_modifications("nics", self.nics, check_nic)
        check_modifications("disks", self.disks, check_disk)


class OpInstanceGrowDisk(_InstanceOp, kw_only=True, frozen=True):
    """Grow one disk by ``amount`` MiB (or to ``amount`` MiB when ``absolute``)."""

    wait_for_sync: WaitForSync = True
    disk: DiskIndex
    amount: NonNegativeInt
    absolute: bool = False
    ignore_ipolicy: bool = False
