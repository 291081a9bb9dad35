"""Ganeti's option value syntax: key=val, ident:key=val, booleans, units, time spans."""

from __future__ import annotations

import pytest

from corral.cli.params import (
    BEPARAM_TYPES,
    NDPARAM_TYPES,
    ParamError,
    coerce_params,
    group_params,
    parse_bool,
    parse_list,
    parse_timespec,
    parse_unit,
    split_ident_key_val,
    split_key_val,
    unescape_and_split,
)


def test_key_val_with_prefixes() -> None:
    assert split_key_val("-B", "maxmem=1G,no_auto_balance,-vcpus,always_failover") == {
        "maxmem": "1G", "auto_balance": False, "vcpus": None, "always_failover": True,
    }


def test_key_val_value_may_contain_equals_and_escaped_commas() -> None:
    assert split_key_val("-H", r"kernel_args=ro console=ttyS0\,115200") == {
        "kernel_args": "ro console=ttyS0,115200",
    }


def test_key_val_empty_is_empty_dict() -> None:
    assert split_key_val("-B", "") == {}


def test_key_val_duplicate_key_is_an_error() -> None:
    with pytest.raises(ParamError, match="Duplicate key 'a' in option -B"):
        split_key_val("-B", "a=1,a=2")


def test_key_val_without_prefixes_needs_values() -> None:
    with pytest.raises(ParamError, match="Missing value for key 'a'"):
        split_key_val("-x", "a", parse_prefixes=False)


def test_ident_key_val() -> None:
    assert split_ident_key_val("-H", "kvm:acpi=no,kernel_path=") == (
        "kvm", {"acpi": "no", "kernel_path": ""})
    assert split_ident_key_val("-H", "kvm") == ("kvm", {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [pytest.param("no_kvm", ("kvm", False), id="no-prefix"),
     pytest.param("-kvm", ("kvm", None), id="dash-prefix"),
     pytest.param("-1", ("-1", {}), id="dash-digit-is-a-name")],
)
def test_ident_removal_prefixes(text: str, expected: tuple[str, object]) -> None:
    assert split_ident_key_val("-H", text) == expected


def test_ident_removal_refuses_parameters() -> None:
    with pytest.raises(ParamError, match="Cannot pass options when removing"):
        split_ident_key_val("-H", "no_kvm:acpi=no")


def test_group_params_refuses_the_same_group_twice() -> None:
    assert group_params("-H", [("kvm", {"a": "1"}), ("xen-pvm", {})]) == {
        "kvm": {"a": "1"}, "xen-pvm": {}}
    with pytest.raises(ParamError, match="Duplicate parameter group 'kvm'"):
        group_params("-H", [("kvm", {}), ("kvm", {})])


@pytest.mark.parametrize(
    ("text", "value"),
    [("yes", True), ("True", True), ("true", True), ("no", False), ("FALSE", False)],
)
def test_parse_bool(text: str, value: bool) -> None:
    assert parse_bool(text) is value


def test_parse_bool_rejects_others() -> None:
    with pytest.raises(ParamError, match="Invalid boolean value 'maybe'"):
        parse_bool("maybe")


@pytest.mark.parametrize(
    ("text", "mib"),
    [pytest.param("512", 512, id="plain-is-mib"),
     pytest.param("512M", 512, id="m"),
     pytest.param("512mib", 512, id="mib"),
     pytest.param("1G", 1024, id="g"),
     pytest.param("1.5g", 1536, id="fraction"),
     pytest.param("2T", 2 * 1024 * 1024, id="t"),
     pytest.param("1 GB", 1024, id="space-and-gb"),
     pytest.param("10", 12, id="rounded-up-to-4"),
     pytest.param("0.1", 4, id="fraction-rounded-up")],
)
def test_parse_unit(text: str, mib: int) -> None:
    assert parse_unit(text) == mib


@pytest.mark.parametrize("text", ["", "G", "12Q", "1.2.3", "x5", "5G!"])
def test_parse_unit_rejects(text: str) -> None:
    with pytest.raises(ParamError):
        parse_unit(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30), ("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1w", 604800)],
)
def test_parse_timespec(text: str, seconds: int) -> None:
    assert parse_timespec(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1.5h", "abc"])
def test_parse_timespec_rejects(text: str) -> None:
    with pytest.raises(ParamError):
        parse_timespec(text)


def test_lists_and_escapes() -> None:
    assert parse_list("") == []
    assert parse_list("kvm,xen-pvm") == ["kvm", "xen-pvm"]
    assert unescape_and_split(r"a\,b,c\\") == ["a,b", "c\\"]


def test_coerce_beparams_units_bools_ints_and_memory_alias() -> None:
    raw = split_key_val("-B", "memory=1G,vcpus=2,auto_balance=no,-spindle_use")
    assert coerce_params("backend", raw, BEPARAM_TYPES) == {
        "maxmem": 1024, "minmem": 1024, "vcpus": 2, "auto_balance": False, "spindle_use": None,
    }


def test_coerce_leaves_unknown_keys_for_the_master() -> None:
    assert coerce_params("node", {"bogus": "x", "ssh_port": "2222"}, NDPARAM_TYPES) == {
        "bogus": "x", "ssh_port": 2222}


def test_coerce_names_the_bad_parameter() -> None:
    with pytest.raises(ParamError, match="Invalid value for node parameter 'spindle_count'"):
        coerce_params("node", {"spindle_count": "many"}, NDPARAM_TYPES)
