"""Bringing a virtual cluster up and down.

Node *i* (from 1) listens on ``127.0.0.(10+i)`` with its own root ``DIR/node<i>``;
node 1 is the master. A description is kept in ``DIR/vcluster.json``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from corral.bootstrap.init import init_cluster
from corral.clock import SystemClock
from corral.daemon_control import (
    MASTERD_MATCH,
    NODED_MATCH,
    daemon_pid,
    masterd_argv,
    noded_argv,
    spawn_daemon,
    stop_daemon,
    wait_listening,
)
from corral.errors import OpExecError, OpPrereqError
from corral.hypervisor.registry import get_driver
from corral.layout import NodeLayout
from corral.luxi.client import Client, wait_for_job
from corral.objects.ipolicy import small_instance_ipolicy
from corral.process import SubprocessRunner
from corral.rapi.auth import ha1
from corral.serde import atomic_write
from corral.storage.mirror import recorded_exports, stop_export
from corral.vcluster import guest
from corral.vcluster.etcd import etcd_endpoints, start_etcd, stop_etcd

STATE_FILE = "vcluster.json"
DEFAULT_PORT = 1811
BASE_OCTET = 10
RAPI_BASE_PORT = 5080
RAPI_CREDENTIALS = "rapi-credentials.json"
RAPI_WRITE_USER = "corral-admin"
RAPI_READ_USER = "corral-reader"


@dataclass(frozen=True)
class VNode:
    name: str
    address: str
    root: str
    port: int


@dataclass(frozen=True)
class VCluster:
    directory: str
    cluster_name: str
    nodes: list[VNode]

    @property
    def master(self) -> VNode:
        return self.nodes[0]

    @property
    def luxi_socket(self) -> Path:
        return NodeLayout(Path(self.master.root)).luxi_socket

    def save(self) -> None:
        path = Path(self.directory) / STATE_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> VCluster:
        path = directory / STATE_FILE
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise OpPrereqError(f"No virtual cluster in {directory} ({err})") from err
        return cls(data["directory"], data["cluster_name"], [VNode(**n) for n in data["nodes"]])


def plan(directory: Path, count: int, port: int = DEFAULT_PORT) -> VCluster:
    nodes = [
        VNode(f"node{i}", f"127.0.0.{BASE_OCTET + i}", str(directory / f"node{i}"), port)
        for i in range(1, count + 1)
    ]
    return VCluster(str(directory), "cluster.vcluster", nodes)


FILE_STORAGE_DIR = "/srv/corral/file-storage"
"""Relative to each node's root: every virtual node has its own storage directory."""
SHARED_FILE_STORAGE_DIR = "/srv/corral/shared-file-storage"
"""In each node's root, a link to one directory of the virtual cluster: really shared."""
VOLUME_GROUP = "xenvg"
"""The volume group every virtual node simulates (device-mapper is not needed)."""
SOURCE_ROOT = Path(__file__).resolve().parents[2]
OS_DEFINITIONS = ("busybox",)


def prepare_root(vc: VCluster, node: VNode) -> NodeLayout:
    """Directories, shared storage link and Corral's OS definitions in a node's root."""
    layout = NodeLayout(Path(node.root))
    layout.ensure_dirs()
    (layout.root / FILE_STORAGE_DIR.lstrip("/")).mkdir(parents=True, exist_ok=True)
    shared = Path(vc.directory) / "shared-file-storage"
    shared.mkdir(exist_ok=True)
    link = layout.root / SHARED_FILE_STORAGE_DIR.lstrip("/")
    if not link.is_symlink():
        link.symlink_to(shared)
    if not layout.guestkit_dir.exists():
        layout.guestkit_dir.symlink_to(guest.DEFAULT_CACHE)
    for name in OS_DEFINITIONS:
        target = layout.root / "srv" / "corral" / "os" / name
        if not target.exists():
            shutil.copytree(SOURCE_ROOT / "os" / name, target, symlinks=True)
    return layout


def bridge_name(vc: VCluster) -> str:
    """The virtual cluster's instance bridge (no address: guests only see each other)."""
    return f"corral{vc.master.port}"


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def create_bridge(vc: VCluster) -> None:
    name = bridge_name(vc)
    if _ip("link", "show", name).returncode != 0:
        created = _ip("link", "add", name, "type", "bridge")
        if created.returncode != 0:
            raise OpExecError(f"cannot create bridge {name}: {created.stderr.strip()}")
    _ip("link", "set", name, "up")


def remove_bridge(vc: VCluster) -> None:
    _ip("link", "del", bridge_name(vc))


def lvm_simulation_dir(node: VNode) -> Path:
    return NodeLayout(Path(node.root)).data_dir / "lvm-simulator"


def drbd_simulation_dir(node: VNode) -> Path:
    """The DRBD simulator's state, shared by every node of the virtual cluster."""
    return Path(node.root).parent / "drbd-simulator"


def xen_simulation_dir(node: VNode) -> Path:
    """The xl simulator's state (one file per node), shared by the virtual cluster's nodes."""
    return Path(node.root).parent / "xen-simulator"


def xen_hvparams(directory: Path) -> dict[str, dict[str, str]]:
    """Cluster hvparams of the Xen kinds: their kernel, loader, device model and VNC
    password are stand-in files of the virtual cluster (the xl simulator boots nothing)."""
    files = directory / "xen-files"
    files.mkdir(parents=True, exist_ok=True)
    for name in ("vmlinuz-xenU", "hvmloader", "qemu-dm", "vnc-cluster-password"):
        if not (files / name).exists():
            (files / name).write_text(f"stand-in {name} of the virtual cluster\n")
    return {"xen-pvm": {"kernel_path": str(files / "vmlinuz-xenU")},
            "xen-hvm": {"kernel_path": str(files / "hvmloader"),
                        "device_model": str(files / "qemu-dm"),
                        "vnc_password_file": str(files / "vnc-cluster-password")}}


def start_noded(node: VNode, debug: bool = False) -> int:
    layout = NodeLayout(Path(node.root))
    extra = ["--simulate-drbd", str(drbd_simulation_dir(node)),
             "--simulate-xen", str(xen_simulation_dir(node)),
             "--simulate-lvm", str(lvm_simulation_dir(node)), *(["--debug"] if debug else [])]
    argv = noded_argv(layout.root, node.address, node.port, node.name, extra)
    return spawn_daemon(argv, layout.pid_file("corral-noded"), layout.log_file("corral-noded"))


def wait_until_listening(node: VNode, timeout: float = 20.0) -> None:
    if not wait_listening(node.address, node.port, timeout):
        raise OpExecError(f"{node.name} did not start listening on {node.address}:{node.port}")


def check_free(vc: VCluster) -> None:
    """Refuse to start when a node's address and port are taken (another virtual cluster?)."""
    for node in vc.nodes:
        with socket.socket() as sock:
            # as the daemons do: connections in TIME_WAIT must not count as "in use"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((node.address, node.port))
            except OSError as err:
                raise OpPrereqError(
                    f"{node.address}:{node.port} is not free ({err.strerror}); another virtual "
                    "cluster may be running there: use another --port"
                ) from err


def up(
    directory: Path,
    count: int,
    feedback: Callable[[str], None] = print,
    init_options: dict[str, Any] | None = None,
    port: int = DEFAULT_PORT,
    auto_failover: bool = False,
) -> VCluster:
    """Start ``count`` node daemons, initialise the cluster on the first, add the rest.

    With ``auto_failover``, a 3-member etcd cluster on loopback is started first, the
    cluster is initialised in automatic failover mode, and every other node (a master
    candidate) runs a standby master daemon.
    """
    if count < 1:
        raise OpPrereqError("a virtual cluster needs at least one node")
    if (directory / STATE_FILE).exists():
        raise OpPrereqError(
            f"{directory} already holds a virtual cluster; run 'corral vcluster down' first"
        )
    vc = plan(directory.resolve(), count, port)
    check_free(vc)
    directory.mkdir(parents=True, exist_ok=True)
    vc.save()
    extra_init: dict[str, Any] = {}
    if auto_failover:
        endpoints = start_etcd(directory.resolve())
        feedback(f"Started 3 etcd members: {','.join(endpoints)}")
        extra_init = {"auto_failover": True, "etcd_endpoints": endpoints}
    create_bridge(vc)
    for node in vc.nodes:
        prepare_root(vc, node)
        start_noded(node)
    for node in vc.nodes:
        wait_until_listening(node)
    feedback(f"Started {count} node daemons")
    master = vc.master
    options = {
        "master_node": master.name,
        "primary_ip": master.address,
        "noded_port": master.port,
        "file_storage_dir": FILE_STORAGE_DIR,
        "shared_file_storage_dir": SHARED_FILE_STORAGE_DIR,
        "vg_name": VOLUME_GROUP,
        "enabled_disk_templates": ["diskless", "file", "sharedfile", "plain", "drbd",
                                   "mirror"],
        "enabled_hypervisors": ["fake", "chroot", "kvm", "xen-pvm", "xen-hvm", "lxc"],
        "hvparams": {"kvm": guest.kvm_hvparams(), **xen_hvparams(directory.resolve())},
        "nicparams": {"mode": "bridged", "link": bridge_name(vc)},
        # Like Ganeti test clusters: instances of a few MiB must fit the policy.
        "ipolicy": small_instance_ipolicy(),
    }
    rapi_port = rapi_port_for(port)
    options["rapi_port"] = rapi_port
    options.update(extra_init)
    options.update(init_options or {})
    init_cluster(Path(master.root), vc.cluster_name, feedback=feedback, **options)
    create_rapi_users(vc, rapi_port)
    wait_until_listening(VNode("RAPI of " + master.name, master.address, master.root, rapi_port))
    for node in vc.nodes[1:]:
        add_node(vc, node, feedback)
    if auto_failover:
        for node in vc.nodes[1:]:
            start_standby_master(node)
        feedback(f"Started standby master daemons on {len(vc.nodes) - 1} candidates")
    return vc


def start_standby_master(node: VNode) -> int:
    """Start ``node``'s master daemon: in automatic failover mode it waits in standby and
    campaigns for the master lease; returns its PID."""
    layout = NodeLayout(Path(node.root))
    return spawn_daemon(masterd_argv(layout.root), layout.pid_file("corral-masterd"),
                        layout.log_file("corral-masterd"))


def rapi_port_for(port: int) -> int:
    """The RAPI port of a virtual cluster whose nodes use ``port`` (5080 for 1811), so
    that several virtual clusters coexist."""
    rapi_port = RAPI_BASE_PORT + (port - DEFAULT_PORT)
    if not 0 < rapi_port < 65536:
        raise OpPrereqError(f"node port {port} gives no valid RAPI port ({rapi_port})")
    return rapi_port


def create_rapi_users(vc: VCluster, rapi_port: int) -> dict[str, str]:
    """A write user and a read-only user with random passwords.

    The users file gets their ``{HA1}`` hashes; ``DIR/rapi-credentials.json`` (0600)
    keeps the passwords, the URL and the CA that issued the server's certificate.
    """
    layout = NodeLayout(Path(vc.master.root))
    creds = {
        "url": f"https://{vc.master.address}:{rapi_port}",
        "user": RAPI_WRITE_USER,
        "password": secrets.token_urlsafe(18),
        "ro_user": RAPI_READ_USER,
        "ro_password": secrets.token_urlsafe(18),
        "ca": str(layout.ca_cert),
    }
    lines = [
        f"{creds['user']} {{HA1}}{ha1(creds['user'], creds['password'])} write",
        f"{creds['ro_user']} {{HA1}}{ha1(creds['ro_user'], creds['ro_password'])} read",
    ]
    layout.rapi_users_file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(layout.rapi_users_file, ("\n".join(lines) + "\n").encode(), mode=0o600)
    path = Path(vc.directory) / RAPI_CREDENTIALS
    atomic_write(path, (json.dumps(creds, indent=2) + "\n").encode(), mode=0o600)
    return creds


def rapi_credentials(directory: Path) -> dict[str, str] | None:
    """What :func:`create_rapi_users` recorded, None for a cluster without it."""
    try:
        data: dict[str, str] = json.loads((directory / RAPI_CREDENTIALS).read_text())
    except (OSError, ValueError):
        return None
    return data


def add_node(vc: VCluster, node: VNode, feedback: Callable[[str], None]) -> None:
    token = NodeLayout(Path(node.root)).join_token.read_text().strip()
    op = {
        "OP_ID": "OP_NODE_ADD",
        "node_name": node.name,
        "primary_ip": node.address,
        "join_token": token,
        "rpc_port": node.port,
    }
    with Client(str(vc.luxi_socket)) as client:
        job_id = client.SubmitJob([op])
        status, _, result = wait_for_job(client, job_id)
    if status != "success":
        raise OpExecError(f"adding {node.name} failed: {result}")
    feedback(f"Added node {node.name} ({node.address})")


_LEFTOVERS = {
    "chroot": ("chroot-runtime", ".json"),
    "kvm": ("kvm", ".runtime"),
    "lxc": ("lxc", ""),
}
"""Where a driver keeps per-instance records, so crashed instances get cleaned up too."""


def _recorded(layout: NodeLayout, kind: str) -> set[str]:
    subdir, suffix = _LEFTOVERS.get(kind, ("", ""))
    directory = layout.run_dir / subdir
    if not subdir or not directory.is_dir():
        return set()
    return {p.name.removesuffix(suffix) for p in directory.iterdir() if p.name.endswith(suffix)}


async def _stop_guests(layout: NodeLayout) -> list[str]:
    """Force off every instance the node's hypervisors know of (guests outlive daemons),
    and clean up after crashed ones (mounts, taps, runtime files)."""
    stopped = []
    for kind in ("fake", "chroot", "kvm", "lxc"):
        driver = get_driver(kind, layout, SubprocessRunner(), SystemClock())
        running = await driver.list_instances()
        for name in running:
            await driver.stop(name, force=True, timeout=10.0)
            stopped.append(name)
        for name in set(running) | _recorded(layout, kind):
            await driver.cleanup(name)
    return stopped


def down(directory: Path, feedback: Callable[[str], None] = print) -> None:
    """Stop every daemon the virtual cluster started (by pid file) and remove ``directory``."""
    if (directory / STATE_FILE).exists():
        vc = VCluster.load(directory)
        for node in vc.nodes:
            layout = NodeLayout(Path(node.root))
            for name in asyncio.run(_stop_guests(layout)):
                feedback(f"Stopped instance {name} on {node.name}")
            for name in recorded_exports(layout):
                if stop_export(layout, name):
                    feedback(f"Stopped mirror export {name} on {node.name}")
        _stop_daemons(vc)
        remove_bridge(vc)
        feedback(f"Stopped the daemons of {len(vc.nodes)} nodes")
    if stop_etcd(directory):
        feedback("Stopped the etcd members")
    shutil.rmtree(directory, ignore_errors=True)


def _stop_daemons(vc: VCluster) -> None:
    """Master daemons first (standby ones before the master, so none takes over), then the
    node daemons; each by its PID."""
    try:
        master = current_master(vc)
    except OpPrereqError:
        master = vc.master
    ordered = [n for n in vc.nodes if n.name != master.name] + [master]
    for node in ordered:
        stop_daemon(NodeLayout(Path(node.root)).pid_file("corral-masterd"), MASTERD_MATCH, 15.0)
    for node in vc.nodes:
        stop_daemon(NodeLayout(Path(node.root)).pid_file("corral-noded"), NODED_MATCH, 15.0)


def status(directory: Path) -> list[tuple[str, str, bool, bool]]:
    """(name, address, noded running, masterd running) per node."""
    vc = VCluster.load(directory)
    rows = []
    for node in vc.nodes:
        layout = NodeLayout(Path(node.root))
        noded = daemon_pid(layout.pid_file("corral-noded"), NODED_MATCH) is not None
        masterd = daemon_pid(layout.pid_file("corral-masterd"), MASTERD_MATCH) is not None
        rows.append((node.name, node.address, noded, masterd))
    return rows


def current_master(vc: VCluster) -> VNode:
    """The node most nodes' ssconf names master now (read from the nodes, so it follows
    master failovers); the first node when no node names one.

    Raises:
        OpPrereqError: the nodes name a master that is not in the virtual cluster.
    """
    named: Counter[str] = Counter()
    for node in vc.nodes:
        path = NodeLayout(Path(node.root)).ssconf_file("master_node")
        try:
            name = path.read_text().strip()
        except OSError:
            continue
        if name:
            named[name] += 1
    if not named:
        return vc.master
    name = named.most_common(1)[0][0]
    return _node_named(vc, name)


def _node_named(vc: VCluster, name: str) -> VNode:
    for node in vc.nodes:
        if node.name == name:
            return node
    known = ", ".join(n.name for n in vc.nodes)
    raise OpPrereqError(f"No node {name!r} in the virtual cluster (nodes: {known})")


def env_lines(directory: Path, node_name: str | None = None) -> list[str]:
    """Export lines acting on the current master, or on node ``node_name``."""
    vc = VCluster.load(directory)
    node = current_master(vc) if node_name is None else _node_named(vc, node_name)
    venv_bin = Path(sys.executable).parent
    lines = [
        f"export CORRAL_ROOT={node.root}",
        f"export CORRAL_LUXI={NodeLayout(Path(node.root)).luxi_socket}",
        f"export PATH={venv_bin}:$PATH",
    ]
    endpoints = etcd_endpoints(directory)
    if endpoints:
        lines.append(f"export CORRAL_ETCD_ENDPOINTS={','.join(endpoints)}")
    creds = rapi_credentials(directory)
    if creds is not None:
        port = creds["url"].rsplit(":", 1)[-1]
        lines += [
            f"export CORRAL_RAPI_URL=https://{node.address}:{port}",
            f"export CORRAL_RAPI_USER={creds['user']}",
            f"export CORRAL_RAPI_PASSWORD={creds['password']}",
            f"export CORRAL_RAPI_RO_USER={creds['ro_user']}",
            f"export CORRAL_RAPI_RO_PASSWORD={creds['ro_password']}",
            f"export CORRAL_RAPI_CA={creds['ca']}",
        ]
    return lines
