"""OS definition opcodes."""

from __future__ import annotations

from corral.opcodes.base import OpCode
from corral.opcodes.params import NonEmptyString, OutputFields

OS_DIAGNOSE_FIELDS = frozenset(
    {
        "name",
        "valid",
        "variants",
        "parameters",
        "api_versions",
        "node_status",
        "hidden",
        "blacklisted",
        "os_hvp",
        "osparams",
        "trusted",
    }
)
"""Fields ``OP_OS_DIAGNOSE`` can return (Ganeti's LUOsDiagnose field list plus ``trusted``)."""


class OpOsDiagnose(OpCode, kw_only=True, frozen=True):
    """Collect the OS definitions of all nodes; one row of ``output_fields`` per OS.

    Without ``valid``, ``hidden`` or ``blacklisted`` among the fields, only valid,
    visible OSes are listed (Ganeti's legacy filter).
    """

    output_fields: OutputFields
    names: list[NonEmptyString] = []

    def __post_init__(self) -> None:
        unknown = [f for f in self.output_fields if f not in OS_DIAGNOSE_FIELDS]
        if unknown:
            raise ValueError(f"output_fields: unknown field(s) {', '.join(unknown)}")
        if not self.output_fields:
            raise ValueError("output_fields: at least one field is needed")
