"""Debian's ``ganeti-3.0`` commands (Ganeti's own Python ``gnt-*``) run against a Corral cluster.

Ganeti's client finds its master through Ganeti's virtual-cluster paths: with
``GANETI_ROOTDIR=<dir>/<master>`` and ``GANETI_HOSTNAME=<master>`` every path it uses is
looked up under ``<dir>/<master>``. :func:`build_root` makes that tree:

* ``var/run/ganeti/socket/ganeti-query`` and ``ganeti-luxid``: symbolic links to Corral's
  LUXI socket (Ganeti's client sends queries to the first and jobs to the second);
* ``var/lib/ganeti/ssconf_*``: copies of the master's ssconf files (the client reads
  ``ssconf_master_node`` to check it runs on the master, ``ssconf_cluster_name``, ...),
  copied again before every command so that they follow the cluster.

Nothing of Ganeti runs as a daemon: only its client code is used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from corral.layout import SSCONF_PREFIX, NodeLayout

GANETI_SHARE = Path("/usr/share/ganeti/3.0")
"""Where Debian's ganeti-3.0 package puts its Python code and the gnt-* entry scripts."""
GANETI_TOOLS = ("gnt-cluster", "gnt-node", "gnt-group", "gnt-instance", "gnt-job", "gnt-os",
                "gnt-debug")
SOCKET_DIR = Path("var/run/ganeti/socket")
DATA_DIR = Path("var/lib/ganeti")
SOCKET_NAMES = ("ganeti-query", "ganeti-luxid")


@dataclass(frozen=True)
class GanetiResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def ganeti_installed() -> bool:
    return all((GANETI_SHARE / tool).is_file() for tool in GANETI_TOOLS)


@dataclass(frozen=True)
class GanetiCli:
    """Runs Ganeti's commands as on the master ``hostname`` of a Corral cluster."""

    root: Path
    """``<dir>/<master>``: the value of ``GANETI_ROOTDIR``."""
    hostname: str
    master_root: Path
    """The Corral master node's root (its ssconf files are copied from there)."""

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CORRAL_", "GANETI_", "PYTHON", "VIRTUAL_ENV"))}
        env.update(GANETI_ROOTDIR=str(self.root), GANETI_HOSTNAME=self.hostname, LC_ALL="C.UTF-8")
        return env

    def refresh_ssconf(self) -> None:
        copy_ssconf(self.master_root, self.root / DATA_DIR)

    def run(self, tool: str, *args: str, timeout: float = 120) -> GanetiResult:
        """``tool args`` (Ganeti's ``gnt-*``), with its stdout, stderr and exit code."""
        self.refresh_ssconf()
        proc = subprocess.run(
            ["/usr/bin/python3", str(GANETI_SHARE / tool), *args],
            capture_output=True, text=True, env=self.env(), timeout=timeout, check=False,
            cwd=str(self.root),
        )
        return GanetiResult(proc.returncode, proc.stdout, proc.stderr)


def copy_ssconf(master_root: Path, target: Path) -> list[str]:
    """Copy the master's ``ssconf_*`` files (Ganeti's names) into ``target``; their names."""
    source = NodeLayout(master_root).ssconf_file("cluster_name").parent
    target.mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted(source.glob(f"{SSCONF_PREFIX}*")):
        shutil.copyfile(path, target / path.name)
        names.append(path.name)
    return names


def build_root(directory: Path, master: str, master_root: Path, luxi_socket: Path) -> GanetiCli:
    """The ``GANETI_ROOTDIR`` tree for ``master`` under ``directory``."""
    root = directory / master
    sockets = root / SOCKET_DIR
    sockets.mkdir(parents=True, exist_ok=True)
    for name in SOCKET_NAMES:
        link = sockets / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(luxi_socket)
    for sub in ("var/log/ganeti", "var/lib/ganeti/queue", "etc/ganeti", "var/lock"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    cli = GanetiCli(root, master, master_root)
    cli.refresh_ssconf()
    return cli
