"""Versions Corral reports: software release, node protocol, configuration format."""

from __future__ import annotations

from corral import __version__

SOFTWARE_VERSION = __version__
PROTOCOL_VERSION = 3000000
"""Node RPC and LUXI protocol version (Ganeti 3.0's value, so its clients accept ours)."""
CONFIG_VERSION = 3000000
OS_API_VERSION = 20
EXPORT_VERSION = 0
