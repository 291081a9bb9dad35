"""Tag opcodes on cluster, nodes, groups, instances and networks."""

from __future__ import annotations

import enum
from typing import ClassVar

from corral.opcodes.base import OpCode
from corral.opcodes.params import TagList


class TagKind(enum.StrEnum):
    CLUSTER = "cluster"
    NODE = "node"
    NODEGROUP = "nodegroup"
    INSTANCE = "instance"
    NETWORK = "network"


class OpTagsGet(OpCode, kw_only=True, frozen=True):
    """Tags of one object."""

    OP_DSC_FIELD: ClassVar[str | None] = "name"
    kind: TagKind
    use_locking: bool = False
    name: str | None = None


class OpTagsSearch(OpCode, kw_only=True, frozen=True):
    """Objects whose tags match a regular expression."""

    OP_DSC_FIELD: ClassVar[str | None] = "pattern"
    pattern: str


class OpTagsSet(OpCode, kw_only=True, frozen=True):
    """Add tags to an object."""

    OP_DSC_FIELD: ClassVar[str | None] = "name"
    kind: TagKind
    tags: TagList
    name: str | None = None


class OpTagsDel(OpCode, kw_only=True, frozen=True):
    """Remove tags from an object."""

    OP_DSC_FIELD: ClassVar[str | None] = "name"
    kind: TagKind
    tags: TagList
    name: str | None = None
