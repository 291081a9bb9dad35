"""The highest master epoch a node has seen, kept in a file across restarts."""

from __future__ import annotations

import logging
from pathlib import Path

from corral import serde
from corral.errors import CorralError

log = logging.getLogger(__name__)

EPOCH_FILE = "master-epoch"
"""In the node's data directory: the highest master epoch seen, in decimal."""


class EpochStore:
    """The highest master epoch a node has seen, persisted before it is relied on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.value = self._read()

    def _read(self) -> int:
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return 0
        if not text.isdigit():
            raise CorralError(f"{self.path}: not a master epoch: {text[:40]!r}")
        return int(text)

    def raise_to(self, epoch: int) -> bool:
        """Remember ``epoch`` if it is higher (durably first); whether it was."""
        if epoch <= self.value:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        serde.atomic_write(self.path, f"{epoch}\n".encode(), mode=0o600)
        log.info("master epoch raised from %d to %d", self.value, epoch)
        self.value = epoch
        return True
