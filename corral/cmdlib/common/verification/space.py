"""Judging the space checks of ``node_verify``: the cluster's volume group on every
vm_capable node, and the filesystems holding the configuration and the job queue on the
master and the master candidates (the nodes that keep copies of both).

Thresholds (also in the README, section "Watcher"):

* volume group: missing or unreadable is an error (``ENODELVM``, Ganeti's wording "volume
  group 'xenvg' missing"); less than 5% or 1024 MiB free is a warning.
* filesystems: less than 1% or 100 MiB free is an error (``ENODEDISKSPACE``: a full disk
  stops configuration commits and job updates); less than 5% or 1024 MiB free is a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.cmdlib.common.verification.report import (
    ENODEDISKSPACE,
    ENODELVM,
    Finding,
    error,
    warning,
)
from corral.layout import NodeLayout
from corral.objects.cluster import Cluster
from corral.rpc.payloads import NodeVerifyResult, SpaceReport


@dataclass(frozen=True, slots=True)
class Threshold:
    """Free space below ``mib`` MiB or below ``percent`` % of the size is too little."""

    mib: int
    percent: float

    def crossed(self, space: SpaceReport) -> bool:
        free, size = space.free_mib or 0, space.size_mib or 0
        return free < self.mib or free * 100.0 < self.percent * size

    def __str__(self) -> str:
        return f"{self.percent:g}% or {self.mib} MiB"


VG_WARNING = Threshold(1024, 5.0)
DISK_ERROR = Threshold(100, 1.0)
DISK_WARNING = Threshold(1024, 5.0)


LVM_TEMPLATES = frozenset({"plain", "drbd"})


def cluster_vg(cluster: Cluster) -> str | None:
    """The volume group to check: the cluster's, when an LVM disk template is enabled."""
    if cluster.volume_group_name and LVM_TEMPLATES & set(cluster.enabled_disk_templates):
        return cluster.volume_group_name
    return None


def queue_and_config_paths(layout: NodeLayout) -> dict[str, str]:
    """Where the configuration and the job queue live, relative to a node root → what."""
    return {str(layout.config_db.parent.relative_to(layout.root)): "configuration",
            str(layout.queue_dir.relative_to(layout.root)): "job queue"}


def _describe(space: SpaceReport) -> str:
    free, size = space.free_mib or 0, space.size_mib or 0
    percent = f" ({free * 100.0 / size:.1f}%)" if size else ""
    return f"{free} MiB free of {size} MiB{percent}"


def vg_findings(name: str, payload: NodeVerifyResult, vg: str) -> list[Finding]:
    """The node's answer about the cluster's volume group ``vg``."""
    space = (payload.vg_space or {}).get(vg)
    if space is None:
        return [error(ENODELVM, name, f"unable to check volume group '{vg}': no data returned")]
    if space.error is not None or space.free_mib is None:
        return [error(ENODELVM, name, f"volume group '{vg}' missing: {space.error}")]
    if VG_WARNING.crossed(space):
        return [warning(ENODELVM, name, f"volume group '{vg}' is nearly full: "
                        f"{_describe(space)}, below {VG_WARNING}")]
    return []


def disk_findings(name: str, payload: NodeVerifyResult, paths: dict[str, str]) -> list[Finding]:
    """The node's answer about the filesystems of ``paths`` (path → what lives there)."""
    answers = payload.disk_space or {}
    found = []
    for path, what in sorted(paths.items()):
        space = answers.get(path)
        shown = f"/{path.lstrip('/')} ({what})"
        if space is None or space.error is not None:
            reason = space.error if space is not None else "no data returned"
            found.append(error(ENODEDISKSPACE, name, f"unable to check free space of {shown}:"
                               f" {reason}"))
        elif DISK_ERROR.crossed(space):
            found.append(error(ENODEDISKSPACE, name, f"filesystem of {shown} is nearly full:"
                               f" {_describe(space)}, below {DISK_ERROR}"))
        elif DISK_WARNING.crossed(space):
            found.append(warning(ENODEDISKSPACE, name, f"filesystem of {shown} is getting"
                                 f" full: {_describe(space)}, below {DISK_WARNING}"))
    return found
