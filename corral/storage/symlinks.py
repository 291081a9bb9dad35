"""Per-instance block device symlinks: ``<run_dir>/instance-disks/<instance>:<index>``.

Hypervisors and OS scripts refer to disks through these stable names, as in
Ganeti, so a device that moves (an LV re-activated, a file renamed) only needs
its link refreshed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from corral.errors import BlockDeviceError
from corral.layout import NodeLayout

DISK_SEPARATOR = ":"


def disk_links_dir(layout: NodeLayout) -> Path:
    """Directory holding every instance's disk links."""
    return layout.run_dir / "instance-disks"


def instance_disk_link(layout: NodeLayout, instance: str, index: int) -> Path:
    """Path of the link for disk ``index`` of ``instance``."""
    return disk_links_dir(layout) / f"{instance}{DISK_SEPARATOR}{index}"


def link_instance_disk(layout: NodeLayout, instance: str, index: int, path: str) -> Path:
    """Point the instance's disk link at ``path`` (replacing any old target atomically).

    Raises:
        BlockDeviceError: the link could not be written.
    """
    link = instance_disk_link(layout, instance, index)
    try:
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() and os.readlink(link) == path:
            return link
        tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(path)
        tmp.replace(link)
    except OSError as err:
        raise BlockDeviceError(f"Cannot create block device symlink {link}: {err}") from err
    return link


def unlink_instance_disks(layout: NodeLayout, instance: str) -> list[Path]:
    """Remove every disk link of ``instance``; returns the links removed.

    Raises:
        BlockDeviceError: a link exists but could not be removed.
    """
    pattern = re.compile(re.escape(instance + DISK_SEPARATOR) + r"\d+")
    directory = disk_links_dir(layout)
    if not directory.is_dir():
        return []
    removed = []
    for entry in sorted(directory.iterdir()):
        if pattern.fullmatch(entry.name) and entry.is_symlink():
            try:
                entry.unlink()
            except FileNotFoundError:
                continue
            except OSError as err:
                raise BlockDeviceError(f"Cannot remove symlink {entry}: {err}") from err
            removed.append(entry)
    return removed
