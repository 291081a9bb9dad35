"""Node information, verification, the master IP, daemons, hooks and commands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.rpc.methods.base import NodeRef, RpcMethods
from corral.rpc.payloads import (
    CommandOutput,
    HookScriptResult,
    NodeInfo,
    NodeVerifyResult,
)
from corral.rpc.results import NodeResult


class NodeCalls(RpcMethods):
    """Node information, verification, the master IP, daemons, hooks and commands."""

    async def version(
        self,
        nodes: Sequence[NodeRef],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[int]]:
        """Protocol version of the node daemon."""
        return await self._multi("version", nodes, timeout=rpc_timeout)

    async def node_info(
        self,
        nodes: Sequence[NodeRef],
        storage_units: list[Any],
        hv_specs: list[Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[NodeInfo]]:
        """Memory, CPUs, storage space and hypervisor info."""
        return await self._multi("node_info", nodes, storage_units, hv_specs, timeout=rpc_timeout)

    async def node_verify(
        self,
        nodes: Sequence[NodeRef],
        checks: dict[str, Any],
        cluster_name: str,
        all_hvparams: dict[str, Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[NodeVerifyResult]]:
        """Run cluster-verify checks on the node."""
        return await self._multi(
            "node_verify", nodes, checks, cluster_name, all_hvparams, timeout=rpc_timeout
        )

    async def node_time(
        self,
        nodes: Sequence[NodeRef],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[float]]:
        """The node's clock, seconds since the epoch."""
        return await self._multi("node_time", nodes, timeout=rpc_timeout)

    async def node_boot_id(
        self,
        nodes: Sequence[NodeRef],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[str]]:
        """The kernel boot id of the node."""
        return await self._multi("node_boot_id", nodes, timeout=rpc_timeout)

    async def master_node_name(
        self,
        nodes: Sequence[NodeRef],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[str]]:
        """The master node named by the node's ssconf."""
        return await self._multi("master_node_name", nodes, timeout=rpc_timeout)

    async def hooks_runner(
        self,
        nodes: Sequence[NodeRef],
        hpath: str,
        phase: str,
        env: dict[str, Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[list[HookScriptResult]]]:
        """Run a hooks directory."""
        return await self._multi("hooks_runner", nodes, hpath, phase, env, timeout=rpc_timeout)

    async def restricted_command(
        self,
        node: NodeRef,
        cmd: str,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[str]:
        """Run a command from the restricted commands directory."""
        return await self._single("restricted_command", node, cmd, timeout=rpc_timeout)

    async def test_delay(
        self,
        nodes: Sequence[NodeRef],
        duration: float,
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[None]]:
        """Sleep on the node."""
        return await self._multi("test_delay", nodes, duration, timeout=rpc_timeout)

    async def run_oob(
        self,
        node: NodeRef,
        command: list[Any],
        timeout: float,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[CommandOutput]:
        """Run a shell command on the node (gnt-cluster command)."""
        return await self._single("run_oob", node, command, timeout, timeout=rpc_timeout)

    async def node_activate_master_ip(
        self,
        node: NodeRef,
        master_params: dict[str, Any],
        use_external_mip_script: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Bring up the master IP."""
        return await self._single(
            "node_activate_master_ip", node, master_params, use_external_mip_script,
            timeout=rpc_timeout,
        )

    async def node_deactivate_master_ip(
        self,
        node: NodeRef,
        master_params: dict[str, Any],
        use_external_mip_script: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Take down the master IP."""
        return await self._single(
            "node_deactivate_master_ip", node, master_params, use_external_mip_script,
            timeout=rpc_timeout,
        )

    async def node_change_master_netmask(
        self,
        node: NodeRef,
        old_netmask: int,
        netmask: int,
        master_ip: str,
        master_netdev: str,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Change the master IP's netmask."""
        return await self._single(
            "node_change_master_netmask", node, old_netmask, netmask, master_ip, master_netdev,
            timeout=rpc_timeout,
        )

    async def node_ensure_daemon(
        self,
        nodes: Sequence[NodeRef],
        daemon: str,
        run: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[None]]:
        """Start or stop a daemon on the node."""
        return await self._multi("node_ensure_daemon", nodes, daemon, run, timeout=rpc_timeout)

    async def node_leave_cluster(
        self,
        node: NodeRef,
        modify_ssh_setup: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Remove cluster files and stop the node daemon."""
        return await self._single(
            "node_leave_cluster", node, modify_ssh_setup, timeout=rpc_timeout
        )
