"""Ancillary cluster files: which must be the same on every node, and pushing them out."""

from __future__ import annotations

import asyncio
import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.layout import NodeLayout
from corral.objects.cluster import Cluster
from corral.objects.node import Node


@dataclass(frozen=True, slots=True)
class ClusterFile:
    """A file that every node should hold with the same content."""

    path: Path
    optional: bool
    """Optional files must exist on all nodes or on none."""
    upload: bool
    """Whether redist-conf pushes it (the CA certificate is installed at join time)."""


def relative_name(layout: NodeLayout, path: Path) -> str:
    """The name node RPCs use: the path relative to the node root."""
    return str(path.relative_to(layout.root))


def cluster_files(layout: NodeLayout, cluster: Cluster) -> list[ClusterFile]:
    """The files cluster verify compares and redist-conf distributes."""
    files = [
        ClusterFile(layout.ca_cert, optional=False, upload=False),
        ClusterFile(layout.rapi_users_file, optional=True, upload=True),
    ]
    if cluster.use_external_mip_script:
        files.append(ClusterFile(layout.external_mip_script, optional=False, upload=True))
    return files


def _read_upload(layout: NodeLayout, path: Path) -> list[Any] | None:
    """``upload_file`` arguments for one file, or None when the master has no such file."""
    try:
        st = path.stat()
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    encoded = base64.b64encode(data).decode()
    mode = st.st_mode & 0o7777
    return [relative_name(layout, path), encoded, mode, "root", "root", st.st_atime, st.st_mtime]


def _upload_args(layout: NodeLayout, cluster: Cluster) -> list[list[Any]]:
    found = (_read_upload(layout, f.path) for f in cluster_files(layout, cluster) if f.upload)
    return [args for args in found if args is not None]


async def upload_ancillary_files(lu: LogicalUnit[Any], nodes: list[Node]) -> None:
    """Copy the master's ancillary files to ``nodes`` (online ones, never the master)."""
    master = lu.cfg.cluster.master_node
    targets = [n for n in nodes if not n.offline and n.uuid != master]
    if not targets:
        return
    uploads = await asyncio.to_thread(_upload_args, lu.ctx.layout, lu.cfg.cluster)
    for args in uploads:
        results = await lu.ctx.rpc.upload_file(targets, *args)
        for name, result in sorted(results.items()):
            if not result.ok:
                lu.log_warning(
                    f"Copy of file {os.sep}{args[0]} to node {name} failed: {result.fail_msg}"
                )
