"""A faithful ``xl`` (Xen 4.17) simulator: a ``CommandRunner`` for the Xen drivers.

There is no Xen on the machines Corral is developed on. This runner answers the
``xl`` command lines the ``xen-pvm``/``xen-hvm`` drivers run, with xl's output
formats, messages and exit statuses (0 success, 1 failure), from the state in
:mod:`corral.testing.xl_model` (files under a root shared by the simulated hosts
of a virtual cluster, so a migration reaches the other host).

Simulated: ``create [-p] [-q] [-e] CFG`` (parses the config file: ``name``,
``memory``/``maxmem``, ``vcpus``/``maxvcpus``, ``type``/``builder``, ``kernel``
that must exist for PV unless ``bootloader`` is set, ``disk``, ``vif``; a name in
use and too little free memory are refused), ``list [-l] [NAME|ID...]``,
``info``, ``uptime``, ``shutdown [-w]`` and ``reboot`` (the guest takes
``shutdown_delay`` seconds, then ``on_poweroff``/``on_reboot`` apply: destroy,
restart with a new domain id, or preserve as shut down; guests matching
``ignore_shutdown`` never act), ``destroy``, ``pause``/``unpause``, ``mem-set``,
``vcpu-set``, ``console`` (prints the guest's boot lines, then returns as with no
tty), ``rename``, ``migrate [-s CMD] [-C CFG] [--debug] DOM HOST`` (to the simulated
host named or addressed ``HOST`` in the same root; with ``-s "socat … TCP:H:P"``
a receiver must really accept a connection on ``H:P``), and ``debug-keys``.

Not simulated: real guests (nothing boots; a domain is a record), device models,
xenstore, ``xl migrate-receive`` as a separate process (the sender moves the
domain itself), cpupools, PCI/USB pass-through checks, save/restore.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
import uuid as uuid_mod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from corral.process import CommandResult, CommandRunner
from corral.testing import xl_cli
from corral.testing.tool_runner import SimulatedTools
from corral.testing.xl_cli import Outcome, XlError, invalid_domain
from corral.testing.xl_model import Domain, XlHost, XlStore

Handler = Callable[[XlHost, list[str], float], Outcome]


class XlSimulator(SimulatedTools):
    """Answers ``xl`` for the simulated host ``host`` kept under ``root``."""

    TOOLS = frozenset({"xl"})

    def __init__(self, root: Path, host: str, *, addresses: Sequence[str] = (),
                 template: XlHost | None = None, fallback: CommandRunner | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = XlStore(root)
        self.host = host
        self.fallback = fallback
        self.clock = clock
        self.calls: list[tuple[str, ...]] = []
        base = template or XlHost(name=host)
        base.name = host
        base.addresses = list(dict.fromkeys([*base.addresses, *addresses]))
        self.store.ensure(base)

    # --- set-up and inspection ---------------------------------------------------------

    def configure(self, **settings: object) -> None:
        """Change host settings (``shutdown_delay``, ``ignore_shutdown``, memory, …)."""
        with self.store.locked():
            host = self._load()
            for key, value in settings.items():
                if not hasattr(host, key) or key in {"name", "domains"}:
                    raise AttributeError(f"no simulated host setting {key!r}")
                setattr(host, key, value)
            self.store.save(host)

    def state(self) -> XlHost:
        with self.store.locked():
            host = self._load()
            host.settle(self.clock())
            return host

    def _load(self) -> XlHost:
        host = self.store.load(self.host)
        if host is None:
            raise RuntimeError(f"simulated Xen host {self.host} has no state file")
        return host

    # --- the CommandRunner protocol --------------------------------------------------------

    async def run(self, argv: Sequence[str], *, timeout: float | None = None,
                  env: Mapping[str, str] | None = None, cwd: str | None = None,
                  stdin: bytes | None = None, reset_env: bool = False) -> CommandResult:
        tool = os.path.basename(argv[0]) if argv else ""
        if tool == "xl" and len(argv) > 2 and argv[1] == "shutdown" and "-w" in argv[2:]:
            return await self._shutdown_wait(argv, timeout)
        return await super().run(argv, timeout=timeout, env=env, cwd=cwd, stdin=stdin,
                                 reset_env=reset_env)

    async def _shutdown_wait(self, argv: Sequence[str], timeout: float | None) -> CommandResult:
        """``xl shutdown -w``: ask, then wait for the domain to go (killed at ``timeout``)."""
        plain = [a for a in argv if a != "-w"]
        first = self.execute(plain)
        if first.failed:
            return first
        name = plain[-1]
        start = time.monotonic()
        out = "Waiting for 1 domains\n"
        while self._present(name):
            if timeout is not None and time.monotonic() - start >= timeout:
                return CommandResult(tuple(argv), -9, first.stdout, first.stderr + out,
                                     timed_out=True)
            await asyncio.sleep(0.05)
        return CommandResult(tuple(argv), 0, first.stdout,
                             first.stderr + out + f"Domain {name} has been shut down, reason"
                             " code 0\nAll domains terminated\n")

    def _present(self, name: str) -> bool:
        """The domain is still up (not destroyed, not shut down and preserved)."""
        dom = self.state().domain(name)
        return dom is not None and not dom.shut

    def execute(self, argv: Sequence[str]) -> CommandResult:
        """Run one ``xl`` command line synchronously."""
        self.calls.append(tuple(argv))
        args = list(argv[1:])
        if not args:
            return Outcome().err("Usage xl [-vfNtT] <subcommand> [args]", 1).result(argv)
        handler = self._handlers().get(args[0])
        if handler is None:
            return Outcome().err(f"xl: command not implemented: {args[0]}", 1).result(argv)
        now = self.clock()
        with self.store.locked():
            host = self._load()
            host.settle(now)
            try:
                outcome = handler(host, args[1:], now)
            except XlError as err:
                outcome = Outcome(stderr=err.lines, code=xl_cli.EXIT_FAILURE)
            self.store.save(host)
        return outcome.result(argv)

    def _handlers(self) -> dict[str, Handler]:
        return {"create": self._create, "list": self._list, "info": self._info,
                "uptime": self._uptime, "shutdown": self._shutdown, "reboot": self._reboot,
                "destroy": self._destroy, "pause": self._pause, "unpause": self._unpause,
                "mem-set": self._mem_set, "vcpu-set": self._vcpu_set,
                "console": self._console, "rename": self._rename, "migrate": self._migrate,
                "debug-keys": self._debug_keys}

    # --- create ------------------------------------------------------------------------------

    def _create(self, host: XlHost, args: list[str], now: float) -> Outcome:
        flags = {a for a in args if a.startswith("-")}
        files = [a for a in args if not a.startswith("-")]
        if len(files) != 1 or flags - {"-p", "-q", "-e", "-c"}:
            raise XlError("Usage: xl [-v] create <ConfigFile> [options] [vars]")
        path = files[0]
        out = Outcome()
        if "-q" not in flags:
            out.err(f"Parsing config from {path}")
        try:
            text = Path(path).read_text()
        except OSError as err:
            raise XlError(*out.stderr, f"Failed to read config file: {path}: {err.strerror}"
                          ) from None
        config = xl_cli.parse_config(text, path)
        dom = self._new_domain(host, config, path, out)
        dom.paused = "-p" in flags
        dom.created = dom.since = now
        host.domains.append(dom)
        return out

    def _new_domain(self, host: XlHost, config: dict[str, object], path: str,
                    out: Outcome) -> Domain:
        name = config.get("name")
        if not isinstance(name, str) or not name:
            raise XlError(*out.stderr, "Domain name must be specified.")
        kind = str(config.get("type", config.get("builder", "pv")))
        kind = "pv" if kind in {"linux", "pv"} else kind
        if kind not in {"pv", "hvm", "pvh"}:
            raise XlError(*out.stderr, f"Invalid domain type {kind}.")
        memory = _int(config.get("memory", 128), "memory", out)
        maxmem = max(_int(config.get("maxmem", memory), "maxmem", out), memory)
        vcpus = _int(config.get("vcpus", 1), "vcpus", out)
        domid = host.new_domid()
        if host.domain(name) is not None:
            raise XlError(*out.stderr, "libxl: error: libxl_domain.c:NNN:libxl__domain_rename:"
                          f' Domain with name "{name}" already exists.',
                          "libxl: error: libxl_create.c:NNN:initiate_domain_create:"
                          f" Domain {domid}:cannot make domain: -6")
        if kind == "pv":
            _check_kernel(config, domid, out)
        if memory > host.free_memory():
            raise XlError(*out.stderr, "xc: error: panic: xc_dom_boot.c:NNN: "
                          "xc_dom_boot_mem_init: can't allocate low memory for domain: "
                          "Out of memory", "libxl: error: libxl_create.c:NNN:"
                          f"domcreate_rebuild_done: Domain {domid}:cannot (re-)build domain: -3")
        return Domain(domid=domid, name=name, uuid=str(config.get("uuid") or uuid_mod.uuid4()),
                      memory=memory, maxmem=maxmem, vcpus=vcpus,
                      max_vcpus=max(_int(config.get("maxvcpus", vcpus), "maxvcpus", out), vcpus),
                      kind=kind, config_file=path, config=config)

    # --- inventory ---------------------------------------------------------------------------

    def _selected(self, host: XlHost, names: list[str]) -> tuple[list[Domain], bool]:
        if not names:
            return list(host.domains), True
        found: list[Domain] = []
        dom0 = False
        for name in names:
            if name in {"0", "Domain-0"}:
                dom0 = True
                continue
            found.append(self._find(host, name))
        return found, dom0

    def _list(self, host: XlHost, args: list[str], now: float) -> Outcome:
        long = "-l" in args or "--long" in args
        domains, dom0 = self._selected(host, [a for a in args if not a.startswith("-")])
        if long:
            return Outcome().out(xl_cli.list_json(host, domains, dom0))
        return Outcome(stdout=xl_cli.list_lines(host, domains, now, dom0))

    def _info(self, host: XlHost, args: list[str], now: float) -> Outcome:
        return Outcome(stdout=xl_cli.info_lines(host, now))

    def _uptime(self, host: XlHost, args: list[str], now: float) -> Outcome:
        domains, dom0 = self._selected(host, [a for a in args if not a.startswith("-")])
        return Outcome(stdout=xl_cli.uptime_lines(host, domains, now, dom0))

    def _find(self, host: XlHost, name: str) -> Domain:
        if name.isdigit():
            dom = host.by_id(int(name))
            if dom is None:
                raise XlError(f"Error: Domain '{name}' does not exist.")
            return dom
        dom = host.domain(name)
        if dom is None:
            raise invalid_domain(name)
        return dom

    def _one(self, host: XlHost, args: list[str], usage: str) -> Domain:
        names = [a for a in args if not a.startswith("-")]
        if len(names) != 1:
            raise XlError(f"Usage: xl [-v] {usage}")
        return self._find(host, names[0])

    # --- life cycle ----------------------------------------------------------------------------

    def _shutdown(self, host: XlHost, args: list[str], now: float) -> Outcome:
        dom = self._one(host, args, "shutdown [options] <-a|Domain>")
        host.request(dom, "poweroff", now)
        return Outcome()

    def _reboot(self, host: XlHost, args: list[str], now: float) -> Outcome:
        dom = self._one(host, args, "reboot [options] <-a|Domain>")
        host.request(dom, "reboot", now)
        return Outcome()

    def _destroy(self, host: XlHost, args: list[str], now: float) -> Outcome:
        dom = self._one(host, args, "destroy [options] <Domain>")
        host.domains.remove(dom)
        return Outcome()

    def _pause(self, host: XlHost, args: list[str], now: float) -> Outcome:
        self._one(host, args, "pause <Domain>").set_paused(True, now)
        return Outcome()

    def _unpause(self, host: XlHost, args: list[str], now: float) -> Outcome:
        self._one(host, args, "unpause <Domain>").set_paused(False, now)
        return Outcome()

    def _rename(self, host: XlHost, args: list[str], now: float) -> Outcome:
        if len(args) != 2:
            raise XlError("Usage: xl [-v] rename <Domain> <NewDomainName>")
        dom = self._find(host, args[0])
        if host.domain(args[1]) is not None:
            raise XlError("libxl: error: libxl_domain.c:NNN:libxl__domain_rename:"
                          f' Domain with name "{args[1]}" already exists.',
                          "Couldn't rename domain.")
        dom.name = args[1]
        return Outcome()

    def _mem_set(self, host: XlHost, args: list[str], now: float) -> Outcome:
        if len(args) != 2:
            raise XlError("Usage: xl [-v] mem-set <Domain> <MemMB['b'[bytes]|'k'|'m'|'g']>")
        dom = self._find(host, args[0])
        mib = xl_cli.parse_memory_mib(args[1])
        if mib is None:
            raise XlError(f"invalid memory size: {args[1]}")
        if mib > dom.maxmem:
            raise XlError("libxl: error: libxl_mem.c:NNN:libxl__set_memory_target: "
                          f"Domain {dom.domid}:memory_dynamic_max must be less than or equal"
                          " to memory_static_max",
                          f"cannot set domid {dom.domid} dynamic max memory to : {mib * 1024}")
        dom.memory = mib
        return Outcome()

    def _vcpu_set(self, host: XlHost, args: list[str], now: float) -> Outcome:
        if len(args) != 2 or not args[1].isdigit():
            raise XlError("Usage: xl [-v] vcpu-set <Domain> <vCPUs>")
        dom = self._find(host, args[0])
        count = int(args[1])
        if count < 1 or count > dom.max_vcpus:
            raise XlError(f"You cannot set vcpus greater than max vcpus ({dom.max_vcpus})"
                          " on running domain.")
        dom.vcpus = count
        return Outcome()

    def _console(self, host: XlHost, args: list[str], now: float) -> Outcome:
        dom = self._one(host, args, "console [options] <Domain>")
        return Outcome(stdout=[
            f"[    0.000000] Linux version 6.1.0-13-amd64 (simulated guest {dom.name})",
            f"[    0.000000] Command line: {dom.config.get('extra', '')}".rstrip(),
            "", f"{dom.name} login: "])

    def _debug_keys(self, host: XlHost, args: list[str], now: float) -> Outcome:
        if len(args) != 1:
            raise XlError("Usage: xl [-v] debug-keys <Keys>")
        return Outcome()

    def _migrate(self, host: XlHost, args: list[str], now: float) -> Outcome:
        """``xl migrate``: the domain moves to the simulated host ``HOST`` (new id there)."""
        positional, options = _split_migrate(args)
        if len(positional) != 2:
            raise XlError("Usage: xl [-v] migrate [options] <Domain> <host>")
        dom = self._find(host, positional[0])
        if options.get("-s"):
            _reach_receiver(options["-s"])
        target = self.store.find(positional[1])
        if target is None or target.name == host.name:
            raise XlError(f"ssh: Could not resolve hostname {positional[1]}: Name or service"
                          " not known", "migration sender: Target has stopped.")
        target.settle(now)
        if target.domain(dom.name) is not None or dom.memory > target.free_memory():
            raise XlError("migration target: Domain creation failed.",
                          "migration sender: Target reports domain creation failed.")
        host.domains.remove(dom)
        dom.domid = target.new_domid()
        if options.get("-C"):
            dom.config_file = options["-C"]
        target.domains.append(dom)
        self.store.save(target)
        return Outcome(stderr=_MIGRATION_CHATTER)


_MIGRATION_CHATTER = [
    "migration target: Ready to receive domain.",
    "Saving to migration stream new xl format (info 0x3/0x0/1723)",
    "Loading new save file <incoming migration stream> (new xl fmt info 0x3/0x0/1723)",
    " Savefile contains xl domain config in JSON format",
    "migration target: Transfer complete, requesting permission to start domain.",
    "migration sender: Target has acknowledged transfer.",
    "migration sender: Giving target permission to start.",
    "migration target: Got permission, starting domain.",
    "migration target: Domain started successsfully.",
    "migration sender: Target reports successful startup.",
    "Migration successful.",
]


def _split_migrate(args: list[str]) -> tuple[list[str], dict[str, str]]:
    positional: list[str] = []
    options: dict[str, str] = {}
    items = iter(args)
    for arg in items:
        if arg in {"-s", "-C"}:
            options[arg] = next(items, "")
        elif arg.startswith("-"):
            options[arg] = ""
        else:
            positional.append(arg)
    return positional, options


_SOCAT_TCP = re.compile(r"\bTCP4?:([^:\s]+):(\d+)")


def _reach_receiver(command: str) -> None:
    """``-s "socat … TCP:HOST:PORT #"``: the receiver must really listen there (the
    connection is made and closed, as the sender's socat would open it)."""
    match = _SOCAT_TCP.search(command)
    if match is None:
        return
    host, port = match.group(1), int(match.group(2))
    try:
        with socket.create_connection((host, port), timeout=2.0):
            pass
    except OSError as err:
        raise XlError(f"socat E connect(5, AF=2 {host}:{port}, 16): {err.strerror}",
                      "migration sender: Target has stopped.",
                      "libxl: error: libxl_utils.c:NNN:libxl_read_exactly: file/stream "
                      "truncated reading ready message from migration receiver stream") from None


def _int(value: object, key: str, out: Outcome) -> int:
    if isinstance(value, int):
        return value
    raise XlError(*out.stderr, f"Invalid parameter `{key}'.")


def _check_kernel(config: dict[str, object], domid: int, out: Outcome) -> None:
    kernel = config.get("kernel")
    if config.get("bootloader"):
        return
    if not kernel:
        raise XlError(*out.stderr, "libxl: error: libxl_dom.c:NNN:libxl__build_pv: "
                      f"Domain {domid}:Neither kernel nor bootloader specified")
    if not Path(str(kernel)).is_file():
        raise XlError(*out.stderr, "xc: error: panic: xc_dom_core.c:NNN: failed to open file "
                      f"'{kernel}': No such file or directory: Internal error",
                      "libxl: error: libxl_dom.c:NNN:libxl__build_dom: xc_dom_kernel_file "
                      "failed: No such file or directory",
                      "libxl: error: libxl_create.c:NNN:domcreate_rebuild_done: "
                      f"Domain {domid}:cannot (re-)build domain: -3")
