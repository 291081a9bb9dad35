"""Instances at scale: 100 fake instances created and started in parallel on a 3-node
vcluster, and ``gnt-instance list`` / a LUXI instance query over 10,000 instances.

The list figures reuse the generated configuration of :mod:`bench.bench_masterd_rss`
(200 nodes, 10,000 KVM instances) with masterd alone: no node daemon answers there, so
every live field (``oper_ram``, and the running part of ``status``) is NODATA and the
figures measure the query path with failed node RPCs, not live data gathering.

Run from the checkout: ``.venv/bin/python -m bench.bench_instances``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from bench.common import (
    BenchError,
    Figure,
    fmt_list,
    generate_config,
    generated_master_root,
    load_average,
    masterd_child,
    median,
    report,
    report_leftovers,
    run_jobs,
    sample,
    temp_dir,
    vcluster_at,
    wait_masterd,
)
from corral.luxi.client import Client
from corral.objects import ConfigData
from corral.query.fields import RS_NODATA, RS_NORMAL, RS_OFFLINE, RS_UNAVAIL, RS_UNKNOWN

PORT = 18170
"""Node daemon port of this benchmark's vcluster (other clusters use 1811)."""
NODES = 3
COUNT = 100
CREATE_RUNS = 5
INSTALL_RUNS = 3
CREATE_TARGET = 50.0
"""Instances per second."""
GANETI_CREATE_PER_S = 1.5
"""Ganeti 3.0 on this machine, fake instances created and started in parallel."""

BIG_NODES = 200
BIG_INSTANCES = 10_000
MASTER_IP = "127.0.0.11"
DEAD_RPC_PORT = 18179
"""Node daemon port written into the generated configuration: nothing listens there, so
every node RPC is refused at once (whatever else runs on the default port)."""
LIST_RUNS = 10
LIST_TARGET_S = 0.3
LIST_FIELDS = ["name", "hypervisor", "os", "pnode", "status", "oper_ram"]
"""``gnt-instance list``'s default fields."""
GNT_INSTANCE = Path(sys.executable).with_name("gnt-instance")
STATUS_NAMES = {RS_NORMAL: "normal", RS_UNKNOWN: "unknown", RS_NODATA: "NODATA",
                RS_UNAVAIL: "unavailable", RS_OFFLINE: "offline"}


# --- 100 fake instances --------------------------------------------------------------


def create_op(index: int, *, install: bool) -> dict[str, Any]:
    """OP_INSTANCE_CREATE of fake instance ``f<index>``, started on node 1, 2 or 3.

    Without ``install``: diskless, so the ``noop`` OS is checked on the node but no OS
    script runs (Ganeti installs no OS on diskless instances either). With it: one
    16 MiB file disk, on which the ``noop`` OS create script runs.
    """
    disks = {"disk_template": "file", "disks": [{"size": 16}]} if install else {
        "disk_template": "diskless", "disks": []}
    return {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": f"f{index}", "mode": "create",
            **disks, "nics": [], "os_type": "noop", "hypervisor": "fake",
            "pnode": f"node{1 + index % NODES}", "start": True, "no_install": False,
            "beparams": {"maxmem": 128, "minmem": 128}, "ip_check": False,
            "name_check": False}


def remove_op(index: int) -> dict[str, Any]:
    return {"OP_ID": "OP_INSTANCE_REMOVE", "instance_name": f"f{index}"}


def timed_jobs(client: Client, jobs: list[list[dict[str, Any]]], what: str) -> float:
    start = time.perf_counter()
    run_jobs(client, jobs, what)
    return time.perf_counter() - start


def instance_statuses(client: Client) -> Counter[str]:
    rows = client.Query("instance", ["status"], None)["data"]
    return Counter(str(row[0][1]) for row in rows)


def create_round(client: Client, *, install: bool) -> tuple[float, float]:
    """(create+start rate, remove rate) in instances/s for one round of :data:`COUNT`;
    BenchError unless all instances ran and all are gone afterwards."""
    created = timed_jobs(client, [[create_op(i, install=install)] for i in range(COUNT)],
                         "create")
    statuses = instance_statuses(client)
    if statuses.get("running") != COUNT:
        raise BenchError(f"after creation, instance statuses are {dict(statuses)}")
    removed = timed_jobs(client, [[remove_op(i)] for i in range(COUNT)], "remove")
    left = instance_statuses(client)
    if left:
        raise BenchError(f"after removal, instances are left: {dict(left)}")
    return COUNT / created, COUNT / removed


def fake_figures(client: Client) -> list[Figure]:
    plain = [create_round(client, install=False) for _ in range(CREATE_RUNS)]
    installed = [create_round(client, install=True) for _ in range(INSTALL_RUNS)]
    creates, removes = [r[0] for r in plain], [r[1] for r in plain]
    install_rates = [r[0] for r in installed]
    where = f"{COUNT} fake instances, one SubmitManyJobs, {NODES}-node vcluster"
    return [
        report(Figure(
            "fake instance create+start", median(creates), "inst/s", CREATE_TARGET, "min",
            f"{where}, diskless, OS noop (no OS script runs for diskless); median of "
            f"{len(creates)}: {fmt_list(creates, 'inst/s')}; Ganeti here: about "
            f"{GANETI_CREATE_PER_S} inst/s")),
        report(Figure(
            "fake instance create+install+start", median(install_rates), "inst/s",
            detail=f"{where}, 16 MiB file disk, noop OS create script runs; median of "
            f"{len(install_rates)}: {fmt_list(install_rates, 'inst/s')}")),
        report(Figure(
            "fake instance remove", median(removes), "inst/s",
            detail=f"{where}, running diskless instances; median of {len(removes)}: "
            f"{fmt_list(removes, 'inst/s')}")),
    ]


# --- 10,000 instances in the configuration -------------------------------------------------


def big_config() -> ConfigData:
    """The generated 10,000-instance configuration, its nodes' RPC port where none listens."""
    data = generate_config(BIG_NODES, BIG_INSTANCES, master_ip=MASTER_IP)
    for node in list(data.nodes.values()):
        data.put(msgspec.structs.replace(node, rpc_port=DEAD_RPC_PORT))
    return data


def cli_list(socket_path: str) -> int:
    """Run ``gnt-instance list``; the number of instance lines it printed."""
    env = {**os.environ, "CORRAL_LUXI": socket_path}
    done = subprocess.run([str(GNT_INSTANCE), "list"], env=env, capture_output=True,
                          text=True, check=False, timeout=60)
    if done.returncode != 0:
        raise BenchError(f"gnt-instance list exited with {done.returncode}: "
                         f"{done.stderr.strip()[-500:]}")
    return len(done.stdout.splitlines()) - 1


def luxi_query(client: Client) -> list[Any]:
    rows: list[Any] = client.Query("instance", LIST_FIELDS, None)["data"]
    if len(rows) != BIG_INSTANCES:
        raise BenchError(f"instance query returned {len(rows)} rows, not {BIG_INSTANCES}")
    return rows


def live_data_note(rows: list[Any]) -> str:
    """What the query had from the nodes: result statuses of oper_ram, status values."""
    ram = Counter(STATUS_NAMES.get(row[5][0], str(row[5][0])) for row in rows)
    status = Counter(str(row[4][1]) for row in rows)
    ram_text = ", ".join(f"{k} {v:,}" for k, v in ram.most_common())
    status_text = ", ".join(f"{k} {v:,}" for k, v in status.most_common())
    live = "live data gathered" if ram.get("normal") else "NO live data (nodes unreachable)"
    return f"{live}: oper_ram {ram_text}; status {status_text}"


def list_figures(socket_path: str) -> list[Figure]:
    lines = cli_list(socket_path)
    if lines != BIG_INSTANCES:
        raise BenchError(f"gnt-instance list printed {lines} instances, not {BIG_INSTANCES}")
    cli = sample(lambda: cli_list(socket_path), LIST_RUNS)
    with Client(socket_path) as client:
        note = live_data_note(luxi_query(client))
        luxi = sample(lambda: luxi_query(client), LIST_RUNS)
    scale = f"{BIG_INSTANCES:,} instances / {BIG_NODES} nodes, masterd alone"
    print(f"  ({note})", flush=True)
    return [
        report(Figure(
            f"gnt-instance list, {BIG_INSTANCES:,} instances", median(cli), "s",
            LIST_TARGET_S, "max",
            f"{scale}; default fields, whole command as a subprocess; median of {LIST_RUNS} "
            f"after 1 warm-up: {fmt_list(cli, 's')}; {note}")),
        report(Figure(
            f"LUXI instance query, {BIG_INSTANCES:,} instances", median(luxi), "s",
            LIST_TARGET_S, "max",
            f"{scale}; fields {','.join(LIST_FIELDS)}; median of {LIST_RUNS} after 1 "
            f"warm-up: {fmt_list(luxi, 's')}; {note}")),
    ]


def big_list_figures() -> list[Figure]:
    directory = temp_dir("instances-list")
    try:
        layout = generated_master_root(directory / "root", big_config())
        with masterd_child(layout, directory / "masterd.out") as proc:
            started = wait_masterd(proc, layout)
            print(f"  (masterd with {BIG_INSTANCES:,} instances answering after "
                  f"{started:.1f} s)", flush=True)
            return list_figures(str(layout.luxi_socket))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run() -> list[Figure]:
    print(f"instances: {COUNT} fake instances in parallel; listing {BIG_INSTANCES:,} "
          f"(load average {load_average()})", flush=True)
    with vcluster_at(NODES, "instances", PORT) as vc, Client(str(vc.luxi_socket)) as client:
        figures = fake_figures(client)
    return figures + big_list_figures()


def main() -> int:
    run()
    return 0 if report_leftovers() else 1


if __name__ == "__main__":
    sys.exit(main())
