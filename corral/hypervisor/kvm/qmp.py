"""A thin typed layer over :mod:`qemu.qmp`: one session per use, clean teardown.

:class:`QmpSession` has three states (``IDLE`` → ``CONNECTED`` → ``CLOSED``);
public methods check the state and every failure closes the client, so a
session never lingers half-open. Library errors become
:class:`~corral.errors.HypervisorError`.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from qemu.qmp import ConnectError, ExecInterruptedError, ExecuteError, QMPClient, QMPError

from corral.errors import HypervisorError, InvalidTransition

CONNECT_TIMEOUT = 5.0
COMMAND_TIMEOUT = 10.0
_MIB = 1024 * 1024


class QmpState(enum.StrEnum):
    IDLE = "idle"
    CONNECTED = "connected"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class VmStatus:
    """``query-status``: QEMU's run state name and whether vCPUs run."""

    status: str
    running: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrateInfo:
    """``query-migrate``: ``status`` is ``""`` before any migration; sizes in bytes,
    times in ms, ``mbps`` in megabits per second."""

    status: str = ""
    transferred: int = 0
    remaining: int = 0
    total: int = 0
    mbps: float = 0.0
    dirty_sync_count: int = 0
    expected_downtime_ms: int = 0
    downtime_ms: int = 0
    total_time_ms: int = 0
    error: str = ""
    blocked_reasons: tuple[str, ...] = ()

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> MigrateInfo:
        ram = reply.get("ram", {})
        return cls(status=str(reply.get("status", "")), transferred=int(ram.get("transferred", 0)),
                   remaining=int(ram.get("remaining", 0)), total=int(ram.get("total", 0)),
                   mbps=float(ram.get("mbps", 0.0)),
                   dirty_sync_count=int(ram.get("dirty-sync-count", 0)),
                   expected_downtime_ms=int(reply.get("expected-downtime", 0)),
                   downtime_ms=int(reply.get("downtime", 0)),
                   total_time_ms=int(reply.get("total-time", 0)),
                   error=str(reply.get("error-desc", "")),
                   blocked_reasons=tuple(str(r) for r in reply.get("blocked-reasons", ())))


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockJob:
    """One entry of ``query-block-jobs`` (``offset``/``length`` in bytes)."""

    job_id: str
    kind: str
    status: str
    ready: bool
    offset: int
    length: int
    error: str = ""

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> BlockJob:
        return cls(job_id=str(reply["device"]), kind=str(reply.get("type", "")),
                   status=str(reply.get("status", "")), ready=bool(reply.get("ready", False)),
                   offset=int(reply.get("offset", 0)), length=int(reply.get("len", 0)),
                   error=str(reply.get("error", "")))


class QmpSession:
    """A QMP connection to one QEMU; use as ``async with QmpSession(path) as qmp``."""

    def __init__(self, socket_path: Path, *, name: str = "corral") -> None:
        self.socket_path = socket_path
        self.state = QmpState.IDLE
        self._client = QMPClient(name)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def _require(self, state: QmpState) -> None:
        if self.state != state:
            raise InvalidTransition(f"QMP session is {self.state}, needs {state}")

    async def connect(self, timeout: float = CONNECT_TIMEOUT) -> None:
        """Connect and negotiate capabilities.

        Raises:
            HypervisorError: the socket is missing, refuses, or QEMU does not answer.
        """
        self._require(QmpState.IDLE)
        try:
            await asyncio.wait_for(self._client.connect(str(self.socket_path)), timeout)
        except (ConnectError, QMPError, OSError, TimeoutError) as err:
            await self.close()
            raise HypervisorError(f"cannot connect to QMP at {self.socket_path}: {err}") from err
        self.state = QmpState.CONNECTED

    async def close(self) -> None:
        """Disconnect (idempotent)."""
        if self.state == QmpState.CLOSED:
            return
        self.state = QmpState.CLOSED
        try:
            await self._client.disconnect()
        except (QMPError, OSError, EOFError):
            pass

    async def execute(self, command: str, arguments: dict[str, Any] | None = None,
                      *, timeout: float = COMMAND_TIMEOUT) -> Any:
        """Run one QMP command and return its ``return`` value.

        Raises:
            HypervisorError: QEMU refused the command, or the connection failed
                (the session is then closed).
        """
        self._require(QmpState.CONNECTED)
        try:
            return await asyncio.wait_for(self._client.execute(command, arguments), timeout)
        except ExecuteError as err:
            raise HypervisorError(f"QMP {command} failed: {err}") from err
        except (QMPError, OSError, EOFError, TimeoutError) as err:
            await self.close()
            raise HypervisorError(f"QMP {command}: connection failed: {err!r}") from err

    # --- typed helpers -------------------------------------------------------------------

    async def query_status(self) -> VmStatus:
        reply = await self.execute("query-status")
        return VmStatus(status=str(reply["status"]), running=bool(reply["running"]))

    async def stop(self) -> None:
        """Pause the vCPUs."""
        await self.execute("stop")

    async def cont(self) -> None:
        """Resume the vCPUs."""
        await self.execute("cont")

    async def system_powerdown(self) -> None:
        """Press the ACPI power button."""
        await self.execute("system_powerdown")

    async def system_reset(self) -> None:
        """Hard-reset the guest (like the reset button)."""
        await self.execute("system_reset")

    async def balloon(self, memory_mib: int) -> None:
        """Ask the balloon driver for a guest size of ``memory_mib``."""
        await self.execute("balloon", {"value": memory_mib * _MIB})

    async def query_balloon(self) -> int:
        """The guest's current size in MiB as the balloon reports it."""
        reply = await self.execute("query-balloon")
        return int(reply["actual"]) // _MIB

    # --- migration --------------------------------------------------------------------

    async def migrate_set_parameters(self, *, max_bandwidth: int, downtime_limit_ms: int) -> None:
        """Bandwidth cap in bytes/s (0: unlimited) and the allowed downtime in ms."""
        await self.execute("migrate-set-parameters", {"max-bandwidth": max_bandwidth,
                                                      "downtime-limit": downtime_limit_ms})

    async def migrate_set_capabilities(self, capabilities: Mapping[str, bool]) -> None:
        if capabilities:
            await self.execute("migrate-set-capabilities", {"capabilities": [
                {"capability": name, "state": on} for name, on in capabilities.items()]})

    async def migrate(self, uri: str) -> None:
        """Start an outgoing migration to ``uri`` (returns at once)."""
        await self.execute("migrate", {"uri": uri})

    async def migrate_incoming(self, uri: str) -> None:
        """Listen for the incoming migration (QEMU started with ``-incoming defer``)."""
        await self.execute("migrate-incoming", {"uri": uri})

    async def migrate_cancel(self) -> None:
        await self.execute("migrate_cancel")

    async def migrate_continue(self, state: str = "pre-switchover") -> None:
        """Let a migration paused before switch-over (``pause-before-switchover``) finish."""
        await self.execute("migrate-continue", {"state": state})

    async def migrate_start_postcopy(self) -> None:
        await self.execute("migrate-start-postcopy")

    async def query_migrate(self) -> MigrateInfo:
        return MigrateInfo.from_reply(await self.execute("query-migrate"))

    async def machine_aliases(self) -> dict[str, str]:
        """Machine type aliases (``pc``) → the versioned type they stand for."""
        machines = await self.execute("query-machines")
        return {str(m["alias"]): str(m["name"]) for m in machines if m.get("alias")}

    # --- NBD and block jobs (live storage migration) -----------------------------------

    async def nbd_server_start(self, host: str, port: int) -> None:
        await self.execute("nbd-server-start", {"addr": {
            "type": "inet", "data": {"host": host, "port": str(port)}}})

    async def nbd_server_add(self, device: str, name: str, *, writable: bool) -> None:
        await self.execute("nbd-server-add", {"device": device, "name": name,
                                              "writable": writable})

    async def nbd_server_stop(self) -> None:
        await self.execute("nbd-server-stop")

    async def drive_mirror(self, device: str, target: str, *, job_id: str,
                           speed: int = 0) -> None:
        """Mirror ``device`` (a node name) in full onto the existing raw image ``target``.

        The job is not dismissed when it ends, so its outcome (``error``) stays
        visible in ``query-block-jobs`` until :meth:`job_dismiss`.
        """
        await self.execute("drive-mirror", {
            "device": device, "target": target, "job-id": job_id, "format": "raw",
            "mode": "existing", "sync": "full", "speed": speed, "auto-dismiss": False})

    async def query_block_jobs(self) -> list[BlockJob]:
        return [BlockJob.from_reply(job) for job in await self.execute("query-block-jobs")]

    async def block_job_cancel(self, job_id: str, *, force: bool = False) -> None:
        """End a job; a READY mirror then finishes its last copy and ends without pivot."""
        await self.execute("block-job-cancel", {"device": job_id, "force": force})

    async def job_dismiss(self, job_id: str) -> None:
        """Remove a concluded job from the job list."""
        await self.execute("job-dismiss", {"id": job_id})

    async def quit(self) -> None:
        """End QEMU at once, then close the session cleanly.

        QEMU may close the socket before or after it answers; both count as done.
        """
        self._require(QmpState.CONNECTED)
        try:
            await asyncio.wait_for(self._client.execute("quit"), COMMAND_TIMEOUT)
        except (ExecInterruptedError, EOFError, ConnectionError):
            pass
        except (QMPError, OSError, TimeoutError) as err:
            raise HypervisorError(f"QMP quit failed: {err!r}") from err
        finally:
            await self.close()
