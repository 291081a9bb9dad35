"""Fencing on the node: the epoch store, admission of calls, and refusal over TLS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import corral.backend.basics
import corral.backend.files  # noqa: F401  (registers the handlers under test)
from corral.backend.context import NodeContext
from corral.backend.epoch_store import EPOCH_FILE, EpochStore
from corral.backend.fencing import Fenced, admit, master_epoch_announce
from corral.backend.server import start_server
from corral.errors import CorralError, ParameterError
from corral.layout import NodeLayout
from corral.rpc import pki, tls
from corral.rpc.calls import CALLS
from corral.rpc.client import NodeTarget, RpcClient
from tests.support.connections import joined_layout


def _ctx(tmp_path: Path) -> NodeContext:
    return NodeContext(layout=NodeLayout(tmp_path), node_name="node1")


def test_store_starts_at_zero_and_only_rises(tmp_path: Path) -> None:
    store = EpochStore(tmp_path / EPOCH_FILE)
    assert store.value == 0
    assert store.raise_to(3)
    assert not store.raise_to(2)
    assert not store.raise_to(3)
    assert store.value == 3


def test_store_survives_a_restart(tmp_path: Path) -> None:
    EpochStore(tmp_path / EPOCH_FILE).raise_to(7)
    assert EpochStore(tmp_path / EPOCH_FILE).value == 7
    assert (tmp_path / EPOCH_FILE).read_text() == "7\n"


def test_store_refuses_a_damaged_file(tmp_path: Path) -> None:
    (tmp_path / EPOCH_FILE).write_text("seven\n")
    with pytest.raises(CorralError, match="not a master epoch"):
        EpochStore(tmp_path / EPOCH_FILE)


def test_master_call_from_an_older_epoch_is_refused(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    assert admit(ctx, CALLS["instance_start"], "5") is None
    assert admit(ctx, CALLS["instance_start"], "4") == "fenced: master epoch 4 is older than 5"
    assert admit(ctx, CALLS["config_replicate"], "5") is None


def test_read_call_from_an_older_epoch_is_answered(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    admit(ctx, CALLS["node_info"], "5")
    assert admit(ctx, CALLS["node_info"], "1") is None
    assert admit(ctx, CALLS["master_node_name"], "1") is None


def test_any_call_raises_the_remembered_epoch(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    admit(ctx, CALLS["version"], "9")
    assert EpochStore(NodeLayout(tmp_path).data_dir / EPOCH_FILE).value == 9
    assert admit(ctx, CALLS["blockdev_create"], "8") == "fenced: master epoch 8 is older than 9"


def test_calls_without_the_header_are_not_checked(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    admit(ctx, CALLS["version"], "9")
    assert admit(ctx, CALLS["instance_start"], None) is None


@pytest.mark.parametrize("header", ["", "0", "-2", "x1", "1.5"])
def test_a_bad_header_is_a_clear_error(tmp_path: Path, header: str) -> None:
    with pytest.raises(ParameterError, match="X-Corral-Master-Epoch must be a positive"):
        admit(_ctx(tmp_path), CALLS["instance_start"], header)


def test_announce_raises_and_refuses_an_older_term(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    assert asyncio.run(master_epoch_announce(ctx, 4)) == 4
    assert asyncio.run(master_epoch_announce(ctx, 4)) == 4
    with pytest.raises(Fenced, match="fenced: master epoch 3 is older than 4"):
        asyncio.run(master_epoch_announce(ctx, 3))


def test_refusal_over_tls(tmp_path: Path) -> None:
    ca_key, ca_cert = pki.create_ca("test.example.com")
    master = joined_layout(tmp_path / "master", "master", ca_key, ca_cert)
    node = joined_layout(tmp_path / "node1", "node1", ca_key, ca_cert)

    async def main() -> None:
        ctx = NodeContext(layout=node, node_name="node1")
        server = await start_server(ctx, "127.0.0.1", 0)
        target = NodeTarget("node1", "127.0.0.1", server.port)
        try:
            async with RpcClient(tls.client_ssl_context(master)) as old:
                old.epoch = 1
                announced = await old.call_single("master_epoch_announce", target, 2)
                assert announced.payload == 2
                written = await old.call_single("write_ssconf_files", target, {"x": "y"})
                assert written.fail_msg == "fenced: master epoch 1 is older than 2"
                assert old.fenced == "fenced: master epoch 1 is older than 2"
                version = await old.call_single("version", target)
                assert version.ok
                elsewhere = NodeTarget("node9", "127.0.0.1", 9)  # never contacted
                stopped = await old.call_single("instance_shutdown", elsewhere, None, 1.0, [])
                assert stopped.fail_msg == "fenced: master epoch 1 is older than 2"
                old.epoch, old.fenced = 2, None
                written = await old.call_single("write_ssconf_files", target, {"master_node": "n"})
                assert written.ok, written.fail_msg
        finally:
            await server.stop()

    asyncio.run(main())
    assert (node.data_dir / EPOCH_FILE).read_text() == "2\n"
