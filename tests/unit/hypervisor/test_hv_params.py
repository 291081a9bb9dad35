"""Hypervisor parameter tables, coercion, syntax and node checks, fill."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.errors import HypervisorError, ParameterError
from corral.hypervisor.params import (
    TABLES,
    HvKind,
    check_node,
    check_syntax,
    defaults,
    fill_hvparams,
    global_params,
    parameters,
    parse_cpu_mask,
)

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "reference"


def _reference_rows() -> list[list[str]]:
    path = REFERENCE / "hvparams_defaults.tsv"
    if not path.exists():
        pytest.skip(f"reference table {path} is not available")
    return [line.split("\t") for line in path.read_text().splitlines()[1:]]


# names the reference table lacks: KVM's accelerator (Corral's own) and Ganeti's
# xen_cmd (in Ganeti's HVC_DEFAULTS, not in the reference rows)
CORRAL_EXTRAS = {HvKind.KVM: {"accel"}, HvKind.XEN_PVM: {"xen_cmd"},
                 HvKind.XEN_HVM: {"xen_cmd"}}


def test_tables_have_ganetis_names_defaults_and_globals() -> None:
    rows = _reference_rows()
    configure_time = {("xen-pvm", "bootloader_path"), ("xen-pvm", "kernel_path"),
                      ("xen-hvm", "vnc_password_file"), ("kvm", "kvm_path"),
                      ("kvm", "kernel_path")}
    for hv, name, default, cluster_global in rows:
        param = TABLES[HvKind(hv)][name]
        shown = '""' if param.default == "" else str(param.default)
        if (hv, name) not in configure_time:
            assert shown == default, (hv, name)
        assert param.cluster_global == (cluster_global == "yes"), (hv, name)
    for kind in HvKind:
        reference = {r[1] for r in rows if r[0] == kind.value}
        extra = set(TABLES[kind]) - reference
        assert extra == CORRAL_EXTRAS.get(kind, set()), kind


def test_table_sizes() -> None:
    sizes = {kind.value: len(TABLES[kind]) for kind in HvKind}
    assert sizes == {"fake": 1, "chroot": 1, "kvm": 66, "xen-pvm": 18, "xen-hvm": 25,
                     "lxc": 7}


def test_corral_kvm_defaults() -> None:
    kvm = defaults("kvm")
    assert kvm["kvm_path"] == "/usr/bin/qemu-system-x86_64"
    assert kvm["kernel_path"] == ""
    assert kvm["initrd_path"] == ""
    assert kvm["accel"] == "auto"


def test_every_default_passes_its_own_syntax_check() -> None:
    for kind in HvKind:
        assert check_syntax(kind, defaults(kind), complete=True) == defaults(kind)


@pytest.mark.parametrize(("raw", "expected"), [
    ("false", False), ("no", False), ("0", False), ("False", False),
    ("true", True), ("yes", True), ("1", True), (True, True),
], ids=lambda v: repr(v))
def test_bool_values_are_coerced_from_strings(raw: object, expected: bool) -> None:
    assert check_syntax("kvm", {"acpi": raw}) == {"acpi": expected}


def test_int_and_str_coercion() -> None:
    got = check_syntax("kvm", {"migration_downtime": "45", "cpu_mask": "0-1",
                               "serial_speed": 115200})
    assert got == {"migration_downtime": 45, "cpu_mask": "0-1", "serial_speed": 115200}


@pytest.mark.parametrize(("params", "named"), [
    ({"acpi": "maybe"}, "acpi"),
    ({"migration_downtime": "soon"}, "migration_downtime"),
    ({"migration_downtime": True}, "migration_downtime"),
    ({"disk_type": "floppy-ish"}, "disk_type"),
    ({"kernel_path": "relative/vmlinuz"}, "kernel_path"),
    ({"cpu_mask": "3-1"}, "cpu_mask"),
    ({"migration_port": "70000"}, "migration_port"),
    ({"virtio_net_queues": "9"}, "virtio_net_queues"),
    ({"vnc_bind_address": "not an address"}, "vnc_bind_address"),
    ({"kvm_path": ""}, "kvm_path"),
    ({"no_such_thing": "1"}, "no_such_thing"),
], ids=lambda v: str(v))
def test_bad_parameters_are_named(params: dict[str, object], named: str) -> None:
    with pytest.raises(ParameterError, match=named):
        check_syntax("kvm", params)


def test_unknown_hypervisor_is_a_parameter_error() -> None:
    with pytest.raises(ParameterError, match="unknown hypervisor 'vmware'"):
        check_syntax("vmware", {})


def test_global_parameters_only_at_cluster_level() -> None:
    assert global_params("kvm") == {"migration_port", "migration_mode", "migration_bandwidth"}
    assert check_syntax("kvm", {"migration_port": "9000"}) == {"migration_port": 9000}
    with pytest.raises(ParameterError, match=r"migration_port.*global"):
        check_syntax("kvm", {"migration_port": "9000"}, instance_level=True)


def test_complete_check_demands_required_parameters() -> None:
    params = defaults("chroot")
    del params["init_script"]
    check_syntax("chroot", params)
    with pytest.raises(ParameterError, match="init_script"):
        check_syntax("chroot", params, complete=True)


def test_fill_order_and_globals() -> None:
    filled = fill_hvparams("kvm", {"acpi": False, "migration_port": 9000, "stale": 1},
                           {"acpi": True, "kernel_args": "quiet", "migration_port": 1})
    assert filled["acpi"] is True
    assert filled["kernel_args"] == "quiet"
    assert filled["migration_port"] == 9000
    assert filled["serial_speed"] == 38400
    assert "stale" not in filled
    assert set(filled) == set(parameters("kvm"))


def test_node_checks_look_at_files(tmp_path: Path) -> None:
    binary = tmp_path / "qemu"
    binary.write_text("")
    check_node("kvm", {**defaults("kvm"), "kvm_path": str(binary), "mem_path": str(tmp_path)})
    with pytest.raises(HypervisorError, match="kvm_path"):
        check_node("kvm", {"kvm_path": str(tmp_path / "missing")})
    with pytest.raises(HypervisorError, match="mem_path"):
        check_node("kvm", {"mem_path": str(binary)})


@pytest.mark.parametrize(("mask", "parsed"), [
    ("all", [None]),
    ("0-2,5", [(0, 1, 2, 5)]),
    ("1:2-3:all", [(1,), (2, 3), None]),
], ids=["all", "list", "per-vcpu"])
def test_cpu_masks(mask: str, parsed: list[tuple[int, ...] | None]) -> None:
    assert parse_cpu_mask(mask) == parsed


@pytest.mark.parametrize("mask", ["", "a", "3-1", "1,,2", "1:"], ids=repr)
def test_bad_cpu_masks(mask: str) -> None:
    with pytest.raises(ValueError, match="CPU range"):
        parse_cpu_mask(mask)


@pytest.mark.parametrize("value", ["ro\nquiet", "ro\n", "a\rb", "a\u2028b"])
def test_string_parameters_are_one_line(value: str) -> None:
    with pytest.raises(ParameterError, match="'kernel_args' must be one line"):
        check_syntax("kvm", {"kernel_args": value})
