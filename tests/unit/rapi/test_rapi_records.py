"""Bulk answers: records encode as the dicts they replace, piece by piece."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from corral.rapi.records import ArrayEncoder, RecordStream, record_type

FIELDS = ["name", "nic.ips", "beparams", "oper_state"]


def _rows(count: int) -> list[list[Any]]:
    return [[f"inst{i}", [f"10.0.0.{i}"], {"maxmem": 128, "memory": 128}, None]
            for i in range(count)]


def _as_dicts(rows: list[list[Any]]) -> bytes:
    return msgspec.json.encode([dict(zip(FIELDS, row, strict=True)) for row in rows])


@pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 7])
def test_pieces_join_into_the_encoding_of_the_dicts(count: int) -> None:
    rows = _rows(count)
    expected = _as_dicts(rows)
    pieces = list(RecordStream(FIELDS, rows).pieces(size=3))
    assert b"".join(bytes(piece) for piece in pieces) == expected
    assert len(pieces) == -(-count // 3) + 1  # the records, then the closing bracket
    assert rows == []  # released as they were encoded


@pytest.mark.parametrize("blocks", [[], [0], [0, 0], [2], [0, 3, 0, 1], [4, 5, 1]])
def test_blocks_encoded_one_after_the_other_make_one_array(blocks: list[int]) -> None:
    rows = [_rows(count) for count in blocks]
    expected = _as_dicts([row for block in rows for row in block])
    array = ArrayEncoder(FIELDS)
    pieces = [piece for block in rows for piece in array.pieces(block, size=2)]
    assert b"".join(bytes(p) for p in [*pieces, array.close()]) == expected


def test_keys_keep_the_field_order_and_dotted_names() -> None:
    record = record_type(("b", "a.x"))("one", 2)
    assert msgspec.json.encode(record) == b'{"b":"one","a.x":2}'


def test_repeated_field_names_are_refused() -> None:
    with pytest.raises(ValueError, match="repeated"):
        record_type(("name", "name"))
