"""Cluster files pushed by the master: ``upload_file`` and ``write_ssconf_files``."""

from __future__ import annotations

import asyncio
import base64
import binascii
import grp
import logging
import os
import pwd
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral import serde
from corral.backend import ssconf
from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.errors import ParameterError
from corral.layout import NodeLayout

log = logging.getLogger(__name__)

ALLOWED_FILES: tuple[Callable[[NodeLayout], Path], ...] = (
    lambda layout: layout.rapi_users_file,
    lambda layout: layout.ca_cert,
    lambda layout: layout.external_mip_script,
    lambda layout: layout.ca_key,
    lambda layout: layout.rapi_cert,
    lambda layout: layout.rapi_key,
)
"""The only files ``upload_file`` may write, as functions of the node's layout."""

SECRET_MODE = 0o600
"""The mode of :attr:`NodeLayout.secret_files`, whatever ``upload_file`` was asked."""

ENCODING_NONE = ("none", 0)
ENCODING_ZLIB_BASE64 = ("zlib+base64", 1)
"""Ganeti's payload encodings, by name and by their numeric wire value."""


def decode_payload(data: Any, *, plain_is_base64: bool) -> bytes:
    """The bytes of a payload sent as text or as Ganeti's ``[encoding, payload]`` pair.

    A bare string is base64 when ``plain_is_base64`` (``upload_file``) and raw
    text otherwise (job queue files). In a pair, ``none``/0 means raw text and
    ``zlib+base64``/1 a zlib stream in base64.

    Raises:
        ParameterError: unknown encoding or undecodable payload.
    """
    try:
        if isinstance(data, str):
            return base64.b64decode(data, validate=True) if plain_is_base64 else data.encode()
        if isinstance(data, list | tuple) and len(data) == 2 and isinstance(data[1], str):
            encoding, payload = data
            if encoding in ENCODING_NONE:
                return str(payload).encode()
            if encoding in ENCODING_ZLIB_BASE64:
                return zlib.decompress(base64.b64decode(payload, validate=True))
            raise ParameterError(f"Unknown payload encoding {encoding!r}")
    except (binascii.Error, zlib.error, ValueError) as err:
        raise ParameterError(f"Cannot decode payload: {err}") from err
    raise ParameterError("Payload must be a string or an [encoding, payload] pair")


def allowed_path(layout: NodeLayout, file_name: str) -> Path:
    """The path ``file_name`` (relative to the node root) names, if it may be uploaded.

    Raises:
        ParameterError: the name has ``..`` parts or is not in :data:`ALLOWED_FILES`.
    """
    relative = Path(file_name.lstrip("/"))
    if not file_name or ".." in relative.parts:
        raise ParameterError(f"File name {file_name!r} is not allowed for upload")
    target = (layout.root / relative).resolve()
    for allowed in ALLOWED_FILES:
        path = allowed(layout)
        if path.resolve() == target:
            return path
    raise ParameterError(f"File name {file_name!r} is not allowed for upload")


def _lookup_id(name: str, kind: str, getter: Callable[[str], int]) -> int:
    if not name:
        return 0
    if name.isdigit():
        return int(name)
    try:
        return getter(name)
    except KeyError:
        log.warning("Unknown %s %r for an uploaded file, using root", kind, name)
        return 0


@dataclass(frozen=True, slots=True)
class Upload:
    """A decoded ``upload_file`` request."""

    path: Path
    data: bytes
    mode: int
    uid: int
    gid: int
    atime: float
    mtime: float


def write_upload(upload: Upload) -> None:
    """Replace the file atomically, then set owner and times."""
    upload.path.parent.mkdir(parents=True, exist_ok=True)
    serde.atomic_write(upload.path, upload.data, upload.mode)
    try:
        os.chown(upload.path, upload.uid, upload.gid)
    except PermissionError:
        log.warning("Cannot change the owner of %s (not running as root)", upload.path)
    os.utime(upload.path, (upload.atime, upload.mtime))


@handles("upload_file")
async def upload_file(
    ctx: NodeContext,
    file_name: str,
    data: Any,
    mode: int,
    uid: str,
    gid: str,
    atime: float,
    mtime: float,
) -> None:
    """Write one allowed cluster file (name relative to the node root).

    Raises:
        ParameterError: the file is not allowed, or the data cannot be decoded.
    """
    path = allowed_path(ctx.layout, file_name)
    upload = Upload(
        path=path,
        data=decode_payload(data, plain_is_base64=True),
        mode=SECRET_MODE if path in ctx.layout.secret_files else mode & 0o7777,
        uid=_lookup_id(uid, "user", lambda name: pwd.getpwnam(name).pw_uid),
        gid=_lookup_id(gid, "group", lambda name: grp.getgrnam(name).gr_gid),
        atime=atime,
        mtime=mtime,
    )
    await asyncio.to_thread(write_upload, upload)


@handles("write_ssconf_files")
async def write_ssconf_files(ctx: NodeContext, values: dict[str, Any]) -> None:
    """Make the node's ssconf files exactly ``values`` (absent keys are removed).

    Raises:
        ParameterError: a key is not a safe ssconf key.
    """
    await asyncio.to_thread(ssconf.write_ssconf, ctx.layout, values)
