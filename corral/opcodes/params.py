"""Parameter types shared by many opcodes, defined once (Ganeti's OpParams)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

NonEmptyString = Annotated[str, msgspec.Meta(min_length=1)]
NodeName = Annotated[str, msgspec.Meta(min_length=1, description="node name")]
GroupName = Annotated[str, msgspec.Meta(min_length=1, description="node group name")]
InstanceName = Annotated[str, msgspec.Meta(min_length=1, description="instance name")]
OptionalUuid = Annotated[str | None, msgspec.Meta(description="object UUID, filled by the master")]
NodeNames = Annotated[list[str], msgspec.Meta(description="node names")]
TagList = Annotated[list[str], msgspec.Meta(description="tags")]
ParamDict = dict[str, Any]
HvParamsByHv = dict[str, dict[str, Any]]
ShutdownTimeout = Annotated[int, msgspec.Meta(ge=0, description="seconds to wait for shutdown")]
Force = Annotated[bool, msgspec.Meta(description="whether to force the operation")]
OutputFields = Annotated[list[str], msgspec.Meta(description="fields to return")]
Filter = Any
