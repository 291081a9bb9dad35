"""Every opcode has one logical unit; every RPC call has one handler with matching parameters."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import corral.backend
import corral.cmdlib
from corral.backend.handlers import HANDLERS
from corral.cmdlib.base import LU_REGISTRY
from corral.opcodes.base import REGISTRY
from corral.rpc.calls import CALLS


def _import_all(package: object) -> None:
    path = package.__path__  # type: ignore[attr-defined]
    for info in pkgutil.walk_packages(path, prefix=package.__name__ + "."):  # type: ignore[attr-defined]
        importlib.import_module(info.name)


def test_every_opcode_with_an_lu_has_exactly_one() -> None:
    _import_all(corral.cmdlib)
    missing = [op for op, cls in REGISTRY.items() if cls.WITH_LU and cls not in LU_REGISTRY]
    assert missing == []


def test_lu_registry_is_keyed_by_known_opcodes() -> None:
    _import_all(corral.cmdlib)
    assert set(LU_REGISTRY) <= set(REGISTRY.values())
    for op_class, lu_class in LU_REGISTRY.items():
        assert lu_class.OP_CLASS is op_class


def test_every_rpc_call_has_a_matching_handler() -> None:
    _import_all(corral.backend)
    assert sorted(set(CALLS) - set(HANDLERS)) == []
    for name, call in CALLS.items():
        params = list(inspect.signature(HANDLERS[name]).parameters)
        assert params[0] == "ctx", name
        assert params[1:] == [arg.name for arg in call.args], name
        assert inspect.iscoroutinefunction(HANDLERS[name]), name
