"""Running opcodes through the real Processor, ConfigWriter, ConfigStore and LockManager.

Only the node RPC (a :class:`FakeNodeRpc`), the join handshake and the clock
are fakes. Create the harness outside an event loop and use :meth:`run` inside
one (``asyncio.run``), or :meth:`run_sync` from a plain test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from corral.clock import FakeClock
from corral.cmdlib import (  # noqa: F401  (registers the logical units)
    cluster_modify,
    cluster_verify,
    group,
    node,
    node_add,
    tags,
)
from corral.cmdlib.context import MasterContext
from corral.cmdlib.processor import Processor
from corral.config.replication import RpcReplicator
from corral.config.store import ConfigStore
from corral.config.writer import ConfigWriter
from corral.errors import CorralError, ErrorCode, OpPrereqError, RpcError
from corral.jobs.model import Job, QueuedOp
from corral.layout import NodeLayout
from corral.locking.levels import Level
from corral.locking.manager import LockManager
from corral.locking.plan import LevelRequest, LockPlan
from corral.objects.config_data import ConfigData, Kind
from corral.opcodes.base import OpCode
from corral.opcodes.codec import encode_opcode
from corral.rpc import pki
from corral.rpc.client import NodeTarget
from tests.support.fake_rpc import FakeNodeRpc

MakeHarness = Callable[..., "LuHarness"]
"""The ``make_harness`` fixture: ``make_harness(builder, with_ca=True) -> LuHarness``."""


class FakeJoiner:
    """Records join handshakes; ``fail`` makes them raise RpcError."""

    def __init__(self) -> None:
        self.joined: list[tuple[str, str, str]] = []
        self.fail: str | None = None

    async def __call__(self, layout: NodeLayout, target: NodeTarget, token: str,
                       cluster_name: str, node_name: str) -> str:
        if self.fail is not None:
            raise RpcError(self.fail)
        self.joined.append((node_name, target.address, token))
        return "CERTIFICATE"


class LuHarness:
    """One master: configuration in a temporary store, fake RPC, real locks and processor."""

    def __init__(self, root: Path, data: ConfigData, *, with_ca: bool = True) -> None:
        self.layout = NodeLayout(root / "master")
        self.layout.ensure_dirs()
        if with_ca:
            pki.save_cert(self.layout.ca_cert, pki.create_ca(data.cluster.cluster_name)[1])
        self.store_path = root / "config.db"
        self.store = ConfigStore(self.store_path)
        self.store.replace_all(data)
        self.clock = FakeClock()
        self.rpc = FakeNodeRpc(self.clock)
        replicator = RpcReplicator(self.rpc, data.cluster.master_node)
        self.writer = ConfigWriter(self.store, data, self.clock, replicator)
        # healthy candidates hold the master's configuration serial
        self.rpc.script("config_serial", fn=lambda _node, _args: self.writer.data.serial_no)
        self.joiner = FakeJoiner()
        self.ctx = MasterContext(layout=self.layout, config=self.writer, rpc=self.rpc,
                                 locks=LockManager(), clock=self.clock,
                                 joiner=self.joiner)
        self.processor = Processor(self.ctx)
        self.feedback: list[str] = []
        self._next_job = 0

    @property
    def data(self) -> ConfigData:
        return self.writer.data

    @property
    def serial(self) -> int:
        return self.writer.data.serial_no

    async def run(self, op: OpCode) -> Any:
        """Run one opcode as a one-opcode job; its exceptions propagate."""
        self._next_job += 1
        job = Job(id=self._next_job, ops=[QueuedOp(input=encode_opcode(op))])
        return await self.processor.run_op(job, op, self.feedback.append, _locked)

    def run_sync(self, op: OpCode) -> Any:
        return asyncio.run(self.run(op))

    def reload(self) -> ConfigData:
        """The configuration as a fresh store reads it back from disk."""
        store = ConfigStore(self.store_path)
        try:
            data = store.load()
        finally:
            store.close()
        assert data is not None
        return data

    def assert_persisted(self) -> None:
        """What is on disk equals what is in memory."""
        disk, memory = self.reload(), self.writer.data
        assert disk.serial_no == memory.serial_no
        for kind in Kind:
            assert disk.table(kind) == memory.table(kind), kind

    def close(self) -> None:
        self.store.close()


def expect_failure(
    harness: LuHarness, op: OpCode, error: type[CorralError] = OpPrereqError,
    code: ErrorCode | None = None, match: str = "",
) -> CorralError:
    """Run ``op`` expecting ``error`` (with ``code`` and ``match`` in its message), and
    check that the configuration did not change, in memory or on disk."""
    serial = harness.serial
    try:
        harness.run_sync(op)
    except error as err:
        caught = err
    else:
        raise AssertionError(f"{op.op_id} did not raise {error.__name__}")
    if code is not None:
        assert isinstance(caught, OpPrereqError)
        assert caught.code is code, caught
    assert match in str(caught), str(caught)
    assert harness.serial == serial
    harness.assert_persisted()
    return caught


def requested(plan: LockPlan, level: Level) -> LevelRequest:
    """The plan's request at ``level``, which must exist."""
    request = plan.get(level)
    assert request is not None, f"no {level.label} locks requested"
    return request


async def _locked() -> None:
    """The queue's on_locked callback: nothing to record in these tests."""
