"""Drive Corral's RAPI with Ganeti's own client (``python3-ganeti-rapi``).

Runs under Debian's ``/usr/bin/python3`` (where ``ganeti.rapi.client`` lives), not
in Corral's virtualenv. Reads a JSON document of connection settings on stdin::

    {"host", "port", "user", "password", "ro_user", "ro_password", "ca",
     "queued_job"}

and prints one JSON document with what each step observed; the pytest side
asserts on it. A step that raises records ``{"error": text, "code": code}``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from ganeti.rapi import client as rapi  # type: ignore[import-not-found]

INSTANCE = "rapi-inst1.example.com"
RENAMED = "rapi-inst2.example.com"
GROUP = "rapi-group"
MOBILE = "rapi-mobile.example.com"
WAIT_PERIOD = 0.1
WAIT_RETRIES = 600


def connect(cfg: dict[str, Any], user: str, password: str) -> Any:
    curl_config = rapi.GenericCurlConfig(cafile=cfg["ca"])
    return rapi.GanetiRapiClient(cfg["host"], cfg["port"], user, password,
                                 curl_config_fn=curl_config)


def error_of(err: Exception) -> dict[str, Any]:
    return {"error": str(err), "code": getattr(err, "code", None)}


def wait(client: Any, job_id: Any) -> dict[str, Any]:
    """The job's final status, via WaitForJobCompletion then GetJobStatus."""
    client.WaitForJobCompletion(job_id, period=WAIT_PERIOD, retries=WAIT_RETRIES)
    status = client.GetJobStatus(job_id)
    return {"job_id_type": type(job_id).__name__, "status": status["status"],
            "opresult": status["opresult"]}


def run_step(results: dict[str, Any], name: str, fn: Callable[[], Any]) -> None:
    start = time.time()
    try:
        results[name] = fn()
    except rapi.GanetiApiError as err:
        results[name] = error_of(err)
    results.setdefault("step_seconds", {})[name] = round(time.time() - start, 3)


def cluster_steps(c: Any, r: dict[str, Any]) -> None:
    run_step(r, "version", c.GetVersion)
    run_step(r, "features", lambda: sorted(c.GetFeatures()))
    run_step(r, "info_name", lambda: c.GetInfo()["name"])
    run_step(r, "os", c.GetOperatingSystems)
    run_step(r, "cluster_tags_add", lambda: wait(c, c.AddClusterTags(["rapi-test"])))
    run_step(r, "cluster_tags", c.GetClusterTags)


def instance_steps(c: Any, r: dict[str, Any]) -> None:
    def create() -> dict[str, Any]:
        return wait(c, c.CreateInstance(
            "create", INSTANCE, "diskless", [], [], os="noop", pnode="node1",
            hypervisor="fake", ip_check=False, name_check=False,
            beparams={"maxmem": 128, "minmem": 128}))

    run_step(r, "create", create)
    run_step(r, "instances", c.GetInstances)
    run_step(r, "instance", lambda: c.GetInstance(INSTANCE))
    run_step(r, "instances_bulk_names",
             lambda: [i["name"] for i in c.GetInstances(bulk=True)])
    run_step(r, "info", lambda: wait(c, c.GetInstanceInfo(INSTANCE)))
    run_step(r, "shutdown", lambda: wait(c, c.ShutdownInstance(INSTANCE)))
    run_step(r, "status_after_shutdown", lambda: c.GetInstance(INSTANCE)["status"])
    run_step(r, "startup", lambda: wait(c, c.StartupInstance(INSTANCE)))
    run_step(r, "status_after_startup", lambda: c.GetInstance(INSTANCE)["status"])
    run_step(r, "reboot", lambda: wait(c, c.RebootInstance(INSTANCE, reboot_type="hard")))
    run_step(r, "console", lambda: c.GetInstanceConsole(INSTANCE))
    run_step(r, "modify", lambda: wait(c, c.ModifyInstance(INSTANCE,
                                                           beparams={"maxmem": 256})))
    run_step(r, "beparams_after_modify", lambda: c.GetInstance(INSTANCE)["beparams"])
    run_step(r, "tags_add", lambda: wait(c, c.AddInstanceTags(INSTANCE, ["a", "b"])))
    run_step(r, "tags", lambda: sorted(c.GetInstanceTags(INSTANCE)))
    run_step(r, "tags_delete", lambda: wait(c, c.DeleteInstanceTags(INSTANCE, ["a"])))
    run_step(r, "tags_after_delete", lambda: c.GetInstanceTags(INSTANCE))
    run_step(r, "shutdown_for_rename", lambda: wait(c, c.ShutdownInstance(INSTANCE)))
    run_step(r, "rename", lambda: wait(c, c.RenameInstance(
        INSTANCE, RENAMED, ip_check=False, name_check=False)))
    run_step(r, "instances_after_rename", c.GetInstances)
    run_step(r, "delete", lambda: wait(c, c.DeleteInstance(RENAMED)))
    run_step(r, "instances_after_delete", c.GetInstances)


def node_steps(c: Any, r: dict[str, Any]) -> None:
    run_step(r, "nodes", c.GetNodes)
    run_step(r, "nodes_bulk", lambda: sorted(n["name"] for n in c.GetNodes(bulk=True)))
    run_step(r, "node", lambda: {k: v for k, v in c.GetNode("node2").items()
                                 if k in ("name", "pip", "secondary_ip", "role")})
    run_step(r, "role", lambda: c.GetNodeRole("node2"))
    run_step(r, "set_drained", lambda: wait(c, c.SetNodeRole("node2", "drained")))
    run_step(r, "role_drained", lambda: c.GetNodeRole("node2"))
    run_step(r, "set_regular", lambda: wait(c, c.SetNodeRole("node2", "regular")))
    run_step(r, "role_regular", lambda: c.GetNodeRole("node2"))
    run_step(r, "set_candidate", lambda: wait(c, c.SetNodeRole("node2", "master-candidate")))
    run_step(r, "role_candidate", lambda: c.GetNodeRole("node2"))


def group_steps(c: Any, r: dict[str, Any]) -> None:
    run_step(r, "groups", c.GetGroups)
    run_step(r, "group_create", lambda: wait(c, c.CreateGroup(GROUP)))
    run_step(r, "group", lambda: c.GetGroup(GROUP)["name"])
    run_step(r, "group_rename", lambda: wait(c, c.RenameGroup(GROUP, GROUP + "2")))
    run_step(r, "groups_after_rename", lambda: sorted(c.GetGroups()))
    run_step(r, "group_delete", lambda: wait(c, c.DeleteGroup(GROUP + "2")))
    run_step(r, "groups_after_delete", c.GetGroups)


def wait_all(c: Any, job_id: Any) -> dict[str, Any]:
    """Wait for a job whose result names more jobs (node migrate/evacuate), then for those."""
    first = wait(c, job_id)
    if first["status"] != "success":
        return first
    return {**first, "jobs": [wait(c, sub) if ok else {"error": sub}
                              for ok, sub in first["opresult"][0]["jobs"]]}


def mobility_steps(c: Any, r: dict[str, Any]) -> None:
    def pnode() -> str:
        return str(c.GetInstance(MOBILE)["pnode"])

    run_step(r, "mobile_create", lambda: wait(c, c.CreateInstance(
        "create", MOBILE, "diskless", [], [], os="noop", pnode="node1", hypervisor="fake",
        ip_check=False, name_check=False)))
    run_step(r, "migrate", lambda: wait(c, c.MigrateInstance(MOBILE, mode="live",
                                                             target_node="node2")))
    run_step(r, "pnode_after_migrate", pnode)
    run_step(r, "failover", lambda: wait(c, c.FailoverInstance(MOBILE, target_node="node1")))
    run_step(r, "pnode_after_failover", pnode)
    run_step(r, "node_migrate_dry_run", lambda: wait(c, c.MigrateNode("node1", dry_run=True)))
    run_step(r, "pnode_after_dry_run", pnode)
    run_step(r, "node_migrate", lambda: wait_all(c, c.MigrateNode("node1", mode="non-live")))
    run_step(r, "pnode_after_node_migrate", pnode)
    run_step(r, "node_evacuate", lambda: wait_all(c, c.EvacuateNode(
        "node2", mode="primary-only", early_release=False)))
    run_step(r, "pnode_after_evacuate", pnode)
    run_step(r, "status_after_mobility", lambda: c.GetInstance(MOBILE)["status"])
    run_step(r, "mobile_delete", lambda: wait(c, c.DeleteInstance(MOBILE)))


def job_steps(c: Any, r: dict[str, Any], queued_job: int) -> None:
    run_step(r, "jobs", lambda: queued_job in c.GetJobs())
    run_step(r, "jobs_bulk_keys", lambda: sorted(c.GetJobs(bulk=True)[0]))
    run_step(r, "job_status", lambda: c.GetJobStatus(queued_job)["status"])
    run_step(r, "cancel", lambda: c.CancelJob(queued_job))
    run_step(r, "canceled_status", lambda: c.GetJobStatus(queued_job)["status"])
    run_step(r, "wait_change", lambda: c.WaitForJobChange(queued_job, ["status"], None, None))


def error_steps(cfg: dict[str, Any], c: Any, r: dict[str, Any]) -> None:
    run_step(r, "missing_instance", lambda: c.GetInstance("no-such-instance"))
    bad = connect(cfg, cfg["user"], cfg["password"] + "-wrong")
    run_step(r, "bad_password", bad.GetInfo)
    ro = connect(cfg, cfg["ro_user"], cfg["ro_password"])
    run_step(r, "read_only_read", lambda: ro.GetInfo()["name"])
    run_step(r, "read_only_write", lambda: ro.AddClusterTags(["nope"]))
    run_step(r, "malformed_body", lambda: c.CreateInstance(
        "create", "bad-inst", "diskless", [{"size": "big"}], [], os="noop"))
    run_step(r, "unknown_field", lambda: c.ModifyInstance(RENAMED, no_such_field=1))


def main() -> None:
    cfg = json.load(sys.stdin)
    c = connect(cfg, cfg["user"], cfg["password"])
    results: dict[str, Any] = {}
    start = time.time()
    job_steps(c, results, cfg["queued_job"])
    instance_steps(c, results)  # meanwhile the job that kept queued_job waiting ends
    cluster_steps(c, results)
    node_steps(c, results)
    group_steps(c, results)
    mobility_steps(c, results)
    error_steps(cfg, c, results)
    results["seconds"] = round(time.time() - start, 2)
    json.dump(results, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
