"""Parsing ``xl list`` output: one :class:`XlDomain` per line.

A line is ``Name ID Mem VCPUs State Time(s)`` (the first line is the header).
The state letters are r(unning) b(locked) p(aused) s(hutdown) c(rashed)
d(ying); as in Ganeti, running, blocked, runnable (``------``) and dying domains
count as running, and crashed ones as gone.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.errors import HypervisorError
from corral.hypervisor.values import HvState, InstanceInfo

DOM0_NAME = "Domain-0"


@dataclass(frozen=True, slots=True)
class XlDomain:
    """One line of ``xl list``: memory in MiB, CPU time in seconds."""

    name: str
    domid: int
    memory_mib: int
    vcpus: int
    letters: str
    cpu_time_s: float

    @property
    def state(self) -> HvState:
        return domain_state(self.letters)

    def info(self) -> InstanceInfo:
        return InstanceInfo(name=self.name, id=self.domid, memory_mib=self.memory_mib,
                            vcpus=self.vcpus, state=self.state, cpu_time_s=self.cpu_time_s)


def domain_state(letters: str) -> HvState:
    """The contract's state for xl's six state letters.

    Raises:
        HypervisorError: not six letters of ``rbpscd`` (or ``-``).
    """
    if len(letters) != 6 or any(c not in "-" + "rbpscd"[i] for i, c in enumerate(letters)):
        raise HypervisorError(f"unknown xl domain state {letters!r}")
    if letters[4] == "c":
        return HvState.CRASHED
    if letters[3] == "s":
        return HvState.SHUTDOWN
    if letters[2] == "p":
        return HvState.PAUSED
    return HvState.RUNNING


def parse_list(text: str, *, include_dom0: bool = False) -> list[XlDomain]:
    """The domains of an ``xl list`` output (header skipped, crashed domains left out).

    Raises:
        HypervisorError: a line that is not six fields of the expected types.
    """
    domains = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 6:
            raise HypervisorError(f"cannot parse xl list line: {line!r}")
        try:
            domain = XlDomain(fields[0], int(fields[1]), int(fields[2]), int(fields[3]),
                              fields[4], float(fields[5]))
        except ValueError as err:
            raise HypervisorError(f"cannot parse xl list line {line!r}: {err}") from None
        if domain.state == HvState.CRASHED:
            continue
        if include_dom0 or domain.name != DOM0_NAME:
            domains.append(domain)
    return domains
