"""Cluster-verify findings and how they are reported (Ganeti's ``_VerifyErrors``).

Each finding is one feedback line: ``  - ERROR: node node1: message`` or, with
``error_codes``, the parseable ``  - ERROR:ENODERPC:node:node1:message``.
Errors whose code is in ``ignore_errors`` are reported as warnings; only
errors make the verification fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Ecode:
    """A verify error code: the kind of object it is about and its name."""

    object_type: str
    name: str


_CLUSTER, _NODE, _INSTANCE = "cluster", "node", "instance"
ECLUSTERCFG = Ecode(_CLUSTER, "ECLUSTERCFG")
ECLUSTERCERT = Ecode(_CLUSTER, "ECLUSTERCERT")
ECLUSTERFILECHECK = Ecode(_CLUSTER, "ECLUSTERFILECHECK")
ECLUSTERDANGLINGNODES = Ecode(_NODE, "ECLUSTERDANGLINGNODES")
ECLUSTERDANGLINGINST = Ecode(_NODE, "ECLUSTERDANGLINGINST")
EINSTANCEBADNODE = Ecode(_INSTANCE, "EINSTANCEBADNODE")
EINSTANCEPOLICY = Ecode(_INSTANCE, "EINSTANCEPOLICY")
ENODERPC = Ecode(_NODE, "ENODERPC")
ENODEVERSION = Ecode(_NODE, "ENODEVERSION")
ENODETIME = Ecode(_NODE, "ENODETIME")
ENODENET = Ecode(_NODE, "ENODENET")
ENODEHV = Ecode(_NODE, "ENODEHV")
ENODESETUP = Ecode(_NODE, "ENODESETUP")
ENODELVM = Ecode(_NODE, "ENODELVM")
ENODEDISKSPACE = Ecode(_NODE, "ENODEDISKSPACE")
ENODEREPL = Ecode(_NODE, "ENODEREPL")

ERROR = "ERROR"
WARNING = "WARNING"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found; ``item`` names the object (None for the cluster as a whole)."""

    code: Ecode
    item: str | None
    message: str
    warning: bool = False


def error(code: Ecode, item: str | None, message: str) -> Finding:
    return Finding(code, item, message)


def warning(code: Ecode, item: str | None, message: str) -> Finding:
    return Finding(code, item, message, warning=True)


def format_finding(finding: Finding, level: str, error_codes: bool) -> str:
    """The feedback line for a finding reported at ``level`` (ERROR or WARNING)."""
    code = finding.code
    if error_codes:
        return f"  - {level}:{code.name}:{code.object_type}:{finding.item}:{finding.message}"
    item = f" {finding.item}" if finding.item else ""
    return f"  - {level}: {code.object_type}{item}: {finding.message}"


class Reporter:
    """Writes findings to the job's feedback and remembers whether any error was seen."""

    def __init__(
        self, feedback: Callable[[str], None], *, error_codes: bool, ignore: Iterable[str]
    ) -> None:
        self.feedback = feedback
        self.error_codes = error_codes
        self.ignore = frozenset(ignore)
        self.bad = False

    def report(self, findings: Iterable[Finding]) -> None:
        for finding in findings:
            demoted = finding.warning or finding.code.name in self.ignore
            level = WARNING if demoted else ERROR
            self.feedback(format_finding(finding, level, self.error_codes))
            self.bad = self.bad or not demoted
