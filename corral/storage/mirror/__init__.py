"""The ``mirror`` disk template: network RAID1 in user space for KVM.

Each disk is a file on the primary and one on the secondary node (:mod:`.local`).
The secondary serves its copy over NBD with TLS (:mod:`.export`); the primary's
QEMU writes every guest write to both before acknowledging it (see
:mod:`corral.hypervisor.kvm.mirror` for the block graph and the measurement
that chose it).
"""

from corral.storage.mirror.export import (
    ExportRecord,
    ExportState,
    export_status,
    export_uri,
    parse_export_uri,
    recorded_exports,
    start_export,
    stop_export,
    write_creds_dir,
)
from corral.storage.mirror.local import MirrorStorage

__all__ = [
    "ExportRecord", "ExportState", "MirrorStorage", "export_status", "export_uri",
    "parse_export_uri", "recorded_exports", "start_export", "stop_export", "write_creds_dir",
]
