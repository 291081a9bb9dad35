"""State of the DRBD 8.4 simulator: every minor of every simulated node, in one file.

The state is shared by all node daemons of a virtual cluster (one JSON file,
changed under an exclusive ``flock``), so the two halves of a resource see each
other: a ``connect`` on one node finds the peer whose addresses mirror its own.
Time-dependent state (resync progress) is derived lazily from timestamps by
``settle``, which every command and every ``/proc/drbd`` read runs first.

Disk states live in the metadata of the backing device (``Meta``, keyed by the
meta device's path), as DRBD keeps them in its on-disk metadata: a new
``create-md`` is Inconsistent, a finished sync makes both sides UpToDate, and
``changed`` records writes as Primary while disconnected (the material of a
split brain).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

KIB = 1024
DEFAULT_RATE_KIB = 250
"""DRBD 8.4's default resync-rate, KiB/s."""

STANDALONE = "StandAlone"
WFCONNECTION = "WFConnection"
CONNECTED = "Connected"
SYNC_SOURCE = "SyncSource"
SYNC_TARGET = "SyncTarget"
PAUSED_SOURCE = "PausedSyncS"
PAUSED_TARGET = "PausedSyncT"
SYNCING = frozenset({SYNC_SOURCE, SYNC_TARGET, PAUSED_SOURCE, PAUSED_TARGET})
LINKED = SYNCING | {CONNECTED}
PRIMARY = "Primary"
SECONDARY = "Secondary"
UNKNOWN_ROLE = "Unknown"
UP_TO_DATE = "UpToDate"
INCONSISTENT = "Inconsistent"
OUTDATED = "Outdated"
DISKLESS = "Diskless"
DUNKNOWN = "DUnknown"


@dataclass
class Meta:
    """DRBD metadata on one meta device (``drbdmeta create-md``)."""

    disk_state: str = INCONSISTENT
    changed: bool = False
    """Primary while disconnected: a new data generation the peer has not seen."""
    size_kib: int = 0
    mark: int = 0
    """Modification time (ns) of the backing device when the connection was lost."""
    backing: str = ""
    """The file the meta device resolved to at ``create-md`` (an LV's data file, which
    outlives the LV's deactivation but not its removal)."""


@dataclass
class Sync:
    """A running resync: ``done_kib`` at ``since``, advancing at ``rate_kib`` unless paused."""

    total_kib: int
    done_kib: float = 0.0
    since: float = 0.0
    rate_kib: int = DEFAULT_RATE_KIB
    paused: bool = False


@dataclass
class Minor:
    """One configured minor of one node."""

    minor: int
    resource: str
    disk: str | None = None
    meta: str | None = None
    size_kib: int = 0
    role: str = SECONDARY
    conn: str = STANDALONE
    local: str | None = None
    remote: str | None = None
    net: dict[str, str] = field(default_factory=dict)
    disk_opts: dict[str, str] = field(default_factory=dict)
    user_paused: bool = False
    split_brain: bool = False
    sync: Sync | None = None
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def attached(self) -> bool:
        return self.disk is not None


@dataclass
class DrbdState:
    """Every node's minors and resources, and the metadata of every meta device."""

    nodes: dict[str, dict[int, Minor]] = field(default_factory=dict)
    resources: dict[str, list[str]] = field(default_factory=dict)
    """Node → names of its resources (``new-resource``)."""
    meta: dict[str, Meta] = field(default_factory=dict)

    def minors(self, node: str) -> dict[int, Minor]:
        return self.nodes.setdefault(node, {})

    def forget_vanished_meta(self) -> None:
        """Drop the metadata whose backing file is gone and that no minor uses: DRBD
        keeps it on the device, so it goes with the device (a removed LV)."""
        used = {m.meta for minors in self.nodes.values() for m in minors.values()}
        for path, meta in list(self.meta.items()):
            if path not in used and meta.backing and not os.path.exists(meta.backing):
                del self.meta[path]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DrbdState:
        raw = json.loads(text)
        nodes = {node: {int(k): _minor(v) for k, v in minors.items()}
                 for node, minors in raw.get("nodes", {}).items()}
        meta = {path: Meta(**value) for path, value in raw.get("meta", {}).items()}
        return cls(nodes=nodes, resources=raw.get("resources", {}), meta=meta)


def _minor(raw: dict[str, object]) -> Minor:
    sync = raw.pop("sync", None)
    minor = Minor(**raw)  # type: ignore[arg-type]
    minor.sync = Sync(**sync) if isinstance(sync, dict) else None
    return minor


@contextlib.contextmanager
def locked_state(path: Path) -> Iterator[DrbdState]:
    """The shared state, read and written back under an exclusive lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = DrbdState.from_json(path.read_text()) if path.exists() else DrbdState()
        state.forget_vanished_meta()
        yield state
        tmp = path.with_suffix(".tmp")
        tmp.write_text(state.to_json())
        os.replace(tmp, path)


# --- the state machine ----------------------------------------------------------------
def peer_of(state: DrbdState, node: str, minor: Minor) -> tuple[str, Minor] | None:
    """The other node's minor whose addresses mirror ``minor``'s (and that listens)."""
    if minor.local is None or minor.remote is None:
        return None
    for other, minors in state.nodes.items():
        if other == node:
            continue
        for candidate in minors.values():
            if candidate.local == minor.remote and candidate.remote == minor.local:
                return other, candidate
    return None


def settle(state: DrbdState, now: float) -> None:
    """Advance connections and resyncs to ``now`` (idempotent)."""
    for node, minors in state.nodes.items():
        for minor in minors.values():
            _settle_one(state, node, minor, now)


def _settle_one(state: DrbdState, node: str, minor: Minor, now: float) -> None:
    if minor.conn == STANDALONE:
        return
    found = peer_of(state, node, minor)
    if found is None or found[1].conn == STANDALONE:
        _lose_peer(state, minor)
        return
    peer = found[1]
    if minor.conn == WFCONNECTION and peer.conn == WFCONNECTION:
        _handshake(state, minor, peer, now)
    if minor.sync is not None and minor.conn in SYNCING:
        _advance(state, minor, peer, now)


def _lose_peer(state: DrbdState, minor: Minor) -> None:
    """The peer went away: wait for it again; a Primary with data now diverges."""
    minor.conn = WFCONNECTION
    minor.sync = None
    mark_lost(state, minor)


def mark_lost(state: DrbdState, minor: Minor) -> None:
    """The connection is gone: remember the data's state; a Primary starts a new generation."""
    meta = meta_of(state, minor)
    if meta is None:
        return
    if meta.mark == 0 and minor.disk:
        meta.mark = _mtime(minor.disk)
    if minor.role == PRIMARY and meta.disk_state == UP_TO_DATE:
        meta.changed = True


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def wrote(state: DrbdState, minor: Minor) -> bool:
    """Whether the device was written since the connection was lost."""
    meta = meta_of(state, minor)
    return bool(meta and meta.mark and minor.disk and _mtime(minor.disk) != meta.mark)


def _handshake(state: DrbdState, a: Minor, b: Minor, now: float) -> None:
    """Two waiting sides meet: refuse, or connect and start the resync that is needed."""
    plan = None if _refused(a, b) else _resync_plan(state, a, b)
    if plan is None:
        for side in (a, b):
            side.conn = STANDALONE
        return
    for side in (a, b):
        side.conn = CONNECTED
    source, full = plan
    if source is not None:
        target = b if source is a else a
        start_sync(state, source, target, now, full)
    else:
        _in_sync(state, a, b)


def _refused(a: Minor, b: Minor) -> bool:
    """Different protocol or authentication, or two primaries without dual-primary mode."""
    if a.net.get("protocol", "C") != b.net.get("protocol", "C"):
        return True
    if a.net.get("shared-secret") != b.net.get("shared-secret") or (
            a.net.get("cram-hmac-alg") != b.net.get("cram-hmac-alg")):
        return True
    dual = a.net.get("allow-two-primaries") == "yes" and b.net.get("allow-two-primaries") == "yes"
    return a.role == PRIMARY and b.role == PRIMARY and not dual


def _resync_plan(state: DrbdState, a: Minor, b: Minor) -> tuple[Minor | None, bool] | None:
    """(sync source or None, whole device?), or None for an unresolved split brain.

    Ganeti connects with ``after-sb-0pri discard-zero-changes`` and ``after-sb-1pri
    consensus`` (``after-sb-2pri`` stays DRBD's ``disconnect``): see
    :func:`_split_brain_source` for when both sides started a new generation.
    """
    meta_a, meta_b = meta_of(state, a), meta_of(state, b)
    if meta_a is None or meta_b is None:
        return None, False
    good_a, good_b = meta_a.disk_state == UP_TO_DATE, meta_b.disk_state == UP_TO_DATE
    if good_a != good_b:
        return (a if good_a else b), True
    if not good_a:
        return None, False
    wrote_a, wrote_b = wrote(state, a), wrote(state, b)
    if meta_a.changed and meta_b.changed:
        source = _split_brain_source(a, b, wrote_a, wrote_b)
        if source is None:
            a.split_brain = b.split_brain = True
            return None
        return source, wrote_a or wrote_b
    if meta_a.changed or meta_b.changed:
        return (a if meta_a.changed else b), wrote_a or wrote_b
    return None, False


def _split_brain_source(a: Minor, b: Minor, wrote_a: bool, wrote_b: bool) -> Minor | None:
    """The side that survives a split brain, or None (the connection is dropped).

    Without a primary, the side that wrote wins (``discard-zero-changes``; neither wrote:
    either); with one primary, only if the secondary is the side discarded
    (``consensus``); with two, never (``disconnect``).
    """
    if wrote_a and wrote_b:
        return None
    primaries = [side for side in (a, b) if side.role == PRIMARY]
    if len(primaries) == 2:
        return None
    writers = [side for side, wrote in ((a, wrote_a), (b, wrote_b)) if wrote]
    source = (writers or primaries or [a])[0]
    if primaries and primaries[0] is not source:
        return None
    return source


def crash(state: DrbdState, node: str) -> None:
    """``node`` stops at once (a power cut): its minors and resources vanish without a
    word to the peers, which find the connection lost; the metadata stays on its
    disks, as DRBD keeps it there."""
    state.nodes.pop(node, None)
    state.resources.pop(node, None)


def _in_sync(state: DrbdState, *sides: Minor) -> None:
    for side in sides:
        meta = meta_of(state, side)
        if meta is not None:
            meta.changed, meta.mark = False, 0


def start_sync(state: DrbdState, source: Minor, target: Minor, now: float,
               full: bool = True) -> None:
    """Begin a resync from ``source`` (UpToDate) to ``target``: the whole device, or
    nothing (an empty bitmap, which finishes at once)."""
    rate = resync_rate(source)
    total = (min(source.size_kib, target.size_kib) or source.size_kib) if full else 0
    for side, conn in ((source, SYNC_SOURCE), (target, SYNC_TARGET)):
        side.sync = Sync(total_kib=total, since=now, rate_kib=rate)
        side.conn = conn
    target_meta = meta_of(state, target)
    if target_meta is not None:
        target_meta.disk_state = INCONSISTENT
    _apply_pause(source, target)


def resync_rate(minor: Minor) -> int:
    """KiB/s: ``c-max-rate`` under the dynamic controller, else ``resync-rate``."""
    opts = minor.disk_opts
    if int(_kib(opts.get("c-plan-ahead", "0"))) > 0 and "c-max-rate" in opts:
        return max(1, _kib(opts["c-max-rate"]))
    return max(1, _kib(opts.get("resync-rate", str(DEFAULT_RATE_KIB))))


def _kib(value: str) -> int:
    units = {"k": 1, "K": 1, "m": KIB, "M": KIB, "g": KIB * KIB, "G": KIB * KIB}
    if value and value[-1] in units:
        return int(float(value[:-1]) * units[value[-1]])
    return int(float(value))


def _apply_pause(a: Minor, b: Minor) -> None:
    paused = a.user_paused or b.user_paused
    for side in (a, b):
        if side.sync is not None and side.conn in SYNCING:
            side.sync.paused = paused
            source = side.conn in {SYNC_SOURCE, PAUSED_SOURCE}
            side.conn = ((PAUSED_SOURCE if source else PAUSED_TARGET) if paused
                         else (SYNC_SOURCE if source else SYNC_TARGET))


def set_paused(state: DrbdState, node: str, minor: Minor, paused: bool, now: float) -> None:
    """``pause-sync``/``resume-sync``: freeze or restart the progress of both sides."""
    found = peer_of(state, node, minor)
    peer = found[1] if found else None
    for side in (minor, peer):
        if side is not None and side.sync is not None:
            _advance_to(side.sync, now)
    minor.user_paused = paused
    if peer is not None:
        _apply_pause(minor, peer)


def _advance_to(sync: Sync, now: float) -> None:
    if not sync.paused:
        sync.done_kib = min(sync.total_kib, sync.done_kib + (now - sync.since) * sync.rate_kib)
    sync.since = now


def _advance(state: DrbdState, minor: Minor, peer: Minor, now: float) -> None:
    assert minor.sync is not None
    for side in (minor, peer):
        if side.sync is not None:
            _advance_to(side.sync, now)
    if minor.sync.done_kib < minor.sync.total_kib:
        return
    source, target = (minor, peer) if minor.conn in {SYNC_SOURCE, PAUSED_SOURCE} else (
        peer, minor)
    if minor.sync.total_kib:
        copy_data(source, target)
    for side in (source, target):
        side.conn, side.sync = CONNECTED, None
        side.counters["ns" if side is source else "nr"] = (
            side.counters.get("ns" if side is source else "nr", 0) + source.size_kib)
        meta = meta_of(state, side)
        if meta is not None:
            meta.disk_state = UP_TO_DATE
    _in_sync(state, source, target)


def meta_of(state: DrbdState, minor: Minor) -> Meta | None:
    return state.meta.get(minor.meta) if minor.meta else None


def disk_state(state: DrbdState, minor: Minor) -> str:
    meta = meta_of(state, minor)
    return meta.disk_state if minor.attached and meta is not None else DISKLESS


def copy_data(source: Minor, target: Minor) -> None:
    """Make the target's backing device hold the source's data (sparse-aware)."""
    if not source.disk or not target.disk or source.disk == target.disk:
        return
    chunk = KIB * KIB
    with open(source.disk, "rb") as src, open(target.disk, "r+b") as dst:
        size = min(os.fstat(src.fileno()).st_size, os.fstat(dst.fileno()).st_size)
        offset = 0
        while offset < size:
            data = src.read(min(chunk, size - offset))
            if not _zeros(data) or not _zeros(os.pread(dst.fileno(), len(data), offset)):
                os.pwrite(dst.fileno(), data, offset)
            offset += len(data)


def _zeros(data: bytes) -> bool:
    return data.count(0) == len(data)
