"""Node-side storage: one block device driver per disk template (layer 2).

``base`` holds the contract and its typed values; ``registry.make_driver``
picks a driver; ``naming`` gives Ganeti's default device names (usable by the
master); ``symlinks``, ``wipe`` and ``rollback`` are the helpers around
drivers. Importing this package loads no driver.
"""

from corral.storage.base import (
    BlockDevice,
    DeviceCommandError,
    DeviceInfo,
    DiskCreateSpec,
    DiskFormat,
    DiskRef,
    LDiskStatus,
    MirrorLink,
    StorageSpace,
    SyncStatus,
    is_insufficient_space,
)

__all__ = [
    "BlockDevice",
    "DeviceCommandError",
    "DeviceInfo",
    "DiskCreateSpec",
    "DiskFormat",
    "DiskRef",
    "LDiskStatus",
    "MirrorLink",
    "StorageSpace",
    "SyncStatus",
    "is_insufficient_space",
]
