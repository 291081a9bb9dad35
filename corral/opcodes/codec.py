"""Ganeti's JSON shape for opcodes: ``{"OP_ID": ..., field: value, ...}``."""

from __future__ import annotations

from functools import cache
from typing import Any, Union

import msgspec

from corral.errors import OpCodeUnknown, ParameterError
from corral.opcodes import (  # noqa: F401  (registration)
    cluster,
    group,
    instance,
    mobility,
    node,
    os,
    query,
    tags,
    test,
)
from corral.opcodes.base import REGISTRY, OpCode


@cache
def _decoder() -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(Union[tuple(REGISTRY.values())])  # type: ignore[arg-type]  # noqa: UP007


def decode_opcode(data: dict[str, Any] | bytes) -> OpCode:
    """Build an opcode from its JSON form.

    Raises:
        OpCodeUnknown: the ``OP_ID`` is missing or names no opcode.
        ParameterError: a field is unknown, missing or has a bad value; the message names it.
    """
    raw = data if isinstance(data, bytes) else msgspec.json.encode(data)
    if not isinstance(data, bytes):
        op_id = data.get("OP_ID") if isinstance(data, dict) else None
        if not isinstance(op_id, str) or op_id not in REGISTRY:
            raise OpCodeUnknown(f"Unknown opcode {op_id!r}")
    try:
        op: OpCode = _decoder().decode(raw)
    except msgspec.ValidationError as err:
        text = str(err)
        if "OP_ID" in text:
            raise OpCodeUnknown(f"Unknown opcode: {text}") from err
        raise ParameterError(_describe(text)) from err
    except msgspec.DecodeError as err:
        raise ParameterError(f"malformed opcode: {err}") from err
    return op


def _describe(text: str) -> str:
    """Turn msgspec's ``... - at `$.field``` into ``field: ...``."""
    if " - at `$." in text:
        message, _, where = text.partition(" - at `$.")
        return f"{where.rstrip('`')}: {message}"
    return text


def encode_opcode(op: OpCode) -> dict[str, Any]:
    """The opcode as Ganeti's JSON-able dict, ``OP_ID`` first."""
    data: dict[str, Any] = msgspec.to_builtins(op)
    return data


def opcode_class(op_id: str) -> type[OpCode] | None:
    return REGISTRY.get(op_id)
