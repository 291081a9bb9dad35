"""Parameter types shared by many opcodes, defined once (Ganeti's OpParams)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

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

# --- added with the instance and OS opcodes ---------------------------------------------
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
OptionalName = Annotated[str, msgspec.Meta(min_length=1)] | None
"""An optional non-empty string (Ganeti's optionalNEStringField)."""
HypervisorName = Literal["xen-pvm", "xen-hvm", "kvm", "lxc", "chroot", "fake"]
DiskTemplateName = Literal[
    "diskless", "file", "sharedfile", "plain", "drbd", "blockdev", "rbd", "ext", "gluster",
    "mirror"
]
MAX_DISKS = 16
"""Ganeti's limit on disks per instance (disk indices are 0 to 15)."""
DiskIndex = Annotated[int, msgspec.Meta(ge=0, lt=MAX_DISKS, description="disk index")]
InstanceShutdownTimeout = Annotated[
    int, msgspec.Meta(ge=0, description="seconds to wait for the instance to shut down")
]
DEFAULT_SHUTDOWN_TIMEOUT = 120
"""Seconds; Ganeti's default for every shutdown timeout parameter."""
WaitForSync = Annotated[bool, msgspec.Meta(description="wait for the disks to synchronize")]
