"""Every instance field of a varied 300-instance cluster, against a recorded snapshot.

The snapshot (``snapshots/instances_300.json``) holds one digest per field
column, recorded with the query engine before its optimisation; any change in
any cell of any field shows up as that field's digest changing. Regenerate it
only for an intended change of results: ``write_snapshot()``.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import msgspec

from corral.objects import (
    AdminState,
    AdminStateSource,
    Cluster,
    ConfigData,
    Disk,
    DiskTemplate,
    Instance,
    Network,
    Nic,
    Node,
    NodeGroup,
)
from corral.query import QueryContext, query, query_values
from corral.query.instances import INSTANCE_FIELDS

SNAPSHOT = Path(__file__).parent / "snapshots" / "instances_300.json"
INSTANCES = 300
NODES = 12
HYPERVISORS = ("kvm", "fake", "xen-pvm")
OSES = ("debian+buster", "debian", "centos", "", "debian+bookworm")
TEMPLATES = (
    DiskTemplate.DRBD, DiskTemplate.PLAIN, DiskTemplate.FILE, DiskTemplate.BLOCKDEV,
    DiskTemplate.DISKLESS, DiskTemplate.RBD,
)  # fmt: skip
NIC_PARAMS: tuple[dict[str, Any], ...] = (
    {},
    {"mode": "routed", "link": "rt0"},
    {"mode": "openvswitch", "link": "ovs0", "vlan": ".100"},
    {"link": "br9"},
)
FILTERS: tuple[Any, ...] = (
    ["|", ["=", "status", "running"], ["=~", "name", "^inst1"]],
    ["&", [">", "be/maxmem", 200], ["!", ["=", "pnode", "node3.example.com"]]],
    ["|", ["=", "name", "inst7.example.com"], ["=", "name", "inst42"]],
)


def _cluster(user_shutdown: bool) -> Cluster:
    return Cluster(
        uuid="cluster-uuid", cluster_name="cluster.example.com", master_node="node-0",
        enabled_hypervisors=HYPERVISORS, enabled_user_shutdown=user_shutdown,
        hvparams={
            "kvm": {"kernel_path": "/boot/vmlinuz", "acpi": True, "migration_port": 8102,
                    "user_shutdown": False, "cpu_cores": 0},
            "fake": {"migration_mode": "live"},
        },
        os_hvp={"debian+buster": {"kvm": {"kernel_args": "ro quiet", "acpi": False}},
                "centos": {"xen-pvm": {"root_path": "/dev/xvda1"}}},
        osparams={"debian": {"dhcp": "yes", "mirror": "deb.example"}, "centos": {"v": "9"}},
        beparams={"default": {"maxmem": 128, "minmem": 128, "vcpus": 1,
                              "auto_balance": True, "always_failover": False,
                              "spindle_use": 1}},
        nicparams={"default": {"mode": "bridged", "link": "br0", "vlan": ""}},
    )  # fmt: skip


def _nodes(data: ConfigData) -> None:
    for name in ("default", "rack1", "rack2"):
        data.put(NodeGroup(uuid=f"group-{name}", name=name))
    data.put(Network(uuid="net-a", name="net-a", network="192.0.2.0/24"))
    for i in range(NODES):
        group = ("default", "rack1", "rack2")[i % 3]
        data.put(Node(uuid=f"node-{i}", name=f"node{i}.example.com", primary_ip=f"10.0.0.{i}",
                      group=f"group-{group}", offline=i == 10))


def _disks(rng: random.Random, data: ConfigData, i: int, nodes: tuple[str, ...]) -> tuple[str, ...]:
    template = TEMPLATES[i % len(TEMPLATES)]
    count = 0 if template is DiskTemplate.DISKLESS else rng.randrange(0, 4)
    uuids = []
    for d in range(count):
        uuid = f"disk-{i}-{d}"
        data.put(Disk(uuid=uuid, dev_type=template, size=rng.choice((512, 1024, 10240)),
                      nodes=nodes, name=rng.choice(("", f"d{d}")),
                      spindles=rng.choice((None, 1, 2))))
        uuids.append(uuid)
    if i % 53 == 0 and count:
        uuids.append(f"disk-missing-{i}")
    return tuple(uuids)


def _nics(rng: random.Random, i: int) -> tuple[Nic, ...]:
    return tuple(
        Nic(uuid=f"nic-{i}-{n}", mac=f"aa:00:00:{i // 256:02x}:{i % 256:02x}:{n:02x}",
            name=rng.choice(("", f"eth{n}")), ip=rng.choice((None, f"198.51.100.{n + 1}")),
            network=rng.choice((None, None, "net-a", "net-gone")),
            nicparams=dict(rng.choice(NIC_PARAMS)))
        for n in range(rng.randrange(0, 4))
    )  # fmt: skip


def _instance(rng: random.Random, data: ConfigData, i: int) -> Instance:
    pnode = "node-ghost" if i == 77 else f"node-{i % NODES}"
    snode = f"node-{(i + 1) % NODES}"
    nodes = (pnode, snode) if TEMPLATES[i % len(TEMPLATES)] is DiskTemplate.DRBD else (pnode,)
    return Instance(
        uuid=f"inst-{i}", name=f"inst{i}.example.com", primary_node=pnode,
        os=OSES[i % len(OSES)], hypervisor=HYPERVISORS[i % len(HYPERVISORS)],
        hvparams=rng.choice(({}, {}, {"user_shutdown": True}, {"acpi": False, "vga": "std"})),
        beparams=rng.choice(({}, {}, {"maxmem": 512, "minmem": 256}, {"vcpus": 4})),
        osparams=rng.choice(({}, {"dhcp": "no"})),
        admin_state=rng.choice(tuple(AdminState)),
        admin_state_source=rng.choice(tuple(AdminStateSource)),
        disk_template=TEMPLATES[i % len(TEMPLATES)], disks=_disks(rng, data, i, nodes),
        nics=_nics(rng, i), network_port=rng.choice((None, 11000 + i)),
        disks_active=bool(i % 2), tags=tuple(rng.sample(("web", "db", "a", "z"), i % 3)),
        serial_no=i % 7 + 1, ctime=1_600_000_000.0 + i, mtime=1_700_000_000.5 + i,
    )  # fmt: skip


def _live(rng: random.Random, i: int) -> dict[str, Any] | None:
    choice = rng.randrange(6)
    if choice == 0:
        return None
    live: dict[str, Any] = {"state": "running", "memory": 128 * choice, "vcpus": choice}
    if choice == 1:
        live["state"] = "shutdown"
    elif choice == 2:
        live["node"] = f"node-{(i + 5) % NODES}"
    elif choice == 3:
        live["node"] = f"node-{i % NODES}"
        del live["vcpus"]
    return live


def build_context(user_shutdown: bool) -> QueryContext:
    """A deterministic, deliberately varied cluster and its live data."""
    rng = random.Random(300)
    data = ConfigData(cluster=_cluster(user_shutdown))
    _nodes(data)
    live: dict[str, dict[str, Any]] = {}
    for i in range(INSTANCES):
        inst = _instance(rng, data, i)
        data.put(inst)
        state = _live(rng, i)
        if state is not None:
            live[inst.uuid] = state
    return QueryContext(config=data, instance_live=live, offline_or_failed={"node-11"})


ALL_FIELDS = [*sorted(INSTANCE_FIELDS), "no_such_field"]


def _digest(value: Any) -> str:
    return hashlib.sha256(msgspec.json.encode(value)).hexdigest()[:20]


def _column_digests(ctxs: list[QueryContext]) -> dict[str, str]:
    """One digest per field over the rows of every query the snapshot covers."""
    columns: dict[str, list[Any]] = {name: [] for name in ALL_FIELDS}
    for ctx in ctxs:
        results = [query("instance", ALL_FIELDS, qfilter, ctx) for qfilter in (None, *FILTERS)]
        for result in results:
            for row in result["data"]:
                for name, cell in zip(ALL_FIELDS, row, strict=True):
                    columns[name].append(cell)
    return {name: _digest(cells) for name, cells in columns.items()}


def compute_snapshot() -> dict[str, Any]:
    ctxs = [build_context(True), build_context(False)]
    result = query("instance", ALL_FIELDS, None, ctxs[0])
    known = ALL_FIELDS[:-1]
    return {
        "definitions": _digest(result["fields"]),
        "names": _digest([row[0] for row in query_values("instance", ["name"], None, ctxs[0])]),
        "values": _digest(query_values("instance", known, FILTERS[0], ctxs[1])),
        "columns": _column_digests(ctxs),
    }


def write_snapshot() -> None:
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(json.dumps(compute_snapshot(), indent=1, sort_keys=True) + "\n")


def test_generated_config_is_varied():
    ctx = build_context(True)
    values = query_values("instance", ["status", "snodes", "disk.count", "nic.count"], None, ctx)
    assert len(values) == INSTANCES
    statuses = {row[0] for row in values}
    assert {"running", "ADMIN_down", "ERROR_up", "ERROR_down", "ERROR_wrongnode",
            "ERROR_nodedown", "ERROR_nodeoffline", "USER_down", "ADMIN_offline"} <= statuses
    assert any(row[1] for row in values)
    assert {row[2] for row in values} >= {0, 1, 2, 3}
    assert {row[3] for row in values} >= {0, 1, 2, 3}


def test_every_instance_field_matches_the_snapshot():
    expected = json.loads(SNAPSHOT.read_text())
    actual = compute_snapshot()
    changed = sorted(
        name for name, digest in expected["columns"].items()
        if actual["columns"].get(name) != digest
    )
    assert changed == []
    assert actual["columns"].keys() == expected["columns"].keys()
    assert actual == expected
