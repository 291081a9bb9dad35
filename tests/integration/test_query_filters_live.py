"""Ganeti's query filter language end to end: Corral's gnt-* commands and, when Debian's
Ganeti 3.0 is installed, Ganeti's own ``gnt-*`` commands talking to Corral's LUXI socket."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import LiveCluster, RunResult

GANETI_DIR = Path("/usr/share/ganeti/3.0")
GANETI_PYTHON = "/usr/bin/python3"
PREREQ = ("Failure: prerequisites not met for this operation:\n"
          "error type: wrong_input, error details:\n")


@pytest.fixture(scope="module")
def instances(live: LiveCluster) -> Iterator[None]:
    """qf1 running and qf2 stopped (never started), both fake and diskless."""
    common = ("-t", "diskless", "-o", "noop", "-H", "fake", "--no-nics", "-n", "node1",
              "--no-ip-check", "--no-name-check")
    for extra, name in (((), "qf1"), (("--no-start",), "qf2")):
        added = live.gnt("gnt-instance", "add", *common, *extra, name)
        assert added.code == 0, added.stderr
    yield
    for name in ("qf1", "qf2"):
        live.gnt("gnt-instance", "remove", "-f", name)


def _lines(result: RunResult) -> list[str]:
    assert result.code == 0, result.stderr
    return result.stdout.split()


def test_instance_filters(live: LiveCluster, instances: None) -> None:
    listed = live.gnt("gnt-instance", "list", "--no-headers", "-o", "name", "-F",
                      'status == "running" and name =* "qf*"')
    assert _lines(listed) == ["qf1"]
    stopped = live.gnt("gnt-instance", "list", "--no-headers", "-o", "name",
                       'name =~ m/^QF/i and not oper_state')
    assert _lines(stopped) == ["qf2"]
    assert _lines(live.gnt("gnt-instance", "list", "--no-headers", "-o", "status", "qf1")) == [
        "running"]
    globbed = live.gnt("gnt-instance", "list", "--no-headers", "-o", "name", "qf?")
    assert _lines(globbed) == ["qf1", "qf2"]


def test_node_and_job_filters(live: LiveCluster, instances: None) -> None:
    nodes = _lines(live.gnt("gnt-node", "list", "--no-headers", "-o", "name", "-F",
                            "master_candidate"))
    assert nodes == ["node1", "node2", "node3"]
    assert _lines(live.gnt("gnt-node", "list", "--no-headers", "-o", "name", "-F",
                           "not master_candidate or offline")) == []
    assert _lines(live.gnt("gnt-node", "list", "--no-headers", "-o", "name", "-F",
                           'pinst_cnt != 0 and "x" not in tags')) == ["node1"]
    jobs = _lines(live.gnt("gnt-job", "list", "--no-headers", "-o", "id", "-F",
                           'status == "success" and "INSTANCE_CREATE(qf1)" in summary'))
    assert len(jobs) == 1
    first = jobs[0]
    again = live.gnt("gnt-job", "list", "--no-headers", "-o", "id,status", "-F",
                     f"id == {first}")
    assert again.stdout.split() == [first, "success"]


@pytest.mark.parametrize(
    ("args", "first_line"),
    [
        (("-F", "(offline"), "Error while parsing query filter: Failed to parse query filter"),
        (("-F", "name =~ /(/"), "Error while parsing query filter: Failed to parse query"),
        # refused by the master: OpPrereqError (wrong_input) with the compiler's message
        (("-F", 'serial_no == "x"'), f"{PREREQ}Unable to compare field 'serial_no'"),
        (("-F", "nosuch"), f"{PREREQ}Unknown field 'nosuch'"),
        (("-F", "offline", "drained"), f"{PREREQ}Exactly one argument must be given as a filter"),
    ],
)
def test_filter_errors(live: LiveCluster, args: tuple[str, ...], first_line: str) -> None:
    result = live.gnt("gnt-node", "list", *args)
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr.startswith(first_line), result.stderr
    assert "Traceback" not in result.stderr


# --- Debian's own gnt-* commands ------------------------------------------------------

def _ganeti_importable() -> bool:
    if not (GANETI_DIR / "gnt-instance").exists():
        return False
    probe = subprocess.run([GANETI_PYTHON, "-c", "import ganeti.cli"], capture_output=True,
                           env={**os.environ, "PYTHONPATH": str(GANETI_DIR)}, check=False)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def ganeti_env(live: LiveCluster) -> Iterator[dict[str, str]]:
    """Ganeti's virtual-cluster environment for the master: its LUXI sockets are links to
    Corral's, its ssconf files copies of Corral's."""
    if not _ganeti_importable():
        pytest.skip("Debian's Ganeti 3.0 is not installed")
    master = live.vc.master
    base = Path(tempfile.mkdtemp(prefix="corral-ganeti-env-"))
    root = base / master.name
    sockets = root / "var/run/ganeti/socket"
    sockets.mkdir(parents=True)
    for name in ("ganeti-query", "ganeti-master", "ganeti-luxid"):
        (sockets / name).symlink_to(live.vc.luxi_socket)
    data = root / "var/lib/ganeti"
    data.mkdir(parents=True)
    for ssconf in Path(master.root).rglob("ssconf_*"):
        shutil.copy(ssconf, data / ssconf.name)
    (root / "var/log/ganeti").mkdir(parents=True)
    yield {**os.environ, "PYTHONPATH": str(GANETI_DIR), "GANETI_ROOTDIR": str(root),
           "GANETI_HOSTNAME": master.name}
    shutil.rmtree(base)


def _ganeti(env: dict[str, str], tool: str, *args: str) -> RunResult:
    proc = subprocess.run([GANETI_PYTHON, str(GANETI_DIR / tool), *args], capture_output=True,
                          text=True, env=env, check=False)
    return RunResult(proc.returncode, proc.stdout, proc.stderr)


def test_debian_ganeti_commands_filter(instances: None, ganeti_env: dict[str, str]) -> None:
    running = _ganeti(ganeti_env, "gnt-instance", "list", "--no-headers", "-o", "name", "-F",
                      'status == "running" and name =* "qf*"')
    assert _lines(running) == ["qf1"]
    stopped = _ganeti(ganeti_env, "gnt-instance", "list", "--no-headers", "-o", "status", "qf2")
    assert _lines(stopped) == ["ADMIN_down"]
    nodes = _ganeti(ganeti_env, "gnt-node", "list", "--no-headers", "-o", "name", "-F",
                    "master_candidate")
    assert _lines(nodes) == ["node1", "node2", "node3"]
    jobs = _ganeti(ganeti_env, "gnt-job", "list", "--no-headers", "-o", "id,status", "-F",
                   '"INSTANCE_CREATE(qf1)" in summary')
    job_id, job_status = _lines(jobs)
    assert job_status == "success"
    info = _ganeti(ganeti_env, "gnt-job", "info", job_id)
    assert info.code == 0, info.stderr
    assert f"Job ID: {job_id}" in info.stdout
