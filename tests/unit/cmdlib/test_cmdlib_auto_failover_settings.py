"""gnt-cluster modify of the automatic master failover settings."""

from __future__ import annotations

import pytest

from corral.errors import ErrorCode
from corral.objects.etcd_settings import EtcdSettingsError, check_auto_failover, check_endpoint
from corral.opcodes.cluster import OpClusterSetParams
from tests.support.config import standard_cluster
from tests.support.lu_harness import MakeHarness, expect_failure


def test_enabling_with_endpoints(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=1))
    h.run_sync(OpClusterSetParams(auto_failover=True, master_lease_ttl=7,
                                  etcd_endpoints=["http://10.0.0.1:2379/", "https://e2:2379"]))
    c = h.data.cluster
    assert c.auto_failover
    assert c.etcd_endpoints == ("http://10.0.0.1:2379", "https://e2:2379")
    assert c.master_lease_ttl == 7
    h.assert_persisted()
    h.run_sync(OpClusterSetParams(auto_failover=False))
    assert not h.data.cluster.auto_failover
    assert h.data.cluster.etcd_endpoints == ("http://10.0.0.1:2379", "https://e2:2379")


@pytest.mark.parametrize(("op", "message"), [
    (OpClusterSetParams(auto_failover=True), "needs the etcd endpoints"),
    (OpClusterSetParams(etcd_endpoints=["ftp://e1:2379"]), "scheme must be http or https"),
    (OpClusterSetParams(etcd_endpoints=["http://e1"]), "no port"),
    (OpClusterSetParams(etcd_endpoints=["http://e1:2379/v3"]), "only scheme://host:port"),
    (OpClusterSetParams(etcd_endpoints=["http://e1:2379", "http://e1:2379"]), "listed twice"),
    (OpClusterSetParams(master_lease_ttl=1), "between 2 and 300"),
])
def test_bad_settings_refused(make_harness: MakeHarness, op: OpClusterSetParams,
                              message: str) -> None:
    h = make_harness(standard_cluster(nodes=1))
    expect_failure(h, op, code=ErrorCode.INVAL, match=message)
    assert not h.data.cluster.auto_failover


def test_endpoint_checks_name_the_endpoint() -> None:
    assert check_endpoint(" http://[::1]:2379 ") == "http://[::1]:2379"
    with pytest.raises(EtcdSettingsError, match="'http://e1:x'"):
        check_endpoint("http://e1:x")
    assert check_auto_failover(False, [], 5) == ()
