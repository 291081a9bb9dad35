"""A real etcd cluster on loopback for tests, benchmarks and the virtual cluster.

``EtcdCluster(directory, size=3).start()`` runs ``size`` members of Debian's ``etcd`` (3.4)
on 127.0.0.1 with client and peer ports of their own (free ports chosen at start), data
directories, logs and pid files under ``directory``, and waits until every member reports
itself healthy. Members are detached daemons (``daemon_control.spawn_daemon``) stopped by
the PID in their pid file, checked against their command line (``kill_member`` sends
SIGKILL, ``stop`` SIGTERM then SIGKILL): nothing is left running, and another process can
stop them with ``stop_members(directory)`` (``corral vcluster down``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from corral.daemon_control import daemon_pid, spawn_daemon, stop_daemon

ETCD_BINARY = "etcd"
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
HEARTBEAT_MS = 100
ELECTION_TIMEOUT_MS = 1000
"""Raft timings of the members (etcd's defaults, stated so that tests can rely on them)."""
MEMBERS_FILE = "members.json"


class EtcdHarnessError(RuntimeError):
    """The etcd cluster could not be started or stopped."""


@dataclass(frozen=True, slots=True)
class EtcdMember:
    """One member: its name, ports and files."""

    name: str
    client_port: int
    peer_port: int
    directory: Path

    @property
    def client_url(self) -> str:
        return f"http://{HOST}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{HOST}:{self.peer_port}"

    @property
    def data_dir(self) -> Path:
        return self.directory / f"{self.name}.data"

    @property
    def log_file(self) -> Path:
        return self.directory / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.directory / f"{self.name}.pid"

    @property
    def match(self) -> str:
        """What this member's command line contains (its own data directory)."""
        return f"--data-dir {self.data_dir} "

    @property
    def pid(self) -> int | None:
        """The member's PID while it runs."""
        return daemon_pid(self.pid_file, self.match)

    @property
    def running(self) -> bool:
        return self.pid is not None


def free_ports(count: int) -> list[int]:
    """Ports the kernel reports free on loopback now (held open together so they differ)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def etcd_available() -> bool:
    """True when the ``etcd`` server binary is installed."""
    return shutil.which(ETCD_BINARY) is not None


class EtcdCluster:
    """A ``size``-member etcd cluster under ``directory`` (see the module docstring)."""

    def __init__(self, directory: Path, size: int = 3, token: str = "corral-test") -> None:
        if size < 1:
            raise ValueError(f"an etcd cluster needs at least one member, not {size}")
        self.directory = directory
        self.token = token
        ports = free_ports(2 * size)
        self.members = [
            EtcdMember(f"etcd{i + 1}", ports[2 * i], ports[2 * i + 1], directory)
            for i in range(size)
        ]

    @property
    def endpoints(self) -> list[str]:
        """Client URLs of every member, running or not."""
        return [m.client_url for m in self.members]

    def _argv(self, member: EtcdMember) -> list[str]:
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        return [
            ETCD_BINARY, "--name", member.name, "--data-dir", str(member.data_dir),
            "--listen-client-urls", member.client_url,
            "--advertise-client-urls", member.client_url,
            "--listen-peer-urls", member.peer_url,
            "--initial-advertise-peer-urls", member.peer_url,
            "--initial-cluster", initial, "--initial-cluster-state", "new",
            "--initial-cluster-token", self.token,
            "--heartbeat-interval", str(HEARTBEAT_MS),
            "--election-timeout", str(ELECTION_TIMEOUT_MS),
            "--logger", "zap", "--log-outputs", "stderr",
        ]

    def start(self) -> EtcdCluster:
        """Start every member and wait until each one is healthy."""
        if not etcd_available():
            raise EtcdHarnessError("etcd is not installed (Debian package etcd-server)")
        self.directory.mkdir(parents=True, exist_ok=True)
        members = [{"name": m.name, "client_port": m.client_port, "peer_port": m.peer_port}
                   for m in self.members]
        (self.directory / MEMBERS_FILE).write_text(json.dumps(members))
        try:
            for member in self.members:
                spawn_daemon(self._argv(member), member.pid_file, member.log_file)
            self.wait_healthy(self.members)
        except Exception:
            self.stop()
            raise
        return self

    def wait_healthy(self, members: list[EtcdMember], timeout: float = START_TIMEOUT) -> None:
        """Wait until each of ``members`` answers ``/health`` with true."""
        deadline = time.monotonic() + timeout
        for member in members:
            while not member_healthy(member.client_url):
                if not member.running:
                    raise EtcdHarnessError(f"{member.name} exited; see {member.log_file}")
                if time.monotonic() > deadline:
                    raise EtcdHarnessError(
                        f"{member.name} at {member.client_url} not healthy after {timeout} s"
                    )
                time.sleep(0.1)

    def leader_index(self) -> int | None:
        """Index of the member that reports itself raft leader now, if any answers so."""
        for index, member in enumerate(self.members):
            status = member_status(member.client_url)
            if status is not None and status[0] == status[1]:
                return index
        return None

    def kill_member(self, index: int) -> None:
        """SIGKILL one member by its PID and wait until it is gone."""
        member = self.members[index]
        pid = member.pid
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while member.running:
                time.sleep(0.02)

    def stop(self) -> None:
        """Stop every member still running: SIGTERM, then SIGKILL after 5 s."""
        for member in self.members:
            stop_daemon(member.pid_file, member.match, 5.0)

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    def load(cls, directory: Path) -> EtcdCluster | None:
        """The cluster a ``start`` recorded under ``directory``, or None."""
        try:
            recorded = json.loads((directory / MEMBERS_FILE).read_text())
        except (OSError, ValueError):
            return None
        cluster = cls.__new__(cls)
        cluster.directory = directory
        cluster.token = ""
        cluster.members = [
            EtcdMember(str(m["name"]), int(m["client_port"]), int(m["peer_port"]), directory)
            for m in recorded
        ]
        return cluster


def stop_members(directory: Path) -> int:
    """Stop the members a cluster recorded under ``directory``; returns how many ran."""
    cluster = EtcdCluster.load(directory)
    if cluster is None:
        return 0
    running = sum(1 for member in cluster.members if member.running)
    cluster.stop()
    return running


def member_healthy(client_url: str, timeout: float = 1.0) -> bool:
    """True when the member at ``client_url`` answers ``/health`` with ``"health": "true"``."""
    try:
        with urllib.request.urlopen(f"{client_url}/health", timeout=timeout) as reply:
            body = json.loads(reply.read())
    except (OSError, urllib.error.URLError, ValueError):
        return False
    return isinstance(body, dict) and body.get("health") == "true"


def member_status(client_url: str, timeout: float = 1.0) -> tuple[str, str] | None:
    """(this member's id, the leader's id) from ``/v3/maintenance/status``, or None."""
    request = urllib.request.Request(f"{client_url}/v3/maintenance/status", data=b"{}",
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            body = json.loads(reply.read())
        return str(body["header"]["member_id"]), str(body["leader"])
    except (OSError, urllib.error.URLError, ValueError, KeyError, TypeError):
        return None
