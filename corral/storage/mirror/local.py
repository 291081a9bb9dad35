"""The local half of a ``mirror`` disk: a file under the node's file storage directory.

Both nodes of a mirror disk hold one such file, created alike (same size, same
cluster path); the logical id is the file template's ``(driver, path)``.
"""

from __future__ import annotations

from typing import ClassVar

from corral.objects.instance import DiskTemplate
from corral.storage.file import FileStorage


class MirrorStorage(FileStorage):
    """One half of a mirror disk, as a local file (preallocated, read as zeros)."""

    template: ClassVar[DiskTemplate] = DiskTemplate.MIRROR
    growable: ClassVar[bool] = False
