"""DRBD 8.4 command lines, and Ganeti's drbd disk parameters mapped to their options.

One resource per minor, named ``resource<minor>`` (as Ganeti names them); the
device is ``/dev/drbd<minor>``; metadata is external and flexible.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from corral.errors import BlockDeviceError

HMAC_ALG = "md5"
BARRIER_LETTERS = frozenset("bfd")
_BARRIER_OPTIONS = (("f", "--disk-flushes=no"), ("d", "--disk-drain=no"),
                    ("b", "--disk-barrier=no"))


@dataclass(frozen=True, slots=True)
class DrbdParams:
    """Ganeti's ``diskparams`` of the drbd template (defaults as Ganeti's)."""

    resync_rate: int = 61440
    dynamic_resync: bool = False
    c_plan_ahead: int = 20
    c_fill_target: int = 0
    c_delay_target: int = 1
    c_max_rate: int = 61440
    c_min_rate: int = 4096
    disk_barriers: str = "n"
    meta_barriers: bool = False
    disk_custom: str = ""
    net_custom: str = ""
    protocol: str = "C"

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DrbdParams:
        """Read the parameters (Ganeti's names, e.g. ``resync-rate``); others are ignored.

        Raises:
            BlockDeviceError: a value of the wrong type or an invalid barrier set.
        """
        values: dict[str, Any] = {}
        defaults = cls()
        for item in dataclasses.fields(cls):
            key = item.name.replace("_", "-")
            if key in params:
                values[item.name] = _typed(key, params[key], type(getattr(defaults, item.name)))
        result = cls(**values)
        letters = set(result.disk_barriers)
        if not (result.disk_barriers == "n" or (letters and letters <= BARRIER_LETTERS)):
            raise BlockDeviceError(f"{result.disk_barriers!r} is not a valid option set for "
                                   "DRBD barriers")
        if result.protocol not in {"A", "B", "C"}:
            raise BlockDeviceError(f"Invalid DRBD protocol {result.protocol!r}")
        return result


def _typed(key: str, value: Any, kind: type) -> Any:
    try:
        if kind is bool:
            if isinstance(value, str):
                return value.lower() in {"true", "yes", "1"}
            return bool(value)
        return kind(value)
    except (TypeError, ValueError) as err:
        raise BlockDeviceError(f"Invalid DRBD parameter {key}={value!r}") from err


def resource(minor: int) -> str:
    return f"resource{minor}"


def dev_path(minor: int) -> str:
    return f"/dev/drbd{minor}"


def init_meta(minor: int, meta_dev: str) -> list[str]:
    return ["drbdmeta", "--force", dev_path(minor), "v08", meta_dev, "flex-external",
            "create-md"]


def local_init(minor: int, data_dev: str, meta_dev: str, size_mib: int,
               params: DrbdParams) -> list[list[str]]:
    """Create the resource and minor, apply the activity log, attach the local disk."""
    attach = ["drbdsetup", "attach", str(minor), data_dev, meta_dev, "flexible",
              "--on-io-error=detach"]
    if size_mib:
        attach += ["--size", f"{size_mib}m"]
    attach += barrier_options(params)
    attach += shlex.split(params.disk_custom)
    return [["drbdsetup", "new-resource", resource(minor)],
            ["drbdsetup", "new-minor", resource(minor), str(minor), "0"],
            ["drbdmeta", dev_path(minor), "v08", meta_dev, "flex-external", "apply-al"],
            attach]


def barrier_options(params: DrbdParams) -> list[str]:
    options = ["--md-flushes=no"] if params.meta_barriers else []
    if params.disk_barriers != "n":
        options += [opt for letter, opt in _BARRIER_OPTIONS if letter in params.disk_barriers]
    return options


def net_init(minor: int, local: tuple[str, int], remote: tuple[str, int], params: DrbdParams,
             secret: str, dual_primary: bool = False) -> list[list[str]]:
    """Create the resource and minor (if needed) and connect to the peer."""
    connect = ["drbdsetup", "connect", resource(minor), f"ipv4:{local[0]}:{local[1]}",
               f"ipv4:{remote[0]}:{remote[1]}", "--protocol", params.protocol,
               "--after-sb-0pri", "discard-zero-changes", "--after-sb-1pri", "consensus"]
    if dual_primary:
        connect.append("--allow-two-primaries")
    if secret:
        connect += ["--cram-hmac-alg", HMAC_ALG, "--shared-secret", secret]
    connect += shlex.split(params.net_custom)
    return [["drbdsetup", "new-resource", resource(minor)],
            ["drbdsetup", "new-minor", resource(minor), str(minor), "0"], connect]


def sync_params(minor: int, params: DrbdParams) -> list[str]:
    """``disk-options`` setting the resync speed (fixed, or the dynamic controller).

    Raises:
        BlockDeviceError: dynamic resync with ``c-plan-ahead`` 0 (which disables it).
    """
    argv = ["drbdsetup", "disk-options", str(minor)]
    if not params.dynamic_resync:
        return [*argv, "--resync-rate", str(params.resync_rate)]
    if params.c_plan_ahead == 0:
        raise BlockDeviceError("A value of 0 for c-plan-ahead disables the dynamic sync speed "
                               "controller; set the dynamic-resync disk parameter to False "
                               "instead")
    return [*argv, "--c-plan-ahead", str(params.c_plan_ahead),
            "--c-fill-target", str(params.c_fill_target),
            "--c-delay-target", str(params.c_delay_target),
            "--c-max-rate", str(params.c_max_rate), "--c-min-rate", str(params.c_min_rate)]


def disconnect(local: tuple[str, int], remote: tuple[str, int]) -> list[str]:
    return ["drbdsetup", "disconnect", f"ipv4:{local[0]}:{local[1]}",
            f"ipv4:{remote[0]}:{remote[1]}"]


def primary(minor: int, force: bool) -> list[str]:
    return ["drbdsetup", "primary", str(minor), *(["--force"] if force else [])]


def simple(command: str, minor: int) -> list[str]:
    """``secondary``, ``detach``, ``show``, ``pause-sync``, ``resume-sync`` of a minor."""
    return ["drbdsetup", command, str(minor)]


def down(minor: int) -> list[str]:
    return ["drbdsetup", "down", resource(minor)]


def resize(minor: int, size_mib: int) -> list[str]:
    return ["drbdsetup", "resize", str(minor), "--size", f"{size_mib}m"]
