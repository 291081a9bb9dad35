"""Generic query opcodes."""

from __future__ import annotations

from typing import Any, ClassVar

from corral.opcodes.base import OpCode


class OpQuery(OpCode, kw_only=True, frozen=True):
    """Query a resource with fields and a filter."""

    OP_DSC_FIELD: ClassVar[str | None] = "what"
    what: str
    use_locking: bool = False
    fields: list[str]
    qfilter: Any = None


class OpQueryFields(OpCode, kw_only=True, frozen=True):
    """Describe the fields of a resource."""

    OP_DSC_FIELD: ClassVar[str | None] = "what"
    what: str
    fields: list[str] | None = None
