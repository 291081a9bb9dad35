"""Cluster files, ssconf, and the configuration and job queue replicas of candidates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.rpc.methods.base import NodeRef, RpcMethods
from corral.rpc.payloads import ConfigCopy, QueueCopy, QueueReplicaState
from corral.rpc.results import NodeResult


class ReplicationCalls(RpcMethods):
    """Cluster files, ssconf, and the configuration and job queue replicas of candidates."""

    async def upload_file(
        self,
        nodes: Sequence[NodeRef],
        file_name: str,
        data: Any,
        mode: int,
        uid: str,
        gid: str,
        atime: float,
        mtime: float,
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[None]]:
        """Write one allowed cluster file."""
        return await self._multi(
            "upload_file", nodes, file_name, data, mode, uid, gid, atime, mtime,
            timeout=rpc_timeout,
        )

    async def write_ssconf_files(
        self,
        nodes: Sequence[NodeRef],
        values: dict[str, Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[None]]:
        """Replace the node's ssconf files."""
        return await self._multi("write_ssconf_files", nodes, values, timeout=rpc_timeout)

    async def config_replicate(
        self,
        nodes: Sequence[NodeRef],
        serial_no: int,
        base_serial: int,
        changes: list[Any],
        meta: dict[str, Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[int]]:
        """Apply configuration changes on a master candidate."""
        return await self._multi(
            "config_replicate", nodes, serial_no, base_serial, changes, meta, timeout=rpc_timeout
        )

    async def config_serial(
        self,
        nodes: Sequence[NodeRef],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[int]]:
        """Serial number of the node's configuration replica."""
        return await self._multi("config_serial", nodes, timeout=rpc_timeout)

    async def node_demote_from_mc(
        self,
        node: NodeRef,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[bool]:
        """Drop the configuration and queue replicas."""
        return await self._single("node_demote_from_mc", node, timeout=rpc_timeout)

    async def config_fetch(
        self,
        node: NodeRef,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[ConfigCopy]:
        """The node's whole configuration replica."""
        return await self._single("config_fetch", node, timeout=rpc_timeout)

    async def jobqueue_fetch(
        self,
        node: NodeRef,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[QueueCopy]:
        """The node's job queue replica files."""
        return await self._single("jobqueue_fetch", node, timeout=rpc_timeout)

    async def jobqueue_update(
        self,
        nodes: Sequence[NodeRef],
        files: list[Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[None]]:
        """Write job files on a master candidate."""
        return await self._multi("jobqueue_update", nodes, files, timeout=rpc_timeout)

    async def jobqueue_rename(
        self,
        nodes: Sequence[NodeRef],
        renames: list[Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[None]]:
        """Rename (archive) job files."""
        return await self._multi("jobqueue_rename", nodes, renames, timeout=rpc_timeout)

    async def jobqueue_purge(
        self,
        node: NodeRef,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Delete the node's job queue replica."""
        return await self._single("jobqueue_purge", node, timeout=rpc_timeout)

    async def jobqueue_set_drain_flag(
        self,
        nodes: Sequence[NodeRef],
        flag: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[None]]:
        """Set or clear the drain flag."""
        return await self._multi("jobqueue_set_drain_flag", nodes, flag, timeout=rpc_timeout)

    async def jobqueue_replica_state(
        self,
        nodes: Sequence[NodeRef],
        job_ids: list[int],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[QueueReplicaState]]:
        """The replica's highest job id, and which of ``job_ids`` it has no file of."""
        return await self._multi("jobqueue_replica_state", nodes, job_ids, timeout=rpc_timeout)
