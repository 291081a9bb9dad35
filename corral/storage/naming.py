"""Ganeti's default device names, shared by the master (which stores them) and drivers."""

from __future__ import annotations

import posixpath

FILE_DISK_SUFFIX = ".file.disk"


def lv_name(disk_uuid: str, index: int) -> str:
    """Name of a plain disk's logical volume: ``<uuid>.disk<index>``."""
    return f"{disk_uuid}.disk{index}"


def instance_file_dir(storage_dir: str, instance: str) -> str:
    """An instance's directory under a (shared) file storage directory."""
    return posixpath.join(storage_dir, instance)


def file_disk_path(storage_dir: str, instance: str, disk_uuid: str, index: int) -> str:
    """Cluster path of a file disk: ``<dir>/<instance>/<uuid>.file.disk<index>``.

    The UUID keeps names unique when disks are removed and indices shift.
    """
    return posixpath.join(
        instance_file_dir(storage_dir, instance), f"{disk_uuid}{FILE_DISK_SUFFIX}{index}"
    )


DRBD_META_MIB = 128
"""Size of a DRBD disk's metadata volume (Ganeti's DRBD_META_SIZE)."""


def drbd_lv_names(unique: str, index: int) -> tuple[str, str]:
    """Names of a DRBD disk's data and metadata volumes: ``<unique>.disk<index>_data``/``_meta``."""
    return f"{unique}.disk{index}_data", f"{unique}.disk{index}_meta"
