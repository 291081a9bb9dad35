"""gnt-cluster master-failover on a fresh 3-node virtual cluster, with real daemons.

The tests run in order on one cluster: node1 -> node2 with every node up (a new master term:
the old master's RPC client is refused by epoch on every node, its master daemon refuses to
start with or without voting, exit 11; Ganeti's RAPI client reaches the new master with the
same certificate and credentials; verify reports a candidate whose job queue replica lacks
a job file); node2 dies and node1 takes over by vote (the revived old master is fenced
likewise, and its watcher, which still believes it is master, reports the master daemon's
refusal and exits 11); a stale candidate is refused; node1 dies and node2 takes over with
--no-voting --yes-do-it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral import serde
from corral.cmdlib.common.instances.bundle import build_bundle
from corral.config.ssconf import compute_ssconf
from corral.config.store import ConfigStore
from corral.daemon_control import MASTERD_MATCH, daemon_pid, read_pid_file
from corral.layout import NodeLayout
from corral.luxi.client import Client, wait_for_job
from corral.objects.config_data import ConfigData
from corral.objects.instance import AdminState
from corral.rpc import tls
from corral.rpc.client import RpcClient
from corral.rpc.nodes import NodeRpc
from corral.rpc.results import NodeResult
from corral.vcluster import cluster
from corral.vcluster.cluster import VCluster, VNode
from tests.integration.conftest import VENV_BIN, RunResult
from tests.integration.test_rapi_ganeti_client import GANETI_PYTHON, ganeti_client_missing

PORT = 18130
DELAY = {"OP_ID": "OP_TEST_DELAY", "on_master": True, "on_nodes": []}
INSTANCE = ("-t", "diskless", "-o", "busybox+default", "-H", "fake", "--no-ip-check",
            "--no-name-check")
RAPI_SCRIPT = Path(__file__).resolve().parents[1] / "rapi_client" / "after_failover.py"
OLD_CONFIGS: dict[str, ConfigData] = {}
"""Each old master's configuration as it was before the failover that ended its term."""


@pytest.fixture(scope="module")
def vc() -> Iterator[VCluster]:
    directory = Path(tempfile.mkdtemp(prefix="corral-failover-")) / "vc"
    try:
        yield cluster.up(directory, 3, feedback=lambda _msg: None, port=PORT)
    finally:
        cluster.down(directory, feedback=lambda _msg: None)
        directory.parent.rmdir()


def _env(node: VNode) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CORRAL_LUXI"}
    return {**env, "CORRAL_ROOT": node.root}


def gnt(node: VNode, tool: str, *args: str, timeout: float = 120) -> RunResult:
    """Run a gnt-* command on ``node`` (its root, its LUXI socket)."""
    proc = subprocess.run([str(VENV_BIN / tool), *args], capture_output=True, text=True,
                          env=_env(node), timeout=timeout, check=False)
    return RunResult(proc.returncode, proc.stdout, proc.stderr)


def client(node: VNode) -> Client:
    return Client(str(NodeLayout(Path(node.root)).luxi_socket))


def masterd_pid(node: VNode) -> int | None:
    return daemon_pid(NodeLayout(Path(node.root)).pid_file("corral-masterd"), MASTERD_MATCH)


def masterd_log(node: VNode) -> str:
    """The end of ``node``'s master daemon log (for failure messages)."""
    try:
        return NodeLayout(Path(node.root)).log_file("corral-masterd").read_text()[-3000:]
    except OSError as err:
        return str(err)


def kill_node(node: VNode) -> None:
    """SIGKILL every daemon of ``node`` (as a node that dies)."""
    layout = NodeLayout(Path(node.root))
    for daemon in ("corral-masterd", "corral-noded"):
        pid = read_pid_file(layout.pid_file(daemon))
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def revive_node(node: VNode) -> None:
    cluster.start_noded(node)
    cluster.wait_until_listening(node)


def run_masterd(node: VNode, *extra: str) -> subprocess.CompletedProcess[str]:
    """The master daemon of ``node`` in the foreground, as an administrator would start it."""
    argv = [sys.executable, "-m", "corral.daemons.masterd", "--root", node.root, "-f",
            "--no-rapi", "--vote-interval", "0.2", "--vote-retries", "2", *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def submit(node: VNode, *ops: dict[str, Any]) -> int:
    with client(node) as c:
        return int(c.SubmitJob([dict(op) for op in ops]))


def finished(node: VNode, job_id: int) -> tuple[str, Any]:
    with client(node) as c:
        status, _, result = wait_for_job(c, job_id)
    return status, result


def replica_job(node: VNode, job_id: int) -> dict[str, Any] | None:
    path = NodeLayout(Path(node.root)).queue_dir / f"job-{job_id}"
    try:
        doc: dict[str, Any] = serde.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return doc


def wait_replica_status(node: VNode, job_id: int, status: str) -> None:
    deadline = time.monotonic() + 30
    while (doc := replica_job(node, job_id)) is None or doc["ops"][0]["status"] != status:
        assert time.monotonic() < deadline, f"job {job_id} never {status} on {node.name}"
        time.sleep(0.05)


def load_config(node: VNode) -> ConfigData:
    store = ConfigStore(NodeLayout(Path(node.root)).config_db)
    try:
        data = store.load()
    finally:
        store.close()
    assert data is not None
    return data


def old_master_attempts(old_master: VNode, old: ConfigData) -> dict[str, str | None]:
    """The old master's RPC client (its certificate, the epoch of its configuration) stops
    its running instances, starts its stopped ones, writes ssconf and the configuration on
    every node: "call@node" -> the refusal (None when the node obeyed)."""
    nodes = list(old.nodes.values())
    meta = {"ctime": old.ctime, "mtime": old.mtime, "version": old.version}

    async def run() -> dict[str, str | None]:
        rpc = NodeRpc(RpcClient(tls.client_ssl_context(NodeLayout(Path(old_master.root)))))
        seen: dict[str, str | None] = {}

        def note(call: str, results: dict[str, NodeResult[Any]]) -> None:
            seen.update({f"{call}@{name}": r.fail_msg for name, r in results.items()})
            rpc.set_epoch(old.cluster.master_epoch)  # forget the refusal: ask every node

        rpc.set_epoch(old.cluster.master_epoch)
        try:
            for inst in old.instances.values():
                primary = old.nodes[inst.primary_node]
                if inst.admin_state is AdminState.UP:
                    answer = await rpc.instance_shutdown(primary, build_bundle(old, inst), 5, [])
                else:
                    answer = await rpc.instance_start(primary, build_bundle(old, inst), False, [])
                note(f"{inst.name}", {primary.name: answer})
            note("ssconf", await rpc.write_ssconf_files(nodes, compute_ssconf(old)))
            note("config", await rpc.config_replicate(nodes, old.serial_no + 1, old.serial_no,
                                                      [], meta))
        finally:
            await rpc.close()
        return seen

    return asyncio.run(run())


def assert_fenced_everywhere(old_master: VNode, old: ConfigData, master: VNode) -> None:
    """Nothing the old master tries is obeyed, on any node; the cluster state is unchanged."""
    states = gnt(master, "gnt-instance", "list", "--no-headers", "-o", "name,oper_state")
    serials = {node.name: load_config(node).serial_no for node in (old_master, master)}
    refused = old_master_attempts(old_master, old)
    assert len(refused) == 2 * len(old.nodes) + len(old.instances)
    epoch = old.cluster.master_epoch
    for what, reason in refused.items():
        assert reason is not None, f"{what} obeyed the old master"
        assert reason.startswith(f"fenced: master epoch {epoch} is older than"), (what, reason)
    again = gnt(master, "gnt-instance", "list", "--no-headers", "-o", "name,oper_state")
    assert (again.code, again.stdout) == (0, states.stdout)
    assert {node.name: load_config(node).serial_no for node in (old_master, master)} == serials


def assert_master_everywhere(nodes: list[VNode], master: str) -> None:
    for node in nodes:
        shown = gnt(node, "gnt-cluster", "getmaster")
        assert (shown.code, shown.stdout.strip()) == (0, master), (node.name, shown)


def test_failover_with_all_nodes_up(vc: VCluster) -> None:
    node1, node2, _ = vc.nodes
    for name, node, start in (("fo-run", "node3", ()), ("fo-stop", "node1", ("--no-start",))):
        added = gnt(node1, "gnt-instance", "add", *INSTANCE, *start, "-n", node, name)
        assert added.code == 0, added.stderr
    done = submit(node1, {**DELAY, "duration": 0.01})
    assert finished(node1, done)[0] == "success"
    assert gnt(node1, "gnt-cluster", "add-tags", "before-failover").code == 0
    assert gnt(node1, "gnt-cluster", "modify", "--max-running-jobs", "1").code == 0
    running = submit(node1, {**DELAY, "duration": 60.0})
    queued = submit(node1, {**DELAY, "duration": 0.01})
    wait_replica_status(node2, running, "running")
    wait_replica_status(node2, queued, "queued")

    OLD_CONFIGS["node1"] = load_config(node1)
    result = gnt(node2, "gnt-cluster", "master-failover")
    assert result.code == 0, (result.stderr, masterd_log(node2))
    assert "Master term 2 started" in result.stderr
    assert_master_everywhere(vc.nodes, "node2")
    assert masterd_pid(node1) is None
    assert gnt(node2, "gnt-cluster", "master-ping").code == 0
    assert gnt(node1, "gnt-cluster", "master-ping").code == 1
    status, _ = finished(node2, done)
    assert status == "success"
    assert finished(node2, queued)[0] == "success"
    status, result_of_running = finished(node2, running)
    assert status == "error"
    assert "outcome is unknown" in str(result_of_running)
    tags = gnt(node2, "gnt-cluster", "list-tags")
    assert "before-failover" in tags.stdout.split()
    env = subprocess.run([str(VENV_BIN / "corral"), "vcluster", "env", "--dir", vc.directory],
                         capture_output=True, text=True, check=True).stdout
    assert f"export CORRAL_ROOT={node2.root}" in env.splitlines()


def test_old_master_restarted_exits_11(vc: VCluster) -> None:
    started = run_masterd(vc.nodes[0])
    assert started.returncode == 11, started.stderr
    assert "not the master" in started.stderr


def test_old_master_is_fenced_after_failover(vc: VCluster) -> None:
    node1, node2, _ = vc.nodes
    assert load_config(node2).cluster.master_epoch == 2
    forced = run_masterd(node1, "--no-voting", "--yes-do-it")
    assert forced.returncode == 11, forced.stderr
    assert "the configuration names node2" in forced.stderr
    assert_fenced_everywhere(node1, OLD_CONFIGS["node1"], node2)


def test_rapi_client_reaches_the_new_master(vc: VCluster) -> None:
    reason = ganeti_client_missing()
    if reason:
        pytest.skip(reason)
    node1, node2, _ = vc.nodes
    creds = cluster.rapi_credentials(Path(vc.directory))
    assert creds is not None
    port = cluster.rapi_port_for(PORT)
    cluster.wait_until_listening(VNode("RAPI of node2", node2.address, node2.root, port))
    issued = NodeLayout(Path(node1.root)).rapi_cert.read_text()
    served = ssl.get_server_certificate((node2.address, port))
    assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(issued)
    settings = {"name": vc.cluster_name, "address": node2.address, "port": port,
                "user": creds["user"], "password": creds["password"], "ca": creds["ca"]}
    proc = subprocess.run([GANETI_PYTHON, str(RAPI_SCRIPT)], input=json.dumps(settings),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["instances"] == ["fo-run", "fo-stop"]
    assert report["job_status"] == "success"
    assert "after-failover-rapi" in report["tags"]
    assert report["master"] == "node2"
    assert "after-failover-rapi" in gnt(node2, "gnt-cluster", "list-tags").stdout.split()


def test_verify_reports_a_queue_replica_behind(vc: VCluster) -> None:
    _, node2, node3 = vc.nodes
    clean = gnt(node2, "gnt-cluster", "verify")
    assert clean.code == 0, clean.stdout
    queue_dir = NodeLayout(Path(node3.root)).queue_dir
    oldest = min(int(p.name[4:]) for p in queue_dir.glob("job-*"))  # long finished
    replica = queue_dir / f"job-{oldest}"
    aside = replica.with_name("moved-aside")
    replica.rename(aside)
    try:
        behind = gnt(node2, "gnt-cluster", "verify")
    finally:
        aside.rename(replica)
    assert behind.code != 0, behind.stdout
    assert (f"candidate node3 is behind: 1 job file(s) missing (jobs {oldest})"
            in behind.stdout), behind.stdout
    assert "candidate node1" not in behind.stdout
    assert gnt(node2, "gnt-cluster", "verify").code == 0


def test_failover_by_vote_with_the_old_master_dead(vc: VCluster) -> None:
    node1, node2, node3 = vc.nodes
    OLD_CONFIGS["node2"] = load_config(node2)
    kill_node(node2)
    result = gnt(node1, "gnt-cluster", "master-failover")
    assert result.code == 0, result.stderr
    assert "Could not disable the master role on the old master node2" in result.stderr
    assert_master_everywhere([node1, node3], "node1")
    assert "before-failover" in gnt(node1, "gnt-cluster", "list-tags").stdout.split()
    revive_node(node2)
    again = run_masterd(node2)
    assert again.returncode == 11, again.stderr
    assert "Not master" in again.stderr or "not the master" in again.stderr
    forced = run_masterd(node2, "--no-voting", "--yes-do-it")
    assert forced.returncode == 11, forced.stderr
    assert "has seen term 3" in forced.stderr
    assert_fenced_everywhere(node2, OLD_CONFIGS["node2"], node1)
    watcher = subprocess.run([str(VENV_BIN / "corral-watcher"), "--root", node2.root],
                             capture_output=True, text=True, env=_env(node2), timeout=120,
                             check=False)
    assert watcher.returncode == 11, watcher.stderr
    assert "The master daemon refused to start: Not master" in watcher.stderr
    assert "Traceback" not in watcher.stderr
    assert masterd_pid(node2) is None


def test_stale_candidate_refused(vc: VCluster) -> None:
    node1, _, node3 = vc.nodes
    kill_node(node3)
    tagged = gnt(node1, "gnt-cluster", "add-tags", "node3-misses-this")
    assert tagged.code == 0, tagged.stderr
    kill_node(node1)
    revive_node(node3)
    refused = gnt(node3, "gnt-cluster", "master-failover", "--no-voting", "--yes-do-it")
    assert refused.code != 0
    assert "is older than the one of node2" in refused.stderr
    assert masterd_pid(node3) is None


def test_no_voting_failover_with_the_master_dead(vc: VCluster) -> None:
    _, node2, node3 = vc.nodes
    result = gnt(node2, "gnt-cluster", "master-failover", "--no-voting", "--yes-do-it")
    assert result.code == 0, result.stderr
    assert_master_everywhere([node2, node3], "node2")
    assert "node3-misses-this" in gnt(node2, "gnt-cluster", "list-tags").stdout.split()
    job = submit(node2, {**DELAY, "duration": 0.01})
    assert finished(node2, job)[0] == "success"
