"""Instance disks on the master: logical ids, disk objects, and the node calls that
create (with rollback), remove, activate, deactivate and wipe them.

Logical ids are the ones the node expects (Ganeti's): ``("loop", path)`` for
file and sharedfile disks, ``(vg, lv)`` for plain, ``("manual", path)`` for
adopted block devices, ``()`` for diskless.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances.mirror import serve_mirrors, stop_exports
from corral.cmdlib.common.instances.node_disks import node_disk
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.objects.base import new_uuid
from corral.objects.cluster import Cluster
from corral.objects.instance import Disk, DiskMode, DiskTemplate, Instance
from corral.objects.node import Node
from corral.rpc.payloads import AssembledDevice, NodeDisk
from corral.storage.naming import file_disk_path, lv_name

FILE_DRIVER = "loop"
BLOCKDEV_DRIVER = "manual"
FILE_BASED = frozenset({DiskTemplate.FILE, DiskTemplate.SHAREDFILE})
GROWABLE = frozenset({DiskTemplate.PLAIN, DiskTemplate.FILE, DiskTemplate.SHAREDFILE,
                      DiskTemplate.DRBD, DiskTemplate.RBD, DiskTemplate.EXT,
                      DiskTemplate.GLUSTER})
"""Templates whose disks can grow (Ganeti's DTS_GROWABLE)."""
SUPPORTED = frozenset({DiskTemplate.DISKLESS, DiskTemplate.FILE, DiskTemplate.SHAREDFILE,
                       DiskTemplate.PLAIN, DiskTemplate.DRBD, DiskTemplate.BLOCKDEV,
                       DiskTemplate.MIRROR})
"""Templates Corral's nodes can serve."""
MAY_ADOPT = frozenset({DiskTemplate.BLOCKDEV})
"""Templates whose disks may be adopted (Ganeti also adopts plain LVs; Corral does not yet)."""
MUST_ADOPT = frozenset({DiskTemplate.BLOCKDEV})
LVM_BASED = frozenset({DiskTemplate.PLAIN, DiskTemplate.DRBD})
MIRRORED = frozenset({DiskTemplate.DRBD, DiskTemplate.MIRROR})
"""Templates whose disks have a secondary node (Ganeti's DTS_INT_MIRROR)."""
LOCAL_FILES = frozenset({DiskTemplate.MIRROR})
"""Templates whose disks are files in the file storage directory of each of their nodes."""


def iv_name(index: int) -> str:
    return f"disk/{index}"


def storage_root(cluster: Cluster, template: DiskTemplate) -> str:
    """The cluster directory under which a file-based template keeps its disks."""
    if template is DiskTemplate.SHAREDFILE:
        return cluster.shared_file_storage_dir
    return cluster.file_storage_dir


def check_template_storage(cluster: Cluster, template: DiskTemplate) -> None:
    """The cluster settings a template needs are there.

    Raises:
        OpPrereqError: (STATE) plain or drbd without a volume group, file-based without a directory.
    """
    if template in LVM_BASED and not cluster.volume_group_name:
        raise OpPrereqError("Cluster does not support lvm-based instances", ErrorCode.STATE)
    if template in FILE_BASED | LOCAL_FILES and not storage_root(cluster, template):
        raise OpPrereqError(
            f"Cluster file storage dir for '{template.value}' storage type not defined",
            ErrorCode.STATE,
        )


def logical_id(
    template: DiskTemplate, cluster: Cluster, instance: str, disk_uuid: str, index: int,
    *, vg: str | None = None, adopt: str | None = None, subdir: str = "",
) -> tuple[str, ...]:
    """The logical id of a new disk (``subdir`` goes between storage dir and instance)."""
    if template in FILE_BASED:
        root = posixpath.join(storage_root(cluster, template), subdir) if subdir \
            else storage_root(cluster, template)
        return (FILE_DRIVER, file_disk_path(root, instance, disk_uuid, index))
    if template is DiskTemplate.PLAIN:
        return (vg or cluster.volume_group_name, adopt or lv_name(disk_uuid, index))
    if template is DiskTemplate.BLOCKDEV:
        return (BLOCKDEV_DRIVER, adopt or "")
    return ()


def new_disk(
    template: DiskTemplate, cluster: Cluster, instance: str, index: int, spec: dict[str, Any],
    nodes: Sequence[str], now: float, *, subdir: str = "",
) -> Disk:
    """A disk object for ``spec`` (``size`` MiB, ``mode``, ``name``, ``vg``, ``adopt``)."""
    uuid = new_uuid()
    lid = logical_id(template, cluster, instance, uuid, index, vg=spec.get("vg"),
                     adopt=spec.get("adopt"), subdir=subdir)
    return Disk(
        uuid=uuid, ctime=now, mtime=now, name=spec.get("name") or "", dev_type=template,
        size=int(spec.get("size") or 0), mode=DiskMode(spec.get("mode") or DiskMode.RW),
        logical_id=lid, iv_name=iv_name(index), nodes=tuple(nodes),
    )


def storage_dirs(disks: Sequence[Disk]) -> set[str]:
    """Instance directories of the file-based disks among ``disks``."""
    return {posixpath.dirname(str(d.logical_id[1])) for d in disks
            if d.dev_type in FILE_BASED | LOCAL_FILES and len(d.logical_id) > 1}


def renamed_logical_id(disk: Disk, new_instance: str) -> tuple[Any, ...]:
    """A file-based disk's logical id after its instance is renamed (others unchanged)."""
    if disk.dev_type not in FILE_BASED or len(disk.logical_id) < 2:
        return disk.logical_id
    path = str(disk.logical_id[1])
    instance_dir = posixpath.dirname(path)
    new_dir = posixpath.join(posixpath.dirname(instance_dir), new_instance)
    return (disk.logical_id[0], posixpath.join(new_dir, posixpath.basename(path)))


def _sent(lu: LogicalUnit[Any], disk: Disk, node: str, known: Sequence[Disk] = ()) -> NodeDisk:
    """``disk`` as ``node`` receives it (children and drbd side filled in)."""
    return node_disk(lu.cfg, disk, node, known)


def _node(lu: LogicalUnit[Any], uuid: str) -> Node:
    node = lu.cfg.nodes.get(uuid)
    if node is None:
        raise OpExecError(f"Node {uuid} of a disk is not in the configuration")
    return node


# --- node calls -------------------------------------------------------------------

async def create_disks(
    lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk], children: Sequence[Disk] = (),
) -> None:
    """Create every disk on its nodes, primary first; on a failure remove what was made,
    then raise. A DRBD disk is one call per node: the node's driver makes its LVs with it
    (``children``: the LVs of new drbd disks, not yet in the configuration).

    Raises:
        OpExecError: naming the disk and node that failed.
    """
    created: list[tuple[Node, NodeDisk]] = []
    info = f"originstname+{inst.name}"
    for disk in disks:
        for uuid in _primary_first(inst, disk):
            node, sent = _node(lu, uuid), _sent(lu, disk, uuid, children)
            result = await lu.ctx.rpc.blockdev_create(node, sent, disk.size, inst.name,
                uuid == inst.primary_node, info, False,
            )
            if not result.ok:
                lu.log_warning(f"Creating disk {disk.iv_name} for instance '{inst.name}' failed")
                await _rollback(lu, created)
                raise OpExecError(
                    f"Can't create block device {disk.iv_name} on node {node.name} for"
                    f" instance {inst.name}: {result.fail_msg}"
                )
            created.append((node, sent))


def _primary_first(inst: Instance, disk: Disk) -> list[str]:
    return sorted(disk.nodes, key=lambda uuid: uuid != inst.primary_node)


async def _rollback(lu: LogicalUnit[Any], created: list[tuple[Node, NodeDisk]]) -> None:
    for node, disk in reversed(created):
        result = await lu.ctx.rpc.blockdev_remove(node, disk)
        if not result.ok:
            lu.log_warning(f"Failed to remove newly-created disk {disk.iv_name} on node"
                           f" {node.name}: {result.fail_msg}")


async def remove_disks(
    lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk],
    remaining: Sequence[Disk] = (), children: Sequence[Disk] = (),
) -> bool:
    """Remove ``disks`` from their nodes (a DRBD disk with its LVs; ``children`` as for
    :func:`create_disks`; mirror disks once their exports stopped), then the instance
    directories no disk of ``remaining`` still uses; failures are warnings. Returns
    whether every disk went (an offline secondary node does not count; directories are
    best effort)."""
    ok = True
    await stop_exports(lu, inst, disks)
    for disk in disks:
        for uuid in disk.nodes:
            node = _node(lu, uuid)
            result = await lu.ctx.rpc.blockdev_remove(node, _sent(lu, disk, uuid, children))
            if result.ok:
                continue
            lu.log_warning(f"Could not remove disk {disk.iv_name} on node {node.name},"
                           f" continuing anyway: {result.fail_msg}")
            if not (result.offline and uuid != inst.primary_node):
                ok = False
    for uuid in _dir_nodes(inst, disks):
        where = _node(lu, uuid)
        mine = [d for d in disks if uuid in d.nodes or uuid == inst.primary_node]
        for directory in sorted(storage_dirs(mine) - storage_dirs(remaining)):
            result = await lu.ctx.rpc.file_storage_dir_remove(where, directory)
            if not result.ok:
                lu.log_warning(f"Could not remove directory '{directory}' on node"
                               f" {where.name}: {result.fail_msg}")
    return ok


def _dir_nodes(inst: Instance, disks: Sequence[Disk]) -> list[str]:
    """The primary, then the other nodes holding files of ``disks``."""
    others = {n for d in disks if d.dev_type in LOCAL_FILES for n in d.nodes}
    return [inst.primary_node, *sorted(others - {inst.primary_node})]


async def assemble_disks(
    lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk],
    error: str = "Cannot activate block devices",
) -> list[list[str]]:
    """Activate every disk, on its secondary node first, then on the primary as primary
    (Ganeti's order), then serve mirror disks from their secondary (one that cannot
    serve is a warning: the disk runs degraded); returns ``[node name, iv_name, device
    path]`` per disk.

    On a failure the disks are shut down again and OpExecError(``error``) is raised.
    """
    paths: list[list[str]] = []
    for index, disk in enumerate(disks):
        for uuid in reversed(_primary_first(inst, disk)):
            node = _node(lu, uuid)
            primary = uuid == inst.primary_node
            result = await lu.ctx.rpc.blockdev_assemble(node, _sent(lu, disk, uuid), inst.name,
                                                        primary, index)
            if not result.ok:
                lu.log_warning(f"Could not prepare block device {disk.iv_name} on node"
                               f" {node.name} (is_primary={primary}): {result.fail_msg}")
                if not primary and disk.dev_type in LOCAL_FILES:
                    continue  # the primary writes alone: the disk runs degraded
                await shutdown_disks(lu, inst, disks)
                raise OpExecError(error)
            if primary:
                paths.append([node.name, disk.iv_name, _device_path(result.payload)])
    await serve_mirrors(lu, inst, disks)
    return paths


def _device_path(payload: AssembledDevice | None) -> str:
    """The instance's link to the device, else the device path."""
    if payload is None:
        return ""
    return payload.link if isinstance(payload.link, str) and payload.link else payload.path


async def shutdown_disks(
    lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk], ignore_primary: bool = False
) -> bool:
    """Deactivate every disk (first stopping the exports of mirror disks); failures are
    warnings. Returns whether all went well."""
    ok = await stop_exports(lu, inst, disks)
    for disk in disks:
        for uuid in disk.nodes:
            node = _node(lu, uuid)
            result = await lu.ctx.rpc.blockdev_shutdown(node, _sent(lu, disk, uuid))
            if result.ok:
                continue
            lu.log_warning(f"Could not shutdown block device {disk.iv_name} on node"
                           f" {node.name}: {result.fail_msg}")
            primary = uuid == inst.primary_node
            if (primary and not ignore_primary) or (not primary and not result.offline):
                ok = False
    return ok


async def wipe_disks(
    lu: LogicalUnit[Any], inst: Instance, disks: Sequence[Disk], offset: int = 0,
    children: Sequence[Disk] = (),
) -> None:
    """Zero each disk on the primary node from ``offset`` MiB to its end (``children`` as
    for :func:`create_disks`).

    Raises:
        OpExecError: a wipe failed.
    """
    primary = _node(lu, inst.primary_node)
    for position, disk in enumerate(disks):
        number = disk.iv_name.partition("/")[2]
        index = int(number) if number.isdigit() else position
        size = disk.size - offset
        if size <= 0:
            continue
        lu.log_info(f" - INFO: Wiping disk {index}")
        sent = _sent(lu, disk, inst.primary_node, children)
        result = await lu.ctx.rpc.blockdev_wipe(primary, sent, offset, size)
        if not result.ok:
            raise OpExecError(f"Could not wipe disk {index} at offset {offset} for size"
                              f" {size}: {result.fail_msg}")
