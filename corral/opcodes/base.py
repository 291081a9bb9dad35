"""The opcode base class, its registry and Ganeti's OP_ID naming.

Opcodes are frozen msgspec structs tagged by ``OP_ID``, so decoding Ganeti's
JSON shape (``{"OP_ID": "OP_TEST_DELAY", "duration": 1.0, ...}``) picks the
class, validates every field and rejects unknown ones by name.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any, ClassVar

import msgspec

_WORD = re.compile(r"[A-Z][a-z0-9]*")


def op_id_from_class_name(name: str) -> str:
    """``OpClusterPostInit`` → ``OP_CLUSTER_POST_INIT`` (Ganeti's rule).

    Shared bases whose names start with ``_`` keep their name as tag and are never registered.
    """
    if name.startswith("_"):
        return name
    if not name.startswith("Op"):
        raise ValueError(f"opcode class names start with 'Op': {name}")
    return "OP_" + "_".join(_WORD.findall(name[2:])).upper()


class Priority(enum.IntEnum):
    """Opcode priorities: lower runs first."""

    HIGHEST = -20
    HIGH = -10
    NORMAL = 0
    LOW = 10
    LOWEST = 19


SUBMIT_PRIORITIES = frozenset({Priority.HIGH, Priority.NORMAL, Priority.LOW})

REGISTRY: dict[str, type[OpCode]] = {}

PriorityParam = Annotated[
    int,
    msgspec.Meta(ge=int(Priority.HIGHEST), le=int(Priority.LOWEST), description="opcode priority"),
]


class OpCode(
    msgspec.Struct,
    kw_only=True,
    frozen=True,
    forbid_unknown_fields=True,
    tag_field="OP_ID",
    tag=op_id_from_class_name,
):
    """Base of every opcode; carries Ganeti's six common parameters."""

    OP_DSC_FIELD: ClassVar[str | None] = None
    """Field shown in job summaries, e.g. ``OP_TEST_DELAY(2.0)``."""

    WITH_LU: ClassVar[bool] = True
    """False for opcodes that no logical unit executes."""

    dry_run: bool | None = False
    debug_level: int | None = None
    priority: PriorityParam = 0
    depends: list[tuple[int | str, list[str]]] | None = None
    comment: str | None = None
    reason: list[list[Any]] = msgspec.field(default_factory=list)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            REGISTRY[op_id_from_class_name(cls.__name__)] = cls

    @property
    def op_id(self) -> str:
        return op_id_from_class_name(type(self).__name__)

    def summary(self) -> str:
        """Ganeti's job summary: ``OP_ID(descriptive field)`` without the ``OP_`` prefix."""
        name = self.op_id[3:]
        field = self.OP_DSC_FIELD
        if field is None:
            return name
        value = getattr(self, field, None)
        if isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        return f"{name}({value})" if value is not None else name
