"""Opcodes: typed, frozen records in Ganeti's JSON shape (layer 1)."""

from corral.opcodes.base import REGISTRY, OpCode, Priority
from corral.opcodes.codec import decode_opcode, encode_opcode

__all__ = ["REGISTRY", "OpCode", "Priority", "decode_opcode", "encode_opcode"]
