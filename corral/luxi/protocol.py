"""LUXI framing and message shapes.

Each message is one JSON document followed by the byte 0x03 (ETX).
Request: ``{"method": str, "args": list, "version": int}``.
Reply: ``{"success": bool, "result": value or [error class, args], "version": int}``.

Kept free of heavy imports: the CLI loads it on every command.
"""

from __future__ import annotations

import json
from typing import Any

ETX = b"\x03"
LUXI_VERSION = 3000000

KEY_METHOD = "method"
KEY_ARGS = "args"
KEY_SUCCESS = "success"
KEY_RESULT = "result"
KEY_VERSION = "version"

METHODS = frozenset(
    {
        "SubmitJob",
        "SubmitJobToDrainedQueue",
        "SubmitManyJobs",
        "WaitForJobChange",
        "CancelJob",
        "ArchiveJob",
        "AutoArchiveJobs",
        "ChangeJobPriority",
        "PickupJob",
        "Query",
        "QueryFields",
        "QueryJobs",
        "QueryNodes",
        "QueryGroups",
        "QueryInstances",
        "QueryNetworks",
        "QueryExports",
        "QueryClusterInfo",
        "QueryConfigValues",
        "QueryTags",
        "QueryNodeDrbd",
        "QueryFilters",
        "ReplaceFilter",
        "DeleteFilter",
        "SetWatcherPause",
        "SetDrainFlag",
    }
)


def encode_request(method: str, args: Any) -> bytes:
    return (
        json.dumps({KEY_METHOD: method, KEY_ARGS: args, KEY_VERSION: LUXI_VERSION}).encode() + ETX
    )


def encode_reply(success: bool, result: Any) -> bytes:
    body = {KEY_SUCCESS: success, KEY_RESULT: result, KEY_VERSION: LUXI_VERSION}
    return json.dumps(body).encode() + ETX
