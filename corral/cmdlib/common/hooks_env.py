"""Hook environments and hook node lists shared by the node, group and cluster units."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.processor import HookRunner
from corral.objects.config_data import ConfigData
from corral.objects.instance import Disk, DiskTemplate, Instance, Nic, NicMode
from corral.objects.node import Node


def sorted_nodes(nodes: list[Node]) -> list[Node]:
    return sorted(nodes, key=lambda n: n.name)


def all_nodes(cfg: ConfigData) -> list[Node]:
    """Every node of the cluster, by name."""
    return sorted_nodes(list(cfg.nodes.values()))


def nodes_except(cfg: ConfigData, uuid: str) -> list[Node]:
    """Every node but one, by name."""
    return sorted_nodes([n for n in cfg.nodes.values() if n.uuid != uuid])


def master_and(cfg: ConfigData, *nodes: Node) -> list[Node]:
    """The master followed by ``nodes``, without duplicates."""
    found = {cfg.master_node.uuid: cfg.master_node}
    for node in nodes:
        found.setdefault(node.uuid, node)
    return list(found.values())


def node_target_env(name: str) -> dict[str, Any]:
    """``OP_TARGET`` and ``NODE_NAME`` of node units."""
    return {"OP_TARGET": name, "NODE_NAME": name}


def group_env(name: str) -> dict[str, Any]:
    return {"GROUP_NAME": name}


async def run_post_hooks_now(lu: LogicalUnit[Any], nodes: list[Node]) -> None:
    """Run the unit's post hooks on ``nodes`` from inside ``exec`` (failures only reported)."""
    await HookRunner(lu.ctx, lu).run_post_now(nodes)


# --- instances (Ganeti's BuildInstanceHookEnv) ----------------------------------------

def _nic_env(cfg: ConfigData, index: int, nic: Nic) -> dict[str, Any]:
    params = {**cfg.cluster.nicparams.get("default", {}), **nic.nicparams}
    prefix = f"INSTANCE_NIC{index}_"
    env: dict[str, Any] = {f"{prefix}NAME": nic.name} if nic.name else {}
    mode, link = params.get("mode", ""), params.get("link", "")
    env.update({
        f"{prefix}UUID": nic.uuid, f"{prefix}IP": nic.ip or "", f"{prefix}MAC": nic.mac,
        f"{prefix}MODE": mode, f"{prefix}LINK": link, f"{prefix}VLAN": params.get("vlan", ""),
    })
    if mode in (NicMode.BRIDGED.value, NicMode.OVS.value):
        env[f"{prefix}BRIDGE"] = link
    if nic.network:
        env.update(_network_env(cfg, prefix, nic.network))
    return env


def _network_env(cfg: ConfigData, prefix: str, uuid: str) -> dict[str, Any]:
    net = cfg.networks.get(uuid)
    if net is None:
        return {f"{prefix}NETWORK_NAME": uuid}
    values = {"NAME": net.name, "UUID": net.uuid, "TAGS": " ".join(net.tags),
              "SUBNET": net.network, "GATEWAY": net.gateway, "SUBNET6": net.network6,
              "GATEWAY6": net.gateway6, "MAC_PREFIX": net.mac_prefix}
    return {f"{prefix}NETWORK_{key}": value for key, value in values.items() if value}


def _disk_env(index: int, disk: Disk) -> dict[str, Any]:
    prefix = f"INSTANCE_DISK{index}_"
    env: dict[str, Any] = {f"{prefix}NAME": disk.name} if disk.name else {}
    lid = [str(part) for part in disk.logical_id]
    if disk.dev_type is DiskTemplate.PLAIN and len(lid) == 2:
        env.update({f"{prefix}VG": lid[0], f"{prefix}ID": lid[1]})
    elif disk.dev_type is not DiskTemplate.DISKLESS and len(lid) == 2:
        env.update({f"{prefix}DRIVER": lid[0], f"{prefix}ID": lid[1]})
    env.update({f"{prefix}DEV_TYPE": disk.dev_type.value, f"{prefix}UUID": disk.uuid,
                f"{prefix}SIZE": disk.size, f"{prefix}MODE": disk.mode.value})
    return env


def instance_env(
    cfg: ConfigData, inst: Instance, disks: Sequence[Disk], *,
    bep: Mapping[str, Any], hvp: Mapping[str, Any], status: Any = None,
) -> dict[str, Any]:
    """Ganeti's instance hook variables (without the ``GANETI_`` prefix).

    ``bep``/``hvp`` are the filled backend and hypervisor parameters; ``status``
    defaults to the admin state (instance creation passes its ``start`` flag).
    """
    names = {uuid: node.name for uuid, node in cfg.nodes.items()}
    secondaries: list[str] = []
    for disk in disks:
        secondaries.extend(n for n in disk.nodes if n != inst.primary_node
                           and n not in secondaries)
    env: dict[str, Any] = {
        "OP_TARGET": inst.name, "INSTANCE_NAME": inst.name,
        "INSTANCE_PRIMARY": names.get(inst.primary_node, inst.primary_node),
        "INSTANCE_SECONDARIES": " ".join(names.get(n, n) for n in secondaries),
        "INSTANCE_OS_TYPE": inst.os,
        "INSTANCE_STATUS": inst.admin_state.value if status is None else status,
        "INSTANCE_MINMEM": bep.get("minmem"), "INSTANCE_MAXMEM": bep.get("maxmem"),
        "INSTANCE_MEMORY": bep.get("maxmem"), "INSTANCE_VCPUS": bep.get("vcpus"),
        "INSTANCE_DISK_TEMPLATE": inst.disk_template.value,
        "INSTANCE_HYPERVISOR": inst.hypervisor,
        "INSTANCE_NIC_COUNT": len(inst.nics), "INSTANCE_DISK_COUNT": len(disks),
        "INSTANCE_TAGS": " ".join(inst.tags),
    }
    for index, nic in enumerate(inst.nics):
        env.update(_nic_env(cfg, index, nic))
    for index, disk in enumerate(disks):
        env.update(_disk_env(index, disk))
    env.update({f"INSTANCE_BE_{key}": value for key, value in bep.items()})
    env.update({f"INSTANCE_HV_{key}": value for key, value in hvp.items()})
    return env
