"""Bulk answers as msgspec structs: one JSON object per item without a dict per item.

A listing of 10,000 instances is 10,000 objects of ~36 keys. Built as dicts,
each costs a ``zip`` and a hash-table fill, then the encoder walks them key by
key. A struct per field list is built positionally from the query's row (one
C call) and encoded with its keys written as pre-encoded bytes: the JSON is
the same, object keys in field order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import starmap
from typing import Any

import msgspec


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


def as_records(fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[msgspec.Struct]:
    """One record per row; each row holds one value per field, in order."""
    return list(starmap(record_type(tuple(fields)), rows))
