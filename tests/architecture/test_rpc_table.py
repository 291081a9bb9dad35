"""Both ends of the node RPC match the table: each call has one node handler and one typed
client method whose parameters (names, order, types) and results are the table's."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

import corral.backend
from corral.backend.handlers import HANDLERS
from corral.rpc.calls import CALLS, Fanout, RpcCall
from corral.rpc.nodes import NodeRef, NodeRpc
from corral.rpc.results import NodeResult

for _module in pkgutil.iter_modules(corral.backend.__path__):
    importlib.import_module(f"corral.backend.{_module.name}")


def _params(func: Any, skip: int) -> list[tuple[str, Any]]:
    hints = typing.get_type_hints(func)
    names = list(inspect.signature(func).parameters)[skip:]
    return [(name, hints[name]) for name in names if name != "rpc_timeout"]


def _table_params(call: RpcCall) -> list[tuple[str, Any]]:
    return [(arg.name, arg.type) for arg in call.args]


def _accepts(client: Any, table: Any) -> bool:
    """The client's type is the table's, or a struct base class of it whose subclass only
    adds fields with defaults (so every client value is a valid table value on the wire)."""
    if client == table:
        return True
    if typing.get_origin(client) is list and typing.get_origin(table) is list:
        return _accepts(typing.get_args(client)[0], typing.get_args(table)[0])
    if not (isinstance(client, type) and isinstance(table, type)
            and issubclass(table, msgspec.Struct) and issubclass(table, client)):
        return False
    extra = [f for f in msgspec.structs.fields(table)
             if f.name not in {g.name for g in msgspec.structs.fields(client)}]
    return all(f.required is False for f in extra)


def _client_params(call: RpcCall) -> list[tuple[str, Any]]:
    """The client's view: an argument that differs by node is ``{node name: value}``."""
    return [(arg.name, dict[str, arg.type] if arg.per_node else arg.type)  # type: ignore[name-defined]
            for arg in call.args]


@pytest.mark.parametrize("call", CALLS.values(), ids=lambda c: c.name)
def test_handler_matches_the_table(call: RpcCall) -> None:
    handler = HANDLERS[call.name]
    params = _params(handler, skip=1)
    assert [name for name, _ in params] == [name for name, _ in _table_params(call)]
    for (name, kind), (_, wire) in zip(params, _table_params(call), strict=True):
        assert _accepts(kind, wire), (name, kind, wire)
    returns = type(None) if call.returns is None else call.returns
    assert typing.get_type_hints(handler)["return"] == returns


@pytest.mark.parametrize("call", CALLS.values(), ids=lambda c: c.name)
def test_client_method_matches_the_table(call: RpcCall) -> None:
    method = getattr(NodeRpc, call.name)
    hints = typing.get_type_hints(method)
    first = list(inspect.signature(method).parameters)[1]
    expected_result: Any = NodeResult[call.returns]  # type: ignore[name-defined]
    if call.fanout is Fanout.MULTI:
        assert (first, hints[first]) == ("nodes", Sequence[NodeRef])
        expected_result = dict[str, expected_result]
    else:
        assert (first, hints[first]) == ("node", NodeRef)
    client = _params(method, skip=2)
    assert [name for name, _ in client] == [name for name, _ in _client_params(call)]
    for (name, kind), (_, wire) in zip(client, _client_params(call), strict=True):
        assert _accepts(kind, wire), (name, kind, wire)
    assert hints["return"] == expected_result
    timeout = inspect.signature(method).parameters["rpc_timeout"]
    assert timeout.kind is inspect.Parameter.KEYWORD_ONLY


def test_no_client_method_outside_the_table() -> None:
    public = {name for name, _ in inspect.getmembers(NodeRpc, inspect.iscoroutinefunction)
              if not name.startswith("_")}
    assert public - set(CALLS) == {"send", "close"}


@pytest.mark.parametrize("call", CALLS.values(), ids=lambda c: c.name)
def test_result_type_is_decodable(call: RpcCall) -> None:
    """Every declared result type is one msgspec can decode a JSON payload into."""
    msgspec.json.Decoder(call.returns if call.returns is not None else type(None))
