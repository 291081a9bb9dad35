"""Resident memory of masterd holding 10,000 instances and 200 nodes, and the time of
an instance query over all of them.

The master node's primary IP is 127.0.0.11 and the others 127.0.1.x, where nothing
listens: their RPCs fail at once with "connection refused", which masterd tolerates.

Run from the checkout: ``.venv/bin/python -m bench.bench_masterd_rss``.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import (
    BenchError,
    Figure,
    fmt_list,
    generate_config,
    median,
    report,
    sample,
    temp_dir,
)
from corral.config.store import ConfigStore
from corral.layout import NodeLayout
from corral.luxi.client import Client, LuxiClientError
from corral.rpc import pki

NODES = 200
INSTANCES = 10_000
MASTER_IP = "127.0.0.11"
RSS_TARGET_MB = 200.0
QUERY_TARGET_S = 0.3
QUERY_RUNS = 5
QUERY_FIELDS = ["name", "status", "pnode"]
START_TIMEOUT = 120.0
STOP_TIMEOUT = 10.0


def write_certificates(layout: NodeLayout, node_name: str, address: str) -> None:
    """A cluster CA and the master's node certificate, where masterd's TLS context looks."""
    ca_key, ca_cert = pki.create_ca("cluster.example.com")
    key = pki.generate_key()
    cert = pki.sign_csr(pki.create_csr(key, node_name), ca_key, ca_cert, node_name, address)
    pki.save_key(layout.ca_key, ca_key)
    pki.save_cert(layout.ca_cert, ca_cert)
    pki.save_key(layout.node_key, key)
    pki.save_cert(layout.node_cert, cert)


def prepare_root(root: Path) -> NodeLayout:
    """A master node's root: directories, certificates and the generated configuration."""
    layout = NodeLayout(root)
    layout.ensure_dirs()
    data = generate_config(NODES, INSTANCES, master_ip=MASTER_IP)
    master = data.master_node
    write_certificates(layout, master.name, master.primary_ip)
    store = ConfigStore(layout.config_db)
    try:
        store.replace_all(data)
    finally:
        store.close()
    return layout


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as err:
        return f"(no log: {err.strerror})"


def wait_ready(proc: subprocess.Popen[bytes], layout: NodeLayout) -> float:
    """Seconds until masterd answers QueryClusterInfo; BenchError if it dies or hangs."""
    start = time.perf_counter()
    deadline = time.monotonic() + START_TIMEOUT
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
    raise BenchError(f"masterd did not answer within {START_TIMEOUT:.0f} s; log:\n{log_tail(log)}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, wait up to :data:`STOP_TIMEOUT` seconds, then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"  (masterd {proc.pid} ignored SIGTERM for {STOP_TIMEOUT:.0f} s: killed)")
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def running_masterd(layout: NodeLayout, output: Path) -> Iterator[subprocess.Popen[bytes]]:
    """masterd as a child process, stopped by its PID on the way out."""
    argv = [sys.executable, "-m", "corral.daemons.masterd", "--root", str(layout.root),
            "--no-rapi"]
    with output.open("wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        stop(proc)


def proc_status_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in MB (MiB, as /proc counts kB of 1024 bytes)."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024.0
    return values


def query_instances(client: Client) -> list[Any]:
    """All instance rows; BenchError unless there is one per instance."""
    rows: list[Any] = client.Query("instance", QUERY_FIELDS, None)["data"]
    if len(rows) != INSTANCES:
        raise BenchError(f"instance query returned {len(rows)} rows, not {INSTANCES}")
    return rows


def status_counts(rows: list[Any]) -> str:
    """How many rows have each status (shows whether live data from nodes was used)."""
    counts = Counter(str(row[1][1]) for row in rows)
    return ", ".join(f"{status} {count:,}" for status, count in counts.most_common())


def measure(layout: NodeLayout, output: Path) -> list[Figure]:
    with running_masterd(layout, output) as proc:
        started = wait_ready(proc, layout)
        with Client(str(layout.luxi_socket)) as client:
            start = time.perf_counter()
            rows = query_instances(client)
            first = [time.perf_counter() - start]
            rss = proc_status_mb(proc.pid)["VmRSS"]
            queries = first + sample(lambda: query_instances(client), QUERY_RUNS - 1)
        peak = proc_status_mb(proc.pid)["VmHWM"]
    scale = f"{INSTANCES:,} instances / {NODES} nodes"
    return [
        report(Figure("masterd RSS", rss, "MB", RSS_TARGET_MB, "max", f"{scale}, after 1 query")),
        report(
            Figure("masterd peak RSS (VmHWM)", peak, "MB", detail=f"after {QUERY_RUNS} queries")
        ),
        report(
            Figure(
                f"instance query, {INSTANCES:,} rows",
                median(queries),
                "s",
                QUERY_TARGET_S,
                "max",
                f"median of {QUERY_RUNS}, first (cold) included: {fmt_list(queries, 's')}; "
                f"statuses: {status_counts(rows)}",
            )
        ),
        report(Figure("masterd start until LUXI answers", started, "s", detail=scale)),
    ]


def run() -> list[Figure]:
    print(f"masterd: RSS with {INSTANCES:,} instances and {NODES} nodes", flush=True)
    directory = temp_dir("masterd")
    try:
        layout = prepare_root(directory / "root")
        return measure(layout, directory / "masterd.out")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    run()


if __name__ == "__main__":
    main()
