"""A blocking LUXI client for the CLI, scripts and tests.

Imports only the standard library, ``corral.job_wire`` and ``corral.jsonlimits`` (standard
library only themselves), so that ``gnt-*`` commands start fast.
"""

from __future__ import annotations

import json
import os
import select
import socket
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

from corral.job_wire import JOB_FINALIZED, JOB_NOTCHANGED
from corral.jsonlimits import MAX_REPLY_DEPTH, JsonTooDeep, check_depth
from corral.luxi.protocol import ETX, KEY_RESULT, KEY_SUCCESS, encode_request

DEFAULT_SOCKET = "/run/corral/socket/corral-query"


class LuxiClientError(Exception):
    """Transport failure: no master daemon, or a broken connection."""


class LuxiRemoteError(Exception):
    """The master answered with an error: ``error_class`` and ``args`` as sent."""

    def __init__(self, error_class: str, args: list[Any]) -> None:
        super().__init__(error_class, args)
        self.error_class = error_class
        self.error_args = args

    def __str__(self) -> str:
        return f"{self.error_class}: {'; '.join(str(a) for a in self.error_args)}"


def default_socket_path() -> str:
    """``$CORRAL_LUXI`` when set, else the socket under ``$CORRAL_ROOT`` or ``/``."""
    explicit = os.environ.get("CORRAL_LUXI")
    if explicit:
        return explicit
    root = os.environ.get("CORRAL_ROOT", "/")
    return os.path.join(root, DEFAULT_SOCKET.lstrip("/"))


def _decode_reply(reply: bytes) -> dict[str, Any]:
    """The reply document; a master never sends one nested beyond :data:`MAX_REPLY_DEPTH`.

    Raises:
        LuxiClientError: the reply is not a JSON object, or nests too deep.
    """
    try:
        check_depth(reply, MAX_REPLY_DEPTH)
        data = json.loads(reply)
    except (JsonTooDeep, ValueError) as err:
        raise LuxiClientError(f"Invalid answer from the master daemon: {err}") from err
    if not isinstance(data, dict):
        raise LuxiClientError("Invalid answer from the master daemon: not a JSON object")
    return data


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether the other end closed this idle connection (checked without blocking)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class Client:
    """One connection to masterd; reconnects lazily (also after the master closed it for
    being idle)."""

    def __init__(self, path: str | None = None, timeout: float = 60.0) -> None:
        self.path = path or default_socket_path()
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer = b""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> socket.socket:
        if self._sock is not None and _closed_by_peer(self._sock):
            self.close()  # the master closes idle connections; nothing was sent on it
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.path)
            except OSError as err:
                sock.close()
                raise LuxiClientError(
                    f"Cannot communicate with the master daemon at {self.path}: {err.strerror}. "
                    "Is the master running?"
                ) from err
            self._sock = sock
        return self._sock

    def call(self, method: str, *args: Any) -> Any:
        """Send one request and return its result; raises LuxiRemoteError on an error reply."""
        sock = self._connect()
        try:
            sock.sendall(encode_request(method, list(args)))
            reply = self._read_message(sock)
        except OSError as err:
            self.close()
            raise LuxiClientError(f"Error while talking to the master daemon: {err}") from err
        data = _decode_reply(reply)
        result = data.get(KEY_RESULT)
        if not data.get(KEY_SUCCESS):
            if isinstance(result, list) and len(result) == 2 and isinstance(result[0], str):
                raise LuxiRemoteError(
                    result[0], list(result[1]) if isinstance(result[1], list) else [result[1]]
                )
            raise LuxiRemoteError("LuxiError", [str(result)])
        return result

    def _read_message(self, sock: socket.socket) -> bytes:
        while ETX not in self._buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("master daemon closed the connection")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(ETX)
        return message

    # --- Ganeti's client method names -----------------------------------
    def SubmitJob(self, ops: list[dict[str, Any]]) -> int:
        return int(self.call("SubmitJob", ops))

    def SubmitJobToDrainedQueue(self, ops: list[dict[str, Any]]) -> int:
        return int(self.call("SubmitJobToDrainedQueue", ops))

    def SubmitManyJobs(self, jobs: list[list[dict[str, Any]]]) -> list[list[Any]]:
        return list(self.call("SubmitManyJobs", jobs))

    def CancelJob(self, job_id: int, kill: bool = False) -> list[Any]:
        return list(self.call("CancelJob", job_id, kill))

    def ArchiveJob(self, job_id: int) -> bool:
        return bool(self.call("ArchiveJob", job_id))

    def AutoArchiveJobs(self, age: int, timeout: float) -> list[int]:
        return list(self.call("AutoArchiveJobs", age, timeout))

    def ChangeJobPriority(self, job_id: int, priority: int) -> list[Any]:
        return list(self.call("ChangeJobPriority", job_id, priority))

    def SetQueueDrainFlag(self, flag: bool) -> Any:
        return self.call("SetDrainFlag", flag)

    def SetWatcherPause(self, until: float | None) -> Any:
        return self.call("SetWatcherPause", until)

    def WaitForJobChangeOnce(
        self,
        job_id: int,
        fields: list[str],
        prev_job_info: Any,
        prev_log_serial: int | None,
        timeout: float = 10.0,
    ) -> Any:
        return self.call(
            "WaitForJobChange", job_id, fields, prev_job_info, prev_log_serial, timeout
        )

    def Query(self, what: str, fields: list[str], qfilter: Any) -> dict[str, Any]:
        return dict(self.call("Query", what, fields, qfilter))

    def QueryFields(self, what: str, fields: list[str] | None) -> dict[str, Any]:
        return dict(self.call("QueryFields", what, fields))

    def QueryJobs(self, job_ids: list[int] | None, fields: list[str]) -> list[Any]:
        return list(self.call("QueryJobs", job_ids, fields))

    def QueryNodes(self, names: list[str], fields: list[str], lock: bool = False) -> list[Any]:
        return list(self.call("QueryNodes", names, fields, lock))

    def QueryGroups(self, names: list[str], fields: list[str], lock: bool = False) -> list[Any]:
        return list(self.call("QueryGroups", names, fields, lock))

    def QueryClusterInfo(self) -> dict[str, Any]:
        return dict(self.call("QueryClusterInfo"))

    def QueryConfigValues(self, fields: list[str]) -> list[Any]:
        return list(self.call("QueryConfigValues", fields))

    def QueryTags(self, kind: str, name: str) -> list[str]:
        return list(self.call("QueryTags", kind, name))

    def QueryNodeDrbd(self, node: str) -> list[list[Any]]:
        """``[node, minor, instance, disk, role, peer]`` per DRBD minor of ``node``."""
        return [list(row) for row in self.call("QueryNodeDrbd", node)]


def wait_for_job(
    client: Client,
    job_id: int,
    on_log: Any = None,
    timeout_each: float = 10.0,
) -> tuple[str, list[Any], list[Any]]:
    """Follow a job to its end; calls ``on_log(entry)`` for each new log entry.

    Returns ``(status, opstatus, opresult)``.
    """
    prev_info: Any = None
    prev_serial: int | None = None
    fields = ["status"]
    while True:
        change = client.WaitForJobChangeOnce(job_id, fields, prev_info, prev_serial, timeout_each)
        if change is None:
            raise LuxiRemoteError("JobLost", [f"Job {job_id} not found"])
        if change == JOB_NOTCHANGED:
            continue
        info, logs = change
        for entry in logs or []:
            prev_serial = max(prev_serial or 0, int(entry[0]))
            if on_log is not None:
                on_log(entry)
        prev_info = info
        if info[0] in JOB_FINALIZED:
            break
        time.sleep(0)
    status, opstatus, opresult = client.QueryJobs([job_id], ["status", "opstatus", "opresult"])[0]
    return status, opstatus, opresult
