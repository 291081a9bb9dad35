"""Filled instance parameters and the :class:`InstanceBundle` a node receives.

Filling order (lowest first):

- hvparams: the hypervisor's table defaults < cluster ``hvparams[hv]`` <
  ``os_hvp[os][hv]`` < the instance's own; cluster-global names always come
  from the cluster level;
- beparams: Corral's defaults < cluster ``beparams["default"]`` < instance
  (the legacy ``memory`` sets both ``minmem`` and ``maxmem``);
- nicparams, per NIC: cluster ``nicparams["default"]`` < the NIC's own;
- osparams: cluster ``osparams[<os>]`` (without, then with the variant) < instance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from corral.cmdlib.common.instances.node_disks import node_disks
from corral.cmdlib.common.parameters.checks import upgrade_beparams
from corral.errors import ParameterError
from corral.hypervisor.params import fill_hvparams, global_params
from corral.objects.bundle import InstanceBundle
from corral.objects.cluster import DEFAULT_BEPARAMS, DEFAULT_NICPARAMS, Cluster
from corral.objects.config_data import ConfigData
from corral.objects.instance import Disk, Instance, Nic


def os_base_name(os_name: str) -> str:
    """``debootstrap+buster`` → ``debootstrap``."""
    return os_name.split("+", 1)[0]


def filled_hvparams(
    cluster: Cluster, hypervisor: str, os_name: str, hvparams: Mapping[str, Any]
) -> dict[str, Any]:
    """The hypervisor parameters in effect for an instance with ``hvparams`` of its own."""
    layered = {
        **cluster.hvparams.get(hypervisor, {}),
        **cluster.os_hvp.get(os_name, {}).get(hypervisor, {}),
    }
    try:
        return fill_hvparams(hypervisor, layered, hvparams)
    except ParameterError:  # a hypervisor without a parameter table: plain layering
        return {**layered, **hvparams}


def without_globals(hypervisor: str, hvparams: Mapping[str, Any]) -> dict[str, Any]:
    """``hvparams`` minus the cluster-global names (Ganeti's ``skip_globals``)."""
    try:
        skip = global_params(hypervisor)
    except ParameterError:
        skip = frozenset()
    return {k: v for k, v in hvparams.items() if k not in skip}


def filled_beparams(cluster: Cluster, beparams: Mapping[str, Any]) -> dict[str, Any]:
    """Backend parameters in effect (MiB for the memory sizes)."""
    return {
        **DEFAULT_BEPARAMS,
        **upgrade_beparams(cluster.beparams.get("default", {})),
        **upgrade_beparams(beparams),
    }


def filled_nicparams(cluster: Cluster, nicparams: Mapping[str, Any]) -> dict[str, Any]:
    """NIC parameters in effect (``mode``, ``link``, ``vlan``)."""
    return {**DEFAULT_NICPARAMS, **cluster.nicparams.get("default", {}), **nicparams}


def filled_osparams(cluster: Cluster, os_name: str, osparams: Mapping[str, Any]) -> dict[str, Any]:
    """OS parameters in effect for ``os_name`` (with or without a variant)."""
    base = os_base_name(os_name)
    filled = dict(cluster.osparams.get(base, {}))
    if os_name != base:
        filled.update(cluster.osparams.get(os_name, {}))
    filled.update(osparams)
    return filled


def instance_disks(cfg: ConfigData, inst: Instance) -> list[Disk]:
    """The instance's disks in order (missing ones are skipped)."""
    return [cfg.disks[uuid] for uuid in inst.disks if uuid in cfg.disks]


def secondary_node_uuids(inst: Instance, disks: Sequence[Disk]) -> list[str]:
    """Nodes other than the primary holding any of ``disks``, in order of appearance."""
    found: list[str] = []
    for disk in disks:
        found.extend(n for n in disk.nodes if n != inst.primary_node and n not in found)
    return found


def node_name(cfg: ConfigData, uuid: str) -> str:
    node = cfg.nodes.get(uuid)
    return node.name if node is not None else uuid


def instance_node_names(cfg: ConfigData, inst: Instance, disks: Sequence[Disk]) -> list[str]:
    """The primary node's name followed by the secondaries' (Ganeti's create result)."""
    uuids = [inst.primary_node, *secondary_node_uuids(inst, disks)]
    return [node_name(cfg, uuid) for uuid in uuids]


def nic_params(cluster: Cluster, nics: Sequence[Nic]) -> tuple[dict[str, Any], ...]:
    return tuple(filled_nicparams(cluster, nic.nicparams) for nic in nics)


def build_bundle(
    cfg: ConfigData,
    inst: Instance,
    *,
    disks: Sequence[Disk] | None = None,
    hvparams: Mapping[str, Any] | None = None,
    beparams: Mapping[str, Any] | None = None,
    osparams: Mapping[str, Any] | None = None,
    node: str | None = None,
    known: Sequence[Disk] = (),
) -> InstanceBundle:
    """What a node needs to act on ``inst``.

    ``disks`` defaults to the instance's configured disks (pass them for an
    instance not yet in the configuration). ``hvparams``/``beparams`` are one-off
    overrides on top of the filled values; ``osparams`` replaces the filled OS
    parameters (reinstall with new parameters). The disks are sent as ``node`` (uuid;
    the primary by default) needs them; ``known`` are child disks not yet configured.
    """
    cluster = cfg.cluster
    disk_list = list(disks) if disks is not None else instance_disks(cfg, inst)
    hv = filled_hvparams(cluster, inst.hypervisor, inst.os, inst.hvparams)
    be = filled_beparams(cluster, inst.beparams)
    return InstanceBundle(
        instance=inst,
        disks=tuple(node_disks(cfg, disk_list, node or inst.primary_node, known)),
        hvparams={**hv, **(hvparams or {})},
        beparams={**be, **upgrade_beparams(beparams or {})},
        nicparams=nic_params(cluster, inst.nics),
        osparams=dict(osparams) if osparams is not None
        else filled_osparams(cluster, inst.os, {**inst.osparams, **inst.osparams_private}),
        primary_node_name=node_name(cfg, inst.primary_node),
        secondary_node_names=tuple(
            node_name(cfg, uuid) for uuid in secondary_node_uuids(inst, disk_list)
        ),
        file_storage_dir=cluster.file_storage_dir,
    )
