"""Node figures from ``xl info`` (``key : value`` lines) and the Domain-0 line of ``xl list``."""

from __future__ import annotations

from collections.abc import Sequence

from corral.errors import HypervisorError
from corral.hypervisor.values import HvNodeInfo
from corral.hypervisor.xen.xl_list import DOM0_NAME, XlDomain


def parse_info(text: str) -> dict[str, str]:
    """``xl info`` as a key → value mapping (values stripped)."""
    pairs = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            pairs[key.strip()] = value.strip()
    return pairs


def _int(pairs: dict[str, str], key: str) -> int:
    try:
        return int(pairs[key])
    except (KeyError, ValueError):
        raise HypervisorError(f"xl info lacks a number for {key}") from None


def node_info(info_text: str, domains: Sequence[XlDomain]) -> HvNodeInfo:
    """Memory (MiB) and CPUs of the host; Domain-0's memory and vCPUs from ``domains``.

    Sockets are ``nr_cpus / (cores_per_socket * threads_per_core)``, as Ganeti counts.

    Raises:
        HypervisorError: a figure is missing or not a number.
    """
    pairs = parse_info(info_text)
    cpus = _int(pairs, "nr_cpus")
    per_socket = max(_int(pairs, "cores_per_socket") * _int(pairs, "threads_per_core"), 1)
    dom0 = next((d for d in domains if d.name == DOM0_NAME), None)
    version = tuple(int(pairs[k]) for k in ("xen_major", "xen_minor")
                    if pairs.get(k, "").isdigit())
    return HvNodeInfo(memory_total=_int(pairs, "total_memory"),
                      memory_free=_int(pairs, "free_memory"),
                      memory_dom0=dom0.memory_mib if dom0 else 0,
                      cpu_total=cpus, cpu_nodes=max(_int(pairs, "nr_nodes"), 1),
                      cpu_sockets=max(cpus // per_socket, 1),
                      cpu_dom0=dom0.vcpus if dom0 else 0, hv_version=version)
