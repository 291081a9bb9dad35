"""The pause file: ``gnt-cluster watcher pause <duration>`` stores an end time in it.

The master daemon writes ``<epoch seconds>\\n`` to ``layout.watcher_pause_file``
(LUXI ``SetWatcherPause``) and removes it on ``continue``. The watcher reads it here.
"""

from __future__ import annotations

import logging
import time

from corral.layout import NodeLayout
from corral.watcher.policy import check_pause

log = logging.getLogger(__name__)


def paused_until(layout: NodeLayout, now: float) -> float | None:
    """The end of the current pause, or None when the watcher is not paused.

    A file with unparsable content, or one whose pause ended over an hour ago,
    is removed (Ganeti's rule).
    """
    path = layout.watcher_pause_file
    try:
        content: str | None = path.read_text()
    except FileNotFoundError:
        content = None
    except OSError as err:
        log.warning("Cannot read the pause file %s: %s", path, err)
        content = None
    check = check_pause(content, now)
    if check.remove:
        log.info("Removing the stale or invalid pause file %s", path)
        path.unlink(missing_ok=True)
    return check.until


def describe_pause(until: float) -> str:
    """``Mon Jan  1 00:00:00 2024``-style local time, as ``gnt-cluster watcher info`` shows."""
    return time.ctime(until)
