"""Every node RPC call is classified for fencing, and the master-only ones are."""

from __future__ import annotations

from corral.rpc.access import ACCESS, Access
from corral.rpc.calls import CALLS

MUST_BE_MASTER_ONLY = (
    "instance_start", "instance_shutdown", "instance_reboot", "instance_migrate",
    "accept_instance", "blockdev_create", "blockdev_remove", "blockdev_assemble",
    "blockdev_shutdown", "config_replicate", "jobqueue_update", "jobqueue_rename",
    "jobqueue_purge", "write_ssconf_files", "upload_file", "node_activate_master_ip",
)
MUST_BE_READ = ("version", "node_info", "master_node_name", "config_serial", "master_epoch")


def test_every_call_in_the_table_is_classified() -> None:
    assert sorted(set(CALLS) - set(ACCESS)) == []


def test_no_classification_names_an_unknown_call() -> None:
    assert sorted(set(ACCESS) - set(CALLS)) == []


def test_master_only_and_read_only_calls() -> None:
    assert {name: CALLS[name].access for name in MUST_BE_MASTER_ONLY} == dict.fromkeys(
        MUST_BE_MASTER_ONLY, Access.MASTER)
    assert {name: CALLS[name].access for name in MUST_BE_READ} == dict.fromkeys(
        MUST_BE_READ, Access.READ)


def test_join_calls_are_exactly_those_without_a_certificate() -> None:
    join = {name for name, call in CALLS.items() if call.access is Access.JOIN}
    assert join == {name for name, call in CALLS.items() if not call.needs_certificate}
