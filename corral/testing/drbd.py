"""A faithful DRBD 8.4 simulator: a ``CommandRunner`` answering drbdsetup and drbdmeta.

The DRBD kernel module is absent on the machines Corral is developed on. This
runner keeps the minors of every simulated node in one state file shared by the
whole virtual cluster (``drbd_model``), so the two nodes of a resource connect,
resync (progress advances with the clock at the configured resync rate), and
refuse a split brain. It answers the command lines of Ganeti's DRBD 8.4 code:
``drbdsetup`` new-resource, new-minor, attach, disk-options, connect,
net-options, disconnect, primary (``--force``), secondary, detach, down,
resize, pause-sync, resume-sync, show; ``drbdmeta DEV v08 META flex-external``
create-md and apply-al. Failures print DRBD's messages with its exit codes (10
for a refused request, 11 for a refused state change, 20 for usage errors).

``proc_text()`` is this node's ``/proc/drbd``. A configured minor with a local
disk appears as ``<dev_dir>/drbd<N>``, a symlink to its backing device.

Not simulated: data written to a Primary reaches the peer when the peer syncs,
when the Primary is demoted, or when it disconnects (not block by block);
resyncs after a reconnection copy the whole device; resize does not resync the
new area; ``Outdated`` (fencing), ``drbdadm``, ``events``/``status``, IPv6.
Other programs go to an optional ``fallback`` runner (127 without one).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from corral.process import CommandResult, CommandRunner
from corral.testing import drbd_cli as cli
from corral.testing.drbd_cli import EXIT_FAILURE, EXIT_STATE, Outcome, Parsed, UsageError
from corral.testing.drbd_model import (
    DISKLESS,
    INCONSISTENT,
    PRIMARY,
    SECONDARY,
    STANDALONE,
    UP_TO_DATE,
    WFCONNECTION,
    DrbdState,
    Meta,
    Minor,
    copy_data,
    disk_state,
    locked_state,
    mark_lost,
    meta_of,
    peer_of,
    resync_rate,
    set_paused,
    settle,
    start_sync,
)
from corral.testing.tool_runner import SimulatedTools

_RATE_KEYS = frozenset({"resync-rate", "c-max-rate", "c-min-rate"})


class DrbdSimulator(SimulatedTools):
    """The DRBD tools of one simulated node; ``state_file`` is shared by all nodes."""

    TOOLS = frozenset({"drbdsetup", "drbdmeta"})

    def __init__(
        self,
        node: str,
        state_file: Path,
        dev_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        fallback: CommandRunner | None = None,
    ) -> None:
        self.node = node
        self.state_file = state_file
        self.dev_dir = dev_dir
        self.clock = clock
        self.fallback = fallback
        self.calls: list[tuple[str, ...]] = []


    def execute(self, argv: Sequence[str]) -> CommandResult:
        """Run one simulated command synchronously."""
        self.calls.append(tuple(argv))
        tool = os.path.basename(argv[0]) if argv else ""
        if tool not in {"drbdsetup", "drbdmeta"}:
            return CommandResult(tuple(argv), 127, "", f"cannot execute {tool}: not simulated\n")
        with locked_state(self.state_file) as state:
            now = self.clock()
            settle(state, now)
            try:
                outcome = (self._drbdmeta(state, list(argv[1:])) if tool == "drbdmeta"
                           else self._drbdsetup(state, cli.parse_drbdsetup(argv[1:]), now))
            except UsageError as err:
                outcome = Outcome().fail(cli.EXIT_USAGE, str(err))
            settle(state, now)
        return outcome.result(argv)

    def proc_text(self) -> str:
        """This node's ``/proc/drbd`` now."""
        with locked_state(self.state_file) as state:
            settle(state, self.clock())
            return cli.render_proc(state, self.node)

    def device(self, minor: int) -> Path:
        """Where ``/dev/drbd<minor>`` of this node appears."""
        return self.dev_dir / f"drbd{minor}"

    # --- drbdsetup ------------------------------------------------------------------
    def _drbdsetup(self, state: DrbdState, p: Parsed, now: float) -> Outcome:
        handlers: dict[str, Callable[[DrbdState, Parsed, float], Outcome]] = {
            "new-resource": self._new_resource, "new-minor": self._new_minor,
            "attach": self._attach, "disk-options": self._disk_options,
            "connect": self._connect, "net-options": self._net_options,
            "disconnect": self._disconnect, "primary": self._primary,
            "secondary": self._secondary, "detach": self._detach, "down": self._down,
            "resize": self._resize, "pause-sync": self._pause, "resume-sync": self._pause,
            "show": self._show,
        }
        return handlers[p.command](state, p, now)

    def _new_resource(self, state: DrbdState, p: Parsed, now: float) -> Outcome:
        names = state.resources.setdefault(self.node, [])
        if p.args[0] not in names:  # an existing resource is fine (no NLM_F_EXCL)
            names.append(p.args[0])
        return Outcome()

    def _new_minor(self, state: DrbdState, p: Parsed, now: float) -> Outcome:
        resource, number = p.args[0], cli.minor_number(p.args[1])
        if resource not in state.resources.get(self.node, []):
            return Outcome().fail(EXIT_FAILURE, "Failure: (158) Unknown resource")
        minors = state.minors(self.node)
        if number in minors and minors[number].resource != resource:
            return Outcome().fail(EXIT_FAILURE, "Failure: (161) Minor or volume exists already "
                                  "(delete it first)")
        minors.setdefault(number, Minor(minor=number, resource=resource))
        return Outcome()

    def _minor(self, state: DrbdState, text: str) -> Minor | Outcome:
        found = state.minors(self.node).get(cli.minor_number(text))
        if found is None:
            return Outcome().fail(EXIT_FAILURE, "Failure: (127) Device minor not allocated",
                                  "additional info from kernel:", "unknown minor")
        return found

    def _attach(self, state: DrbdState, p: Parsed, now: float) -> Outcome:
        minor = self._minor(state, p.args[0])
        if isinstance(minor, Outcome):
            return minor
        disk, meta_dev = p.args[1], p.args[2]
        if minor.attached:
            return Outcome().fail(EXIT_FAILURE, "Failure: (124) Device is attached to a disk "
                                  "(use detach first)")
        if not os.path.exists(disk) or not os.path.exists(meta_dev):
            return Outcome().fail(EXIT_FAILURE, "Failure: (104) Can not open backing device.")
        meta = state.meta.get(meta_dev)
        if meta is None:
            return Outcome().fail(EXIT_FAILURE, "Failure: (119) No valid meta-data signature "
                                  "found.", "", "\t==> Use 'drbdadm create-md res' to "
                                  "initialize meta-data area. <==")
        backing = os.path.getsize(disk) // 1024
        wanted = cli.size_kib(p.opts["size"]) if "size" in p.opts else meta.size_kib or backing
        if wanted > backing:
            return Outcome().fail(EXIT_FAILURE, "Failure: (111) Low.dev. smaller than "
                                  "requested DRBD-dev. size.")
        minor.disk, minor.meta, minor.size_kib = disk, meta_dev, wanted
        meta.size_kib = wanted
        minor.disk_opts = _disk_opts(p.opts)
        self._link(minor)
        self._resync_attached(state, minor, now)
        return Outcome()

    def _resync_attached(self, state: DrbdState, minor: Minor, now: float) -> None:
        """A disk attached while connected: the side with good data resyncs the other."""
        found = peer_of(state, self.node, minor) if cli.connected(minor) else None
        if found is None or minor.sync is not None:
            return
        mine, theirs = disk_state(state, minor), disk_state(state, found[1])
        if theirs == UP_TO_DATE and mine != UP_TO_DATE:
            start_sync(state, found[1], minor, now)
        elif mine == UP_TO_DATE and theirs not in {UP_TO_DATE, DISKLESS}:
            start_sync(state, minor, found[1], now)

    def _link(self, minor: Minor) -> None:
        link = self.device(minor.minor)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        if minor.disk:
            link.symlink_to(minor.disk)

    def _disk_options(self, state: DrbdState, p: Parsed, now: float) -> Outcome:
        minor = self._minor(state, p.args[0])
        if isinstance(minor, Outcome):
            return minor
        if not minor.attached:
            return Outcome().fail(EXIT_FAILURE, "Failure: (138) Device does not have a disk-config")
        minor.disk_opts.update(_disk_opts(p.opts))
        if minor.sync is not None:
            minor.sync.rate_kib = resync_rate(minor)
        return Outcome()

    def _connect(self, state: DrbdState, p: Parsed, now: float) -> Outcome:
        local, remote = cli.address(p.args[1]), cli.address(p.args[2])
        mine = [m for m in state.minors(self.node).values() if m.resource == p.args[0]]
        if not mine:
            return Outcome().fail(EXIT_FAILURE, "Failure: (158) Unknown resource")
        for other in state.minors(self.node).values():
            if other.local == local and other.resource != p.args[0]:
                return Outcome().fail(EXIT_FAILURE, "Failure: (102) Local address(port) "
                                      "already in use.")
        if any(m.local for m in mine):
            return Outcome().fail(EXIT_FAILURE, "Failure: (151) Connection already configured")
        for minor in mine:
            minor.local, minor.remote, minor.conn = local, remote, WFCONNECTION
            minor.net = {"protocol": "C", **p.opts}
            minor.split_brain = False
        return Outcome()

    def _net_options(self, state: DrbdState, p: Parsed, now: float) -> Outcome:
        mine = self._connection(state, p)
        if not mine:
            return Outcome().fail(EXIT_FAILURE, "Failure: (158) Unknown connection")
        for minor in mine:
            minor.net.update(p.opts)
        return Outcome()

    def _disconnect(self, state: DrbdState, p: Parsed, now: float) -> Outcome:
        mine = self._connection(state, p)
        if not mine:
            return Outcome().fail(EXIT_FAILURE, "Failure: (158) Unknown connection")
        for minor in mine:
            self._unlink_net(state, minor)
        return Outcome()

    def _connection(self, state: DrbdState, p: Parsed) -> list[Minor]:
        """This node's minors on the connection ``p`` names (local, then remote address)."""
        local, remote = cli.address(p.args[0]), cli.address(p.args[1])
        return [m for m in state.minors(self.node).values()
                if m.local == local and m.remote == remote]

    def _unlink_net(self, state: DrbdState, minor: Minor) -> None:
        """Leave the peer: a Primary's writes reach it first (protocol C)."""
        found = peer_of(state, self.node, minor)
        if found is not None and cli.connected(minor) and minor.role == PRIMARY:
            copy_data(minor, found[1])
        minor.local = minor.remote = None
        minor.conn, minor.sync, minor.net = STANDALONE, None, {}
        mark_lost(state, minor)

    def _primary(self, state: DrbdState, p: Parsed, now: float) -> Outcome:
        minor = self._minor(state, p.args[0])
        if isinstance(minor, Outcome):
            return minor
        force = "force" in p.opts or "overwrite-data-of-peer" in p.opts
        found = peer_of(state, self.node, minor) if cli.connected(minor) else None
        peer = found[1] if found else None
        if peer is not None and peer.role == PRIMARY and peer.net.get(
                "allow-two-primaries") != "yes":
            return _state_failed(minor, "(-1) Multiple primaries not allowed by config")
        meta = meta_of(state, minor)
        good = meta is not None and meta.disk_state == UP_TO_DATE
        peer_meta = meta_of(state, peer) if peer else None
        if not good and not (peer_meta is not None and peer_meta.disk_state == UP_TO_DATE):
            if not force or meta is None or not minor.attached:
                return _state_failed(minor, "(-2) Need access to UpToDate data")
            meta.disk_state = UP_TO_DATE
            if peer is not None and peer_meta is not None:
                start_sync(state, minor, peer, now)
        minor.role = PRIMARY
        if peer is None:
            mark_lost(state, minor)
        return Outcome()

    def _secondary(self, state: DrbdState, p: Parsed, now: float) -> Outcome:
        minor = self._minor(state, p.args[0])
        if isinstance(minor, Outcome):
            return minor
        found = peer_of(state, self.node, minor) if cli.connected(minor) else None
        if found is not None and minor.role == PRIMARY and minor.sync is None:
            copy_data(minor, found[1])
        minor.role = SECONDARY
        return Outcome()

    def _detach(self, state: DrbdState, p: Parsed, now: float) -> Outcome:
        minor = self._minor(state, p.args[0])
        if isinstance(minor, Outcome):
            return minor
        found = peer_of(state, self.node, minor) if cli.connected(minor) else None
        peer_meta = meta_of(state, found[1]) if found else None
        peer_good = peer_meta is not None and peer_meta.disk_state == UP_TO_DATE
        if minor.role == PRIMARY and not peer_good and "force" not in p.opts:
            return _state_failed(minor, "(-2) Need access to UpToDate data")
        if found is not None and minor.role == PRIMARY and peer_good:
            copy_data(minor, found[1])
        minor.disk = minor.meta = None
        minor.sync = None
        self.device(minor.minor).unlink(missing_ok=True)
        return Outcome()

    def _down(self, state: DrbdState, p: Parsed, now: float) -> Outcome:
        resource = p.args[0]
        minors = state.minors(self.node)
        for number, minor in list(minors.items()):
            if minor.resource == resource:
                self._unlink_net(state, minor)
                self.device(number).unlink(missing_ok=True)
                del minors[number]
        names = state.resources.get(self.node, [])
        if resource in names:
            names.remove(resource)
        return Outcome()

    def _resize(self, state: DrbdState, p: Parsed, now: float) -> Outcome:
        minor = self._minor(state, p.args[0])
        if isinstance(minor, Outcome):
            return minor
        if not minor.attached or not minor.disk:
            return Outcome().fail(EXIT_FAILURE, "Failure: (138) Device does not have a disk-config")
        found = peer_of(state, self.node, minor) if cli.connected(minor) else None
        sides = [minor] + ([found[1]] if found else [])
        wanted = (cli.size_kib(p.opts["size"]) if "size" in p.opts
                  else min(os.path.getsize(s.disk) // 1024 for s in sides if s.disk))
        if any(not s.disk or os.path.getsize(s.disk) // 1024 < wanted for s in sides):
            return Outcome().fail(EXIT_FAILURE, "Failure: (111) Low.dev. smaller than "
                                  "requested DRBD-dev. size.")
        for side in sides:
            side.size_kib = wanted
            if (meta := meta_of(state, side)) is not None:
                meta.size_kib = wanted
        return Outcome()

    def _pause(self, state: DrbdState, p: Parsed, now: float) -> Outcome:
        minor = self._minor(state, p.args[0])
        if isinstance(minor, Outcome):
            return minor
        pause = p.command == "pause-sync"
        if minor.user_paused == pause:
            return _state_failed(minor, "(-17) Sync-pause flag is already set" if pause
                                 else "(-18) Sync-pause flag is already cleared")
        set_paused(state, self.node, minor, pause, now)
        return Outcome()

    def _show(self, state: DrbdState, p: Parsed, now: float) -> Outcome:
        if not p.args:
            names = state.resources.get(self.node, [])
            return Outcome().out(*(cli.render_show(state, self.node, n) for n in names))
        target = p.args[0]
        if target.removeprefix("/dev/drbd").isdigit():
            minor = self._minor(state, target)
            if isinstance(minor, Outcome):
                return minor
            target = minor.resource
        elif target not in state.resources.get(self.node, []):
            return Outcome().fail(EXIT_FAILURE, f"{target}: No such resource")
        return Outcome().out(cli.render_show(state, self.node, target).rstrip("\n"))

    # --- drbdmeta ----------------------------------------------------------------
    def _drbdmeta(self, state: DrbdState, args: list[str]) -> Outcome:
        args = [a for a in args if a != "--force"]
        if len(args) != 5 or args[1] != "v08" or args[3] not in {"flex-external", "internal"}:
            raise UsageError("USAGE: drbdmeta [--force] DEVICE v08 META_DEV flex-external "
                             "{create-md|apply-al|dump-md}")
        number, meta_dev, command = cli.minor_number(args[0]), args[2], args[4]
        if not os.path.exists(meta_dev):
            return Outcome().fail(cli.EXIT_USAGE, f"open({meta_dev}) failed: No such file "
                                  "or directory")
        if command == "create-md":
            return self._create_md(state, number, meta_dev)
        if command not in {"apply-al", "dump-md"}:
            raise UsageError(f"drbdmeta: unknown command '{command}'")
        meta = state.meta.get(meta_dev)
        if meta is None:
            return Outcome().fail(cli.EXIT_NO_META, "No valid meta data found")
        if command == "dump-md":
            return Outcome().out(*_dump_md(meta))
        return Outcome()

    def _create_md(self, state: DrbdState, number: int, meta_dev: str) -> Outcome:
        minor = state.minors(self.node).get(number)
        if minor is not None and minor.attached:
            return Outcome().fail(cli.EXIT_USAGE, f"Device '{number}' is configured!")
        state.meta[meta_dev] = Meta(backing=os.path.realpath(meta_dev))
        return Outcome().out("initializing activity log", "NOT initializing bitmap",
                             "Writing meta data...",
                             "New drbd meta data block successfully created.")


def _disk_opts(opts: Mapping[str, str]) -> dict[str, str]:
    """Disk options as stored (rates in KiB/s without a unit; ``size`` is not one)."""
    kept = {key: value for key, value in opts.items() if key != "size"}
    for key in _RATE_KEYS & kept.keys():
        kept[key] = str(cli.size_kib(kept[key] if kept[key][-1:].isalpha() else kept[key] + "k"))
    return kept


def _state_failed(minor: Minor, reason: str) -> Outcome:
    return Outcome().fail(EXIT_STATE, f"{minor.minor}: State change failed: {reason}")


def _dump_md(meta: Meta) -> list[str]:
    flags = "0x00000001" if meta.disk_state == UP_TO_DATE else "0x00000000"
    return ["version \"v08\";", f"la-size-sect {meta.size_kib * 2};",
            f"flags {flags}; # {meta.disk_state if meta.disk_state != INCONSISTENT else 'new'}"]
