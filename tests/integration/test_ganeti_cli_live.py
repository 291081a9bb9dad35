"""Ganeti's own ``gnt-*`` commands (Debian's ganeti-3.0) against a live Corral cluster.

Each command runs unchanged through Ganeti's virtual-cluster paths (see ``ganeti_cli.py``);
its output and exit code must be what Ganeti's client prints for Ganeti 3.0's answers, and,
where Corral's own command prints the same thing, exactly Corral's output. No traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.integration.conftest import LiveCluster
from tests.integration.ganeti_cli import DATA_DIR, SOCKET_DIR, SOCKET_NAMES, GanetiCli


def ok(ganeti: GanetiCli, tool: str, *args: str) -> str:
    result = ganeti.run(tool, *args)
    assert "Traceback" not in result.output, result.output
    assert result.code == 0, result.output
    return result.stdout


def failed(ganeti: GanetiCli, tool: str, *args: str, code: int = 1) -> str:
    result = ganeti.run(tool, *args)
    assert "Traceback" not in result.output, result.output
    assert result.code == code, result.output
    return result.output


def same_as_corral(live: LiveCluster, ganeti: GanetiCli, tool: str, *args: str) -> str:
    """Ganeti's command and Corral's print the same and exit the same."""
    theirs = ganeti.run(tool, *args)
    ours = live.gnt(tool, *args)
    assert "Traceback" not in theirs.output, theirs.output
    assert (theirs.code, theirs.stdout) == (ours.code, ours.stdout), theirs.output
    return theirs.stdout


def status_of(ganeti: GanetiCli, name: str) -> str:
    rows = ok(ganeti, "gnt-instance", "list", "--no-headers", "-o", "name,status").splitlines()
    return dict(row.split() for row in rows).get(name, "absent")


@pytest.fixture
def fake_instance(ganeti: GanetiCli) -> Iterator[str]:
    """A running fake, diskless instance added with Ganeti's ``gnt-instance add``."""
    name = "gcompat-fake"
    out = ok(ganeti, "gnt-instance", "add", "-t", "diskless", "-o", "busybox+default",
             "-H", "fake", "-n", "node1", "--no-ip-check", "--no-name-check", name)
    assert "starting instance" in out
    try:
        yield name
    finally:
        ganeti.run("gnt-instance", "remove", "-f", name)


# --- the environment ----------------------------------------------------------------------

def test_root_tree_has_ganeti_names(ganeti: GanetiCli, live: LiveCluster) -> None:
    for name in SOCKET_NAMES:
        link = ganeti.root / SOCKET_DIR / name
        assert link.is_symlink()
        assert link.resolve() == live.vc.luxi_socket.resolve()
    data = ganeti.root / DATA_DIR
    assert (data / "ssconf_cluster_name").read_text().strip() == "cluster.vcluster"
    assert (data / "ssconf_master_node").read_text().strip() == "node1"
    assert ganeti.env()["GANETI_ROOTDIR"] == str(ganeti.root)
    assert ganeti.root.name == ganeti.env()["GANETI_HOSTNAME"] == "node1"


# --- gnt-cluster -------------------------------------------------------------------------

def test_cluster_reads(live: LiveCluster, ganeti: GanetiCli) -> None:
    assert same_as_corral(live, ganeti, "gnt-cluster", "getmaster") == "node1\n"
    version = same_as_corral(live, ganeti, "gnt-cluster", "version")
    assert version.startswith("Software version: ")
    assert re.search(r"^Internode protocol: \d+$", version, re.M)
    assert same_as_corral(live, ganeti, "gnt-cluster", "queue", "info") == (
        "The drain flag is unset\n")
    assert same_as_corral(live, ganeti, "gnt-cluster", "watcher", "info") == (
        "The watcher is not paused.\n")
    ok(ganeti, "gnt-cluster", "master-ping")


def test_cluster_info(live: LiveCluster, ganeti: GanetiCli) -> None:
    out = ok(ganeti, "gnt-cluster", "info")
    assert "Cluster name: cluster.vcluster" in out
    assert "Master node: node1" in out


def test_cluster_verify_and_verify_disks(ganeti: GanetiCli) -> None:
    out = ok(ganeti, "gnt-cluster", "verify")
    assert re.search(r"^Submitted jobs \d+, \d+$", out, re.M)
    assert "* Verifying group default" in out
    assert "ERROR" not in out
    out = ok(ganeti, "gnt-cluster", "verify-disks")
    assert out.splitlines()[-1] == "No disks need to be activated."


def test_cluster_modify_and_redist(live: LiveCluster, ganeti: GanetiCli) -> None:
    ok(ganeti, "gnt-cluster", "modify", "--candidate-pool-size", "7")
    try:
        client = live.client()
        try:
            assert client.call("QueryClusterInfo")["candidate_pool_size"] == 7
        finally:
            client.close()
    finally:
        ok(ganeti, "gnt-cluster", "modify", "--candidate-pool-size", "10")
    ok(ganeti, "gnt-cluster", "redist-conf")
    out = failed(ganeti, "gnt-cluster", "modify", "--candidate-pool-size", "0")
    assert "At least one master candidate needed" in out


def test_cluster_queue_and_watcher(live: LiveCluster, ganeti: GanetiCli) -> None:
    ok(ganeti, "gnt-cluster", "queue", "drain")
    try:
        assert same_as_corral(live, ganeti, "gnt-cluster", "queue", "info") == (
            "The drain flag is set\n")
    finally:
        ok(ganeti, "gnt-cluster", "queue", "undrain")
    out = ok(ganeti, "gnt-cluster", "watcher", "pause", "1h")
    try:
        assert out.startswith("The watcher is paused until ")
        assert same_as_corral(live, ganeti, "gnt-cluster", "watcher", "info") == out
    finally:
        assert ok(ganeti, "gnt-cluster", "watcher", "continue") == (
            "The watcher is no longer paused.\n")


def test_cluster_tags(live: LiveCluster, ganeti: GanetiCli) -> None:
    ok(ganeti, "gnt-cluster", "add-tags", "gcompat-tag")
    try:
        assert "gcompat-tag" in same_as_corral(live, ganeti, "gnt-cluster", "list-tags")
        assert same_as_corral(live, ganeti, "gnt-cluster", "search-tags", "gcompat") == (
            "/cluster gcompat-tag\n")
    finally:
        ok(ganeti, "gnt-cluster", "remove-tags", "gcompat-tag")
    assert "gcompat-tag" not in ok(ganeti, "gnt-cluster", "list-tags")
    assert failed(ganeti, "gnt-cluster", "search-tags", "no-such-gcompat-tag") == ""


# --- gnt-node ----------------------------------------------------------------------------

def test_node_reads(live: LiveCluster, ganeti: GanetiCli) -> None:
    out = same_as_corral(live, ganeti, "gnt-node", "list", "-o",
                         "name,pip,sip,role,group,pinst_cnt,sinst_cnt,master_candidate")
    assert out.splitlines()[1].split() == ["node1", "127.0.0.11", "127.0.0.11", "M", "default",
                                           "0", "0", "Y"]
    out = ok(ganeti, "gnt-node", "list")
    assert out.splitlines()[0].split() == ["Node", "DTotal", "DFree", "MTotal", "MNode",
                                           "MFree", "Pinst", "Sinst"]
    assert [row.split()[0] for row in out.splitlines()[1:]] == ["node1", "node2", "node3"]
    info = same_as_corral(live, ganeti, "gnt-node", "info", "node2")
    assert info.startswith("- Node name: node2\n  primary ip: 127.0.0.12\n")
    assert "master candidate: True" in info
    same_as_corral(live, ganeti, "gnt-node", "list-fields")


def test_node_modify_and_tags(live: LiveCluster, ganeti: GanetiCli) -> None:
    out = ok(ganeti, "gnt-node", "modify", "--drained=yes", "node3")
    try:
        assert "Modified node node3" in out
        assert " - drained -> True" in out
        roles = ok(ganeti, "gnt-node", "list", "--no-headers", "-o", "name,role")
        assert "node3 D" in roles.splitlines()
    finally:
        out = ok(ganeti, "gnt-node", "modify", "--drained=no", "node3")
    assert " - drained -> False" in out
    if "master_candidate -> False" in out:  # pragma: no cover - auto-promotion is the rule
        ok(ganeti, "gnt-node", "modify", "--master-candidate=yes", "node3")
    ok(ganeti, "gnt-node", "add-tags", "node2", "gcompat-node")
    assert same_as_corral(live, ganeti, "gnt-node", "list-tags", "node2") == "gcompat-node\n"
    ok(ganeti, "gnt-node", "remove-tags", "node2", "gcompat-node")
    assert ok(ganeti, "gnt-node", "list-tags", "node2") == ""


def test_node_errors(live: LiveCluster, ganeti: GanetiCli) -> None:
    theirs = ganeti.run("gnt-node", "info", "no-such-node")
    ours = live.gnt("gnt-node", "info", "no-such-node")
    assert (theirs.code, theirs.stderr) == (ours.code, ours.stderr) == (1, (
        "Failure: prerequisites not met for this operation:\nerror type: unknown_entity,"
        " error details:\nNode name no-such-node not found\n"))
    out = failed(ganeti, "gnt-node", "remove", "node1")
    assert "Failure: prerequisites not met" in out


# --- gnt-group ---------------------------------------------------------------------------

def test_group_life_cycle(live: LiveCluster, ganeti: GanetiCli) -> None:
    out = same_as_corral(live, ganeti, "gnt-group", "list", "-o", "name,node_cnt,pinst_cnt,"
                         "alloc_policy")
    assert out.splitlines()[1].split() == ["default", "3", "0", "preferred"]
    same_as_corral(live, ganeti, "gnt-group", "list-fields")
    ok(ganeti, "gnt-group", "add", "gcompat-g")
    try:
        ok(ganeti, "gnt-group", "assign-nodes", "gcompat-g", "node3")
        rows = ok(ganeti, "gnt-group", "list", "--no-headers", "-o", "name,node_list")
        assert "gcompat-g node3" in rows.splitlines()
        ok(ganeti, "gnt-group", "assign-nodes", "default", "node3")
        ok(ganeti, "gnt-group", "rename", "gcompat-g", "gcompat-h")
        ok(ganeti, "gnt-group", "add-tags", "gcompat-h", "gtag")
        assert same_as_corral(live, ganeti, "gnt-group", "list-tags", "gcompat-h") == "gtag\n"
    finally:
        ganeti.run("gnt-group", "assign-nodes", "default", "node3")
        ganeti.run("gnt-group", "remove", "gcompat-g")
        ganeti.run("gnt-group", "remove", "gcompat-h")
    names = ok(ganeti, "gnt-group", "list", "--no-headers", "-o", "name").split()
    assert names == ["default"]
    out = failed(ganeti, "gnt-group", "remove", "no-such-group")
    assert "Node group 'no-such-group' not found" in out


def test_group_info(ganeti: GanetiCli) -> None:
    out = ok(ganeti, "gnt-group", "info", "default")
    assert "default" in out


# --- gnt-os ------------------------------------------------------------------------------

def test_os_commands(live: LiveCluster, ganeti: GanetiCli) -> None:
    names = same_as_corral(live, ganeti, "gnt-os", "list", "--no-headers").split()
    assert {"busybox+default", "noop"} <= set(names)
    out = same_as_corral(live, ganeti, "gnt-os", "diagnose")
    assert "OS: busybox [global status: valid]" in out
    assert re.search(r"^  Node: node3, status: valid \(path: .*/busybox\) \[API versions: 20\]"
                     r" \[variants: default\] \[parameters: hostname\] \[trusted\]$", out, re.M)
    out = same_as_corral(live, ganeti, "gnt-os", "info", "noop")
    assert out.startswith("noop:\n  - valid: True\n")


def test_os_modify_hidden(live: LiveCluster, ganeti: GanetiCli) -> None:
    ok(ganeti, "gnt-os", "modify", "--hidden=yes", "noop")
    try:
        assert "noop" not in ok(ganeti, "gnt-os", "list", "--no-headers").split()
        assert "[hidden]" in ok(ganeti, "gnt-os", "info", "noop") + ok(
            ganeti, "gnt-os", "diagnose")
    finally:
        ok(ganeti, "gnt-os", "modify", "--hidden=no", "noop")
    assert "noop" in same_as_corral(live, ganeti, "gnt-os", "list", "--no-headers").split()


# --- gnt-instance ------------------------------------------------------------------------

def test_instance_life_cycle(live: LiveCluster, ganeti: GanetiCli, fake_instance: str) -> None:
    name = fake_instance
    assert status_of(ganeti, name) == "running"
    fields = "name,pnode,snodes,admin_state,oper_state,be/maxmem,disk_template,nic.count"
    out = same_as_corral(live, ganeti, "gnt-instance", "list", "--no-headers", "-o", fields)
    assert f"{name} node1" in out
    info = same_as_corral(live, ganeti, "gnt-instance", "info", name)
    assert info.startswith(f"- Instance name: {name}\n")
    assert "State: configured to be up, actual state is up" in info
    same_as_corral(live, ganeti, "gnt-instance", "info", "--static", name)
    out = ok(ganeti, "gnt-instance", "shutdown", name)
    assert out.startswith("Waiting for job ")
    assert status_of(ganeti, name) == "ADMIN_down"
    ok(ganeti, "gnt-instance", "startup", name)
    assert status_of(ganeti, name) == "running"
    ok(ganeti, "gnt-instance", "reboot", name)
    assert status_of(ganeti, name) == "running"
    out = ok(ganeti, "gnt-instance", "modify", "-B", "maxmem=256,minmem=256", name)
    assert f"Modified instance {name}\n - be/maxmem -> 256\n" in out
    ok(ganeti, "gnt-instance", "add-tags", name, "itag")
    assert same_as_corral(live, ganeti, "gnt-instance", "list-tags", name) == "itag\n"
    ok(ganeti, "gnt-instance", "remove-tags", name, "itag")
    ok(ganeti, "gnt-instance", "shutdown", name)
    out = failed(ganeti, "gnt-instance", "reinstall", "-f", name)  # as Ganeti: diskless
    assert f"Instance '{name}' has no disks" in out
    out = ok(ganeti, "gnt-instance", "rename", name, "gcompat-renamed")
    assert out.splitlines()[-1] == f"Instance '{name}' renamed to 'gcompat-renamed'"
    ok(ganeti, "gnt-instance", "rename", "gcompat-renamed", name)
    ok(ganeti, "gnt-instance", "remove", "-f", name)
    assert status_of(ganeti, name) == "absent"


def test_instance_console(live: LiveCluster, ganeti: GanetiCli, fake_instance: str) -> None:
    out = ok(ganeti, "gnt-instance", "console", "--show-cmd", fake_instance)
    assert out == "Console not available for fake hypervisor\n"
    assert live.gnt("gnt-instance", "console", "--show-cmd", fake_instance).stdout == out
    listing = same_as_corral(live, ganeti, "gnt-instance", "list", "--no-headers", "-o",
                             "name,console")
    row = next(line for line in listing.splitlines() if line.startswith(f"{fake_instance} "))
    assert "'kind': 'msg'" in row
    assert "'message': 'Console not available" in row
    ok(ganeti, "gnt-instance", "shutdown", fake_instance)
    out = failed(ganeti, "gnt-instance", "console", "--show-cmd", fake_instance)
    assert out == f"Failure: command execution error:\nInstance {fake_instance} is not" \
        " running, can't get console\n"


def test_chroot_console_is_ganeti_ssh(ganeti: GanetiCli) -> None:
    name = "gcompat-chroot"
    ok(ganeti, "gnt-instance", "add", "-t", "file", "--disk", "0:size=32M", "-o",
       "busybox+default", "-H", "chroot", "-n", "node2", "--no-ip-check", "--no-name-check",
       name)
    try:
        ok(ganeti, "gnt-instance", "shutdown", name)
        out = ok(ganeti, "gnt-instance", "reinstall", "-f", name)
        assert "Running instance OS create scripts..." in out
        ok(ganeti, "gnt-instance", "startup", name)
        out = ok(ganeti, "gnt-instance", "console", "--show-cmd", name)
        assert out.startswith("ssh ")
        assert " root@node2 " in out
        assert re.search(r"'chroot \S+/gcompat-chroot /bin/sh'$", out.strip())
    finally:
        ok(ganeti, "gnt-instance", "remove", "-f", name)


def test_instance_errors(live: LiveCluster, ganeti: GanetiCli, fake_instance: str) -> None:
    for argv in (("info", "no-such-instance"), ("startup", "no-such-instance"),
                 ("shutdown", "no-such-instance")):
        theirs, ours = ganeti.run("gnt-instance", *argv), live.gnt("gnt-instance", *argv)
        assert "Traceback" not in theirs.output
        assert theirs.code == ours.code == 1, theirs.output
        assert theirs.stderr.splitlines()[:2] == [
            "Failure: prerequisites not met for this operation:",
            "error type: unknown_entity, error details:"]
    out = failed(ganeti, "gnt-instance", "add", "-t", "diskless", "-o", "busybox+default",
                 "-H", "fake", "-n", "node1", "--no-ip-check", "--no-name-check", fake_instance)
    assert f"Instance '{fake_instance}' is already in the cluster" in out
    assert "error type: already_exists" in out
    out = failed(ganeti, "gnt-instance", "modify", "-B", "maxmem=lots", fake_instance)
    assert "is not a valid size" in out


def test_instance_list_by_name(ganeti: GanetiCli, fake_instance: str) -> None:
    assert ok(ganeti, "gnt-instance", "list", "--no-headers", "-o", "status",
              fake_instance) == "running\n"


def test_instance_list_filter(ganeti: GanetiCli, fake_instance: str) -> None:
    out = ok(ganeti, "gnt-instance", "list", "--no-headers", "-o", "name", "-F",
             'status == "running"')
    assert fake_instance in out.split()


# --- instance mobility ---------------------------------------------------------------------

def primary_of(ganeti: GanetiCli, name: str) -> str:
    out = ok(ganeti, "gnt-instance", "list", "--no-headers", "-o", "pnode,status", name)
    pnode, status = out.split()
    assert status == "running"
    return pnode


def test_instance_migrate_and_failover(ganeti: GanetiCli, fake_instance: str) -> None:
    name = fake_instance
    out = ok(ganeti, "gnt-instance", "migrate", "-f", "-n", "node2", name)
    assert re.search(r"^\w{3} .* \* done$", out, re.M), out  # the job's log, as it ran
    assert primary_of(ganeti, name) == "node2"
    ok(ganeti, "gnt-instance", "migrate", "-f", "--non-live", name)  # the allocator chooses
    assert primary_of(ganeti, name) != "node2"
    ok(ganeti, "gnt-instance", "failover", "-f", "-n", "node3", name)
    assert primary_of(ganeti, name) == "node3"
    ok(ganeti, "gnt-instance", "failover", "-f", name)
    assert primary_of(ganeti, name) != "node3"
    out = failed(ganeti, "gnt-instance", "migrate", "-f", "-n", primary_of(ganeti, name), name)
    assert "error type: wrong_state" in out


def test_node_migrate_failover_evacuate(ganeti: GanetiCli, fake_instance: str) -> None:
    name = fake_instance
    out = ok(ganeti, "gnt-node", "migrate", "-f", "node1")
    assert re.search(r"^Submitted jobs \d+$", out, re.M), out
    assert out.splitlines()[-1] == "All instances migrated successfully."
    source = primary_of(ganeti, name)
    assert source != "node1"
    assert ok(ganeti, "gnt-node", "migrate", "-f", "node1") == (
        "No primary instances on node node1, exiting.\n")
    out = ok(ganeti, "gnt-node", "failover", "-f", source)
    assert out.splitlines()[-1] == "All 1 instance(s) failed over successfully."
    source = primary_of(ganeti, name)
    out = ok(ganeti, "gnt-node", "evacuate", "-f", "-I", "hail", "--primary-only", source)
    assert out.splitlines()[-1] == "All instances evacuated successfully."
    assert primary_of(ganeti, name) != source


def test_instance_move_change_group_and_group_evacuate(ganeti: GanetiCli) -> None:
    name = "gcompat-file"
    ok(ganeti, "gnt-instance", "add", "-t", "file", "--disk", "0:size=16M", "-o",
       "busybox+default", "-H", "fake", "-n", "node1", "--no-ip-check", "--no-name-check",
       name)
    ok(ganeti, "gnt-group", "add", "gcompat-mob")
    try:
        ok(ganeti, "gnt-instance", "move", "-f", "-n", "node2", name)
        assert primary_of(ganeti, name) == "node2"
        ok(ganeti, "gnt-group", "assign-nodes", "gcompat-mob", "node3")
        out = ok(ganeti, "gnt-instance", "change-group", "--to", "gcompat-mob", name)
        assert out.splitlines()[-1] == f"Instance '{name}' changed group successfully."
        assert primary_of(ganeti, name) == "node3"
        out = ok(ganeti, "gnt-group", "evacuate", "--to", "default", "gcompat-mob")
        assert out.splitlines()[-1] == "All instances evacuated successfully."
        assert primary_of(ganeti, name) in ("node1", "node2")
    finally:
        ganeti.run("gnt-instance", "remove", "-f", name)
        ganeti.run("gnt-group", "assign-nodes", "default", "node3")
        ganeti.run("gnt-group", "remove", "gcompat-mob")


# --- gnt-job and gnt-debug ---------------------------------------------------------------

def test_jobs(live: LiveCluster, ganeti: GanetiCli) -> None:
    assert "Duration must be greater than zero" in failed(ganeti, "gnt-debug", "delay", "0")
    submitted = ganeti.run("gnt-debug", "delay", "--submit", "0.01")
    assert (submitted.code, submitted.stdout) == (0, ""), submitted.output
    found = re.fullmatch(r"JobID: (\d+)\n", submitted.stderr)
    assert found, submitted.stderr
    job = int(found.group(1))
    ok(ganeti, "gnt-job", "wait", str(job))
    rows = ok(ganeti, "gnt-job", "list", "--no-headers", "-o", "id,status,summary")
    assert re.search(rf"^ *{job} success TEST_DELAY\(0\.01\)$", rows, re.M)
    header, rule = same_as_corral(live, ganeti, "gnt-job", "watch", str(job)).splitlines()
    assert header == f"Output from job {job} follows"
    assert rule == "-" * len(header)
    same_as_corral(live, ganeti, "gnt-job", "list-fields")
    ok(ganeti, "gnt-job", "archive", str(job))
    assert re.fullmatch(r"Archived \d+ jobs, \d+ unchecked left\n",
                        ok(ganeti, "gnt-job", "autoarchive", "1h"))
    for argv in (("cancel", "999999"), ("change-priority", "--priority=high", "999999")):
        theirs, ours = ganeti.run("gnt-job", *argv), live.gnt("gnt-job", *argv)
        assert (theirs.code, theirs.output) == (ours.code, ours.stdout + ours.stderr) == (
            1, "Job 999999 not found\n")


def test_job_info(ganeti: GanetiCli) -> None:
    assert "Job ID: 1" in ok(ganeti, "gnt-job", "info", "1")


def test_debug(ganeti: GanetiCli) -> None:
    assert ok(ganeti, "gnt-debug", "delay", "0.1") == ""
    ok(ganeti, "gnt-debug", "delay", "-n", "node2", "0.1")
    out = ok(ganeti, "gnt-debug", "locks")
    assert out.splitlines()[0].split() == ["Name", "Mode", "Owner", "Pending"]
    assert re.search(r"^cluster/BGL +", out, re.M)
    out = failed(ganeti, "gnt-debug", "delay", "-n", "no-such-node", "0.1")
    assert "Node 'no-such-node' not known" in out


# --- errors: same text, same exit code as Corral's own commands ----------------------------

_STAMP = re.compile(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} ", re.M)

SAME_ERRORS = [
    ("gnt-instance", "add", "-t", "diskless", "-o", "no-such-os", "-n", "node1",
     "--no-ip-check", "--no-name-check", "-H", "fake", "gcompat-x"),
    ("gnt-instance", "add", "-t", "diskless", "-o", "noop", "-n", "no-such-node",
     "--no-ip-check", "--no-name-check", "-H", "fake", "gcompat-x"),
    ("gnt-instance", "add", "-t", "diskless", "-o", "noop", "-n", "node1",
     "--no-ip-check", "--no-name-check", "-H", "xen-pvm:xen_cmd=virsh", "gcompat-x"),
    ("gnt-instance", "shutdown"),
    ("gnt-instance", "remove", "-f", "no-such-instance"),
    ("gnt-node", "remove", "node1"),
    ("gnt-group", "add", "default"),
    ("gnt-group", "remove", "default"),
    ("gnt-cluster", "modify", "--enabled-hypervisors", "no-such-hv"),
    ("gnt-job", "wait", "999999"),
    ("gnt-job", "watch", "999999"),
    ("gnt-job", "archive", "999999"),
    ("gnt-instance", "migrate", "-f", "no-such-instance"),
    ("gnt-instance", "migrate", "-f", "--non-live", "--migration-mode=live", "gcompat-x"),
    ("gnt-instance", "failover", "-f", "-n", "node2", "-I", "hail", "gcompat-x"),
    ("gnt-node", "migrate", "-f", "no-such-node"),
    ("gnt-node", "evacuate", "-f", "-p", "-s", "node2"),
]


@pytest.mark.parametrize("argv", SAME_ERRORS, ids=[" ".join(a[:3]) for a in SAME_ERRORS])
def test_errors_match_corral(live: LiveCluster, ganeti: GanetiCli, argv: tuple[str, ...]
                             ) -> None:
    theirs, ours = ganeti.run(*argv), live.gnt(*argv)
    assert "Traceback" not in theirs.output
    assert theirs.code == ours.code == 1, theirs.output
    assert _STAMP.sub("", theirs.stdout) == _STAMP.sub("", ours.stdout)
    assert theirs.stderr == ours.stderr
