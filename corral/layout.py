"""Every on-disk path of one node, relative to a root prefix.

A real node uses ``NodeLayout(Path("/"))``; a virtual cluster gives each node
its own root so that several nodes share one machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SSCONF_PREFIX = "ssconf_"
ROOT_ENV = "CORRAL_ROOT"
"""The variable naming this node's root prefix (``corral vcluster env`` exports it)."""


def default_root() -> str:
    """``$CORRAL_ROOT`` when set and not empty, else ``/``: the default of every ``--root``."""
    return os.environ.get(ROOT_ENV) or "/"


@dataclass(frozen=True, slots=True)
class NodeLayout:
    """Paths of one node. Nothing here touches the disk."""

    root: Path

    # --- top directories -------------------------------------------------
    @property
    def etc_dir(self) -> Path:
        return self.root / "etc" / "corral"

    @property
    def data_dir(self) -> Path:
        return self.root / "var" / "lib" / "corral"

    @property
    def run_dir(self) -> Path:
        return self.root / "run" / "corral"

    @property
    def log_dir(self) -> Path:
        return self.root / "var" / "log" / "corral"

    # --- crypto ---------------------------------------------------------
    @property
    def crypto_dir(self) -> Path:
        return self.data_dir / "crypto"

    @property
    def ca_cert(self) -> Path:
        return self.crypto_dir / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.crypto_dir / "ca-key.pem"

    @property
    def node_cert(self) -> Path:
        return self.crypto_dir / "node.pem"

    @property
    def node_key(self) -> Path:
        return self.crypto_dir / "node-key.pem"

    @property
    def rapi_cert(self) -> Path:
        """The remote API's server certificate (issued by the cluster CA)."""
        return self.crypto_dir / "rapi.pem"

    @property
    def rapi_key(self) -> Path:
        return self.crypto_dir / "rapi-key.pem"

    @property
    def join_token(self) -> Path:
        return self.crypto_dir / "join-token"

    # --- state ----------------------------------------------------------
    @property
    def config_db(self) -> Path:
        return self.data_dir / "config.db"

    @property
    def queue_dir(self) -> Path:
        return self.data_dir / "queue"

    @property
    def queue_db(self) -> Path:
        return self.queue_dir / "queue.db"

    @property
    def queue_archive_dir(self) -> Path:
        return self.queue_dir / "archive"

    @property
    def queue_drain_file(self) -> Path:
        return self.queue_dir / "drain"

    @property
    def watcher_pause_file(self) -> Path:
        return self.data_dir / "watcher.pause"

    @property
    def watcher_state_file(self) -> Path:
        return self.data_dir / "watcher.data"

    @property
    def node_name_file(self) -> Path:
        return self.data_dir / "node-name"

    def ssconf_file(self, key: str) -> Path:
        return self.data_dir / f"{SSCONF_PREFIX}{key}"

    # --- hooks and commands ----------------------------------------------
    @property
    def hooks_dir(self) -> Path:
        return self.etc_dir / "hooks"

    @property
    def restricted_commands_dir(self) -> Path:
        return self.etc_dir / "restricted-commands"

    @property
    def external_mip_script(self) -> Path:
        return self.etc_dir / "scripts" / "master-ip-setup"

    @property
    def rapi_users_file(self) -> Path:
        return self.data_dir / "rapi" / "users"

    @property
    def candidate_files(self) -> tuple[Path, ...]:
        """Files only the master and the master candidates hold: what a new master needs
        beyond the configuration and the job queue (removed when a node is demoted)."""
        return (self.ca_key, self.rapi_cert, self.rapi_key)

    @property
    def secret_files(self) -> tuple[Path, ...]:
        """Cluster files that are always written with mode 0600, whatever was asked."""
        return (self.ca_key, self.rapi_key, self.rapi_users_file)

    # --- OS definitions ---------------------------------------------------
    @property
    def os_search_path(self) -> list[Path]:
        """Where OS definitions are looked up, first match wins.

        A node with a root prefix (a virtual node) also sees the machine's own
        directories, where Debian's OS definition packages install.
        """
        relative = (
            "srv/ganeti/os",
            "usr/local/lib/ganeti/os",
            "usr/share/ganeti/os",
            "srv/corral/os",
        )
        paths = [self.root / rel for rel in relative]
        if self.root != Path("/"):
            paths.extend(Path("/") / rel for rel in relative)
        return paths

    @property
    def os_log_dir(self) -> Path:
        return self.log_dir / "os"

    @property
    def guestkit_dir(self) -> Path:
        """Cached guest kernel and initramfs (shared by a machine's virtual nodes via a link)."""
        return self.data_dir / "guestkit"

    # --- runtime --------------------------------------------------------
    @property
    def luxi_socket(self) -> Path:
        return self.run_dir / "socket" / "corral-query"

    def pid_file(self, daemon: str) -> Path:
        return self.run_dir / f"{daemon}.pid"

    def command_line_file(self, daemon: str) -> Path:
        """The command line ``daemon`` was last started with (JSON, written at its start)."""
        return self.run_dir / f"{daemon}.cmdline.json"

    def log_file(self, daemon: str) -> Path:
        return self.log_dir / f"{daemon}.log"

    @property
    def restricted_commands_lock(self) -> Path:
        return self.run_dir / "restricted-commands.lock"

    def ensure_dirs(self) -> None:
        """Create the node's directories with safe permissions."""
        for path, mode in (
            (self.etc_dir, 0o755),
            (self.data_dir, 0o755),
            (self.crypto_dir, 0o700),
            (self.queue_dir, 0o700),
            (self.queue_archive_dir, 0o700),
            (self.run_dir, 0o755),
            (self.luxi_socket.parent, 0o750),
            (self.log_dir, 0o750),
            (self.hooks_dir, 0o755),
        ):
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(mode)
