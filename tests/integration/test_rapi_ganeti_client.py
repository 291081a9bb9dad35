"""Ganeti's own RAPI client (Debian's ``python3-ganeti-rapi``) against a Corral vcluster.

The client runs under Debian's ``/usr/bin/python3`` in a subprocess
(``tests/rapi_client/lifecycle.py``), verifies the server certificate with the
cluster CA, and reports what every step observed as JSON; the tests below
assert on that report.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.layout import NodeLayout
from corral.luxi.client import Client
from corral.vcluster import cluster

GANETI_PYTHON = "/usr/bin/python3"
PORT = 18130
SCRIPT = Path(__file__).resolve().parents[1] / "rapi_client" / "lifecycle.py"
SCRIPT_TIMEOUT = 240
BLOCKER_SECONDS = 5.0
"""How long the job that keeps another one queued runs (it holds the cluster lock shared)."""


def ganeti_client_missing() -> str | None:
    """Why Ganeti's client cannot run here, or None."""
    try:
        probe = subprocess.run([GANETI_PYTHON, "-c", "import ganeti.rapi.client"],
                               capture_output=True, text=True, timeout=30, check=False)
    except OSError as err:
        return f"{GANETI_PYTHON} cannot run: {err}"
    if probe.returncode != 0:
        return f"{GANETI_PYTHON} cannot import ganeti.rapi.client (install python3-ganeti-rapi)"
    return None


def loopback_missing() -> str | None:
    import socket

    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.12", 0))
    except OSError:
        return "cannot bind addresses in 127.0.0.0/8 beyond 127.0.0.1 here"
    return None


def _queue_a_job(luxi: Path) -> tuple[int, int]:
    """A long delay and a job waiting for it (so that it stays queued and can be canceled)."""
    with Client(str(luxi)) as client:
        blocker = client.SubmitJob([{"OP_ID": "OP_TEST_DELAY", "duration": BLOCKER_SECONDS}])
        waiting = client.SubmitJob([{"OP_ID": "OP_TEST_DELAY", "duration": 0.1,
                                     "depends": [[blocker, ["success"]]]}])
    return blocker, waiting


def _vcluster_facts(directory: Path, master_root: str) -> dict[str, Any]:
    users = NodeLayout(Path(master_root)).rapi_users_file
    return {
        "env": cluster.env_lines(directory),
        "users_mode": users.stat().st_mode & 0o777,
        "users": users.read_text(),
        "creds_mode": (directory / cluster.RAPI_CREDENTIALS).stat().st_mode & 0o777,
        "creds": cluster.rapi_credentials(directory),
    }


@pytest.fixture(scope="module")
def report() -> Iterator[dict[str, Any]]:
    reason = loopback_missing() or ganeti_client_missing()
    if reason:
        pytest.skip(reason)
    directory = Path(tempfile.mkdtemp(prefix="corral-rapi-")) / "vc"
    try:
        vc = cluster.up(directory, 2, feedback=lambda _msg: None, port=PORT)
        creds = cluster.rapi_credentials(directory)
        assert creds is not None
        blocker, waiting = _queue_a_job(vc.luxi_socket)
        settings = {"host": vc.master.address, "port": cluster.rapi_port_for(PORT),
                    "user": creds["user"], "password": creds["password"],
                    "ro_user": creds["ro_user"], "ro_password": creds["ro_password"],
                    "ca": creds["ca"], "queued_job": waiting}
        proc = subprocess.run([GANETI_PYTHON, str(SCRIPT)], input=json.dumps(settings),
                              capture_output=True, text=True, timeout=SCRIPT_TIMEOUT,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        with Client(str(vc.luxi_socket)) as client:
            client.CancelJob(blocker, kill=True)
        data = json.loads(proc.stdout)
        data["vcluster"] = _vcluster_facts(directory, vc.master.root)
        yield data
    finally:
        cluster.down(directory, feedback=lambda _msg: None)
        directory.parent.rmdir()


def _succeeded(step: Any) -> bool:
    return isinstance(step, dict) and step.get("status") == "success" and (
        step.get("job_id_type") == "int")


def test_cluster_resources(report: dict[str, Any]) -> None:
    assert report["version"] == 2
    assert report["features"] == ["instance-create-reqv1", "instance-reinstall-reqv1",
                                  "node-evac-res1", "node-migrate-reqv1"]
    assert report["info_name"] == "cluster.vcluster"
    assert "noop" in report["os"]
    assert "busybox+default" in report["os"]
    assert _succeeded(report["cluster_tags_add"])
    assert "rapi-test" in report["cluster_tags"]


def test_instance_life_cycle(report: dict[str, Any]) -> None:
    for step in ("create", "info", "shutdown", "startup", "reboot", "modify", "tags_add",
                 "tags_delete", "shutdown_for_rename", "rename", "delete"):
        assert _succeeded(report[step]), (step, report[step])
    assert report["create"]["opresult"] == [["node1"]]
    assert report["instances"] == ["rapi-inst1.example.com"]
    assert report["instance"]["status"] == "running"
    assert report["instance"]["pnode"] == "node1"
    assert report["instances_bulk_names"] == ["rapi-inst1.example.com"]
    info = report["info"]["opresult"][0]["rapi-inst1.example.com"]
    assert info["hypervisor"] == "fake"
    assert info["os"] == "noop"
    assert report["status_after_shutdown"] == "ADMIN_down"
    assert report["status_after_startup"] == "running"
    assert report["console"]["instance"] == "rapi-inst1.example.com"
    assert report["beparams_after_modify"]["maxmem"] == 256
    assert report["tags"] == ["a", "b"]
    assert report["tags_after_delete"] == ["b"]
    assert report["instances_after_rename"] == ["rapi-inst2.example.com"]
    assert report["instances_after_delete"] == []


def test_nodes(report: dict[str, Any]) -> None:
    assert report["nodes"] == ["node1", "node2"]
    assert report["nodes_bulk"] == ["node1", "node2"]
    assert report["node"] == {"name": "node2", "pip": "127.0.0.12",
                              "secondary_ip": "127.0.0.12", "role": "C"}
    assert report["role"] == "master-candidate"
    for step in ("set_drained", "set_regular", "set_candidate"):
        assert _succeeded(report[step]), (step, report[step])
    assert report["role_drained"] == "drained"
    # leaving "drained" may promote the node again (the candidate pool is not full)
    assert report["role_regular"] in ("regular", "master-candidate")
    assert report["role_candidate"] == "master-candidate"


def test_groups(report: dict[str, Any]) -> None:
    assert report["groups"] == ["default"]
    for step in ("group_create", "group_rename", "group_delete"):
        assert _succeeded(report[step]), (step, report[step])
    assert report["group"] == "rapi-group"
    assert report["groups_after_rename"] == ["default", "rapi-group2"]
    assert report["groups_after_delete"] == ["default"]


def test_mobility(report: dict[str, Any]) -> None:
    for step in ("mobile_create", "migrate", "failover", "node_migrate_dry_run", "node_migrate",
                 "node_evacuate", "mobile_delete"):
        assert _succeeded(report[step]), (step, report[step])
    assert report["pnode_after_migrate"] == "node2"
    assert report["pnode_after_failover"] == "node1"
    assert report["pnode_after_dry_run"] == "node1"
    (job,) = report["node_migrate"]["jobs"]
    assert _succeeded(job), job
    assert report["pnode_after_node_migrate"] == "node2"
    (job,) = report["node_evacuate"]["jobs"]
    assert _succeeded(job), job
    assert report["pnode_after_evacuate"] == "node1"
    assert report["status_after_mobility"] == "running"


def test_jobs(report: dict[str, Any]) -> None:
    assert report["jobs"] is True
    assert report["jobs_bulk_keys"] == ["end_ts", "id", "ops", "opstatus", "received_ts",
                                        "start_ts", "status", "summary"]
    assert report["job_status"] in ("queued", "waiting")
    assert report["cancel"][0] is True, report["cancel"]
    assert report["canceled_status"] == "canceled"
    assert report["wait_change"]["job_info"] == ["canceled"]


def test_errors(report: dict[str, Any]) -> None:
    assert report["missing_instance"]["code"] == 404
    assert report["bad_password"]["code"] == 401
    assert report["read_only_read"] == "cluster.vcluster"
    assert report["read_only_write"]["code"] == 403
    assert report["malformed_body"]["code"] == 400
    assert "disks[0].size" in report["malformed_body"]["error"]
    assert report["unknown_field"]["code"] == 400
    assert "no_such_field" in report["unknown_field"]["error"]


def test_vcluster_users_and_environment(report: dict[str, Any]) -> None:
    facts = report["vcluster"]
    creds = facts["creds"]
    assert (facts["users_mode"], facts["creds_mode"]) == (0o600, 0o600)
    assert creds["url"] == f"https://127.0.0.11:{cluster.rapi_port_for(PORT)}"
    lines = facts["users"].splitlines()
    assert lines[0].startswith(f"{creds['user']} {{HA1}}")
    assert lines[0].endswith(" write")
    assert lines[1].startswith(f"{creds['ro_user']} {{HA1}}")
    assert lines[1].endswith(" read")
    assert creds["password"] not in facts["users"]
    env = dict(line.removeprefix("export ").split("=", 1) for line in facts["env"])
    assert env["CORRAL_RAPI_URL"] == creds["url"]
    assert (env["CORRAL_RAPI_USER"], env["CORRAL_RAPI_PASSWORD"]) == (creds["user"],
                                                                       creds["password"])
    assert (env["CORRAL_RAPI_RO_USER"], env["CORRAL_RAPI_RO_PASSWORD"]) == (
        creds["ro_user"], creds["ro_password"])
