"""The join handshake of a new node."""

from __future__ import annotations

from corral.rpc.methods.base import NodeRef, RpcMethods
from corral.rpc.payloads import JoinCsr
from corral.rpc.results import NodeResult


class JoinCalls(RpcMethods):
    """The join handshake of a new node."""

    async def node_join_begin(
        self,
        node: NodeRef,
        cluster_name: str,
        node_name: str,
        ca_pem: str,
        nonce: str,
        mac: str,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[JoinCsr]:
        """Start joining: node proves the token, sends a CSR."""
        return await self._single(
            "node_join_begin", node, cluster_name, node_name, ca_pem, nonce, mac,
            timeout=rpc_timeout,
        )

    async def node_join_finish(
        self,
        node: NodeRef,
        cert_pem: str,
        nonce: str,
        mac: str,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[str]:
        """Finish joining: install the signed certificate."""
        return await self._single(
            "node_join_finish", node, cert_pem, nonce, mac, timeout=rpc_timeout
        )
