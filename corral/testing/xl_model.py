"""State of the ``xl`` simulator: the domains of every simulated Xen host, in files.

One JSON file per host under a shared root, changed under an exclusive ``flock``
of the root, so the node daemons of a virtual cluster agree (and a migration
moves a domain from one host's file to another's). Time-dependent state (a soft
shutdown or a reboot in progress, CPU time) is derived lazily from wall-clock
timestamps by :meth:`XlHost.settle`, which every command runs first.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

DOM0 = "Domain-0"
CPU_SHARE = 0.02
"""CPU seconds a running simulated guest uses per second of wall time, per vCPU."""


@dataclass
class Domain:
    """One domain: sizes in MiB; ``pending`` is ``poweroff``/``reboot`` while the guest
    acts on a request that completes at ``pending_at`` (wall-clock seconds)."""

    domid: int
    name: str
    uuid: str
    memory: int
    maxmem: int
    vcpus: int
    max_vcpus: int
    kind: str = "pv"
    config_file: str = ""
    config: dict[str, object] = field(default_factory=dict)
    created: float = 0.0
    paused: bool = False
    cpu_time: float = 0.0
    since: float = 0.0
    pending: str = ""
    pending_at: float = 0.0
    shut: bool = False
    """Shut down but kept (``on_poweroff``/``on_reboot`` = ``preserve``): state ``s``."""

    def action(self, event: str) -> str:
        """What the config says to do on ``poweroff`` or ``reboot``."""
        default = "restart" if event == "reboot" else "destroy"
        return str(self.config.get(f"on_{event}", default))

    def cpu_now(self, now: float) -> float:
        """CPU seconds used so far (grows only while running)."""
        if self.paused or self.shut:
            return self.cpu_time
        return self.cpu_time + max(now - self.since, 0.0) * CPU_SHARE * self.vcpus

    def set_paused(self, paused: bool, now: float) -> None:
        self.cpu_time = self.cpu_now(now)
        self.since = now
        self.paused = paused


@dataclass
class XlHost:
    """One simulated Xen host: its hardware, Domain-0 and guest domains."""

    name: str
    addresses: list[str] = field(default_factory=list)
    total_memory: int = 16383
    dom0_memory: int = 1024
    hv_memory: int = 131
    """What Xen itself keeps (never free, never a domain's)."""
    nr_cpus: int = 4
    cores_per_socket: int = 4
    threads_per_core: int = 1
    nr_nodes: int = 1
    booted: float = 0.0
    next_domid: int = 1
    shutdown_delay: float = 1.0
    """Seconds a cooperative guest takes to act on a shutdown or reboot request."""
    ignore_shutdown: list[str] = field(default_factory=list)
    """Glob patterns of domain names whose guests ignore shutdown and reboot requests."""
    domains: list[Domain] = field(default_factory=list)

    def domain(self, name: str) -> Domain | None:
        return next((d for d in self.domains if d.name == name), None)

    def by_id(self, domid: int) -> Domain | None:
        return next((d for d in self.domains if d.domid == domid), None)

    def ignores(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.ignore_shutdown)

    def free_memory(self) -> int:
        used = self.dom0_memory + self.hv_memory + sum(d.memory for d in self.domains)
        return max(self.total_memory - used, 0)

    def new_domid(self) -> int:
        domid = self.next_domid
        self.next_domid += 1
        return domid

    def settle(self, now: float) -> None:
        """Complete the shutdowns and reboots whose time has come."""
        for dom in list(self.domains):
            if not dom.pending or now < dom.pending_at:
                continue
            action = dom.action(dom.pending)
            dom.pending = ""
            if action == "destroy":
                self.domains.remove(dom)
            elif action == "preserve":
                dom.set_paused(True, now)
                dom.paused, dom.shut = False, True
            else:
                dom.domid = self.new_domid()
                dom.created = dom.since = now
                dom.cpu_time = 0.0
                dom.paused = dom.shut = False

    def request(self, dom: Domain, what: str, now: float) -> None:
        """A shutdown (``poweroff``) or ``reboot`` request the guest may ignore."""
        if self.ignores(dom.name) or dom.pending or dom.shut:
            return
        dom.pending = what
        dom.pending_at = now + self.shutdown_delay

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> XlHost:
        fields = dict(data)
        raw = fields.pop("domains", [])
        host = cls(**fields)  # type: ignore[arg-type]
        host.domains = [Domain(**d) for d in raw if isinstance(d, dict)] if isinstance(
            raw, list) else []
        return host


class XlStore:
    """The simulated hosts kept under ``root`` (one ``<host>.json`` each)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, host: str) -> Path:
        return self.root / f"{host}.json"

    def load(self, host: str) -> XlHost | None:
        try:
            return XlHost.from_dict(json.loads(self.path(host).read_text()))
        except FileNotFoundError:
            return None

    def save(self, host: XlHost) -> None:
        tmp = self.path(host.name).with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(host), indent=1, sort_keys=True))
        tmp.replace(self.path(host.name))

    def hosts(self) -> list[XlHost]:
        found = (self.load(p.stem) for p in sorted(self.root.glob("*.json")))
        return [h for h in found if h is not None]

    def find(self, address: str) -> XlHost | None:
        """The host called ``address`` or having it as one of its addresses."""
        return next((h for h in self.hosts() if address == h.name or address in h.addresses),
                    None)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def ensure(self, template: XlHost) -> None:
        """Create ``template``'s host file unless it exists (booted now)."""
        with self.locked():
            if self.load(template.name) is None:
                template.booted = template.booted or time.time()
                self.save(template)
