"""A real etcd cluster on loopback for tests, benchmarks and the virtual cluster.

``EtcdCluster(directory, size=3).start()`` runs ``size`` members of Debian's ``etcd`` (3.4)
on 127.0.0.1 with client and peer ports of their own (free ports chosen at start), data
directories and logs under ``directory``, and waits until every member reports itself
healthy. Members are stopped by the PID this harness recorded (``kill_member`` sends
SIGKILL, ``stop`` SIGTERM then SIGKILL): nothing is left running. The PIDs are also written
to ``directory/pids`` so that another process (``corral vcluster down``) can stop them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ETCD_BINARY = "etcd"
HOST = "127.0.0.1"
START_TIMEOUT = 30.0


class EtcdHarnessError(RuntimeError):
    """The etcd cluster could not be started or stopped."""


@dataclass(slots=True)
class EtcdMember:
    """One member: its name, URLs, data directory and (while running) its process."""

    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_file: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def client_url(self) -> str:
        return f"http://{HOST}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{HOST}:{self.peer_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


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
            EtcdMember(
                name=f"etcd{i + 1}",
                client_port=ports[2 * i],
                peer_port=ports[2 * i + 1],
                data_dir=directory / f"etcd{i + 1}.data",
                log_file=directory / f"etcd{i + 1}.log",
            )
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
            "--heartbeat-interval", "100", "--election-timeout", "1000",
            "--logger", "zap", "--log-outputs", "stderr",
        ]

    def start(self) -> EtcdCluster:
        """Start every member and wait until each one is healthy."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for member in self.members:
            self._spawn(member)
        self._write_pids()
        try:
            self.wait_healthy(self.members)
        except EtcdHarnessError:
            self.stop()
            raise
        return self

    def _spawn(self, member: EtcdMember) -> None:
        with member.log_file.open("ab") as log:
            member.process = subprocess.Popen(
                self._argv(member), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,
            )

    def _write_pids(self) -> None:
        pids = {m.name: m.process.pid for m in self.members if m.process is not None}
        (self.directory / "pids").write_text(json.dumps(pids))

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

    def kill_member(self, index: int) -> None:
        """SIGKILL one member by its PID and reap it."""
        member = self.members[index]
        if member.process is not None and member.running:
            os.kill(member.process.pid, signal.SIGKILL)
            member.process.wait()

    def stop(self) -> None:
        """Stop every member still running: SIGTERM, then SIGKILL after 5 s."""
        for member in self.members:
            if member.process is not None and member.running:
                member.process.terminate()
        for member in self.members:
            if member.process is None:
                continue
            try:
                member.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                member.process.kill()
                member.process.wait()
        with contextlib.suppress(FileNotFoundError):
            (self.directory / "pids").unlink()

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def member_healthy(client_url: str, timeout: float = 1.0) -> bool:
    """True when the member at ``client_url`` answers ``/health`` with ``"health": "true"``."""
    try:
        with urllib.request.urlopen(f"{client_url}/health", timeout=timeout) as reply:
            body = json.loads(reply.read())
    except (OSError, urllib.error.URLError, ValueError):
        return False
    return isinstance(body, dict) and body.get("health") == "true"


def stop_recorded(directory: Path) -> list[int]:
    """Stop the members whose PIDs a cluster under ``directory`` recorded; returns those PIDs.

    Used by another process than the one that started them (``corral vcluster down``).
    """
    pid_file = directory / "pids"
    try:
        pids = [int(pid) for pid in json.loads(pid_file.read_text()).values()]
    except (FileNotFoundError, ValueError):
        return []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    pid_file.unlink()
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"
