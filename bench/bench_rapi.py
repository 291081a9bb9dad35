"""The remote API: ``GET /2/instances?bulk=1`` at 50, 500 and 10,000 instances, a job's
submit-and-wait round trip, and 100 instance creations in parallel.

The bulk figures use a generated configuration (``bench.common.generate_config``) held
by a masterd alone: no node daemon answers (node RPCs go to a port where nothing
listens and fail at once), so live fields (``oper_state``, ``oper_ram``, the running
part of ``status``) are empty and the figures measure the RAPI and query path, not
live data gathering. The round trip and the creations run on a 3-node vcluster (fake
hypervisor, diskless instances, OS ``noop``, primary nodes spread over the nodes).
Every client keeps its HTTPS connection alive and verifies the cluster CA.

Run from the checkout: ``.venv/bin/python -m bench.bench_rapi``.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec

from bench.common import (
    BenchError,
    Figure,
    fmt_list,
    fmt_number,
    generate_config,
    median,
    report,
    sample,
    temp_dir,
)
from corral.config.store import ConfigStore
from corral.layout import NodeLayout
from corral.luxi.client import Client, wait_for_job
from corral.objects import ConfigData
from corral.rapi.auth import ha1
from corral.rapi.resources.instances import I_FIELDS
from corral.rpc import pki
from corral.vcluster import cluster

MASTER_IP = "127.0.0.11"
DEAD_RPC_PORT = 18169
"""Node daemon port of the generated clusters: nothing listens there."""
VC_PORT = 18160
"""Node daemon port of this benchmark's vcluster (RAPI on 5080 + 18160 - 1811)."""
SIZES = ((50, 3), (500, 20), (10_000, 200))
"""(instances, nodes) of the bulk figures."""
BULK_TARGETS = {500: 0.03, 10_000: 0.3}
GANETI_BULK = {500: 0.125}
BULK_RUNS = 5
ROUND_TRIPS = 50
ROUND_TRIP_TARGET = 0.015
GANETI_ROUND_TRIP = 0.25
CREATIONS = 100
CREATE_TARGET = 40.0
GANETI_CREATE = 1.5
START_TIMEOUT = 180.0
USER, PASSWORD = "bench", "bench-password"
FINAL = ("success", "error", "canceled")


class Https:
    """One keep-alive HTTPS connection to RAPI with Basic authentication."""

    def __init__(self, host: str, port: int, ca: Path, user: str, password: str) -> None:
        context = ssl.create_default_context(cafile=str(ca))
        context.check_hostname = False
        self.conn = http.client.HTTPSConnection(host, port, context=context, timeout=300)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers=self.headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        if resp.status != 200:
            raise BenchError(f"{method} {path}: {resp.status} {raw[:200]!r}")
        return msgspec.json.decode(raw)

    def raw_get(self, path: str) -> bytes:
        self.conn.request("GET", path, headers=self.headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        if resp.status != 200:
            raise BenchError(f"GET {path}: {resp.status} {raw[:200]!r}")
        return raw

    def wait(self, job_id: int) -> str:
        """Follow a job with ``/2/jobs/<id>/wait`` until it ends; its status."""
        info: Any = None
        serial: int | None = None
        while True:
            change = self.call("GET", f"/2/jobs/{job_id}/wait",
                               {"fields": ["status"], "previous_job_info": info,
                                "previous_log_serial": serial})
            if change is None:
                continue
            info = change["job_info"]
            serial = max([serial or 0, *(entry[0] for entry in change["log_entries"])])
            if info[0] in FINAL:
                return str(info[0])

    def close(self) -> None:
        self.conn.close()


# --- a masterd over a generated configuration ----------------------------------------


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _prepare(root: Path, data: ConfigData) -> NodeLayout:
    layout = NodeLayout(root)
    layout.ensure_dirs()
    master = data.master_node
    ca_key, ca_cert = pki.create_ca(data.cluster.cluster_name)
    key = pki.generate_key()
    cert = pki.sign_csr(pki.create_csr(key, master.name), ca_key, ca_cert, master.name,
                        master.primary_ip)
    pki.save_key(layout.ca_key, ca_key)
    pki.save_cert(layout.ca_cert, ca_cert)
    pki.save_key(layout.node_key, key)
    pki.save_cert(layout.node_cert, cert)
    layout.rapi_users_file.parent.mkdir(parents=True, exist_ok=True)
    layout.rapi_users_file.write_text(f"{USER} {{HA1}}{ha1(USER, PASSWORD)} write\n")
    store = ConfigStore(layout.config_db)
    try:
        store.replace_all(data)
    finally:
        store.close()
    return layout


def generated(instances: int, nodes: int) -> ConfigData:
    data = generate_config(nodes, instances, master_ip=MASTER_IP)
    data.cluster = msgspec.structs.replace(data.cluster, rapi_port=free_port(MASTER_IP))
    for node in list(data.nodes.values()):
        data.put(msgspec.structs.replace(node, rpc_port=DEAD_RPC_PORT))
    return data


def _wait_rapi(proc: subprocess.Popen[bytes], port: int, layout: NodeLayout) -> float:
    start = time.perf_counter()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"masterd exited with {proc.returncode}; see "
                             f"{layout.log_file('corral-masterd')}")
        try:
            socket.create_connection((MASTER_IP, port), timeout=0.5).close()
            return time.perf_counter() - start
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"RAPI did not answer within {START_TIMEOUT:.0f} s")


@contextlib.contextmanager
def generated_master(instances: int, nodes: int) -> Iterator[tuple[Https, NodeLayout]]:
    """masterd (a child process) over a generated configuration, and a RAPI client."""
    directory = temp_dir("rapi")
    data = generated(instances, nodes)
    layout = _prepare(directory / "root", data)
    argv = [sys.executable, "-m", "corral.daemons.masterd", "--root", str(layout.root)]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    client: Https | None = None
    try:
        _wait_rapi(proc, data.cluster.rapi_port, layout)
        client = Https(MASTER_IP, data.cluster.rapi_port, layout.ca_cert, USER, PASSWORD)
        yield client, layout
    finally:
        if client is not None:
            client.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(directory, ignore_errors=True)


def luxi_query_seconds(layout: NodeLayout) -> float:
    """The master's own cost: LUXI ``Query`` of the same fields, median of a few."""
    with Client(str(layout.luxi_socket), timeout=300) as client:
        return median(sample(lambda: client.Query("instance", I_FIELDS, None), BULK_RUNS))


def bulk_figure(instances: int, nodes: int) -> Figure:
    with generated_master(instances, nodes) as (client, layout):
        times, size = [], 0
        for _ in range(BULK_RUNS):
            start = time.perf_counter()
            raw = client.raw_get("/2/instances?bulk=1")
            times.append(time.perf_counter() - start)
            size = len(raw)
        rows = msgspec.json.decode(raw)
        luxi = luxi_query_seconds(layout)
    if len(rows) != instances:
        raise BenchError(f"bulk list returned {len(rows)} instances, not {instances}")
    ganeti = GANETI_BULK.get(instances)
    detail = (f"{nodes} nodes, {size / 1e6:.1f} MB of JSON; median of {BULK_RUNS} "
              f"(first included): {fmt_list(times, 's')}; LUXI Query of the same "
              f"{len(I_FIELDS)} fields: {fmt_number(luxi)} s")
    if ganeti:
        detail += f"; Ganeti here: {ganeti} s"
    return report(Figure(f"RAPI GET /2/instances?bulk=1, {instances:,} instances",
                         median(times), "s", BULK_TARGETS.get(instances), "max", detail))


# --- a vcluster -----------------------------------------------------------------------


def _tag_op(i: int) -> dict[str, Any]:
    return {"OP_ID": "OP_TAGS_SET" if i % 2 == 0 else "OP_TAGS_DEL", "kind": "cluster",
            "tags": [f"luxi-{i // 2}"]}


def luxi_round_trip(luxi: Path) -> float:
    """The same job through LUXI (submit, then wait), median seconds: the master's share."""
    times = []
    with Client(str(luxi)) as client:
        for i in range(ROUND_TRIPS):
            start = time.perf_counter()
            wait_for_job(client, client.SubmitJob([_tag_op(i)]))
            times.append(time.perf_counter() - start)
    return median(times)


def round_trip_figure(client: Https, luxi: Path) -> Figure:
    times = []
    for i in range(ROUND_TRIPS):
        method = "PUT" if i % 2 == 0 else "DELETE"
        start = time.perf_counter()
        job_id = client.call(method, f"/2/tags?tag=bench-{i // 2}")
        status = client.wait(job_id)
        times.append(time.perf_counter() - start)
        if status != "success":
            raise BenchError(f"tag job {job_id} ended with {status}")
    detail = (f"cluster tag add/remove, submit + /wait until done, median of {ROUND_TRIPS}, "
              f"p90 {sorted(times)[int(ROUND_TRIPS * 0.9)] * 1000:.1f} ms; the same job over "
              f"LUXI: {luxi_round_trip(luxi) * 1000:.1f} ms; Ganeti here: {GANETI_ROUND_TRIP} s")
    return report(Figure("RAPI job submit+wait round trip", median(times) * 1000, "ms",
                         ROUND_TRIP_TARGET * 1000, "max", detail))


def _create_one(cfg: tuple[str, int, Path, str, str], index: int, nodes: int) -> str:
    client = Https(*cfg)
    try:
        body = {"__version__": 1, "mode": "create", "name": f"bench{index:03d}",
                "disk_template": "diskless", "disks": [], "nics": [], "os": "noop",
                "hypervisor": "fake", "pnode": f"node{1 + index % nodes}",
                "ip_check": False, "name_check": False}
        return client.wait(client.call("POST", "/2/instances", body))
    finally:
        client.close()


def creation_figure(cfg: tuple[str, int, Path, str, str], nodes: int) -> Figure:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CREATIONS) as pool:
        statuses = list(pool.map(lambda i: _create_one(cfg, i, nodes), range(CREATIONS)))
    elapsed = time.perf_counter() - start
    failed = [s for s in statuses if s != "success"]
    if failed:
        raise BenchError(f"{len(failed)} of {CREATIONS} creations failed")
    detail = (f"{CREATIONS} diskless fake instances (OS noop, started) over {nodes} nodes in "
              f"{elapsed:.2f} s, one connection each; Ganeti here: ~{GANETI_CREATE}/s")
    return report(Figure("RAPI parallel instance creations", CREATIONS / elapsed,
                         "instances/s", CREATE_TARGET, "min", detail))


def vcluster_figures() -> list[Figure]:
    directory = temp_dir("rapi-vc") / "vc"
    try:
        vc = cluster.up(directory, 3, feedback=lambda _msg: None, port=VC_PORT)
        creds = cluster.rapi_credentials(directory)
        if creds is None:
            raise BenchError("the vcluster has no RAPI credentials")
        cfg = (vc.master.address, cluster.rapi_port_for(VC_PORT), Path(creds["ca"]),
               creds["user"], creds["password"])
        client = Https(*cfg)
        try:
            figures = [round_trip_figure(client, vc.luxi_socket)]
        finally:
            client.close()
        figures.append(creation_figure(cfg, len(vc.nodes)))
        return figures
    finally:
        cluster.down(directory, feedback=lambda _msg: None)
        shutil.rmtree(directory.parent, ignore_errors=True)


def run() -> list[Figure]:
    print("rapi: bulk instance lists, job round trip, parallel creations", flush=True)
    figures = [bulk_figure(instances, nodes) for instances, nodes in SIZES]
    return figures + vcluster_figures()


def main() -> None:
    run()


if __name__ == "__main__":
    main()
