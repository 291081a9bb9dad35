"""What a master candidate needs beyond the configuration and the job queue: the CA key
and the RAPI certificate (:attr:`NodeLayout.candidate_files`), copied from the master.

Pushed to every newly promoted candidate (node add, ``modify -C yes``, auto-promotion,
a larger pool) and by ``redist-conf``; a demoted node removes them itself
(``node_demote_from_mc``). Secret files travel and land with mode 0600.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.files import relative_name
from corral.layout import NodeLayout
from corral.objects.node import Node

SECRET_MODE = 0o600


def _upload_args(layout: NodeLayout, path: Path) -> list[Any] | None:
    """``upload_file`` arguments for ``path``, or None when the master has no such file."""
    try:
        st = path.stat()
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    mode = SECRET_MODE if path in layout.secret_files else st.st_mode & 0o777
    encoded = base64.b64encode(data).decode()
    return [relative_name(layout, path), encoded, mode, "root", "root", st.st_atime, st.st_mtime]


def candidate_uploads(layout: NodeLayout) -> list[list[Any]]:
    """The ``upload_file`` arguments of every candidate file the master holds."""
    found = (_upload_args(layout, path) for path in layout.candidate_files)
    return [args for args in found if args is not None]


async def upload_candidate_files(lu: LogicalUnit[Any], nodes: list[Node]) -> None:
    """Copy the master's candidate files to the online candidates among ``nodes``."""
    master = lu.cfg.cluster.master_node
    targets = [n for n in nodes if n.master_candidate and not n.offline and n.uuid != master]
    if not targets:
        return
    for args in await asyncio.to_thread(candidate_uploads, lu.ctx.layout):
        results = await lu.ctx.rpc.upload_file(targets, *args)
        for name, result in sorted(results.items()):
            if not result.ok:
                lu.log_warning(f"Copy of file /{args[0]} to master candidate {name} failed:"
                               f" {result.fail_msg}")
