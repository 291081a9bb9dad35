"""Instance policies on the master: effective policies, changes, and checks of instances.

The pure rules (shape, merging, violation wording) are in :mod:`corral.objects.ipolicy`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances.bundle import filled_beparams, instance_disks
from corral.errors import ErrorCode, OpPrereqError
from corral.objects import ipolicy as pol
from corral.objects.config_data import ConfigData
from corral.objects.instance import Instance
from corral.objects.node import NodeGroup


def updated_policy(old: Mapping[str, Any], changes: Mapping[str, Any],
                   group: bool) -> dict[str, Any]:
    """``old`` with ``changes`` (Ganeti's GetUpdatedIPolicy).

    Raises:
        OpPrereqError: (INVAL) an unknown key, a bad value or a policy that is not well formed.
    """
    try:
        return pol.updated_ipolicy(old, changes, group_policy=group)
    except pol.PolicyError as err:
        raise OpPrereqError(str(err), ErrorCode.INVAL) from None


def cluster_policy(cfg: ConfigData) -> dict[str, Any]:
    return pol.upgrade_cluster_ipolicy(cfg.cluster.ipolicy)


def group_policy(cfg: ConfigData, group: NodeGroup | str | None,
                 own: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The effective policy of ``group`` (a group, its UUID, or None for the cluster's).

    ``own`` replaces the group's overrides (a policy about to be set).
    """
    found = cfg.nodegroups.get(group) if isinstance(group, str) else group
    custom = own if own is not None else (found.ipolicy if found is not None else {})
    return pol.group_ipolicy(cfg.cluster.ipolicy, custom)


def instance_group(cfg: ConfigData, inst: Instance) -> NodeGroup | None:
    node = cfg.nodes.get(inst.primary_node)
    return cfg.nodegroups.get(node.group) if node is not None else None


def instance_violations(cfg: ConfigData, inst: Instance,
                        policy: Mapping[str, Any]) -> list[str]:
    """Ganeti's ComputeIPolicyInstanceViolation for a configured instance."""
    be = filled_beparams(cfg.cluster, inst.beparams)
    disks = instance_disks(cfg, inst)
    return pol.spec_violations(
        policy, memory=int(be["maxmem"]), vcpus=int(be["vcpus"]),
        disk_sizes=[d.size for d in disks], nic_count=len(inst.nics),
        spindle_use=int(be.get("spindle_use", 1)),
        disk_templates=[d.dev_type.value for d in disks],
    )


def violating_instances(cfg: ConfigData, instances: Iterable[Instance],
                        policy_of: Any) -> set[str]:
    """Names of the ``instances`` that violate ``policy_of(instance)``."""
    return {inst.name for inst in instances if instance_violations(cfg, inst, policy_of(inst))}


def allocation_error(group: NodeGroup | None, violations: list[str]) -> OpPrereqError:
    """Ganeti's refusal of an instance whose specs the group's policy does not allow."""
    uuid, name = (group.uuid, group.name) if group is not None else ("", "")
    return OpPrereqError(f"Instance allocation to group {uuid} ({name}) violates policy: "
                         f"{', '.join(violations)}", ErrorCode.INVAL)


def new_violations_message(names: set[str]) -> str:
    return ("After the ipolicy change the following instances violate them: "
            f"{', '.join(sorted(names))}")


def check_instance_spec(lu: LogicalUnit[Any], group: NodeGroup | None,
                        violations: list[str], ignore: bool) -> None:
    """Refuse (or, with ``--ignore-ipolicy``, warn about) an instance outside its group's policy.

    Raises:
        OpPrereqError: (INVAL) Ganeti's "Instance allocation to group … violates policy: …".
    """
    if not violations:
        return
    err = allocation_error(group, violations)
    if not ignore:
        raise err
    lu.log_warning(err.message)
