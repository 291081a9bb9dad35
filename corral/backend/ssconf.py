"""The node's ssconf files: ``<data dir>/ssconf_<key>``, one small read-only file per key.

Plain synchronous functions, so that any code (CLI, watcher, daemons) can read
ssconf without an event loop. The ``write_ssconf_files`` handler lives in
:mod:`corral.backend.files`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from corral import serde
from corral.errors import ParameterError
from corral.layout import SSCONF_PREFIX, NodeLayout

SSCONF_KEY_RE = re.compile(r"[a-z0-9_-]+")
SSCONF_FILE_MODE = 0o444


def is_valid_key(key: str) -> bool:
    """Whether ``key`` is a safe ssconf key (lower-case letters, digits, ``_`` and ``-``)."""
    return SSCONF_KEY_RE.fullmatch(key) is not None


def check_key(key: str) -> str:
    """``key`` itself when it is valid.

    Raises:
        ParameterError: the key is not a safe ssconf key.
    """
    if not is_valid_key(key):
        raise ParameterError(f"Invalid ssconf key {key!r}")
    return key


def read_ssconf(layout: NodeLayout, key: str) -> str | None:
    """The value of ssconf ``key`` without its trailing newlines, or ``None`` if absent.

    Raises:
        ParameterError: the key is not a safe ssconf key.
    """
    try:
        text = layout.ssconf_file(check_key(key)).read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return text.rstrip("\n")


def read_ssconf_lines(layout: NodeLayout, key: str) -> list[str]:
    """The non-empty lines of ssconf ``key`` (e.g. ``node_list``); empty when absent."""
    value = read_ssconf(layout, key)
    return [] if value is None else [line for line in value.splitlines() if line]


def ssconf_keys_on_disk(layout: NodeLayout) -> list[str]:
    """Sorted keys that have an ssconf file on this node."""
    try:
        names = os.listdir(layout.data_dir)
    except FileNotFoundError:
        return []
    keys = (name[len(SSCONF_PREFIX) :] for name in names if name.startswith(SSCONF_PREFIX))
    return sorted(key for key in keys if is_valid_key(key))


def _text(key: str, value: object) -> str:
    """The file content for ``value``: a list one item per line.

    Raises:
        ParameterError: a list item holds a line break and would read back as several.
    """
    if not isinstance(value, list | tuple):
        return "" if value is None else str(value)
    items = [str(item) for item in value]
    for item in items:
        if item and item.splitlines() != [item]:
            raise ParameterError(f"Invalid ssconf {key!r}: entry {item!r} spans lines")
    return "\n".join(items)


def write_ssconf(layout: NodeLayout, values: Mapping[str, object]) -> None:
    """Make the node's ssconf files exactly ``values``.

    Every key is checked before anything is written. Each file whose content
    changes is replaced atomically with mode 0444 (unchanged files are left
    alone); ssconf files of keys absent from ``values`` are removed. List values
    are written one item per line.

    Raises:
        ParameterError: a key is not a safe ssconf key, or a list item holds a line break.
    """
    texts = {check_key(key): _text(key, value).encode() for key, value in values.items()}
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    for key, data in texts.items():
        path = layout.ssconf_file(key)
        if _current(path) != data:
            serde.atomic_write(path, data, SSCONF_FILE_MODE)
    for key in ssconf_keys_on_disk(layout):
        if key not in values:
            layout.ssconf_file(key).unlink(missing_ok=True)


def _current(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def remove_ssconf(layout: NodeLayout) -> None:
    """Remove every ssconf file of the node."""
    for key in ssconf_keys_on_disk(layout):
        layout.ssconf_file(key).unlink(missing_ok=True)
