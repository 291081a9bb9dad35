"""The nesting check on raw JSON agrees with the nesting a decoder would meet."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corral.jsonlimits import MAX_DEPTH, JsonTooDeep, check_depth, exceeds_depth


def depth_of(value: Any) -> int:
    """Nesting of a decoded value: 0 for a scalar, 1 for ``[]``."""
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


tricky_text = st.text(alphabet='[]{}"\\ab\n\x00', max_size=6)
json_values = st.recursive(
    st.none() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(value=json_values, limit=st.integers(0, 12), indent=st.sampled_from([None, 1]))
def test_matches_the_decoded_depth(value: Any, limit: int, indent: int | None) -> None:
    raw = json.dumps(value, indent=indent, ensure_ascii=False).encode()
    assert exceeds_depth(raw, limit) == (depth_of(value) > limit)


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1])
def test_limit_is_inclusive(depth: int) -> None:
    raw = b'{"a":' * depth + b"0" + b"}" * depth
    assert exceeds_depth(raw) == (depth > MAX_DEPTH)


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000 + b"]" * 100_000,
     b"[" * 100_000,
     b"[[]" * 100_000 + b"]" * 100_000,
     b"[" + b"[[[[[[]]]]], " * 20 + b"[" * 70 + b"]" * 71],
    ids=["balanced", "unclosed", "interleaved", "behind-siblings"],
)
def test_deep_documents_are_caught(raw: bytes) -> None:
    with pytest.raises(JsonTooDeep, match=f"deeper than the limit of {MAX_DEPTH} levels"):
        check_depth(raw)


def test_brackets_inside_strings_do_not_count() -> None:
    raw = json.dumps(["[" * 1000, "{\\\"[" * 100, {"[[[": "]]]"}]).encode()
    assert not exceeds_depth(raw, 2)
