"""xl's config syntax: quoting, rendering values, reading settings back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.errors import HypervisorError
from corral.hypervisor.xen.config_values import (
    XlSyntaxError,
    XlValue,
    quote,
    read_settings,
    read_value,
    render_setting,
    render_value,
    unquote,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", "'plain'"),
    ("it's", "'it\\'s'"),
    ("back\\slash", "'back\\\\slash'"),
    ("two\nlines", "'two\\nlines'"),
    ("tab\there", "'tab\\there'"),
    ("bell\a", "'bell\a'"),
    ('double "quotes" stay', "'double \"quotes\" stay'"),
    ("", "''"),
], ids=["plain", "quote", "backslash", "newline", "tab", "control", "double-quotes", "empty"])
def test_quote(text: str, expected: str) -> None:
    assert quote(text) == expected
    assert unquote(expected) == text


@given(st.text().filter(lambda t: "\0" not in t))
def test_any_text_survives_quoting(text: str) -> None:
    assert read_value(quote(text)) == text


_VALUES: st.SearchStrategy[XlValue] = st.recursive(
    st.text(max_size=8).filter(lambda t: "\0" not in t) | st.integers(min_value=0, max_value=2**40),
    lambda inner: st.lists(inner, max_size=4).map(tuple), max_leaves=10)


@given(_VALUES)
def test_any_value_survives_render_and_read(value: XlValue) -> None:
    assert read_value(render_value(value)) == value


def test_render_value_shapes() -> None:
    assert render_value(("a", 1, ("b",))) == "['a', 1, ['b']]"
    assert render_setting("vcpus", 2) == "vcpus = 2"


@pytest.mark.parametrize("bad", [True, -1], ids=["bool", "negative"])
def test_render_value_refuses_what_xl_cannot_say(bad: XlValue) -> None:
    with pytest.raises(HypervisorError, match="xl"):
        render_value(bad)


def test_render_setting_refuses_bad_names() -> None:
    with pytest.raises(HypervisorError, match="invalid xl setting name 'Kernel'"):
        render_setting("Kernel", "x")


def test_reads_xl_syntax() -> None:
    text = """# a comment line
name = "dq" # trailing comment
memory = 0x80; vcpus = 010
disk = [ 'phy:/dev/a,xvda,w',
         "file:/b,xvdb,r",   # comment inside a list
       ]

extra = 'ro'
extra += ' quiet'
vif = ['mac=aa:00:00:00:00:01']
vif += ['mac=aa:00:00:00:00:02']
nested = [[1, 2], []]
"""
    assert read_settings(text) == [
        ("name", "=", "dq"), ("memory", "=", 128), ("vcpus", "=", 8),
        ("disk", "=", ("phy:/dev/a,xvda,w", "file:/b,xvdb,r")),
        ("extra", "=", "ro"), ("extra", "+=", " quiet"),
        ("vif", "=", ("mac=aa:00:00:00:00:01",)), ("vif", "+=", ("mac=aa:00:00:00:00:02",)),
        ("nested", "=", ((1, 2), ())),
    ]


def test_escapes_as_libxlu_reads_them() -> None:
    assert unquote(r"'\a\b\f\n\r\t\v\"\'\\'") == "\a\b\f\n\r\t\v\"'\\"
    assert unquote(r"'un\known'") == "unnown"  # libxlu drops an unknown escape


@pytest.mark.parametrize("literal", [r"'\x41'", r"'\101'"], ids=["hex", "octal"])
def test_numeric_escapes_are_refused(literal: str) -> None:
    with pytest.raises(XlSyntaxError, match="numeric escape"):
        unquote(literal)


def test_nul_cannot_be_quoted() -> None:
    with pytest.raises(HypervisorError, match="NUL"):
        quote("a\0b")


def test_last_line_without_newline() -> None:
    assert read_settings("memory = 64") == [("memory", "=", 64)]


@pytest.mark.parametrize(("text", "line", "near"), [
    ("memory = 1\nname 'x'\n", 2, "'x'"),
    ("memory = \n", 1, "<newline>"),
    ("Memory = 1\n", 1, "Memory"),
    ("disk = ['a' 'b']\n", 1, "'b'"),
    ("name = 'unterminated\n", 1, "'unterminated"),
    ("memory = 1 2\n", 1, "2"),
    ("vif = [\n'a',\n", 3, "<end>"),
], ids=["no-equals", "no-value", "upper-case-name", "no-comma", "unterminated", "two-values",
        "open-list"])
def test_syntax_errors_give_the_line(text: str, line: int, near: str) -> None:
    with pytest.raises(XlSyntaxError) as info:
        read_settings(text)
    assert f"line {line}:" in str(info.value)
    assert near in str(info.value)


def test_read_value_wants_one_value() -> None:
    assert read_value("['a', 'b']") == ("a", "b")
    with pytest.raises(XlSyntaxError):
        read_value("'a'; b = 1")
