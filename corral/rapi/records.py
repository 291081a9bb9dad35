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

from collections.abc import Iterator, Sequence
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

    Each row holds one value per field, in order. Encoding consumes ``rows``:
    each piece's rows are released once encoded, so a big answer is freed as it
    is sent rather than all at once after it.
    """

    fields: Sequence[str]
    rows: list[list[Any]]

    def pieces(self, size: int = RECORDS_PER_PIECE) -> Iterator[bytes | bytearray | memoryview]:
        """The array's JSON, ``size`` records per piece; the pieces joined are the
        encoding of the whole list of records."""
        rows = self.rows
        if not rows:
            yield b"[]"
            return
        record = record_type(tuple(self.fields))
        encode_into = msgspec.json.Encoder().encode_into
        first = True
        while rows:
            piece = bytearray()
            encode_into(list(starmap(record, rows[:size])), piece)
            del rows[:size]
            if not first:  # "[a,b]" continues the array: ",a,b]"
                piece[0] = _COMMA
            first = False
            yield piece if not rows else memoryview(piece)[:-1]

    async def send(self, request: web.Request, content_type: str) -> web.StreamResponse:
        """Answer ``request`` with the array, written as it is encoded."""
        response = web.StreamResponse()
        response.content_type = content_type
        await response.prepare(request)
        for piece in self.pieces():
            await response.write(piece)
        await response.write_eof()
        return response
