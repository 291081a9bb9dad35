"""gnt-cluster: info/version texts, verify, modify, queue, watcher, tags, destroy, init."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from corral.cli import cluster_init, gnt_cluster
from corral.errors import ErrorCode, OpPrereqError

if TYPE_CHECKING:
    from tests.unit.cli.conftest import FakeLuxi, Runner

CTIME = 1700000000.0


def _strip_generic(op: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in op.items() if k not in ("reason", "debug_level")}


def _cluster_info() -> dict[str, Any]:
    return {
        "software_version": "0.1.0", "protocol_version": 3000000, "config_version": 3000000,
        "os_api_version": 20, "export_version": 0, "vcs_version": "(corral) 0.1.0",
        "architecture": ["64bit", "x86_64"], "name": "cluster.example.com", "uuid": "u-1",
        "ctime": CTIME, "mtime": CTIME, "master": "node1.example.com", "tags": ["b", "a"],
        "default_hypervisor": "kvm", "enabled_hypervisors": ["kvm"],
        "hvparams": {"kvm": {"acpi": True, "kernel_path": ""}, "xen-pvm": {"x": 1}},
        "os_hvp": {}, "osparams": {}, "hidden_os": [], "blacklisted_os": ["bad"],
        "candidate_pool_size": 10, "max_running_jobs": 20, "max_tracked_jobs": 25,
        "mac_prefix": "aa:00:00", "master_netdev": "eth0", "master_netmask": 32,
        "use_external_mip_script": False, "volume_group_name": "", "reserved_lvs": [],
        "file_storage_dir": "/srv/ganeti/file-storage",
        "shared_file_storage_dir": "/srv/ganeti/shared-file-storage",
        "maintain_node_health": False, "uid_pool": [[1000, 1009]], "default_iallocator": "",
        "prealloc_wipe_disks": False, "enabled_disk_templates": ["file", "diskless"],
        "enabled_user_shutdown": False, "ndparams": {"ssh_port": 22},
        "beparams": {"default": {"vcpus": 1}}, "nicparams": {"default": {"mode": "bridged"}},
        "diskparams": {"file": {}}, "ipolicy": {},
        "noded_port": 1811,
    }


def test_info_layout(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryClusterInfo", _cluster_info())
    code, out, _ = run(gnt_cluster.main, "info")
    assert code == 0
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(CTIME))
    assert out.splitlines() == [
        "Cluster name: cluster.example.com",
        "Cluster UUID: u-1",
        f"Creation time: {created}",
        f"Modification time: {created}",
        "Master node: node1.example.com",
        "Architecture (this node): 64bit (x86_64)",
        "Tags: a, b",
        "Default hypervisor: kvm",
        "Enabled hypervisors: kvm",
        "Hypervisor parameters: ",
        "  kvm: ",
        "    acpi: True",
        "    kernel_path: ",
        "OS-specific hypervisor parameters: ",
        "OS parameters: ",
        "Hidden OSes: ",
        "Blacklisted OSes: bad",
        "Cluster parameters: ",
        "  candidate pool size: 10",
        "  maximal number of jobs running simultaneously: 20",
        "  maximal number of jobs simultaneously tracked by the scheduler: 25",
        "  mac prefix: aa:00:00",
        "  master netdev: eth0",
        "  master netmask: 32",
        "  use external master IP address setup script: False",
        "  lvm volume group: ",
        "  lvm reserved volumes: (none)",
        "  file storage path: /srv/ganeti/file-storage",
        "  shared file storage path: /srv/ganeti/shared-file-storage",
        "  maintenance of node health: False",
        "  uid pool: 1000-1009",
        "  default instance allocator: ",
        "  preallocation wipe disks: False",
        "  enabled disk templates: file, diskless",
        "  enabled user shutdown: False",
        "Default node parameters: ",
        "  ssh_port: 22",
        "Default instance parameters: ",
        "  default: ",
        "    vcpus: 1",
        "Default nic parameters: ",
        "  default: ",
        "    mode: bridged",
        "Default disk parameters: ",
        "  file: ",
    ]


def test_info_shows_instance_policy_when_present(run: Runner, luxi: FakeLuxi) -> None:
    info = _cluster_info()
    info["ipolicy"] = {
        "minmax": [{"min": {"cpu-count": 1}, "max": {"cpu-count": 8}}],
        "std": {"cpu-count": 1}, "disk-templates": ["file"], "vcpu-ratio": 4.0,
        "spindle-ratio": 32.0,
    }
    luxi.on("QueryClusterInfo", info)
    out = run(gnt_cluster.main, "info")[1]
    tail = out[out.index("Instance policy - limits for instances"):].splitlines()
    assert tail == [
        "Instance policy - limits for instances: ",
        "  bounds specs: ",
        "    - max/0: ",
        "        cpu-count: 8",
        "      min/0: ",
        "        cpu-count: 1",
        "  std: ",
        "    cpu-count: 1",
        "  allowed disk templates: file",
        "  spindle-ratio: 32.0",
        "  vcpu-ratio: 4.0",
    ]


def test_version_from_master(run: Runner, luxi: FakeLuxi) -> None:
    info = _cluster_info()
    info["software_version"] = "9.9"
    luxi.on("QueryClusterInfo", info)
    assert run(gnt_cluster.main, "version")[1].splitlines() == [
        "Software version: 9.9", "Internode protocol: 3000000", "Configuration format: 3000000",
        "OS api version: 20", "Export interface: 0", "VCS version: (corral) 0.1.0"]


def test_version_without_master(run: Runner, no_master: Path) -> None:
    code, out, err = run(gnt_cluster.main, "version")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "Software version: 0.1.0"
    assert out.splitlines()[-1] == "VCS version: (corral) 0.1.0"


def test_getmaster(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryConfigValues", ["node1.example.com"])
    assert run(gnt_cluster.main, "getmaster") == (0, "node1.example.com\n", "")
    assert luxi.args_of("QueryConfigValues") == [[["master_node"]]]


def test_modify_builds_only_given_fields(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(3, [None])
    code, _, _ = run(
        gnt_cluster.main, "modify", "-C", "5", "-H", "kvm:acpi=no,kernel_path=",
        "-H", "xen-pvm:root_path=/dev/xvda1", "-B", "maxmem=1G,vcpus=2", "-N", "link=br1",
        "--node-parameters", "ssh_port=2222", "--enabled-hypervisors", "kvm,xen-pvm",
        "--master-netdev", "eth1", "--master-netmask", "24", "--mac-prefix", "aa:bb:cc",
        "--default-iallocator", "hail", "--enabled-disk-templates", "file,plain",
        "--max-running-jobs", "7", "--file-storage-dir", "/srv/files",
        "--maintain-node-health", "yes", "-D", "drbd:resync-rate=1000", "--reserved-lvs", "")
    assert code == 0
    assert _strip_generic(luxi.submitted()[0]) == {
        "OP_ID": "OP_CLUSTER_SET_PARAMS", "force": False, "dry_run": False,
        "candidate_pool_size": 5,
        "hvparams": {"kvm": {"acpi": "no", "kernel_path": ""},
                     "xen-pvm": {"root_path": "/dev/xvda1"}},
        "beparams": {"maxmem": 1024, "vcpus": 2}, "nicparams": {"link": "br1"},
        "ndparams": {"ssh_port": 2222}, "diskparams": {"drbd": {"resync-rate": "1000"}},
        "enabled_hypervisors": ["kvm", "xen-pvm"], "master_netdev": "eth1",
        "master_netmask": 24, "mac_prefix": "aa:bb:cc", "default_iallocator": "hail",
        "enabled_disk_templates": ["file", "plain"], "max_running_jobs": 7,
        "file_storage_dir": "/srv/files", "maintain_node_health": True, "reserved_lvs": [],
    }


def test_modify_without_parameters(run: Runner, luxi: FakeLuxi) -> None:
    assert run(gnt_cluster.main, "modify") == (
        1, "", "Please give at least one of the parameters.\n")


def _verify_jobs(luxi: FakeLuxi, results: dict[int, tuple[str, Any]]) -> None:
    luxi.on("SubmitJob", 1)

    def change(args: list[Any]) -> Any:
        job_id = args[0]
        status = "success" if job_id == 1 else results[job_id][0]
        logs = [[1, [CTIME, 0], "message", f"* Verifying group of job {job_id}"]]
        return [[status], logs if args[3] is None else []]

    def query(args: list[Any]) -> Any:
        job_id = args[0][0]
        if job_id == 1:
            return [["success", ["success"], [{"jobs": [[True, j] for j in results]}]]]
        status, value = results[job_id]
        return [[status, [status], [value]]]

    luxi.on("WaitForJobChange", change)
    luxi.on("QueryJobs", query)


def test_verify_success(run: Runner, luxi: FakeLuxi) -> None:
    _verify_jobs(luxi, {2: ("success", True), 3: ("success", True)})
    code, out, _ = run(gnt_cluster.main, "verify", "--error-codes", "-I", "ENODEHV",
                       "--no-nplus1-mem", "-g", "default")
    assert code == 0
    stamp = time.ctime(CTIME)
    assert out.splitlines() == [
        f"{stamp} * Verifying group of job 1",
        "Submitted jobs 2, 3",  # Ganeti's JobExecutor announces the follow-up jobs
        "Waiting for job 2 ...",
        f"{stamp} * Verifying group of job 2",
        "Waiting for job 3 ...",
        f"{stamp} * Verifying group of job 3",
    ]
    assert _strip_generic(luxi.submitted()[0]) == {
        "OP_ID": "OP_CLUSTER_VERIFY", "verbose": False, "error_codes": True,
        "debug_simulate_errors": False, "skip_checks": ["nplusone_mem"],
        "ignore_errors": ["ENODEHV"], "group_name": "default", "verify_clutter": False,
        "dry_run": False,
    }


def test_verify_problems_found(run: Runner, luxi: FakeLuxi) -> None:
    _verify_jobs(luxi, {2: ("success", True), 3: ("success", False)})
    assert run(gnt_cluster.main, "verify")[0] == 1


def test_verify_job_failed(run: Runner, luxi: FakeLuxi) -> None:
    _verify_jobs(luxi, {2: ("error", ["OpExecError", ["boom"]])})
    code, out, err = run(gnt_cluster.main, "verify")
    assert code == 1
    assert err == "Job 2 has failed: Failure: command execution error:\nboom\n"
    assert out.splitlines()[-1] == "1 job(s) failed while verifying the cluster."


@pytest.mark.parametrize(("action", "flag"), [("drain", True), ("undrain", False)])
def test_queue_drain(run: Runner, luxi: FakeLuxi, action: str, flag: bool) -> None:
    luxi.on("SetDrainFlag", True)
    assert run(gnt_cluster.main, "queue", action) == (0, "", "")
    assert luxi.args_of("SetDrainFlag") == [[flag]]


def test_queue_info_and_bad_action(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryConfigValues", [True])
    assert run(gnt_cluster.main, "queue", "info")[1] == "The drain flag is set\n"
    luxi.on("QueryConfigValues", [False])
    assert run(gnt_cluster.main, "queue", "info")[1] == "The drain flag is unset\n"
    code, _, err = run(gnt_cluster.main, "queue", "flush")
    assert code == 1
    assert err.endswith("error details:\nCommand 'flush' is not valid.\n")


def test_watcher_pause(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("SetWatcherPause", lambda args: args[0])
    before = time.time()
    code, out, _ = run(gnt_cluster.main, "watcher", "pause", "1h")
    until = luxi.args_of("SetWatcherPause")[0][0]
    assert code == 0
    assert before + 3600 <= until <= time.time() + 3600
    assert out == f"The watcher is paused until {time.ctime(until)}.\n"


def test_watcher_continue_and_info(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("SetWatcherPause", None)
    assert run(gnt_cluster.main, "watcher", "continue")[1] == "The watcher is no longer paused.\n"
    assert luxi.args_of("SetWatcherPause") == [[None]]
    luxi.on("QueryConfigValues", [None])
    assert run(gnt_cluster.main, "watcher", "info")[1] == "The watcher is not paused.\n"
    future = time.time() + 600
    luxi.on("QueryConfigValues", [future])
    assert run(gnt_cluster.main, "watcher", "info")[1] == (
        f"The watcher is paused until {time.ctime(future)}.\n")


def test_watcher_pause_needs_duration(run: Runner, luxi: FakeLuxi) -> None:
    code, _, err = run(gnt_cluster.main, "watcher", "pause")
    assert code == 1
    assert err.endswith("Missing pause duration\n")


def test_cluster_tags_use_empty_name(run: Runner, luxi: FakeLuxi) -> None:
    luxi.on("QueryTags", ["t2", "t1"])
    assert run(gnt_cluster.main, "list-tags") == (0, "t1\nt2\n", "")
    assert luxi.args_of("QueryTags") == [["cluster", ""]]
    luxi.on("SubmitJob", 4)
    assert run(gnt_cluster.main, "add-tags", "--submit", "x", "y")[0] == 0
    assert _strip_generic(luxi.submitted()[0]) == {
        "OP_ID": "OP_TAGS_SET", "kind": "cluster", "name": "", "tags": ["x", "y"]}


def test_search_tags(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(5, [[["/nodes/node2", "rack:2"], ["/cluster", "rack"]]])
    assert run(gnt_cluster.main, "search-tags", "^rack") == (
        0, "/cluster rack\n/nodes/node2 rack:2\n", "")
    assert _strip_generic(luxi.submitted()[0]) == {"OP_ID": "OP_TAGS_SEARCH", "pattern": "^rack"}
    luxi.job(6, [[]])
    assert run(gnt_cluster.main, "search-tags", "nothing")[0] == 1


def test_redist_conf(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(5, [None])
    assert run(gnt_cluster.main, "redist-conf")[0] == 0
    assert luxi.submitted()[0]["OP_ID"] == "OP_CLUSTER_REDIST_CONF"
    luxi.on("SubmitJobToDrainedQueue", 6)
    assert run(gnt_cluster.main, "redist-conf", "--yes-do-it")[0] == 0
    assert luxi.args_of("SubmitJobToDrainedQueue")[0][0][0]["OP_ID"] == "OP_CLUSTER_REDIST_CONF"


def test_destroy_requires_yes_do_it(run: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(gnt_cluster.main, "destroy")
    assert (code, out) == (1, "")
    assert err == ("Destroying a cluster is irreversible. If you really want destroy this"
                   " cluster, supply the --yes-do-it option.\n")


def test_destroy_calls_bootstrap(
    run: Runner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import corral.bootstrap.destroy as destroy

    roots: list[Path] = []
    monkeypatch.setattr(destroy, "destroy_cluster", roots.append)
    monkeypatch.setenv("CORRAL_ROOT", str(tmp_path))
    assert run(gnt_cluster.main, "destroy", "--yes-do-it") == (0, "", "")
    assert roots == [tmp_path]

    def refuse(root: Path) -> None:
        raise OpPrereqError("Not the master", ErrorCode.STATE)

    monkeypatch.setattr(destroy, "destroy_cluster", refuse)
    code, _, err = run(gnt_cluster.main, "destroy", "--yes-do-it")
    assert code == 1
    assert err == ("Failure: prerequisites not met for this operation:\n"
                   "error type: wrong_state, error details:\nNot the master\n")


def test_init_passes_given_settings(
    run: Runner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import corral.bootstrap.init as init

    calls: list[tuple[Path, str, dict[str, Any]]] = []

    def fake_init(root: Path, name: str, *, feedback: Any, **kwargs: Any) -> None:
        feedback("cluster created")
        calls.append((root, name, kwargs))

    monkeypatch.setattr(init, "init_cluster", fake_init)
    monkeypatch.setenv("CORRAL_ROOT", str(tmp_path))
    code, out, _ = run(
        gnt_cluster.main, "init", "--master-node", "node1.example.com", "--primary-ip",
        "192.0.2.1", "--master-ip", "192.0.2.100", "--master-netdev", "eth0",
        "--enabled-hypervisors", "kvm,fake", "--enabled-disk-templates", "plain,file",
        "-H", "kvm:acpi=no", "-B", "maxmem=512M", "-N", "link=br0",
        "--node-parameters", "ssh_port=22", "-s", "10.0.0.1", "--noded-port", "1911",
        "-C", "3", "cluster.example.com")
    assert (code, out) == (0, "cluster created\n")
    assert calls == [(tmp_path, "cluster.example.com", {
        "master_node": "node1.example.com", "primary_ip": "192.0.2.1",
        "master_ip": "192.0.2.100", "master_netdev": "eth0",
        "enabled_hypervisors": ["kvm", "fake"], "enabled_disk_templates": ["plain", "file"],
        "hvparams": {"kvm": {"acpi": "no"}}, "beparams": {"maxmem": 512},
        "nicparams": {"link": "br0"}, "ndparams": {"ssh_port": 22}, "secondary_ip": "10.0.0.1",
        "noded_port": 1911, "candidate_pool_size": 3, "vg_name": "xenvg",
    })]


def test_init_defaults_master_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getfqdn", lambda: "me.example.com")
    monkeypatch.setattr(socket, "gethostbyname",
                        lambda name: {"me.example.com": "2001:db8::1"}[name])
    parser_args = ["init", "c1"]
    from corral.cli.commands import parse

    _, _, opts, _ = parse("gnt-cluster", gnt_cluster.COMMANDS, parser_args)
    assert cluster_init.init_arguments(opts) == {
        "master_node": "me.example.com", "primary_ip": "2001:db8::1", "master_netmask": 128}


def test_init_unresolvable_master(run: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(name: str) -> str:
        raise OSError("no such host")

    monkeypatch.setattr(socket, "gethostbyname", fail)
    code, _, err = run(gnt_cluster.main, "init", "--master-node", "ghost", "c1")
    assert (code, err) == (1, "Failure: can't resolve hostname 'ghost'\n")


def _verify_disks_jobs(luxi: FakeLuxi, group_result: list[Any]) -> None:
    """Job 1 (OP_CLUSTER_VERIFY_DISKS) submits job 2 (the group), whose result is given;
    any later job (an activation) succeeds."""
    luxi.on("WaitForJobChange", lambda args: [["success"], []])

    def query(args: list[Any]) -> Any:
        job_id = args[0][0]
        if job_id == 1:
            return [["success", ["success"], [{"jobs": [[True, 2]]}]]]
        if job_id == 2:
            return [["success", ["success"], [group_result]]]
        return [["success", ["success"], [[]]]]

    luxi.on("QueryJobs", query)
    luxi.sequence("SubmitJob", 1, 3, 4)


def test_verify_disks_nothing_to_do(run: Runner, luxi: FakeLuxi) -> None:
    _verify_disks_jobs(luxi, [{}, [], {}])
    code, out, _ = run(gnt_cluster.main, "verify-disks", "-g", "default")
    assert (code, out) == (0, "Submitted jobs 2\nWaiting for job 2 ...\n"
                              "No disks need to be activated.\n")
    assert _strip_generic(luxi.submitted()[0]) == {
        "OP_ID": "OP_CLUSTER_VERIFY_DISKS", "group_name": "default", "is_strict": True}


def test_verify_disks_activates_and_reports_missing(run: Runner, luxi: FakeLuxi) -> None:
    _verify_disks_jobs(luxi, [{"node3": "timeout"}, ["inst1", "inst2"],
                              {"inst2": [["node2", "xenvg/d1"], ["node3", "xenvg/d0"]],
                               "inst9": [["node3", "xenvg/x"]]}])
    code, out, _ = run(gnt_cluster.main, "verify-disks", "--no-strict")
    assert code == 1
    assert out.splitlines()[2:] == [
        "Error gathering data on node node3: timeout",
        "You need to fix these nodes first before fixing instances",
        "Activating disks for instance 'inst1'",
        "Instance inst2 has missing logical volumes:",
        "\tnode2 /dev/xenvg/d1",
        "\tbroken node node3 /dev/xenvg/d0",
        "Instance inst9 cannot be verified as it lives on broken nodes",
        "You need to replace or recreate disks for all the above instances if this message"
        " persists after fixing broken nodes.",
    ]
    ops = [_strip_generic(op) for op in luxi.submitted()]
    assert ops[0]["is_strict"] is False
    assert ops[1] == {"OP_ID": "OP_INSTANCE_ACTIVATE_DISKS", "instance_name": "inst1"}


def test_master_ip_commands(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(5, [None])
    assert run(gnt_cluster.main, "activate-master-ip") == (0, "", "")
    assert run(gnt_cluster.main, "deactivate-master-ip", "--yes") == (0, "", "")
    code, _, err = run(gnt_cluster.main, "deactivate-master-ip")  # no terminal: no
    assert code == 1
    assert "This will disable the master IP" in err
    assert [op["OP_ID"] for op in luxi.submitted()] == [
        "OP_CLUSTER_ACTIVATE_MASTER_IP", "OP_CLUSTER_DEACTIVATE_MASTER_IP"]


def test_modify_auto_failover_settings(run: Runner, luxi: FakeLuxi) -> None:
    luxi.job(3, [None])
    code, _, _ = run(gnt_cluster.main, "modify", "--auto-failover", "yes", "--etcd-endpoints",
                     "http://e1:2379,http://e2:2379", "--master-lease-ttl", "8")
    assert code == 0
    assert _strip_generic(luxi.submitted()[0]) == {
        "OP_ID": "OP_CLUSTER_SET_PARAMS", "force": False, "dry_run": False,
        "auto_failover": True, "etcd_endpoints": ["http://e1:2379", "http://e2:2379"],
        "master_lease_ttl": 8,
    }


def test_init_auto_failover_arguments() -> None:
    from corral.cli.commands import parse

    _, _, opts, _ = parse("gnt-cluster", gnt_cluster.COMMANDS, [
        "init", "--master-node", "n1", "--primary-ip", "192.0.2.1", "--auto-failover",
        "--etcd-endpoints", "http://e1:2379,http://e2:2379", "c1"])
    assert cluster_init.init_arguments(opts) == {
        "master_node": "n1", "primary_ip": "192.0.2.1", "auto_failover": True,
        "etcd_endpoints": ["http://e1:2379", "http://e2:2379"]}


def test_init_refuses_a_bad_etcd_endpoint(tmp_path: Path) -> None:
    from corral.bootstrap.init import init_cluster
    from corral.errors import OpPrereqError

    with pytest.raises(OpPrereqError, match="'ftp://e1:2379': the scheme must be http"):
        init_cluster(tmp_path, "c1", feedback=lambda _m: None, master_node="n1",
                     primary_ip="192.0.2.1", auto_failover=True, etcd_endpoints=["ftp://e1:2379"])
    assert not (tmp_path / "var").exists()
