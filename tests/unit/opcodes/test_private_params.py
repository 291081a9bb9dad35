"""Redaction of private and secret opcode parameters."""

from __future__ import annotations

from corral.opcodes.codec import decode_opcode
from corral.opcodes.private import (
    PRIVATE_FIELDS,
    REDACTED,
    SECRET_FIELDS,
    has_secrets,
    hidden_values,
    redacted,
    scrub,
    served_input,
    without_secrets,
)

REINSTALL = {"OP_ID": "OP_INSTANCE_REINSTALL", "instance_name": "vm1",
             "osparams": {"size": "1G"}, "osparams_private": {"pw": "hunter22"},
             "osparams_secret": {"key": "topsecret"}}


def test_redacted_keeps_names_and_nesting() -> None:
    assert redacted({"a": 1, "os": {"b": "x"}}) == {"a": REDACTED, "os": {"b": REDACTED}}
    assert redacted(None) is None


def test_stored_input_loses_only_secret_values() -> None:
    stored = without_secrets(REINSTALL)
    assert stored["osparams_secret"] == {"key": REDACTED}
    assert stored["osparams_private"] == {"pw": "hunter22"}
    assert REINSTALL["osparams_secret"] == {"key": "topsecret"}  # the original is untouched
    assert has_secrets(stored)
    assert not has_secrets({"OP_ID": "OP_TEST_DELAY"})


def test_served_input_hides_private_and_secret_values() -> None:
    served = served_input(REINSTALL)
    assert served["osparams"] == {"size": "1G"}
    assert served["osparams_private"] == {"pw": REDACTED}
    assert served["osparams_secret"] == {"key": REDACTED}
    plain = {"OP_ID": "OP_TEST_DELAY", "duration": 1}
    assert served_input(plain) is plain
    assert served_input(None) is None


def test_scrub_replaces_values_in_free_text() -> None:
    hidden = hidden_values(decode_opcode(REINSTALL), SECRET_FIELDS | PRIVATE_FIELDS)
    assert hidden == {"hunter22", "topsecret"}
    message = ["OpExecError", ["script said topsecret and hunter22"]]
    assert scrub(message, hidden) == ["OpExecError", [f"script said {REDACTED} and {REDACTED}"]]
    assert hidden_values({"osparams_secret": {"k": "ab"}}, SECRET_FIELDS) == frozenset()
    assert scrub(message, frozenset()) is message


def test_join_token_is_a_secret() -> None:
    op = {"OP_ID": "OP_NODE_ADD", "node_name": "node4", "join_token": "tok-abcdef"}
    stored = without_secrets(op)
    assert stored["join_token"] == REDACTED
    assert stored["node_name"] == "node4"
    assert has_secrets(op)
    assert served_input(op)["join_token"] == REDACTED
