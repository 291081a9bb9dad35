"""A node RPC that records every call and answers from scripts or sensible defaults.

It replaces :meth:`NodeRpc.send`, so LUs use the real typed methods; scripted payloads
are plain JSON-like values decoded into the call's ``returns`` as the real client does
(a payload of the wrong shape becomes a failed result, as from a real node).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import corral
from corral import serde
from corral.clock import Clock, split_time
from corral.errors import RpcError
from corral.layout import NodeLayout
from corral.objects.node import Node
from corral.rpc.calls import CALLS
from corral.rpc.nodes import NodeRef, NodeRpc
from corral.rpc.payloads import (
    AssembledDevice,
    CommandOutput,
    ConfigCopy,
    ConsolePayload,
    DeviceState,
    DrbdSyncProgress,
    ImpExpHandle,
    ImpExpStatus,
    MigrationEndpoint,
    MigrationProgress,
    MirrorExport,
    NodeInfo,
    QueueCopy,
    QueueReplicaState,
)
from corral.rpc.results import NodeResult, typed
from corral.version import PROTOCOL_VERSION

Responder = Callable[[Node, tuple[Any, ...]], Any]
"""Computes a payload from the node and the call's arguments (or returns a NodeResult)."""


@dataclass(frozen=True, slots=True)
class RecordedCall:
    name: str
    node: str
    args: tuple[Any, ...]


class FakeNodeRpc(NodeRpc):
    """Checks calls against the RPC table like the real client, never touches the network.

    Offline nodes are not contacted (and not recorded), as with the real client.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[RecordedCall] = []
        self._scripts: dict[tuple[str, str | None], Responder] = {}
        self._held: dict[str, asyncio.Event] = {}
        self._waiting: dict[tuple[str, str], int] = {}
        self.epoch: int | None = None
        """The master epoch the real client would send (:meth:`set_epoch`)."""

    # --- scripting ------------------------------------------------------
    def script(self, name: str, node: str | None = None, *, payload: Any = None,
               fail: str | None = None, fn: Responder | None = None) -> None:
        """Answer ``name`` (on ``node``, or on every node) with a payload, failure or function."""
        if fn is None:
            def fn(target: Node, args: tuple[Any, ...]) -> Any:
                if fail is not None:
                    return NodeResult.failure(target.name, name, fail)
                return payload
        self._scripts[(name, node)] = fn

    def reset(self) -> None:
        self.calls.clear()

    def hold(self, node: str) -> None:
        """Make ``node`` hang: its calls wait (unanswered) until :meth:`release`."""
        self._held.setdefault(node, asyncio.Event())

    def release(self, node: str) -> None:
        """Let ``node``'s held calls (and later ones) answer."""
        event = self._held.pop(node, None)
        if event is not None:
            event.set()

    def held_calls(self, node: str, name: str | None = None) -> int:
        """Calls to ``node`` (of call ``name``, or of any) waiting for :meth:`release`."""
        return sum(n for (held, call), n in self._waiting.items()
                   if held == node and name in (None, call))

    async def _wait_while_held(self, name: str, nodes: Sequence[NodeRef]) -> None:
        for node in nodes:
            event = self._held.get(node.name)
            if event is None:
                continue
            key = (node.name, name)
            self._waiting[key] = self._waiting.get(key, 0) + 1
            try:
                await event.wait()
            finally:
                self._waiting[key] -= 1

    # --- inspection -----------------------------------------------------
    def calls_of(self, name: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.name == name]

    def nodes_called(self, name: str) -> list[str]:
        return sorted(c.node for c in self.calls_of(name))

    # --- the NodeRpc transport ---------------------------------------------
    async def send(self, name: str, nodes: Sequence[NodeRef], args: tuple[Any, ...],
                   timeout: float | None) -> dict[str, NodeResult[Any]]:
        call = CALLS.get(name)
        if call is None or len(call.args) != len(args):
            raise RpcError(f"bad RPC call {name!r} with {len(args)} argument(s)")
        await self._wait_while_held(name, nodes)
        return {node.name: typed(self._answer(name, node, args), call.returns)
                for node in nodes}

    async def close(self) -> None:
        return None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def fenced(self) -> str | None:
        return None

    def _answer(self, name: str, node: NodeRef, args: tuple[Any, ...]) -> NodeResult[Any]:
        if node.offline:
            return NodeResult.failure(node.name, name, "Node is marked offline", offline=True)
        self.calls.append(RecordedCall(name, node.name, args))
        responder = self._scripts.get((name, node.name)) or self._scripts.get((name, None))
        target = cast(Node, node)  # logical units call configured nodes only
        payload = responder(target, args) if responder else None
        if payload is None:  # a script answering nothing means "as a healthy node"
            payload = self._default(name, args, target)
        if isinstance(payload, NodeResult):
            return payload
        return NodeResult(node=node.name, call=name, payload=payload)

    def _default(self, name: str, args: tuple[Any, ...], node: Node) -> Any:
        """A healthy node's answer; ``None`` for calls whose payload may be empty."""
        if name == "node_verify":
            return verify_answer(args[0], self.clock.now(), candidate=node.master_candidate)
        if name == "node_time":
            return self.clock.now()
        if name == "config_replicate":
            return args[0]
        return DEFAULTS.get(name)


LEVEL_QUEUE_SERIAL = 2**31 - 1
"""A healthy candidate's job queue replica: never behind the master's serial."""

DEFAULTS: dict[str, Any] = {
    "version": PROTOCOL_VERSION,
    "node_info": NodeInfo(memory_total=4096, memory_free=2048),
    "node_boot_id": "00000000-0000-0000-0000-000000000000",
    "master_node_name": "",
    "config_serial": 0,
    "config_fetch": ConfigCopy(serial_no=0, changes=[], meta={}),
    "jobqueue_fetch": QueueCopy(files=[], serial=0),
    "master_epoch": 1,
    "master_epoch_announce": 1,
    "jobqueue_replica_state": QueueReplicaState(serial=LEVEL_QUEUE_SERIAL),
    "node_demote_from_mc": True,
    "hooks_runner": [],
    "restricted_command": "",
    "run_oob": CommandOutput(exit_code=0, output=""),
    "all_instances_info": {},
    "instance_list": [],
    "instance_console_info": ConsolePayload(instance="", kind="msg"),
    "blockdev_create": DeviceState(),
    "blockdev_assemble": AssembledDevice(),
    "blockdev_getdimensions": [],
    "node_volumes": [],
    "storage_list": [],
    "os_diagnose": [],
    "os_validate": True,
    "migration_info": "",
    "accept_instance": MigrationEndpoint(address="", port=0),
    "instance_get_migration_status": MigrationProgress(status="completed"),
    "import_start": ImpExpHandle(name="import-1", port=40000),
    "export_start": "export-1",
    "blockdev_getmirrorstatus": [],
    "blockdev_getmirrorstatus_multi": [],
    "blockdev_pause_resume_sync": [],
    "drbd_wait_sync": DrbdSyncProgress(all_done=True, min_resync=100.0),
    "drbd_needs_activation": [],
    "mirror_export_start": MirrorExport(name="", running=True),
    "mirror_export_status": MirrorExport(name="", running=False),
    "instance_mirror_status": [],
    "impexp_status": [ImpExpStatus(name="", mode="import", connected=True, done=True,
                                   success=True)],
}
"""Answers of a healthy node to calls whose payload is not ``None``."""


HALF_FREE = {"size_mib": 102400, "free_mib": 51200}
"""A healthy volume group or filesystem in ``node_verify``'s space checks."""


_CANDIDATE_FILES = frozenset(str(p.relative_to("/")) for p in NodeLayout(Path("/")).candidate_files)


def verify_answer(checks: dict[str, Any], now: float, digest: str = "0" * 40,
                  candidate: bool = True) -> dict[str, Any]:
    """A healthy node's ``node_verify`` answer to ``checks`` (only a master candidate
    holds the candidate files)."""
    answers: dict[str, Any] = {
        "filelist": {name: digest if candidate or name not in _CANDIDATE_FILES else None
                     for name in checks.get("filelist") or []},
        "nodelist": {},
        "hypervisor": dict.fromkeys(checks.get("hypervisor") or []),
        "version": [PROTOCOL_VERSION, corral.__version__],
        "time": list(split_time(now)),
        "node-setup": [],
        "vg-space": {vg: dict(HALF_FREE) for vg in checks.get("vg-space") or []},
        "disk-space": {path: dict(HALF_FREE) for path in checks.get("disk-space") or []},
    }
    return {key: value for key, value in answers.items() if key in checks}


def wire(value: Any) -> Any:
    """``value`` as the JSON a node sends (structs, tuples and enums to plain values)."""
    return serde.loads(serde.dumps(value))
