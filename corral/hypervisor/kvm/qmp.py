"""A thin typed layer over :mod:`qemu.qmp`: one session per use, clean teardown.

:class:`QmpSession` has three states (``IDLE`` → ``CONNECTED`` → ``CLOSED``);
public methods check the state and every failure closes the client, so a
session never lingers half-open. Library errors become
:class:`~corral.errors.HypervisorError`.
"""

from __future__ import annotations

import asyncio
import enum
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
