"""Fixtures of the CLI tests: a scripted LUXI server and an in-process runner.

``FakeLuxi`` listens on a unix socket in a thread and speaks the real framing
(JSON + ETX). Each method answers from a script: a fixed value, a callable of
the arguments, or a sequence consumed one answer per call (the last repeats).
Every request is recorded as ``(method, args)``.

Test modules import the types below only for annotations (under TYPE_CHECKING).
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.luxi.protocol import ETX, encode_reply


class RemoteError(Exception):
    """Raise inside a scripted answer to send ``[class, args]`` with success false."""

    def __init__(self, error_class: str, *args: Any) -> None:
        super().__init__(error_class, args)
        self.encoded = [error_class, list(args)]


class Sequence:
    """Answers in order, one per call; the last one repeats."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)

    def next(self) -> Any:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


class FakeLuxi:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.calls: list[tuple[str, list[Any]]] = []
        self.script: dict[str, Any] = {}
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(8)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stopping = False

    # --- scripting ------------------------------------------------------
    def on(self, method: str, answer: Any) -> None:
        self.script[method] = answer

    def sequence(self, method: str, *answers: Any) -> None:
        self.script[method] = Sequence(*answers)

    def fail(self, method: str, error_class: str, *args: Any) -> None:
        def raise_it(_args: list[Any]) -> Any:
            raise RemoteError(error_class, *args)

        self.script[method] = raise_it

    def job(self, job_id: int, results: list[Any], logs: list[Any] | None = None,
            status: str = "success", opstatus: list[str] | None = None) -> None:
        """Script SubmitJob → job_id, one change with ``logs``, then the final state."""
        self.on("SubmitJob", job_id)
        self.sequence("WaitForJobChange", [[status], logs or []], [[status], []])
        statuses = opstatus or [status] * len(results)
        self.on("QueryJobs", [[status, statuses, results]])

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def args_of(self, method: str) -> list[list[Any]]:
        return [args for name, args in self.calls if name == method]

    def submitted(self) -> list[dict[str, Any]]:
        """The opcodes of every SubmitJob, in order."""
        return [op for args in self.args_of("SubmitJob") for op in args[0]]

    # --- serving --------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        try:
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._server.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                while ETX not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                message, _, buffer = buffer.partition(ETX)
                request = json.loads(message)
                conn.sendall(self._answer(request["method"], request["args"]))

    def _answer(self, method: str, args: list[Any]) -> bytes:
        self.calls.append((method, args))
        answer = self.script.get(method)
        try:
            if isinstance(answer, Sequence):
                value = answer.next()
            elif callable(answer):
                value = answer(args)
            elif method not in self.script:
                raise RemoteError("OpPrereqError", f"no scripted answer for {method}",
                                  "wrong_input")
            else:
                value = answer
        except RemoteError as err:
            return encode_reply(False, err.encoded)
        return encode_reply(True, value)



Runner = Callable[..., tuple[int, str, str]]
"""``run(main, *argv)`` → (exit code, stdout, stderr)."""


@pytest.fixture
def luxi(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLuxi]:
    # A short directory: unix socket paths are limited to about 100 bytes.
    directory = Path(tempfile.mkdtemp(prefix="luxi-"))
    server = FakeLuxi(directory / "s")
    server.start()
    monkeypatch.setenv("CORRAL_LUXI", str(server.path))
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def no_master(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the client at a socket nobody listens on."""
    path = tmp_path / "absent.sock"
    monkeypatch.setenv("CORRAL_LUXI", str(path))
    return path


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Runner:
    """``run(main, "list", "-o", "name")`` → (exit code, stdout, stderr)."""

    def invoke(main: Callable[[list[str]], int], *argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke
