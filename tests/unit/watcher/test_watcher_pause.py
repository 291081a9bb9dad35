"""Reading the pause file that ``gnt-cluster watcher pause`` writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.layout import NodeLayout
from corral.watcher.pause import paused_until

NOW = 1_700_000_000.0


@pytest.fixture
def layout(tmp_path: Path) -> NodeLayout:
    layout = NodeLayout(tmp_path)
    layout.ensure_dirs()
    return layout


def test_not_paused_without_a_file(layout: NodeLayout) -> None:
    assert paused_until(layout, NOW) is None


def test_paused_until_the_stored_time(layout: NodeLayout) -> None:
    layout.watcher_pause_file.write_text(f"{int(NOW) + 600}\n")  # as SetWatcherPause writes
    assert paused_until(layout, NOW) == NOW + 600
    assert paused_until(layout, NOW + 601) is None
    assert layout.watcher_pause_file.exists()  # recently ended: kept


@pytest.mark.parametrize("content", ["tomorrow\n", f"{int(NOW) - 7200}\n"],
                         ids=["garbage", "ended-two-hours-ago"])
def test_stale_or_invalid_file_is_removed(layout: NodeLayout, content: str) -> None:
    layout.watcher_pause_file.write_text(content)
    assert paused_until(layout, NOW) is None
    assert not layout.watcher_pause_file.exists()
