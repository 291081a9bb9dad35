"""JSON helpers shared by config, jobs, LUXI and RPC."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def dumps(value: Any) -> bytes:
    """Compact JSON bytes."""
    return _encoder.encode(value)


def loads(data: bytes | str) -> Any:
    """Parse JSON into plain Python values."""
    return _decoder.decode(data)


def to_builtins(value: Any) -> Any:
    """Structs, enums and tuples to plain JSON-able values."""
    return msgspec.to_builtins(value)


def atomic_write(path: Path, data: bytes, mode: int = 0o644, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a mix.

    Writes a temporary file in the same directory, fsyncs it, renames it over
    ``path`` and fsyncs the directory, so the result survives ``kill -9`` and a
    power loss at any instant.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if fsync:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
