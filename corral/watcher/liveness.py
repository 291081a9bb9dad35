"""Is the master daemon answering? A LUXI round trip under a timeout.

A master daemon whose process is alive but whose event loop is wedged keeps its pid
file and its socket (connections are accepted by the kernel), so neither the pid
check nor a connect attempt notices it; only a request that gets no answer does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from corral.luxi.client import Client, LuxiClientError, LuxiRemoteError

ANSWER_TIMEOUT = 15.0
"""Seconds the master daemon gets to answer the watcher's probe."""


class MasterState(enum.Enum):
    ANSWERS = "answers"
    SILENT = "silent"
    """Accepted the request and did not answer within the timeout: alive but wedged."""
    UNREACHABLE = "unreachable"
    """No connection (no socket, refused) or the connection broke."""


@dataclass(frozen=True, slots=True)
class MasterProbe:
    state: MasterState
    detail: str = ""


def probe_masterd(socket_path: Path, timeout: float = ANSWER_TIMEOUT) -> MasterProbe:
    """Ask the master daemon for ``master_node`` (a cheap read) on a fresh connection.

    An error reply counts as an answer: the daemon is alive and serving.
    """
    try:
        with Client(str(socket_path), timeout=timeout) as client:
            client.QueryConfigValues(["master_node"])
    except LuxiRemoteError:
        return MasterProbe(MasterState.ANSWERS)
    except LuxiClientError as err:
        if isinstance(err.__cause__, TimeoutError):
            return MasterProbe(
                MasterState.SILENT, f"did not answer a LUXI request within {timeout:g} s"
            )
        return MasterProbe(MasterState.UNREACHABLE, str(err))
    except ValueError as err:
        return MasterProbe(MasterState.UNREACHABLE, f"answered something that is not JSON: {err}")
    return MasterProbe(MasterState.ANSWERS)
