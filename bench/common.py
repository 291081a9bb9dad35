"""Helpers shared by the benchmarks: statistics, figure lines, a vcluster, a big config.

A benchmark reports :class:`Figure` values; :func:`report` prints one line per figure
with its target and ratio. Benchmarks report, they never assert timings.
"""

from __future__ import annotations

import contextlib
import math
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import msgspec

from corral.config.store import ConfigStore
from corral.errors import OpPrereqError
from corral.layout import NodeLayout
from corral.luxi.client import Client, LuxiClientError, wait_for_job
from corral.objects import (
    DEFAULT_GROUP_NAME,
    AdminState,
    Cluster,
    ConfigData,
    Disk,
    DiskTemplate,
    Instance,
    Nic,
    Node,
    NodeGroup,
)
from corral.rpc import pki
from corral.vcluster import cluster
from corral.vcluster.cluster import VCluster

Bound = Literal["max", "min"]
"""``max``: the value must stay at or below the target; ``min``: at or above it."""

NOOP_JOB_OP: dict[str, object] = {
    "OP_ID": "OP_TEST_DELAY",
    "duration": 0.001,
    "on_master": False,
    "on_nodes": [],
}
"""The successful no-op job, as Ganeti's ``gnt-debug delay --no-master 0.001``."""


class BenchError(Exception):
    """A benchmark could not produce its figures (a job failed, a daemon did not start)."""


# --- statistics --------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile (0-100) with linear interpolation between ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def sample(fn: Callable[[], object], runs: int) -> list[float]:
    """Wall seconds of ``runs`` sequential calls of ``fn``."""
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def fmt_number(value: float) -> str:
    """Three significant figures or so, without a useless trailing ``.0``."""
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_list(values: Sequence[float], unit: str) -> str:
    return "[" + ", ".join(fmt_number(v) for v in values) + f"] {unit}"


# --- figures -----------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One measured value; with a target it also has a ratio (value / target) and a verdict."""

    name: str
    value: float
    unit: str
    target: float | None = None
    bound: Bound = "max"
    detail: str = ""

    @property
    def ratio(self) -> float | None:
        return None if self.target is None else self.value / self.target

    @property
    def verdict(self) -> str:
        ratio = self.ratio
        if ratio is None:
            return "context"
        meets = ratio <= 1.0 if self.bound == "max" else ratio >= 1.0
        return "meets" if meets else "misses"

    @property
    def target_text(self) -> str:
        if self.target is None:
            return "-"
        sign = "≤" if self.bound == "max" else "≥"
        return f"{sign} {self.target:g} {self.unit}"

    @property
    def value_text(self) -> str:
        return f"{fmt_number(self.value)} {self.unit}"

    def line(self) -> str:
        text = f"{self.name}: {self.value_text}"
        if self.target is not None:
            text += f" (target {self.target_text}, ratio {self.ratio:.2f})"
        if self.detail:
            text += f" — {self.detail}"
        return text


def report(figure: Figure) -> Figure:
    """Print the figure's line and return it."""
    print(f"  {figure.line()}", flush=True)
    return figure


def summary_table(figures: Sequence[Figure]) -> str:
    """A fixed-width table: figure, value, target, ratio, verdict."""
    header = ("figure", "value", "target", "ratio", "verdict")
    rows = [header] + [
        (
            f.name,
            f.value_text,
            f.target_text,
            "-" if f.ratio is None else f"{f.ratio:.2f}",
            f.verdict,
        )
        for f in figures
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


# --- environment -------------------------------------------------------------


@contextlib.contextmanager
def time_limit(seconds: int, what: str) -> Iterator[None]:
    """Raise :class:`BenchError` in the main thread if the block runs longer than ``seconds``."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise BenchError(f"{what} did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


TEMP_PREFIX = "corral-bench-"


def temp_dir(prefix: str) -> Path:
    """A fresh directory under /tmp; the caller removes it."""
    return Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{prefix}-", dir="/tmp"))


def leftover_processes() -> list[tuple[int, str]]:
    """(pid, command line) of live processes started under a benchmark's directory."""
    found: list[tuple[int, str]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        cmdline = raw.replace(b"\0", b" ").decode(errors="replace")
        if f"/tmp/{TEMP_PREFIX}" in cmdline:
            found.append((int(entry.name), cmdline.strip()))
    return found


def load_average() -> str:
    """The machine's 1/5/15-minute load averages, for a benchmark's context line."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def report_leftovers() -> bool:
    """Print every process left running from a benchmark's directory; True if none."""
    leftovers = leftover_processes()
    for pid, cmdline in leftovers:
        print(f"LEFT RUNNING: pid {pid}: {cmdline}", flush=True)
    return not leftovers


def check_addresses_free(count: int) -> None:
    """Refuse to start when something already listens where the vcluster's nodes would
    (another vcluster, e.g. of an integration test): the nodes would not bind."""
    for node in cluster.plan(Path("/nonexistent"), count).nodes:
        try:
            socket.create_connection((node.address, node.port), timeout=0.5).close()
        except OSError:
            continue
        raise BenchError(
            f"{node.address}:{node.port} is already in use (another virtual cluster "
            "running?); stop it first"
        )


@contextlib.contextmanager
def vcluster(count: int, prefix: str) -> Iterator[VCluster]:
    """A ``count``-node virtual cluster in a fresh directory, always torn down afterwards."""
    check_addresses_free(count)
    directory = temp_dir(prefix)
    messages: list[str] = []
    start = time.perf_counter()
    try:
        vc = cluster.up(directory, count, feedback=messages.append)
        print(f"  ({count}-node vcluster up in {time.perf_counter() - start:.1f} s)", flush=True)
        yield vc
    finally:
        cluster.down(directory, feedback=messages.append)


@contextlib.contextmanager
def vcluster_at(count: int, prefix: str, port: int) -> Iterator[VCluster]:
    """As :func:`vcluster`, with the node daemons on ``port`` (out of other clusters' way)."""
    directory = temp_dir(prefix)
    try:
        cluster.check_free(cluster.plan(directory, count, port))
    except OpPrereqError as err:
        directory.rmdir()
        raise BenchError(str(err)) from None
    messages: list[str] = []
    start = time.perf_counter()
    try:
        vc = cluster.up(directory, count, feedback=messages.append, port=port)
        print(f"  ({count}-node vcluster on port {port} up in "
              f"{time.perf_counter() - start:.1f} s)", flush=True)
        yield vc
    finally:
        cluster.down(directory, feedback=messages.append)


# --- jobs --------------------------------------------------------------------


def run_job(client: Client, ops: list[dict[str, Any]], what: str) -> list[Any]:
    """Submit one job and follow it; its op results, or BenchError unless it succeeded."""
    job_id = client.SubmitJob(ops)
    status, _, result = wait_for_job(client, job_id)
    if status != "success":
        raise BenchError(f"{what}: job {job_id} ended with {status}: {result}")
    return result


def run_jobs(client: Client, jobs: list[list[dict[str, Any]]], what: str) -> None:
    """Submit all ``jobs`` in one SubmitManyJobs and follow each to its end;
    BenchError unless every one was accepted and succeeded."""
    submitted = client.SubmitManyJobs(jobs)
    refused = [entry for entry in submitted if not entry[0]]
    if refused:
        raise BenchError(f"{what}: {len(refused)} jobs refused, e.g. {refused[0][1]}")
    for _, job_id in submitted:
        status, _, result = wait_for_job(client, int(job_id))
        if status != "success":
            raise BenchError(f"{what}: job {job_id} ended with {status}: {result}")


# --- a generated configuration -----------------------------------------------


def node_address(index: int, master_ip: str) -> str:
    """Node 0 is the master at ``master_ip``; the others get 127.0.1.1, 127.0.1.2, …"""
    if index == 0:
        return master_ip
    return f"127.0.{1 + (index - 1) // 254}.{(index - 1) % 254 + 1}"


class _Ids:
    """Deterministic version-4 UUIDs, so that two runs build the same configuration."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def __call__(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


def _cluster(master_uuid: str, new_id: _Ids, now: float, pool: int) -> Cluster:
    kvm = {
        "kernel_path": "",
        "boot_order": "disk",
        "disk_type": "paravirtual",
        "nic_type": "paravirtual",
        "serial_console": True,
        "vnc_bind_address": "0.0.0.0",
        "disk_cache": "default",
    }
    return Cluster(
        uuid=new_id(),
        cluster_name="cluster.example.com",
        master_node=master_uuid,
        enabled_hypervisors=("kvm",),
        hvparams={"kvm": kvm},
        enabled_disk_templates=("plain", "drbd", "file"),
        volume_group_name="xenvg",
        candidate_pool_size=pool,
        ctime=now,
        mtime=now,
    )


def _nodes(count: int, group: str, master_ip: str, new_id: _Ids, now: float) -> list[Node]:
    return [
        Node(
            uuid=new_id(),
            name=f"node{j + 1:03d}.example.com",
            primary_ip=node_address(j, master_ip),
            group=group,
            master_candidate=j < 10,
            ctime=now,
            mtime=now,
        )
        for j in range(count)
    ]


def _instance(i: int, pnode: str, new_id: _Ids, now: float) -> tuple[Instance, Disk]:
    inst_uuid, disk_uuid = new_id(), new_id()
    disk = Disk(
        uuid=disk_uuid,
        dev_type=DiskTemplate.PLAIN,
        size=10240 + (i % 8) * 1024,
        logical_id=("xenvg", f"{disk_uuid}.disk0"),
        iv_name="disk/0",
        nodes=(pnode,),
        ctime=now,
        mtime=now,
    )
    nic = Nic(
        uuid=new_id(),
        mac=f"aa:00:00:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}",
        ip=f"10.{1 + i // 65536}.{(i // 256) % 256}.{i % 256}",
        nicparams={"mode": "bridged", "link": "br0", "vlan": ""},
    )
    up = i % 4 != 0
    inst = Instance(
        uuid=inst_uuid,
        name=f"inst{i:05d}.example.com",
        primary_node=pnode,
        os="debootstrap+default",
        hypervisor="kvm",
        beparams={"maxmem": 2048, "minmem": 1024, "vcpus": 2},
        admin_state=AdminState.UP if up else AdminState.DOWN,
        disk_template=DiskTemplate.PLAIN,
        disks=(disk_uuid,),
        nics=(nic,),
        network_port=11000 + i,
        disks_active=up,
        tags=("team:ops",) if i % 3 == 0 else (),
        ctime=now,
        mtime=now,
    )
    return inst, disk


def generate_config(
    nodes: int, instances: int, *, master_ip: str = "127.0.0.11", seed: int = 1
) -> ConfigData:
    """A cluster of ``nodes`` nodes in the default group (the first is the master, the
    first ten are candidates) and ``instances`` KVM instances spread over them, each with
    one 10-17 GiB plain disk and one bridged NIC."""
    new_id = _Ids(seed)
    now = time.time()
    group = NodeGroup(uuid=new_id(), name=DEFAULT_GROUP_NAME, ctime=now, mtime=now)
    node_list = _nodes(nodes, group.uuid, master_ip, new_id, now)
    data = ConfigData(
        cluster=_cluster(node_list[0].uuid, new_id, now, pool=10), ctime=now, mtime=now
    )
    data.put(group)
    for node in node_list:
        data.put(node)
    for i in range(instances):
        inst, disk = _instance(i, node_list[i % nodes].uuid, new_id, now)
        data.put(disk)
        data.put(inst)
    return data


# --- a master daemon over a generated configuration ---------------------------

MASTERD_START_TIMEOUT = 120.0
MASTERD_STOP_TIMEOUT = 10.0


def write_master_certificates(layout: NodeLayout, node_name: str, address: str) -> None:
    """A new cluster CA and the master node's certificate, at the layout's paths."""
    ca_key, ca_cert = pki.create_ca("cluster.example.com")
    key = pki.generate_key()
    cert = pki.sign_csr(pki.create_csr(key, node_name), ca_key, ca_cert, node_name, address)
    pki.save_key(layout.ca_key, ca_key)
    pki.save_cert(layout.ca_cert, ca_cert)
    pki.save_key(layout.node_key, key)
    pki.save_cert(layout.node_cert, cert)


def sole_candidate(data: ConfigData) -> ConfigData:
    """``data`` with the master as the only master candidate: for masterd alone, whose jobs
    must not wait for a majority of candidates no daemon answers for."""
    for node in list(data.nodes.values()):
        if node.uuid != data.cluster.master_node and node.master_candidate:
            data.put(msgspec.structs.replace(node, master_candidate=False))
    data.cluster = msgspec.structs.replace(data.cluster, candidate_pool_size=1)
    return data


def generated_master_root(root: Path, data: ConfigData) -> NodeLayout:
    """A master node's root at ``root``: directories, certificates and ``data`` as the
    configuration (masterd alone runs there; no node daemon answers)."""
    layout = NodeLayout(root)
    layout.ensure_dirs()
    master = data.master_node
    write_master_certificates(layout, master.name, master.primary_ip)
    store = ConfigStore(layout.config_db)
    try:
        store.replace_all(data)
    finally:
        store.close()
    return layout


def log_tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file (or why there are none)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as err:
        return f"(no log: {err.strerror})"


def wait_masterd(proc: subprocess.Popen[bytes], layout: NodeLayout,
                 timeout: float = MASTERD_START_TIMEOUT) -> float:
    """Seconds until masterd answers QueryClusterInfo; BenchError if it dies or hangs."""
    start = time.perf_counter()
    deadline = time.monotonic() + timeout
    log = layout.log_file("corral-masterd")
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"masterd exited with {proc.returncode}; log:\n{log_tail(log)}")
        try:
            with Client(str(layout.luxi_socket), timeout=30) as client:
                client.QueryClusterInfo()
            return time.perf_counter() - start
        except LuxiClientError:
            time.sleep(0.05)
    raise BenchError(f"masterd did not answer within {timeout:.0f} s; log:\n{log_tail(log)}")


def stop_child(proc: subprocess.Popen[bytes], timeout: float = MASTERD_STOP_TIMEOUT) -> None:
    """SIGTERM the child, wait up to ``timeout`` seconds, then SIGKILL it."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        print(f"  (pid {proc.pid} ignored SIGTERM for {timeout:.0f} s: killed)", flush=True)
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def masterd_child(layout: NodeLayout, output: Path) -> Iterator[subprocess.Popen[bytes]]:
    """masterd on ``layout``'s root as a child process (stdout/stderr to ``output``),
    stopped by its PID when the block ends. Call :func:`wait_masterd` before using it."""
    argv = [sys.executable, "-m", "corral.daemons.masterd", "--root", str(layout.root),
            "--no-rapi"]
    with output.open("wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        stop_child(proc)
