"""Instances: life cycle, memory, runtime information, OS scripts, console."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.objects.bundle import InstanceBundle
from corral.rpc.methods.base import NodeRef, RpcMethods
from corral.rpc.payloads import (
    ConsolePayload,
    InstanceRuntime,
    OsDiagnosis,
    RunningInstance,
)
from corral.rpc.results import NodeResult


class InstanceCalls(RpcMethods):
    """Instances: life cycle, memory, runtime information, OS scripts, console."""

    async def instance_start(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        startup_paused: bool,
        reason: list[Any],
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Assemble nothing; start the instance on the hypervisor."""
        return await self._single(
            "instance_start", node, instance, startup_paused, reason, timeout=rpc_timeout
        )

    async def instance_shutdown(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        timeout: float,
        reason: list[Any],
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Stop the instance: soft first, forced after timeout seconds."""
        return await self._single(
            "instance_shutdown", node, instance, timeout, reason, timeout=rpc_timeout
        )

    async def instance_reboot(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        reboot_type: str,
        shutdown_timeout: float,
        reason: list[Any],
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Reboot (soft: in the guest; hard: stop and start)."""
        return await self._single(
            "instance_reboot", node, instance, reboot_type, shutdown_timeout, reason,
            timeout=rpc_timeout,
        )

    async def instance_balloon_memory(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        memory: int,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Change the memory of a running instance."""
        return await self._single(
            "instance_balloon_memory", node, instance, memory, timeout=rpc_timeout
        )

    async def instance_info(
        self,
        node: NodeRef,
        instance: str,
        hname: str,
        hvparams: dict[str, Any],
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[InstanceRuntime | None]:
        """Runtime state of one instance, or null."""
        return await self._single(
            "instance_info", node, instance, hname, hvparams, timeout=rpc_timeout
        )

    async def all_instances_info(
        self,
        nodes: Sequence[NodeRef],
        hypervisor_list: list[str],
        all_hvparams: dict[str, Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[dict[str, RunningInstance]]]:
        """Runtime state of every instance on the node."""
        return await self._multi(
            "all_instances_info", nodes, hypervisor_list, all_hvparams, timeout=rpc_timeout
        )

    async def instance_list(
        self,
        nodes: Sequence[NodeRef],
        hypervisor_list: list[str],
        all_hvparams: dict[str, Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[list[str]]]:
        """Names of the instances running on the node."""
        return await self._multi(
            "instance_list", nodes, hypervisor_list, all_hvparams, timeout=rpc_timeout
        )

    async def instance_os_add(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        reinstall: bool,
        debug: int,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Run the OS create script on the instance's disks."""
        return await self._single(
            "instance_os_add", node, instance, reinstall, debug, timeout=rpc_timeout
        )

    async def instance_run_rename(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        old_name: str,
        debug: int,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Run the OS rename script."""
        return await self._single(
            "instance_run_rename", node, instance, old_name, debug, timeout=rpc_timeout
        )

    async def instance_console_info(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[ConsolePayload]:
        """How to reach the instance's console."""
        return await self._single("instance_console_info", node, instance, timeout=rpc_timeout)

    async def os_diagnose(
        self,
        nodes: Sequence[NodeRef],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[list[OsDiagnosis]]]:
        """The OS definitions found in the node's search path."""
        return await self._multi("os_diagnose", nodes, timeout=rpc_timeout)

    async def os_validate(
        self,
        nodes: Sequence[NodeRef],
        required: bool,
        name: str,
        checks: list[str],
        params: dict[str, Any],
        force_variant: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[bool]]:
        """Validate an OS name, variant and parameters."""
        return await self._multi(
            "os_validate", nodes, required, name, checks, params, force_variant,
            timeout=rpc_timeout,
        )
