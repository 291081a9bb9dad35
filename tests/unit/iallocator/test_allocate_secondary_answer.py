"""The ``allocate-secondary`` answer (Ganeti's IAReqInstanceAllocateSecondary: one node
name) as the protocol check accepts or refuses it."""

from __future__ import annotations

from typing import Any

import pytest

from corral.iallocator import protocol as proto


def test_a_node_name_is_accepted() -> None:
    answer = {"success": True, "info": "ok", "result": "node2"}
    assert proto.check_answer(proto.ALLOCATE_SECONDARY, answer) == answer


@pytest.mark.parametrize("result", [["node2"], "", None, 3])
def test_anything_else_is_refused(result: Any) -> None:
    with pytest.raises(proto.ProtocolError, match="expected a node name"):
        proto.check_answer(proto.ALLOCATE_SECONDARY,
                           {"success": True, "info": "", "result": result})


def test_a_failure_needs_no_node() -> None:
    answer = {"success": False, "info": "no room", "result": ""}
    assert proto.check_answer(proto.ALLOCATE_SECONDARY, answer)["info"] == "no room"
