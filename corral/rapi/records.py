"""Bulk answers: JSON arrays of records, built as msgspec structs and sent piece by piece.

A listing of 10,000 instances is 10,000 objects of ~36 keys (12 MB of JSON).
Built as dicts, each costs a ``zip`` and a hash-table fill, then the encoder
walks them key by key. A struct per field list is built positionally from the
query's row (one C call) and encoded with its keys written as pre-encoded
bytes: the JSON is the same, object keys in field order.

The array is encoded and sent a few hundred records at a time (chunked
transfer encoding), so the event loop serves other requests between pieces and
the client reads while the rest is encoded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import starmap
from typing import Any

import msgspec
from aiohttp import web

RECORDS_PER_PIECE = 500
"""Records encoded and written at a time (~600 KB of instance records)."""
_COMMA = ord(",")


@lru_cache(maxsize=64)
def record_type(fields: tuple[str, ...]) -> type[msgspec.Struct]:
    """A struct encoding as ``{field: value, ...}`` with the keys in ``fields`` order.

    ``gc=False``: records hold no reference cycles, and leaving them untracked
    spares the cycle collector a walk over every record of a big listing.

    Raises:
        ValueError: a field name repeats.
    """
    if len(set(fields)) != len(fields):
        raise ValueError(f"repeated field names in {list(fields)}")
    spec = [(f"f{i}", Any, msgspec.field(name=name)) for i, name in enumerate(fields)]
    return msgspec.defstruct("Record", spec, gc=False)


@dataclass(frozen=True, slots=True)
class RecordStream:
    """A resource's answer: one JSON object of ``fields`` per row, in a JSON array.

    Each row holds one value per field, in order: first ``rows``, then the blocks of
    ``more`` (a query still being built while the first rows are sent). Encoding
    consumes the rows: each piece's rows are released once encoded, so a big answer
    is freed as it is sent rather than all at once after it.
    """

    fields: Sequence[str]
    rows: list[list[Any]]
    more: AsyncIterator[list[list[Any]]] | None = None

    def pieces(self, size: int = RECORDS_PER_PIECE) -> Iterator[bytes | bytearray | memoryview]:
        """The JSON of the array of ``rows`` (not ``more``), ``size`` records per piece;
        the pieces joined are the encoding of the whole list of records."""
        array = ArrayEncoder(self.fields)
        yield from array.pieces(self.rows, size)
        yield array.close()

    async def send(self, request: web.Request, content_type: str) -> web.StreamResponse:
        """Answer ``request`` with the array, written as it is encoded."""
        response = web.StreamResponse()
        response.content_type = content_type
        await response.prepare(request)
        array = ArrayEncoder(self.fields)
        for piece in array.pieces(self.rows):
            await response.write(piece)
        if self.more is not None:
            async for block in self.more:
                for piece in array.pieces(block):
                    await response.write(piece)
        await response.write(array.close())
        await response.write_eof()
        return response


class ArrayEncoder:
    """Encodes one JSON array of records piece by piece: ``[`` before the first record,
    commas between records, ``]`` from :meth:`close`."""

    def __init__(self, fields: Sequence[str]) -> None:
        self._record = record_type(tuple(fields))
        self._encode_into = msgspec.json.Encoder().encode_into
        self._started = False

    def pieces(self, rows: list[list[Any]], size: int = RECORDS_PER_PIECE,
               ) -> Iterator[bytearray | memoryview]:
        """The next records of the array, ``size`` at a time (``rows`` is emptied)."""
        while rows:
            piece = bytearray()
            self._encode_into(list(starmap(self._record, rows[:size])), piece)
            del rows[:size]
            if self._started:  # "[a,b]" continues the array: ",a,b"
                piece[0] = _COMMA
            self._started = True
            yield memoryview(piece)[:-1]

    def close(self) -> bytes:
        """The end of the array (the whole of it when no record was written)."""
        return b"]" if self._started else b"[]"
