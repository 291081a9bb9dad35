"""Connection discipline under an idle flood: 3,000 TCP connections to RAPI that send
nothing, against a masterd limited to 1,024 descriptors (soft and hard: the daemon raises
its soft limit to the hard one at start, so the hard limit is lowered too).

While each flood holds, a LUXI no-op job (new connection, ``SubmitJob`` and
``WaitForJobChange`` to its end) and a new RAPI request (new TLS connection, ``GET
/2/info`` with authentication) are timed; median of :data:`RUNS` floods. Context: how
many flood connections masterd still holds, its open descriptors, and the bytes its log
grew by. masterd runs alone on a one-node configuration (node RPCs go to a port where
nothing listens). Traffic stays on loopback.

Run from the checkout, under the shared lock: ``flock /tmp/corral-live.lock
.venv/bin/python -m bench.bench_connections``.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import resource
import select
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

from bench.common import (
    NOOP_JOB_OP,
    BenchError,
    Figure,
    fmt_list,
    generate_config,
    generated_master_root,
    median,
    report,
    stop_child,
    temp_dir,
    wait_masterd,
)
from corral.layout import NodeLayout
from corral.luxi.client import Client, wait_for_job
from corral.rapi.auth import ha1

MASTER_IP = "127.0.0.11"
NOFILE = 1024
FLOOD = 3000
RUNS = 3
LUXI_TARGET = 0.1
RAPI_TARGET = 1.0
USER, PASSWORD = "bench", "bench-password"


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def prepare(root: Path) -> tuple[NodeLayout, int]:
    """A one-node master root with a RAPI user; its RAPI port."""
    data = generate_config(1, 0, master_ip=MASTER_IP)
    rapi_port = free_port(MASTER_IP)
    data.cluster = msgspec.structs.replace(data.cluster, rapi_port=rapi_port)
    for node in list(data.nodes.values()):
        data.put(msgspec.structs.replace(node, rpc_port=free_port(MASTER_IP)))
    layout = generated_master_root(root, data)
    layout.rapi_users_file.parent.mkdir(parents=True, exist_ok=True)
    layout.rapi_users_file.write_text(f"{USER} {{HA1}}{ha1(USER, PASSWORD)} write\n")
    return layout, rapi_port


def limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


@contextlib.contextmanager
def limited_masterd(layout: NodeLayout, output: Path) -> Iterator[subprocess.Popen[bytes]]:
    """masterd with RAPI, limited to :data:`NOFILE` descriptors, stopped by its PID."""
    argv = [sys.executable, "-m", "corral.daemons.masterd", "--root", str(layout.root)]
    with output.open("wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                preexec_fn=limit_descriptors)
    try:
        yield proc
    finally:
        stop_child(proc)


def wait_rapi(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((MASTER_IP, port), 1):
            return
        time.sleep(0.05)
    raise BenchError(f"RAPI did not listen on {MASTER_IP}:{port} within {timeout:.0f} s")


def own_limit_for(connections: int) -> None:
    """Raise this process's soft descriptor limit so it can hold the flood."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < connections + 256:
        raise BenchError(f"the hard descriptor limit {hard} is too low for {connections:,} "
                         "connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def flood(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that send nothing (a refused or reset connect counts too)."""
    socks = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(10)
        with contextlib.suppress(OSError):
            sock.connect((MASTER_IP, port))
        socks.append(sock)
    return socks


def still_held(socks: list[socket.socket]) -> int:
    """How many flood connections the server has not closed."""
    poller = select.poll()
    for sock in socks:
        poller.register(sock, select.POLLIN | select.POLLRDHUP)
    closed = {fd for fd, _ in poller.poll(0)}
    return sum(1 for sock in socks if sock.fileno() not in closed)


def luxi_noop_job(layout: NodeLayout) -> float:
    start = time.perf_counter()
    with Client(str(layout.luxi_socket), timeout=60) as client:
        job_id = client.SubmitJob([dict(NOOP_JOB_OP)])
        status = wait_for_job(client, job_id)[0]
    elapsed = time.perf_counter() - start
    if status != "success":
        raise BenchError(f"no-op job {job_id} ended with {status}")
    return elapsed


def rapi_request(port: int, ca: Path) -> float:
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    start = time.perf_counter()
    conn = http.client.HTTPSConnection(MASTER_IP, port, context=context, timeout=60)
    try:
        conn.request("GET", "/2/info", headers={"Authorization": f"Basic {token}"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    elapsed = time.perf_counter() - start
    if resp.status != 200:
        raise BenchError(f"GET /2/info: {resp.status} {body[:200]!r}")
    return elapsed


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def one_flood(layout: NodeLayout, port: int, pid: int) -> tuple[float, float, int, int]:
    """(LUXI job s, RAPI request s, connections held, masterd descriptors) under a flood."""
    socks = flood(port, FLOOD)
    try:
        luxi = luxi_noop_job(layout)
        rapi = rapi_request(port, layout.ca_cert)
        return luxi, rapi, still_held(socks), open_descriptors(pid)
    finally:
        for sock in socks:
            sock.close()


def measure(layout: NodeLayout, port: int, output: Path) -> list[Figure]:
    log = layout.log_file("corral-masterd")
    with limited_masterd(layout, output) as proc:
        wait_masterd(proc, layout)
        wait_rapi(port)
        luxi_noop_job(layout)  # warm-up
        log_before = log.stat().st_size
        runs = [one_flood(layout, port, proc.pid) for _ in range(RUNS)]
        log_growth = log.stat().st_size - log_before
    luxi, rapi, held, fds = (list(column) for column in zip(*runs, strict=True))
    where = f"{FLOOD:,} idle RAPI connections, masterd at {NOFILE:,} descriptors"
    return [
        report(Figure("LUXI no-op job under an idle flood", median(luxi) * 1000, "ms",
                      LUXI_TARGET * 1000, "max", f"{where}; {fmt_list(luxi, 's')}")),
        report(Figure("new RAPI request under an idle flood", median(rapi), "s", RAPI_TARGET,
                      "max", f"new TLS connection, GET /2/info; {fmt_list(rapi, 's')}")),
        report(Figure("flood connections still held by masterd", median(held), "",
                      detail=f"of {FLOOD:,}; the rest were evicted or refused")),
        report(Figure("masterd open descriptors under the flood", median(fds), "",
                      detail=f"limit {NOFILE:,}")),
        report(Figure("masterd log growth during the floods", log_growth, "bytes")),
    ]


def run() -> list[Figure]:
    print(f"connections: {FLOOD:,} idle RAPI connections against masterd at {NOFILE:,} "
          "descriptors", flush=True)
    own_limit_for(FLOOD)
    directory = temp_dir("connections")
    try:
        layout, port = prepare(directory / "root")
        return measure(layout, port, directory / "masterd.out")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    run()
