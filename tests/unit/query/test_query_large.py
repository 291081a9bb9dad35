"""A 10,000-instance listing gives every row, sorted, with live and configured fields.

Its speed is measured by bench/bench_query.py, not asserted here."""

from corral.query import RS_NORMAL, query
from corral.query.names import nice_key

FIELDS = ["name", "hypervisor", "os", "pnode", "status", "oper_ram", "be/maxmem", "disk.sizes"]


def test_ten_thousand_instances_with_eight_fields(builder):
    nodes = [builder.node(f"node{i}.example.com") for i in range(100)]
    live = {}
    for i in range(10_000):
        pnode, snode = nodes[i % 100], nodes[(i + 1) % 100]
        inst = builder.instance(f"inst{i}.example.com", pnode, snode if i % 2 else None,
                                disks=(1024,), nics=(builder.nic(i % 250),), os="debian")
        if i % 3:
            live[inst.uuid] = {"state": "running", "memory": 512, "vcpus": 1}
    ctx = builder.context(instance_live=live)

    nice_key.cache_clear()
    result = query("instance", FIELDS, None, ctx)

    assert len(result["data"]) == 10_000
    first, last = result["data"][0], result["data"][-1]
    assert first[0] == [RS_NORMAL, "inst0.example.com"]
    assert last[0] == [RS_NORMAL, "inst9999.example.com"]
    assert first[4] == [RS_NORMAL, "ERROR_down"]
    assert result["data"][1][4] == [RS_NORMAL, "running"]
    assert query("instance", FIELDS, None, ctx) == result  # the name cache changes nothing
