"""Two simulated nodes with DRBD: each its own LVM simulator, one shared DRBD state.

``DrbdNodes(tmp_path)`` builds node1 and node2 (addresses 192.0.2.1 and .2), a
settable clock for the simulators, and specs/references of drbd disks as the
master would send them to either node (``spec(index, size, node)``);
``node_disk`` is the same disk as an RPC ``NodeDisk`` and ``node_context`` a node
daemon's context using the pair's simulators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from corral.backend.context import NodeContext, NodeServices
from corral.layout import NodeLayout
from corral.objects import DiskTemplate
from corral.rpc.payloads import DrbdLink, NodeDisk
from corral.storage.base import DiskCreateSpec, DiskRef, MirrorLink
from corral.storage.drbd.driver import DrbdDriver
from corral.storage.lvm.driver import LvmDriver
from corral.storage.naming import DRBD_META_MIB, drbd_lv_names
from corral.testing.drbd import DrbdSimulator
from corral.testing.lvm import LvmSimulator

ADDRESSES = {"node1": "192.0.2.1", "node2": "192.0.2.2"}
SECRET = "a0f1c2d3e4"
BASE_PORT = 11000


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class SimNode:
    name: str
    lvm: LvmSimulator
    drbd: DrbdSimulator
    driver: DrbdDriver


@dataclass
class DrbdNodes:
    """node1 (side A) and node2 (side B) of every drbd disk."""

    root: Path
    vg_mib: int = 4096
    clock: Clock = field(default_factory=Clock)
    nodes: dict[str, SimNode] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ADDRESSES:
            base = self.root / name
            lvm = LvmSimulator(base / "dev", vg="xenvg", pvs=[("/dev/sdb", self.vg_mib)])
            drbd = DrbdSimulator(name, self.root / "drbd-state.json", base / "drbd-dev",
                                 clock=self.clock)
            driver = DrbdDriver(drbd, LvmDriver(lvm, dev_dir=base / "dev"),
                                dev_dir=base / "drbd-dev", proc_reader=drbd.proc_text,
                                poll_interval=0.0)
            self.nodes[name] = SimNode(name, lvm, drbd, driver)

    def driver(self, node: str) -> DrbdDriver:
        return self.nodes[node].driver

    def spec(self, index: int, size_mib: int, node: str = "node1") -> DiskCreateSpec:
        """Disk ``index``: minor ``index`` on both nodes, port ``BASE_PORT + index``."""
        uuid = f"d7bd0000-0000-4000-8000-{index:012d}"
        data, meta = drbd_lv_names(f"u{index:04d}", index)
        children = (
            DiskRef(uuid=f"{uuid}-data", template=DiskTemplate.PLAIN,
                    logical_id=("xenvg", data), size_mib=size_mib),
            DiskRef(uuid=f"{uuid}-meta", template=DiskTemplate.PLAIN,
                    logical_id=("xenvg", meta), size_mib=DRBD_META_MIB),
        )
        peer = "node2" if node == "node1" else "node1"
        link = MirrorLink(local_ip=ADDRESSES[node], remote_ip=ADDRESSES[peer],
                          local_minor=index, remote_minor=index)
        return DiskCreateSpec(
            uuid=uuid, instance="inst1", index=index, size_mib=size_mib,
            template=DiskTemplate.DRBD, children=children, link=link,
            logical_id=("node1-uuid", "node2-uuid", str(BASE_PORT + index), str(index),
                        str(index), SECRET),
            params={"resync-rate": 1024},
        )

    def ref(self, index: int, size_mib: int, node: str = "node1") -> DiskRef:
        return self.spec(index, size_mib, node).ref()

    def settle(self, seconds: float = 3600.0) -> None:
        """Let simulated time pass (resyncs finish)."""
        self.clock.now += seconds


def node_disk(nodes: DrbdNodes, index: int, size_mib: int, node: str) -> NodeDisk:
    """Disk ``index`` as the master sends it to ``node`` (children and DRBD side)."""
    spec = nodes.spec(index, size_mib, node)
    assert spec.link is not None
    children = tuple(
        NodeDisk(uuid=child.uuid, dev_type=DiskTemplate.PLAIN, size=child.size_mib,
                 logical_id=child.logical_id) for child in spec.children)
    link = spec.link
    return NodeDisk(
        uuid=spec.uuid, dev_type=DiskTemplate.DRBD, size=size_mib, logical_id=spec.logical_id,
        children=tuple(child.uuid for child in children), iv_name=f"disk/{index}",
        params=dict(spec.params), child_disks=children,
        dynamic_params=DrbdLink(local_ip=link.local_ip, remote_ip=link.remote_ip,
                                local_minor=link.local_minor, remote_minor=link.remote_minor),
    )


def node_context(nodes: DrbdNodes, node: str) -> NodeContext:
    """A node daemon's context whose LVM and DRBD tools are this pair's simulators."""
    sim = nodes.nodes[node]
    services = NodeServices(lvm_runner=sim.lvm, storage_dev_dir=sim.lvm.dev_dir,
                            drbd_runner=sim.drbd, drbd_dev_dir=sim.drbd.dev_dir,
                            drbd_proc_reader=sim.drbd.proc_text)
    return NodeContext(layout=NodeLayout(nodes.root / node / "root"), node_name=node,
                       address=ADDRESSES[node], services=services)
