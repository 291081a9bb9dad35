"""Instance policies through the processor: set on the cluster and groups, enforced on
instances (refused naming the spec, accepted with ignore_ipolicy), reported by verify."""

from __future__ import annotations

from typing import Any

from corral.cmdlib import (  # noqa: F401  (registers the logical units)
    cluster_verify,
    instance_create,
    instance_disks,
    instance_set_params,
)
from corral.errors import ErrorCode
from corral.objects import Node
from corral.objects import ipolicy as pol
from corral.opcodes.cluster import OpClusterSetParams, OpClusterVerifyGroup
from corral.opcodes.group import OpGroupSetParams
from corral.opcodes.instance import OpInstanceCreate, OpInstanceGrowDisk, OpInstanceSetParams
from tests.support.config import instance_cluster, instance_with_disks
from tests.support.lu_harness import MakeHarness, expect_failure

NAME = "web1.example.com"
BOUNDS = [{"min": {**pol.SMALL_MIN}, "max": {**pol.DEFAULT_MAX, "memory-size": 2048}}]


def create(**kw: Any) -> OpInstanceCreate:
    kw.setdefault("instance_name", NAME)
    kw.setdefault("os_type", "busybox")
    kw.setdefault("pnode", "node2")
    kw.setdefault("disk_template", "file")
    kw.setdefault("disks", [{"size": 1024}])
    kw.setdefault("nics", [{}])
    kw.setdefault("name_check", False)
    kw.setdefault("ip_check", False)
    kw.setdefault("start", False)
    return OpInstanceCreate(**kw)


def node_info(cpus: int = 4) -> Any:
    def answer(node: Node, args: tuple[Any, ...]) -> dict[str, Any]:
        return {"memory_free": 8192, "cpu_total": cpus, "hv": {},
                "storage": [{"type": "file", "name": "/srv/corral/file-storage",
                             "storage_free": 100_000}]}
    return answer


def test_too_large_instance_is_refused_naming_the_policy(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster(nodes=3))
    h.rpc.script("node_info", fn=node_info())
    h.run_sync(OpClusterSetParams(ipolicy={"minmax": BOUNDS}))
    err = expect_failure(h, create(beparams={"memory": 4096}), code=ErrorCode.INVAL)
    assert str(err.args[0]) == (
        "Instance allocation to group group-default (default) violates policy:"
        " memory-size value 4096 is not in range [1, 2048]")
    assert h.data.instance_by_name(NAME) is None
    h.run_sync(create(beparams={"memory": 4096}, ignore_ipolicy=True))
    assert h.data.instance_by_name(NAME) is not None
    assert any("violates policy: memory-size value 4096" in line for line in h.feedback)


def test_disallowed_template_and_vcpu_ratio(make_harness: MakeHarness) -> None:
    """The template is checked; vcpu-ratio is the allocators' concern, as in Ganeti: an
    instance placed with -n is not refused for it."""
    h = make_harness(instance_cluster(nodes=3))
    h.rpc.script("node_info", fn=node_info(cpus=1))
    h.run_sync(OpGroupSetParams(group_name="default", ipolicy={"disk-templates": ["plain"]}))
    expect_failure(h, create(), match="Disk template file is not allowed (allowed templates:"
                                      " plain)")
    h.run_sync(OpGroupSetParams(group_name="default", ipolicy={"disk-templates": "default"}))
    h.run_sync(create(beparams={"vcpus": 5}))


def test_modify_and_grow_are_checked(make_harness: MakeHarness) -> None:
    builder = instance_cluster(nodes=2)
    node2 = builder.data.node_by_name("node2")
    assert node2 is not None
    instance_with_disks(builder, NAME, node2, sizes=(512,))
    h = make_harness(builder)
    h.rpc.script("node_info", fn=node_info())
    h.run_sync(OpClusterSetParams(ipolicy={"minmax": BOUNDS}))
    expect_failure(h, OpInstanceSetParams(instance_name=NAME, beparams={"maxmem": 3000}),
                   match="violates policy: memory-size value 3000 is not in range [1, 2048]")
    expect_failure(h, OpInstanceGrowDisk(instance_name=NAME, disk=0, amount=2_000_000,
                                         absolute=True),
                   match="Growing disk 0 violates policy: disk-size/0 value 2000000 is not in"
                         " range [1, 1048576]")


def test_cluster_modify_warns_and_verify_reports(make_harness: MakeHarness) -> None:
    builder = instance_cluster(nodes=2)
    node2 = builder.data.node_by_name("node2")
    assert node2 is not None
    instance_with_disks(builder, NAME, node2, sizes=(512,))
    h = make_harness(builder)
    bounds = [{"min": {**pol.DEFAULT_MIN}, "max": dict(pol.DEFAULT_MAX)}]
    h.run_sync(OpClusterSetParams(ipolicy={"minmax": bounds, "std": dict(pol.DEFAULT_STD)}))
    assert any("After the ipolicy change the following instances violate them: " + NAME
               in line for line in h.feedback)
    assert h.data.cluster.ipolicy["minmax"] == bounds
    h.feedback.clear()
    h.run_sync(OpClusterVerifyGroup(group_name="default"))
    assert f"  - WARNING: instance {NAME}: nic-count value 0 is not in range [1, 8], disk-size/0" \
        " value 512 is not in range [1024, 1048576]" in h.feedback


def test_policy_changes_are_checked(make_harness: MakeHarness) -> None:
    h = make_harness(instance_cluster(nodes=1))
    expect_failure(h, OpClusterSetParams(ipolicy={"vcpu-ratio": "default"}),
                   match="Can't unset ipolicy attribute 'vcpu-ratio'")
    expect_failure(h, OpGroupSetParams(group_name="default", ipolicy={"std": {"cpu-count": 2}}),
                   match="std cannot appear in group instance specs")
    h.run_sync(OpGroupSetParams(group_name="default", ipolicy={"vcpu-ratio": 2}))
    group = h.data.group_by_name("default")
    assert group is not None
    assert group.ipolicy == {"vcpu-ratio": 2.0}
