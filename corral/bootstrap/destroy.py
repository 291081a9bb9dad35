"""``gnt-cluster destroy``: the last step, run on the master once other nodes are gone."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from corral.daemon_control import MASTERD_MATCH, stop_daemon
from corral.errors import OpExecError
from corral.layout import NodeLayout
from corral.luxi.client import Client, LuxiClientError, LuxiRemoteError, wait_for_job
from corral.rpc import tls
from corral.rpc.client import NodeTarget, RpcClient


def destroy_cluster(root: Path) -> None:
    """Run OP_CLUSTER_DESTROY, stop masterd, and remove the master's cluster files.

    Raises:
        OpExecError: the destroy job failed (for example other nodes are still members).
    """
    layout = NodeLayout(root)
    try:
        with Client(str(layout.luxi_socket)) as client:
            job_id = client.SubmitJob([{"OP_ID": "OP_CLUSTER_DESTROY"}])
            status, _, results = wait_for_job(client, job_id)
    except (LuxiClientError, LuxiRemoteError) as err:
        raise OpExecError(f"Cannot destroy the cluster: {err}") from err
    if status != "success":
        raise OpExecError(_job_error(results))
    stop_daemon(layout.pid_file("corral-masterd"), MASTERD_MATCH, 15.0)
    target = _master_target(layout)
    remove_cluster_files(layout)
    if target is not None:
        asyncio.run(_leave(layout, target))


async def _leave(layout: NodeLayout, target: NodeTarget) -> None:
    """Ask the master's own node daemon to drop its certificate and stop (Ganeti's last step)."""
    async with RpcClient(tls.client_ssl_context(layout)) as client:
        await client.call_single("node_leave_cluster", target, False)


def _master_target(layout: NodeLayout) -> NodeTarget | None:
    def ssconf(key: str) -> str:
        path = layout.ssconf_file(key)
        return path.read_text().strip() if path.exists() else ""

    master = ssconf("master_node")
    ips = dict(
        line.split(" ", 1) for line in ssconf("node_primary_ips").splitlines() if " " in line
    )
    if master not in ips:
        return None
    return NodeTarget(master, ips[master], int(ssconf("noded_port") or 1811))


def _job_error(results: list[object]) -> str:
    for result in results:
        if isinstance(result, list) and len(result) == 2 and isinstance(result[1], list):
            return " ".join(str(a) for a in result[1][:1])
    return "the destroy job failed"


def remove_cluster_files(layout: NodeLayout) -> None:
    """Remove configuration, queue, ssconf and crypto files of this node."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{layout.config_db}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(layout.queue_dir, ignore_errors=True)
    for path in layout.data_dir.glob("ssconf_*"):
        path.unlink(missing_ok=True)
    layout.watcher_pause_file.unlink(missing_ok=True)
