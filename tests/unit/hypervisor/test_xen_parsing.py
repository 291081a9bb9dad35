"""``xl list`` and ``xl info`` parsing against the recorded Xen 4.17 outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.errors import HypervisorError
from corral.hypervisor.base import HvState
from corral.hypervisor.xen.xl_info import node_info
from corral.hypervisor.xen.xl_list import domain_state, parse_list

DATA = Path(__file__).resolve().parents[2] / "data" / "xen"


def test_list_parses_names_ids_memory_vcpus_states_and_times() -> None:
    text = (DATA / "xl-list-ganeti.txt").read_text()
    domains = parse_list(text)
    assert [(d.name, d.domid, d.memory_mib, d.vcpus, d.state, d.cpu_time_s) for d in domains] == [
        ("instance1.example.com", 7, 512, 1, HvState.RUNNING, 12.9),
        ("instance2.example.com", 9, 1024, 2, HvState.PAUSED, 0.0)]
    dom0 = parse_list(text, include_dom0=True)[0]
    assert (dom0.name, dom0.memory_mib, dom0.vcpus) == ("Domain-0", 3418, 4)


@pytest.mark.parametrize(("letters", "state"), [
    ("r-----", HvState.RUNNING), ("-b----", HvState.RUNNING), ("------", HvState.RUNNING),
    ("--p---", HvState.PAUSED), ("---s--", HvState.SHUTDOWN), ("---sc-", HvState.CRASHED),
    ("-----d", HvState.RUNNING)])
def test_state_letters(letters: str, state: HvState) -> None:
    assert domain_state(letters) == state


def test_crashed_domains_are_left_out_and_garbage_is_refused() -> None:
    header = (DATA / "xl-list-manpage.txt").read_text().splitlines()[0]
    crashed = header + "\nweb1  3  512  1  ---sc-  1.0\n"
    assert parse_list(crashed) == []
    with pytest.raises(HypervisorError, match="cannot parse"):
        parse_list(header + "\nweb1 3 512\n")
    with pytest.raises(HypervisorError, match="state"):
        parse_list(header + "\nweb1 3 512 1 rxx--- 1.0\n")


def test_node_info_from_the_recorded_xl_info() -> None:
    domains = parse_list((DATA / "xl-list-manpage.txt").read_text(), include_dom0=True)
    info = node_info((DATA / "xl-info-4.17.txt").read_text(), domains)
    assert (info.memory_total, info.memory_free, info.memory_dom0) == (32635, 27890, 750)
    assert (info.cpu_total, info.cpu_nodes, info.cpu_sockets, info.cpu_dom0) == (8, 1, 1, 4)
    assert info.hv_version == (4, 17)
    with pytest.raises(HypervisorError, match="cores_per_socket"):
        node_info("nr_cpus : 4\n", domains)
