"""Opcodes in Ganeti's JSON shape: decoding, validation naming the field, encoding."""

from __future__ import annotations

import pytest

from corral.errors import OpCodeUnknown, ParameterError
from corral.opcodes import REGISTRY, decode_opcode, encode_opcode
from corral.opcodes.base import op_id_from_class_name
from corral.opcodes.test import OpTestDelay


@pytest.mark.parametrize(
    ("name", "op_id"),
    [
        ("OpClusterPostInit", "OP_CLUSTER_POST_INIT"),
        ("OpNodeQueryvols", "OP_NODE_QUERYVOLS"),
        ("OpClusterActivateMasterIp", "OP_CLUSTER_ACTIVATE_MASTER_IP"),
        ("OpTestDelay", "OP_TEST_DELAY"),
    ],
    ids=["post-init", "queryvols", "master-ip", "delay"],
)
def test_op_id_naming(name: str, op_id: str) -> None:
    assert op_id_from_class_name(name) == op_id


def test_registry_keys_match_classes() -> None:
    for op_id, cls in REGISTRY.items():
        assert op_id_from_class_name(cls.__name__) == op_id


def test_decode_ganeti_client_shape() -> None:
    op = decode_opcode(
        {
            "OP_ID": "OP_TEST_DELAY",
            "duration": 0.001,
            "on_master": False,
            "on_nodes": [],
            "repeat": 0,
            "reason": [["gnt:client:gnt-debug", "delay", 1700000000000000000]],
            "priority": 0,
            "debug_level": 0,
            "dry_run": False,
        }
    )
    assert isinstance(op, OpTestDelay)
    assert op.duration == 0.001
    assert op.summary() == "TEST_DELAY(0.001)"


@pytest.mark.parametrize(
    ("data", "error", "needle"),
    [
        ({"OP_ID": "OP_TEST_DELAY", "duration": "x"}, ParameterError, "duration"),
        ({"OP_ID": "OP_TEST_DELAY", "duration": 1, "bogus": 2}, ParameterError, "bogus"),
        ({"OP_ID": "OP_TEST_DELAY"}, ParameterError, "duration"),
        ({"OP_ID": "OP_TEST_DELAY", "duration": -1}, ParameterError, "duration"),
        ({"OP_ID": "OP_TEST_DELAY", "duration": 1, "priority": 99}, ParameterError, "priority"),
        ({"OP_ID": "OP_NO_SUCH"}, OpCodeUnknown, "OP_NO_SUCH"),
        ({"duration": 1}, OpCodeUnknown, "None"),
    ],
    ids=["bad-type", "unknown-field", "missing", "negative", "priority", "unknown-op", "no-op-id"],
)
def test_bad_input_names_the_field(
    data: dict[str, object], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=needle):
        decode_opcode(data)


def test_encode_round_trip() -> None:
    op = OpTestDelay(duration=2.0, on_nodes=["node1"])
    data = encode_opcode(op)
    assert data["OP_ID"] == "OP_TEST_DELAY"
    assert decode_opcode(data) == op
