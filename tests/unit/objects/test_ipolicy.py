"""Instance policies: Ganeti's shape and defaults, merging, changes and violation wording."""

from __future__ import annotations

import msgspec
import pytest

from corral.config.store import decode_object, encode_object
from corral.objects import Cluster
from corral.objects import ipolicy as pol
from corral.objects.config_data import Kind

SPECS = ("cpu-count", "disk-count", "disk-size", "memory-size", "nic-count", "spindle-use")


def test_defaults_have_ganetis_shape_and_values() -> None:
    policy = Cluster(uuid="c", cluster_name="c", master_node="").ipolicy
    assert sorted(policy) == ["disk-templates", "minmax", "spindle-ratio", "std", "vcpu-ratio"]
    (pair,) = policy["minmax"]
    assert sorted(pair) == ["max", "min"]
    assert all(sorted(spec) == list(SPECS) for spec in (pair["min"], pair["max"], policy["std"]))
    assert (pair["min"]["memory-size"], pair["min"]["disk-size"]) == (128, 1024)
    assert (pair["max"]["memory-size"], pair["max"]["disk-size"]) == (32768, 1048576)
    assert (policy["vcpu-ratio"], policy["spindle-ratio"]) == (4.0, 32.0)
    assert {"diskless", "drbd"} <= set(policy["disk-templates"])
    pol.check_ipolicy_syntax(policy, check_std=True)
    pol.check_ipolicy_syntax(pol.small_instance_ipolicy(), check_std=True)


def test_a_stored_cluster_without_the_shape_is_upgraded_on_load() -> None:
    old = Cluster(uuid="c", cluster_name="c", master_node="", ipolicy={})
    loaded = decode_object(Kind.CLUSTER, encode_object(old))
    assert isinstance(loaded, Cluster)
    assert loaded.ipolicy == pol.default_ipolicy()
    partial = msgspec.structs.replace(old, ipolicy={"vcpu-ratio": 2.0, "std": {"cpu-count": 2}})
    loaded = decode_object(Kind.CLUSTER, encode_object(partial))
    assert isinstance(loaded, Cluster)
    assert loaded.ipolicy["vcpu-ratio"] == 2.0
    assert loaded.ipolicy["std"] == {**pol.DEFAULT_STD, "cpu-count": 2}
    assert loaded.ipolicy["minmax"] == pol.DEFAULT_IPOLICY["minmax"]


def test_group_policy_is_the_clusters_with_its_overrides() -> None:
    cluster = pol.default_ipolicy()
    bounds = [{"min": {**pol.DEFAULT_MIN, "memory-size": 64},
               "max": {**pol.DEFAULT_MAX, "memory-size": 1024}}]
    merged = pol.group_ipolicy(cluster, {"minmax": bounds, "vcpu-ratio": 2.0})
    assert merged["minmax"] == bounds
    assert merged["vcpu-ratio"] == 2.0
    assert merged["std"] == cluster["std"]
    assert merged["disk-templates"] == cluster["disk-templates"]


def test_updates_follow_ganetis_rules() -> None:
    cluster = pol.default_ipolicy()
    new = pol.updated_ipolicy(cluster, {"std": {"memory-size": 256}, "vcpu-ratio": "3"}, False)
    assert (new["std"]["memory-size"], new["std"]["cpu-count"]) == (256, 1)
    assert new["vcpu-ratio"] == 3.0
    with pytest.raises(pol.PolicyError, match="Can't unset ipolicy attribute 'vcpu-ratio'"):
        pol.updated_ipolicy(cluster, {"vcpu-ratio": "default"}, False)
    group = pol.updated_ipolicy({}, {"vcpu-ratio": 2, "disk-templates": ["plain"]}, True)
    assert group == {"vcpu-ratio": 2.0, "disk-templates": ["plain"]}
    assert pol.updated_ipolicy(group, {"vcpu-ratio": "default"}, True) == {
        "disk-templates": ["plain"]}
    with pytest.raises(pol.PolicyError, match="std cannot appear in group instance specs"):
        pol.updated_ipolicy({}, {"std": {"cpu-count": 1}}, True)
    with pytest.raises(pol.PolicyError, match="Invalid key in new ipolicy: colour"):
        pol.updated_ipolicy({}, {"colour": 1}, True)


@pytest.mark.parametrize(("change", "message"), [
    ({"minmax": [{"min": pol.DEFAULT_MIN}]}, "Missing instance specification: max"),
    ({"minmax": [{"min": {"cpu-count": 1}, "max": pol.DEFAULT_MAX}]},
     "Missing instance specs parameters for min: disk-count"),
    ({"minmax": [{"min": {**pol.DEFAULT_MIN, "memory-size": 4096}, "max": pol.DEFAULT_MAX}]},
     "Invalid std specifications"),
    ({"minmax": [{"min": pol.DEFAULT_MAX, "max": pol.DEFAULT_MIN}]},
     "Invalid specification of min/max values for cpu-count: 8/1"),
    ({"disk-templates": ["floppy"]}, r"Invalid disk template\(s\) floppy"),
])
def test_malformed_policies_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(pol.PolicyError, match=message):
        pol.updated_ipolicy(pol.default_ipolicy(), change, False)


def test_violations_name_the_spec_and_its_range() -> None:
    policy = pol.default_ipolicy()
    fits = pol.spec_violations(policy, memory=512, vcpus=2, disk_sizes=[2048], nic_count=1,
                               spindle_use=1, disk_templates=["plain"])
    assert fits == []
    found = pol.spec_violations(policy, memory=65536, vcpus=1, disk_sizes=[1024, 100],
                                nic_count=1, spindle_use=1, disk_templates=["plain", "plain"])
    assert found == ["memory-size value 65536 is not in range [128, 32768]",
                     "disk-size/1 value 100 is not in range [1024, 1048576]"]
    narrow = {**policy, "disk-templates": ["plain"]}
    assert pol.spec_violations(narrow, memory=None, vcpus=None, disk_sizes=[], nic_count=None,
                               spindle_use=None, disk_templates=[]) == [
        "Disk template diskless is not allowed (allowed templates plain)"]
    assert pol.spec_violations(narrow, memory=None, vcpus=None, disk_sizes=[2048],
                               nic_count=None, spindle_use=None, disk_templates=["file"]) == [
        "Disk template file is not allowed (allowed templates: plain)"]


def test_with_several_bounds_the_closest_pair_is_reported() -> None:
    small = {"min": {**pol.DEFAULT_MIN}, "max": {**pol.DEFAULT_MAX, "memory-size": 1024}}
    big = {"min": {**pol.DEFAULT_MIN, "memory-size": 4096, "cpu-count": 4},
           "max": dict(pol.DEFAULT_MAX)}
    policy = {**pol.default_ipolicy(), "minmax": [small, big]}
    def check(memory: int, vcpus: int) -> list[str]:
        return pol.spec_violations(policy, memory=memory, vcpus=vcpus, disk_sizes=[2048],
                                   nic_count=1, spindle_use=1, disk_templates=["plain"])

    assert check(8192, 4) == []
    assert check(512, 1) == []
    assert check(2048, 1) == [
        "memory-size value 2048 is not in range [128, 1024]"]


def test_init_completes_split_specs_and_refuses_bad_ones() -> None:
    from corral.bootstrap.config import initial_ipolicy
    from corral.errors import OpPrereqError

    policy = initial_ipolicy({"minmax": [{"min": {"memory-size": 64}, "max": {}}],
                              "std": {"memory-size": 64}})
    assert policy["minmax"] == [{"min": {**pol.DEFAULT_MIN, "memory-size": 64},
                                 "max": pol.DEFAULT_MAX}]
    assert policy["std"]["memory-size"] == 64
    with pytest.raises(OpPrereqError, match="Invalid instance policy: Invalid std"):
        initial_ipolicy({"std": {"memory-size": 64}})
