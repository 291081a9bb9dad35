"""QmpSession against a small fake QMP server on a unix socket (no QEMU needed)."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from corral.errors import HypervisorError, InvalidTransition
from corral.hypervisor.kvm.qmp import QmpSession, QmpState, VmStatus

GREETING = {"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""},
                    "capabilities": []}}


class FakeQemu:
    """Answers QMP commands from a table and records what it was asked."""

    def __init__(self, *, quit_replies: bool = True) -> None:
        self.state = {"status": "running", "running": True}
        self.balloon = 512 * 1024 * 1024
        self.commands: list[tuple[str, Any]] = []
        self.quit_replies = quit_replies

    def answer(self, command: str, args: Any) -> dict[str, Any]:
        self.commands.append((command, args))
        if command == "stop":
            self.state = {"status": "paused", "running": False}
        elif command == "cont":
            self.state = {"status": "running", "running": True}
        elif command == "query-status":
            return {"return": dict(self.state)}
        elif command == "balloon":
            self.balloon = int(args["value"])
        elif command == "query-balloon":
            return {"return": {"actual": self.balloon}}
        elif command not in ("qmp_capabilities", "system_powerdown", "system_reset", "quit"):
            return {"error": {"class": "CommandNotFound",
                              "desc": f"The command {command} has not been found"}}
        return {"return": {}}

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._session(reader, writer)
        finally:
            writer.close()

    async def _session(self, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        writer.write(json.dumps(GREETING).encode() + b"\r\n")
        decoder, buffer = json.JSONDecoder(), ""
        while data := await reader.read(4096):
            buffer += data.decode()
            while buffer.strip():
                try:
                    msg, end = decoder.raw_decode(buffer.lstrip())
                except json.JSONDecodeError:
                    break
                buffer = buffer.lstrip()[end:]
                if await self._reply(msg, writer):
                    return

    async def _reply(self, msg: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        reply = self.answer(msg["execute"], msg.get("arguments"))
        if msg["execute"] == "quit" and not self.quit_replies:
            writer.close()
            return True
        writer.write(json.dumps({**reply, "id": msg.get("id")}).encode() + b"\r\n")
        await writer.drain()
        if msg["execute"] == "quit":
            writer.close()
            return True
        return False


@asynccontextmanager
async def fake_qemu(qemu: FakeQemu) -> AsyncIterator[Path]:
    with tempfile.TemporaryDirectory(prefix="qmp-") as tmp:
        path = Path(tmp) / "q.qmp"
        server = await asyncio.start_unix_server(qemu.serve, path=str(path))
        try:
            yield path
        finally:
            server.close()
            await server.wait_closed()


def test_typed_helpers_and_states() -> None:
    qemu = FakeQemu()

    async def scenario() -> list[QmpState]:
        async with fake_qemu(qemu) as path:
            session = QmpSession(path)
            seen = [session.state]
            async with session as qmp:
                seen.append(qmp.state)
                assert await qmp.query_status() == VmStatus("running", True)
                await qmp.stop()
                assert await qmp.query_status() == VmStatus("paused", False)
                await qmp.cont()
                await qmp.balloon(256)
                assert await qmp.query_balloon() == 256
                await qmp.system_powerdown()
                await qmp.system_reset()
            seen.append(session.state)
            return seen

    assert asyncio.run(scenario()) == [QmpState.IDLE, QmpState.CONNECTED, QmpState.CLOSED]
    asked = [c for c, _ in qemu.commands]
    assert asked[0] == "qmp_capabilities"
    assert ("balloon", {"value": 256 * 1024 * 1024}) in qemu.commands
    assert asked[-2:] == ["system_powerdown", "system_reset"]


def test_command_error_keeps_the_session_usable() -> None:
    async def scenario() -> None:
        async with fake_qemu(FakeQemu()) as path, QmpSession(path) as qmp:
            with pytest.raises(HypervisorError, match="has not been found"):
                await qmp.execute("no-such-command")
            assert qmp.state == QmpState.CONNECTED
            assert (await qmp.query_status()).running

    asyncio.run(scenario())


@pytest.mark.parametrize("replies", [True, False])
def test_quit_closes_cleanly_whether_or_not_qemu_answers(replies: bool) -> None:
    qemu = FakeQemu(quit_replies=replies)

    async def scenario() -> QmpState:
        async with fake_qemu(qemu) as path, QmpSession(path) as qmp:
            await qmp.quit()
            with pytest.raises(InvalidTransition):
                await qmp.query_status()
            return qmp.state

    assert asyncio.run(scenario()) == QmpState.CLOSED
    assert qemu.commands[-1][0] == "quit"


def test_missing_socket_is_a_hypervisor_error(tmp_path: Path) -> None:
    async def scenario() -> QmpState:
        session = QmpSession(tmp_path / "absent.qmp")
        with pytest.raises(HypervisorError, match="cannot connect"):
            await session.connect(timeout=1)
        return session.state

    assert asyncio.run(scenario()) == QmpState.CLOSED


def test_methods_need_a_connection(tmp_path: Path) -> None:
    session = QmpSession(tmp_path / "x.qmp")
    with pytest.raises(InvalidTransition, match="idle"):
        asyncio.run(session.query_status())
