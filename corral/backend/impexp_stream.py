"""The import/export wire format, and the blocking disk side of a transfer.

After the TLS handshake the exporter sends a header (4-byte big-endian length, then
JSON ``{"version", "magic", "size", "compress"}``) and then the body, a sequence of
records, compressed as one stream unless ``compress`` is ``none``::

    b"D" + length (8 bytes, big-endian) + data   bytes at the current offset
    b"Z" + length                                that many zero bytes (sent as a count)
    b"E" + 32 + digest                           the end: SHA-256 of every byte sent

The importer writes the records to its disk, hashing what it writes; on ``E`` it
checks the length and the digest, syncs the disk and answers one line: ``OK``, or
``ERR <reason>``. :class:`DiskReader` and :class:`DiskWriter` do the blocking part
(disk I/O, hashing, compression); callers run their methods in a thread.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec

from corral.errors import CorralError

VERSION = 1
CHUNK = 1 << 20
"""Bytes read from the source disk per record."""
MAX_RECORD = 4 * CHUNK
"""Largest data record an importer accepts."""
MAX_HEADER = 4096
_RECORD = struct.Struct(">cQ")
_ZEROS = bytes(CHUNK)
_DIGEST_SIZE = hashlib.sha256().digest_size
_GZIP_WBITS = 31
"""zlib's window bits for the gzip container."""
_INFLATE_STEP = 4 * CHUNK
"""At most this many decompressed bytes per step (a small input can inflate a lot)."""

COMPRESSION_LEVELS: dict[str, int | None] = {
    "none": None, "gzip": 6, "gzip-fast": 1, "gzip-slow": 9,
}
"""Supported ``compress`` values and their zlib level (``None``: no compression)."""


class ImportExportError(CorralError):
    """An import or export cannot start or failed (Ganeti's ImportExportError)."""


def check_compression(name: str) -> None:
    """Raises ImportExportError naming the supported tools unless ``name`` is one."""
    if name not in COMPRESSION_LEVELS:
        raise ImportExportError(
            f"Unsupported compression {name!r} for a disk transfer;"
            f" supported: {', '.join(COMPRESSION_LEVELS)}"
        )


# --- header -----------------------------------------------------------------------


class Header(msgspec.Struct, frozen=True):
    """What the exporter announces before the body."""

    magic: str
    size: int
    compress: str
    version: int = VERSION

    def encode(self) -> bytes:
        raw = msgspec.json.encode(self)
        return len(raw).to_bytes(4, "big") + raw


def header_length(prefix: bytes) -> int:
    """The JSON length announced by the 4-byte prefix; refuses absurd ones."""
    length = int.from_bytes(prefix, "big")
    if not 0 < length <= MAX_HEADER:
        raise ImportExportError(f"Corrupt stream: header of {length} bytes")
    return length


def decode_header(raw: bytes) -> Header:
    """The header from its JSON text.

    Raises:
        ImportExportError: not a header of this version, or a bad size or compression.
    """
    try:
        header = msgspec.json.decode(raw, type=Header)
    except msgspec.DecodeError as err:
        raise ImportExportError(f"Corrupt stream: bad header: {err}") from None
    if header.version != VERSION:
        raise ImportExportError(f"Stream version {header.version} is not supported")
    if header.size < 0:
        raise ImportExportError(f"Corrupt stream: negative size {header.size}")
    check_compression(header.compress)
    return header


# --- compression ------------------------------------------------------------------


class _Deflate:
    def __init__(self, level: int | None) -> None:
        self._obj = None if level is None else zlib.compressobj(level, zlib.DEFLATED,
                                                                _GZIP_WBITS)

    def compress(self, data: bytes) -> bytes:
        return data if self._obj is None else self._obj.compress(data)

    def flush(self) -> bytes:
        return b"" if self._obj is None else self._obj.flush()


class _Inflate:
    def __init__(self, compressed: bool) -> None:
        self._obj = zlib.decompressobj(_GZIP_WBITS) if compressed else None

    def decompress(self, data: bytes) -> Iterator[bytes]:
        if self._obj is None:
            yield data
            return
        try:
            pending = data
            while pending:
                yield self._obj.decompress(pending, _INFLATE_STEP)
                pending = self._obj.unconsumed_tail
        except zlib.error as err:
            raise ImportExportError(f"Corrupt stream: cannot decompress: {err}") from None


# --- the disks --------------------------------------------------------------------


def _open(path: str, flags: int, what: str) -> int:
    try:
        return os.open(path, flags | os.O_CLOEXEC)
    except OSError as err:
        raise ImportExportError(f"Cannot open {what} {path}: {err.strerror}") from None


def _size(fd: int) -> tuple[int, bool]:
    """(size in bytes, whether it is a regular file) of an open device or file."""
    info = os.fstat(fd)
    if stat.S_ISREG(info.st_mode):
        return info.st_size, True
    return os.lseek(fd, 0, os.SEEK_END), False


def _record(kind: bytes, length: int, payload: bytes = b"") -> bytes:
    return _RECORD.pack(kind, length) + payload


class DiskReader:
    """The exporter's side: the source disk as body blocks (compressed records)."""

    def __init__(self, path: str, compress: str) -> None:
        check_compression(compress)
        self._fd = _open(path, os.O_RDONLY, "source")
        self.size, _ = _size(self._fd)
        self.offset = 0
        self._hash = hashlib.sha256()
        self._deflate = _Deflate(COMPRESSION_LEVELS[compress])
        self._ended = False

    def next_block(self) -> bytes | None:
        """The next bytes of the body (possibly empty), or None after the end record."""
        if self.offset < self.size:
            length = min(CHUNK, self.size - self.offset)
            data = os.pread(self._fd, length, self.offset)
            if len(data) != length:
                raise ImportExportError(
                    f"Source shrank: read {len(data)} of {length} bytes at {self.offset}"
                )
            self._hash.update(data)
            self.offset += length
            zero = data == (_ZEROS if length == CHUNK else bytes(length))
            record = _record(b"Z", length) if zero else _record(b"D", length, data)
            return self._deflate.compress(record)
        if self._ended:
            return None
        self._ended = True
        end = _record(b"E", _DIGEST_SIZE, self._hash.digest())
        return self._deflate.compress(end) + self._deflate.flush()

    def close(self) -> None:
        os.close(self._fd)


class DiskWriter:
    """The importer's side: applies body bytes to the destination, checks the end."""

    def __init__(self, path: str, header: Header) -> None:
        self._fd = _open(path, os.O_WRONLY, "destination")
        try:
            self._prepare(path, header.size)
        except BaseException:
            os.close(self._fd)
            raise
        self.size = header.size
        self.offset = 0
        self.finished = False
        self._hash = hashlib.sha256()
        self._inflate = _Inflate(COMPRESSION_LEVELS[header.compress] is not None)
        self._buffer = bytearray()

    def _prepare(self, path: str, size: int) -> None:
        capacity, self._regular = _size(self._fd)
        if self._regular:  # a file starts empty: holes need no writes
            os.ftruncate(self._fd, 0)
            os.ftruncate(self._fd, size)
        elif size > capacity:
            raise ImportExportError(
                f"The source ({size} bytes) does not fit on {path} ({capacity} bytes)"
            )

    def feed(self, data: bytes) -> None:
        """Apply received body bytes (any split). Raises ImportExportError on corruption."""
        if self.finished:
            raise ImportExportError("Corrupt stream: data after the end record")
        for plain in self._inflate.decompress(data):
            self._buffer += plain
            self._apply_records()

    def _apply_records(self) -> None:
        buffer = self._buffer
        while not self.finished and len(buffer) >= _RECORD.size:
            kind, length = _RECORD.unpack_from(buffer)
            if kind == b"Z":
                del buffer[:_RECORD.size]
                self._zeros(length)
                continue
            if kind not in (b"D", b"E") or length > MAX_RECORD:
                raise ImportExportError(f"Corrupt stream: record {kind!r} of {length} bytes")
            end = _RECORD.size + length
            if len(buffer) < end:
                return
            payload = bytes(buffer[_RECORD.size:end])
            del buffer[:end]
            if kind == b"D":
                self._write(payload)
            else:
                self._finish(payload)

    def _advance(self, length: int) -> None:
        if self.offset + length > self.size:
            raise ImportExportError(
                f"Corrupt stream: data beyond the announced {self.size} bytes"
            )
        self.offset += length

    def _write(self, data: bytes) -> None:
        start = self.offset
        self._advance(len(data))
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, start)
            view, start = view[written:], start + written
        self._hash.update(data)

    def _zeros(self, length: int) -> None:
        start = self.offset
        self._advance(length)
        remaining = length
        while remaining:
            step = min(remaining, CHUNK)
            if not self._regular:
                os.pwrite(self._fd, _ZEROS[:step], start + length - remaining)
            self._hash.update(memoryview(_ZEROS)[:step])
            remaining -= step

    def _finish(self, digest: bytes) -> None:
        if self.offset != self.size:
            raise ImportExportError(
                f"Stream ended after {self.offset} of {self.size} bytes"
            )
        if digest != self._hash.digest():
            raise ImportExportError(
                "Checksum mismatch: the data written differ from the data sent"
            )
        os.fsync(self._fd)
        self.finished = True

    def close(self) -> None:
        os.close(self._fd)


@dataclass(frozen=True, slots=True)
class Reply:
    """The importer's verdict, one line on the wire."""

    ok: bool
    reason: str = ""

    def encode(self) -> bytes:
        text = "OK" if self.ok else "ERR " + " ".join(self.reason.split())
        return text.encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> Reply:
        text = line.decode("utf-8", "replace").strip()
        if text == "OK":
            return cls(True)
        if text.startswith("ERR "):
            return cls(False, text[4:])
        return cls(False, "the import closed the connection without a verdict")
