"""What every RPC handler receives: the node's layout and its services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from corral.clock import Clock, SystemClock
from corral.layout import NodeLayout
from corral.process import CommandRunner, SubprocessRunner


@dataclass
class NodeContext:
    """Per-daemon state shared by handlers. One per node daemon (several in one test)."""

    layout: NodeLayout
    node_name: str
    address: str = "127.0.0.1"
    port: int = 1811
    runner: CommandRunner = field(default_factory=SubprocessRunner)
    clock: Clock = field(default_factory=SystemClock)
    extra: dict[str, Any] = field(default_factory=dict)
    """Daemon services handlers may need (e.g. a callback to reload TLS after joining)."""
