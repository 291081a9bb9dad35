"""Request bodies to handler arguments, checked against the table."""

from __future__ import annotations

import pytest

from corral.backend.server import BadRequest, decode_args
from corral.rpc.calls import CALLS, Arg, Fanout, RpcCall, Timeout

TYPED = RpcCall(
    "typed", None, Fanout.SINGLE, Timeout.URGENT,
    (Arg("count", int), Arg("ratio", float), Arg("flag", bool), Arg("name", str),
     Arg("items", list), Arg("params", dict), Arg("anything")),
    "test call",
)
GOOD = b'[3, 0.5, true, "x", [1], {"a": 1}, null]'


def test_decodes_every_type_by_name() -> None:
    assert decode_args(TYPED, GOOD) == {
        "count": 3, "ratio": 0.5, "flag": True, "name": "x", "items": [1],
        "params": {"a": 1}, "anything": None,
    }


def test_int_is_accepted_for_float() -> None:
    args = decode_args(CALLS["test_delay"], b"[2]")
    assert args == {"duration": 2.0}
    assert isinstance(args["duration"], float)


def test_no_arguments() -> None:
    assert decode_args(CALLS["version"], b"[]") == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"", "call 'typed': body is empty; expected a JSON list",
                     id="empty"),
        pytest.param(b"[1,", "call 'typed': body is not valid JSON", id="truncated"),
        pytest.param(b'"x"', "call 'typed': body must be a JSON list of arguments, got str",
                     id="string"),
        pytest.param(b"[1, 0.5]", "call 'typed' takes 7 argument(s) (count, ratio, flag, "
                     "name, items, params, anything), got 2", id="arity"),
        pytest.param(b'[true, 0.5, true, "x", [], {}, 1]',
                     "call 'typed': argument 1 (count) must be int, got bool", id="bool-for-int"),
        pytest.param(b'[1, "0.5", true, "x", [], {}, 1]',
                     "call 'typed': argument 2 (ratio) must be float, got str", id="str-for-float"),
        pytest.param(b'[1, 0.5, 1, "x", [], {}, 1]',
                     "call 'typed': argument 3 (flag) must be bool, got int", id="int-for-bool"),
        pytest.param(b'[1, 0.5, true, null, [], {}, 1]',
                     "call 'typed': argument 4 (name) must be str, got null", id="null-for-str"),
        pytest.param(b'[1, 0.5, true, "x", {}, {}, 1]',
                     "call 'typed': argument 5 (items) must be list, got dict", id="dict-for-list"),
    ],
)
def test_bad_bodies_name_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        decode_args(TYPED, body)
    assert str(info.value).startswith(message)


def test_other_types_are_converted_with_msgspec() -> None:
    call = RpcCall("pairs", None, Fanout.SINGLE, Timeout.URGENT,
                   (Arg("pairs", list[tuple[str, int]]),), "test call")
    assert decode_args(call, b'[[["a", 1]]]') == {"pairs": [("a", 1)]}
    with pytest.raises(BadRequest, match=r"argument 1 \(pairs\) is invalid: Expected `int`"):
        decode_args(call, b'[[["a", "b"]]]')
