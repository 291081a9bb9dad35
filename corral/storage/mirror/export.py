"""The secondary's half of a mirror disk served over NBD with TLS.

One ``qemu-storage-daemon`` per disk, bound to the secondary's own address, TLS
with the cluster's certificates (QEMU's x509 directory: ``ca-cert.pem`` is the
cluster CA, ``server-cert.pem``/``client-cert.pem`` the node's certificate and
the matching keys, copied with mode 0600), client certificates required
(``verify-peer=on``). Writes are acknowledged only once on the file's storage
(``writethrough=on``). The daemon runs with ``--daemonize`` and ``--pidfile``:
it is nobody's child, survives node daemon restarts and is found again by its
record ``<run_dir>/mirror/<export>.export``; it is stopped by PID (only while its
``/proc`` command line is the recorded one).
"""

from __future__ import annotations

import asyncio
import enum
import os
import re
import shutil
import signal
import time
from pathlib import Path

import msgspec

from corral.errors import BlockDeviceError
from corral.hypervisor.kvm.runtime import process_matches, read_pidfile
from corral.layout import NodeLayout
from corral.process import CommandRunner
from corral.serde import atomic_write

QSD = "qemu-storage-daemon"
URI_SCHEME = "nbd+tls"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_URI = re.compile(r"^nbd\+tls://(?P<host>[^/:\[\]]+|\[[0-9a-fA-F:]+\]):(?P<port>\d+)/"
                  r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,99})$")
STOP_GRACE = 5.0


class ExportState(enum.StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"


class ExportRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A started export: what it serves, where, and the process serving it."""

    name: str
    path: str
    address: str
    port: int
    client: str
    """The node allowed to connect (its certificate's common name): the primary."""
    pid: int
    argv: tuple[str, ...]

    @property
    def uri(self) -> str:
        return export_uri(self.address, self.port, self.name)


def export_uri(address: str, port: int, name: str) -> str:
    """``nbd+tls://<address>:<port>/<name>`` (IPv6 addresses in brackets)."""
    host = f"[{address}]" if ":" in address else address
    return f"{URI_SCHEME}://{host}:{port}/{name}"


def parse_export_uri(uri: str) -> tuple[str, int, str]:
    """``(address, port, export name)`` of a mirror export URI.

    Raises:
        BlockDeviceError: not an ``nbd+tls://host:port/name`` URI.
    """
    match = _URI.match(uri)
    if match is None:
        raise BlockDeviceError(f"Invalid mirror export URI {uri!r}: expected "
                               "nbd+tls://<address>:<port>/<export>")
    port = int(match["port"])
    if not 0 < port < 65536:
        raise BlockDeviceError(f"Invalid port {port} in mirror export URI {uri!r}")
    return match["host"].strip("[]"), port, match["name"]


def mirror_run_dir(layout: NodeLayout) -> Path:
    return layout.run_dir / "mirror"


def recorded_exports(layout: NodeLayout) -> list[str]:
    """Names of the exports the node has a record of (running or left by a crash)."""
    run = mirror_run_dir(layout)
    if not run.is_dir():
        return []
    return sorted(p.name.removesuffix(".export") for p in run.glob("*.export")
                  if _NAME.match(p.name.removesuffix(".export")))


def _paths(layout: NodeLayout, name: str) -> tuple[Path, Path, Path]:
    """Record, pid file and x509 directory of export ``name``."""
    if not _NAME.match(name):
        raise BlockDeviceError(f"Invalid mirror export name {name!r}")
    run = mirror_run_dir(layout)
    return run / f"{name}.export", run / f"{name}.pid", run / f"{name}.x509"


def write_creds_dir(layout: NodeLayout, dest: Path) -> Path:
    """QEMU's x509 directory for this node in ``dest`` (server and client roles).

    Raises:
        BlockDeviceError: the node has no cluster certificate yet.
    """
    sources = {"ca-cert.pem": layout.ca_cert, "server-cert.pem": layout.node_cert,
               "server-key.pem": layout.node_key, "client-cert.pem": layout.node_cert,
               "client-key.pem": layout.node_key}
    for source in sources.values():
        if not source.is_file():
            raise BlockDeviceError(f"Cannot serve a mirror disk: {source} is missing")
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, source in sources.items():
        atomic_write(dest / name, source.read_bytes(), mode=0o600 if "key" in name else 0o644,
                     fsync=False)
    return dest


def export_argv(wanted: ExportRecord, pidfile: Path, creds: Path) -> list[str]:
    """The ``qemu-storage-daemon`` command line of one export: only a client whose
    certificate's subject is ``CN=<wanted.client>`` (the primary) is let in."""
    identity = f"CN={wanted.client}".replace(",", ",,")
    return [QSD, "--daemonize", "--pidfile", str(pidfile),
            "--object", f"tls-creds-x509,id=tls0,dir={creds},endpoint=server,verify-peer=on",
            "--object", f"authz-simple,id=authz0,identity={identity}",
            "--blockdev", f"driver=file,node-name=disk,"
            f"filename={wanted.path.replace(',', ',,')}",
            "--nbd-server", f"addr.type=inet,addr.host={wanted.address},addr.port={wanted.port},"
            "tls-creds=tls0,tls-authz=authz0",
            "--export", f"type=nbd,id=exp0,node-name=disk,name={wanted.name},writable=on,"
            "writethrough=on"]


async def start_export(layout: NodeLayout, runner: CommandRunner, name: str, path: str,
                       address: str, port: int, client: str) -> ExportRecord:
    """Serve ``path`` as export ``name`` on ``address:port`` to node ``client`` only;
    a running export of the same file, endpoint and client is kept.

    Raises:
        BlockDeviceError: bad name, missing file or certificates, another export of
            that name serves something else, or the daemon failed (its message).
    """
    wanted = ExportRecord(name=name, path=path, address=address, port=port, client=client,
                          pid=0, argv=())
    prepared = await asyncio.to_thread(_prepare, layout, wanted)
    if isinstance(prepared, ExportRecord):
        return prepared
    result = await runner.run(prepared, timeout=30.0)
    record = msgspec.structs.replace(wanted, argv=tuple(prepared))
    return await asyncio.to_thread(_record_start, layout, record, result.failed,
                                   f"{result.fail_reason}: {result.output.strip()}")


def _prepare(layout: NodeLayout, wanted: ExportRecord) -> ExportRecord | list[str]:
    """The running export of that name, or the command line that starts it."""
    _, pidfile, creds = _paths(layout, wanted.name)
    if not wanted.client or not _NAME.match(wanted.client):
        raise BlockDeviceError(f"Invalid client node name {wanted.client!r} for mirror "
                               f"export {wanted.name}")
    current = read_record(layout, wanted.name)
    if current is not None and _alive(current):
        if _endpoint(current) != _endpoint(wanted):
            raise BlockDeviceError(f"Mirror export {wanted.name} already serves "
                                   f"{current.path} on {current.address}:{current.port} "
                                   f"to {current.client}")
        return current
    if not Path(wanted.path).is_file():
        raise BlockDeviceError(f"Cannot export {wanted.path}: no such file")
    write_creds_dir(layout, creds)
    pidfile.unlink(missing_ok=True)
    return export_argv(wanted, pidfile, creds)


def _endpoint(record: ExportRecord) -> tuple[str, str, int, str]:
    return record.path, record.address, record.port, record.client


def _record_start(layout: NodeLayout, started: ExportRecord, failed: bool,
                  detail: str) -> ExportRecord:
    record_path, pidfile, _ = _paths(layout, started.name)
    pid = read_pidfile(pidfile)
    if failed or pid is None:
        raise BlockDeviceError(f"Cannot start the mirror export {started.name} on "
                               f"{started.address}:{started.port}: {detail}")
    record = msgspec.structs.replace(started, pid=pid)
    atomic_write(record_path, msgspec.json.encode(record), mode=0o600)
    return record


def read_record(layout: NodeLayout, name: str) -> ExportRecord | None:
    """The stored record of export ``name`` (None: never started or stopped)."""
    record_path = _paths(layout, name)[0]
    try:
        return msgspec.json.decode(record_path.read_bytes(), type=ExportRecord)
    except FileNotFoundError:
        return None
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as err:
        raise BlockDeviceError(f"Malformed mirror export record {record_path}: {err}") from err


def _alive(record: ExportRecord) -> bool:
    return process_matches(record.pid, record.argv)


def export_status(layout: NodeLayout, name: str) -> tuple[ExportState, ExportRecord | None]:
    """Whether export ``name`` is being served, with its record."""
    record = read_record(layout, name)
    if record is None or not _alive(record):
        return ExportState.STOPPED, record
    return ExportState.RUNNING, record


def stop_export(layout: NodeLayout, name: str) -> bool:
    """Stop export ``name`` (SIGTERM, then SIGKILL) and remove its files (blocking).

    Returns whether a running daemon was stopped (False: it was not running).

    Raises:
        BlockDeviceError: the daemon survived SIGKILL.
    """
    record_path, pidfile, creds = _paths(layout, name)
    record = read_record(layout, name)
    stopped = False
    if record is not None and _alive(record):
        stopped = True
        for sig, grace in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, 10.0)):
            if _signal_and_wait(record, sig, grace):
                break
        else:
            raise BlockDeviceError(f"Mirror export {name} (pid {record.pid}) survived SIGKILL")
    record_path.unlink(missing_ok=True)
    pidfile.unlink(missing_ok=True)
    shutil.rmtree(creds, ignore_errors=True)
    return stopped


def _signal_and_wait(record: ExportRecord, sig: signal.Signals, grace: float) -> bool:
    try:
        os.kill(record.pid, sig)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + grace
    while _alive(record):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True
