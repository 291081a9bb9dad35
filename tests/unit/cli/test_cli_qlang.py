"""Ganeti's textual query filters (``qlang.ParseFilter``/``MakeFilter``) in the CLI.

The expected lists are what Ganeti 3.0's own parser returns for the same text; the
last test checks a generated corpus against that parser when it is installed.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from corral.cli import gnt_instance, gnt_job, gnt_node
from corral.cli.errors import CliError, UsageError
from corral.cli.qlang import QueryFilterParseError, make_filter, parse_filter

if TYPE_CHECKING:
    from tests.unit.cli.conftest import FakeLuxi, Runner

GLOB_WEB = r"^web[^.]*\.example\.com(\..*)?$"

# The examples of ganeti(7), "Query filters", and of qlang's docstrings.
DOCUMENTED = [
    ('name =* "web*.example.com"', ["=~", "name", GLOB_WEB]),
    ("(be/vcpus == 3 or be/vcpus == 6) and pnode.group =~ m/^rack/",
     ["&", ["|", ["==", "be/vcpus", 3], ["==", "be/vcpus", 6]],
      ["=~", "pnode.group", "^rack"]]),
    ("pinst_cnt != 0", ["!=", "pinst_cnt", 0]),
    ("not master_candidate", ["!", ["?", "master_candidate"]]),
    ('foo = "bar"', ["==", "foo", "bar"]),
    ("name =~ m/foobar/i", ["=~", "name", "(?i)foobar"]),
    ('name =* "*.site"', ["=~", "name", r"^[^.]*\.site(\..*)?$"]),
]

GRAMMAR = [
    # comparisons and values
    ('status == "running"', ["==", "status", "running"]),
    ("x = 1", ["==", "x", 1]),
    ("x == -5", ["==", "x", -5]),
    ("x == +3", ["==", "x", 3]),
    ("x == 01", ["==", "x", 1]),
    ("x <= -0", ["<=", "x", 0]),
    ('x < "b"', ["<", "x", "b"]),
    ("x > 1", [">", "x", 1]),
    ("x >= 99999999999999999999", [">=", "x", 99999999999999999999]),
    ("x_1.2/3 >= 1", [">=", "x_1.2/3", 1]),
    ('x == ""', ["==", "x", ""]),
    ('x == "a\\"b"', ["==", "x", 'a\\"b"'[:-1]]),   # kept verbatim, backslash included
    ("x == 'it''s'", ["==", "x", "it''s"]),
    ("x == \"tab\tin\"", ["==", "x", "tab\tin"]),
    ('x=="1"or y', ["|", ["==", "x", "1"], ["?", "y"]]),
    # membership
    ('"a" in tags', ["=[]", "tags", "a"]),
    ('"a" not in tags', ["!", ["=[]", "tags", "a"]]),
    ("5 in x", ["=[]", "x", 5]),
    ('"a"inx', ["=[]", "x", "a"]),
    ('"a" in in', ["=[]", "in", "a"]),
    # regular expressions and globs
    (r"x =~ m/a\.b/i", ["=~", "x", "(?i)a.b"]),
    (r"x =~ /a\/b/", ["=~", "x", "a/b"]),
    (r"x =~ /a\\b/", ["=~", "x", "a\\b"]),
    (r"x =~ /a\nb/", ["=~", "x", "a\nb"]),
    ("x =~ /foo/ i", ["=~", "x", "(?i)foo"]),
    ("x =~ m /foo/", ["=~", "x", "foo"]),
    ("x =~ /a/si", ["=~", "x", "(?is)a"]),
    ("x !~ #a#s", ["!", ["=~", "x", "(?s)a"]]),
    ("x =~ |a|", ["=~", "x", "a"]),
    ("x =~ ^a^", ["=~", "x", "a"]),
    (r"x =~ #a\#b#", ["=~", "x", "a#b"]),
    ("x =~ //", ["=~", "x", ""]),
    ('x !* "n?"', ["!", ["=~", "x", r"^n[^.](\..*)?$"]]),
    ("x =* 'a.b*c'", ["=~", "x", r"^a\.b[^.]*c(\..*)?$"]),
    # logic, precedence and keywords
    ("a and b and c", ["&", ["?", "a"], ["?", "b"], ["?", "c"]]),
    ("(a and b) and c", ["&", ["&", ["?", "a"], ["?", "b"]], ["?", "c"]]),
    ("a or b and c", ["|", ["?", "a"], ["&", ["?", "b"], ["?", "c"]]]),
    ("a  or  not b  and c", ["|", ["?", "a"], ["&", ["!", ["?", "b"]], ["?", "c"]]]),
    ("not not a", ["!", ["!", ["?", "a"]]]),
    ("not(a)and(b)", ["&", ["!", ["?", "a"]], ["?", "b"]]),
    ('not "a" in x', ["!", ["=[]", "x", "a"]]),
    ("((a))", ["?", "a"]),
    ("x >= 3 and x <= 5 or y", ["|", ["&", [">=", "x", 3], ["<=", "x", 5]], ["?", "y"]]),
    ("notx", ["?", "notx"]),
    ("not", ["?", "not"]),
    ("a and not", ["&", ["?", "a"], ["?", "not"]]),
    ("and and and", ["&", ["?", "and"], ["?", "and"]]),
    ("m/x/", ["?", "m/x/"]),
    ("x\n==\t1", ["==", "x", 1]),
]


@pytest.mark.parametrize(("text", "expected"), DOCUMENTED + GRAMMAR)
def test_parse(text: str, expected: Any) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("(a", "Expected 'and', 'or' or ')', found end of text (at char 2), (line:1, col:3)"),
        ("a)", "Expected 'and', 'or' or end of text, found ')' (at char 1)"),
        ("x ~= 1", "Expected a comparison operator, 'and', 'or' or end of text, found '~'"),
        ("x <> 1", "Expected a number or a quoted string, found '>' (at char 3)"),
        ("x ==", "Expected a number or a quoted string, found end of text (at char 4)"),
        ("x == 1.5", "found '.' (at char 6)"),
        ('x == "a', 'Expected the closing ", found end of text (at char 7)'),
        ("x =~ /(/", "Invalid regular expression (missing ), unterminated subpattern"),
        ("x =~ /a/q", "Unknown regular expression flags: 'q' (at char 5), (line:1, col:6)"),
        ("x =~ m/a/ or y", "Unknown regular expression flags: 'or'"),   # as Ganeti
        ("x =~ m", "Expected a regular expression in /.../, #...#, ^...^ or |...|"),
        ("x =~ \"a\"", "Expected a regular expression"),
        ('"a" in "b"', "Expected a field name, found '\"' (at char 7)"),
        ("a or", "Expected a condition or '(', found end of text (at char 4)"),
        ("", "Expected a condition or '(', found end of text (at char 0)"),
        ("_x", "Expected a condition or '(', found '_x'"),
        ("x in y", "found 'in' (at char 2)"),
        ("a\nand )", "found ')' (at char 6), (line:2, col:5)"),
        ("(" * 101 + "a" + ")" * 101, "Filter nested deeper than 100 levels"),
    ],
)
def test_parse_errors(text: str, detail: str) -> None:
    with pytest.raises(QueryFilterParseError) as info:
        parse_filter(text)
    assert detail in info.value.detail
    assert info.value.message.startswith(
        f"Error while parsing query filter: Failed to parse query filter {text!r}: ")
    assert "\n" not in info.value.message.replace(repr(text), "")
    assert info.value.exit_code == 1


def test_make_filter_names_globs_and_detection() -> None:
    assert make_filter([], False) is None
    assert make_filter(["inst1", "web*.example.com"], False) == [
        "|", ["==", "name", "inst1"], ["=~", "name", GLOB_WEB]]
    assert make_filter(["node?"], False, "node") == ["|", ["=~", "node", r"^node[^.](\..*)?$"]]
    assert make_filter(["3", "17"], False, "id", numeric=True) == [
        "|", ["==", "id", 3], ["==", "id", 17]]
    with pytest.raises(UsageError, match="Invalid job ID passed: 'x'"):
        make_filter(["x"], False, "id", numeric=True)
    # one argument with a space, quote, parenthesis, operator... is a filter
    assert make_filter(['status == "running"'], False) == ["==", "status", "running"]
    assert make_filter(["(offline)"], False) == ["?", "offline"]
    assert make_filter(["running"], True) == ["?", "running"]     # -F: always a filter
    assert make_filter(["5 in x"], False, "id", numeric=True) == ["=[]", "x", 5]


def test_make_filter_needs_exactly_one_filter() -> None:
    for args in (["a", "b"], []):
        with pytest.raises(CliError) as info:
            make_filter(args, True)
        assert info.value.message == (
            "Failure: prerequisites not met for this operation:\n"
            "error type: wrong_input, error details:\n"
            "Exactly one argument must be given as a filter")


def test_json_filters_are_an_extension() -> None:
    assert make_filter(['["=", "offline", true]'], True) == ["=", "offline", True]
    assert make_filter(['  ["==", "name",', '"x"]'], True) == ["==", "name", "x"]
    assert make_filter(['["==", "name", "x"]'], False) == ["==", "name", "x"]
    with pytest.raises(QueryFilterParseError, match="expected JSON"):
        make_filter(['["==", "name"'], True)


def test_gnt_instance_list_sends_the_parsed_filter(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("Query", {"fields": [{"name": "name", "title": "Instance", "kind": "text"}],
                      "data": [[[0, "inst1"]]]})
    code, out, _ = run(gnt_instance.main, "list", "-o", "name", "--no-headers", "-F",
                       'status == "running" and not "x" in tags')
    assert (code, out) == (0, "inst1\n")
    assert luxi.args_of("Query")[0] == ["instance", ["name"], [
        "&", ["==", "status", "running"], ["!", ["=[]", "tags", "x"]]]]
    run(gnt_instance.main, "list", "-o", "name", "--no-headers", "status == 'running'")
    assert luxi.args_of("Query")[1][2] == ["==", "status", "running"]


def test_gnt_job_list_filter_and_status(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("Query", {"fields": [{"name": "id", "title": "ID", "kind": "number"}],
                      "data": []})
    code, _, _ = run(gnt_job.main, "list", "-o", "id", "--running", "-F", "id > 3")
    assert code == 0
    assert luxi.args_of("Query")[0][2] == [
        "&", [">", "id", 3], ["|", ["==", "status", "running"]]]


@pytest.mark.parametrize(
    ("args", "first_line"),
    [
        (["-F", "(offline"], "Error while parsing query filter: Failed to parse query filter"
                             " '(offline': Expected 'and', 'or' or ')', found end of text"),
        (["-F", "name =~ /(/"], "Error while parsing query filter: Failed to parse query"
                                " filter 'name =~ /(/': Invalid regular expression"),
        (["-F", "a", "b"], "Failure: prerequisites not met for this operation:"),
    ],
)
def test_gnt_node_list_filter_errors(run: Runner, luxi: FakeLuxi, args: list[str],
                                     first_line: str) -> None:
    code, out, err = run(gnt_node.main, "list", *args)
    assert (code, out) == (1, "")
    assert err.startswith(first_line)
    assert luxi.calls == []


# --- differential check against Ganeti's own parser ---------------------------------

GANETI_PYTHON = "/usr/bin/python3"
GANETI_PATH = "/usr/share/ganeti/3.0"
_ORACLE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import pyparsing
pyparsing.ParserElement.enable_packrat()  # the same results, only sooner
from ganeti import errors, qlang
out = []
parser = qlang.BuildFilterParser()
for text in json.load(open(sys.argv[2])):
    try:
        out.append(qlang.ParseFilter(text, parser))
    except errors.QueryFilterParseError:
        out.append("ERROR")
json.dump(out, open(sys.argv[3], "w"))
"""


def _ganeti_available() -> bool:
    if not Path(GANETI_PATH, "ganeti", "qlang.py").exists():
        return False
    probe = subprocess.run(
        [GANETI_PYTHON, "-c", f"import sys; sys.path.insert(0, {GANETI_PATH!r});"
         " import ganeti.qlang"], capture_output=True, check=False)
    return probe.returncode == 0


def _corpus(count: int) -> list[str]:
    """Filters built from the grammar, a third of them damaged at one place."""
    rng = random.Random(20261206)
    fields = ["a", "name", "x.y/z", "not", "and", "or", "in", "m", "i"]
    values = ['"s"', "'t'", "5", "-3", "+2", '"a\\"b"', "''", '"x*y?"']
    regexps = ["m/a/", "/b/i", "#c#s", "|d|", "^e^", "/x\\/y/", "m/a\\.b/is", "/a\\nb/"]
    space = ["", " ", "  ", "\t"]

    def w() -> str:
        return rng.choice(space)

    def condition() -> str:
        field, roll = rng.choice(fields), rng.random()
        if roll < 0.2:
            return field
        if roll < 0.5:
            op = rng.choice(["==", "=", "!=", "<", "<=", ">", ">="])
            return field + w() + op + w() + rng.choice(values)
        if roll < 0.65:
            return rng.choice(values) + rng.choice([" in ", " not in ", "in"]) + w() + field
        if roll < 0.85:
            return field + w() + rng.choice(["=~", "!~"]) + w() + rng.choice(regexps)
        return field + w() + rng.choice(["=*", "!*"]) + w() + rng.choice(values)

    def expr(depth: int) -> str:
        roll = rng.random()
        if depth > 3 or roll < 0.35:
            return condition()
        if roll < 0.5:
            return "not" + rng.choice([" ", "("]) + expr(depth + 1)
        if roll < 0.65:
            return "(" + w() + expr(depth + 1) + w() + ")"
        return expr(depth + 1) + rng.choice([" and ", " or "]) + expr(depth + 1)

    corpus = []
    for _ in range(count):
        text = expr(0)
        if rng.random() < 0.3:
            at = rng.randrange(len(text) + 1)
            junk = rng.choice([" ", "(", ")", '"', "=", "!", "x", "and ", "not ", "~", ""])
            text = text[:at] + junk + text[at + rng.randint(0, 2):]
        corpus.append(text)
    return corpus + [text for text, _ in DOCUMENTED + GRAMMAR]


@pytest.mark.skipif(not _ganeti_available(), reason="Ganeti 3.0's qlang is not installed")
def test_same_result_as_ganeti_parser(tmp_path: Path) -> None:
    corpus = _corpus(600)
    source, result = tmp_path / "corpus.json", tmp_path / "ganeti.json"
    source.write_text(json.dumps(corpus))
    subprocess.run([GANETI_PYTHON, "-c", _ORACLE, GANETI_PATH, str(source), str(result)],
                   check=True, stdin=subprocess.DEVNULL)
    expected = json.loads(result.read_text())
    differences = []
    for text, wanted in zip(corpus, expected, strict=True):
        try:
            got: Any = parse_filter(text)
        except QueryFilterParseError:
            got = "ERROR"
        if got != wanted:
            differences.append((text, got, wanted))
    assert differences == []
    assert sum(1 for value in expected if value != "ERROR") > 200
