"""The state file: format, corrupt content, atomic replacement and the lock across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from corral.watcher.policy import InstanceRecord, WatcherState
from corral.watcher.state import StateFile, StateLocked, decode_state, encode_state

STATE = WatcherState(
    {"web1": InstanceRecord(restart_count=2, restart_when=1_700_000_000.5)},
    {"node1": "0d6c5c9e-boot"},
)


def test_ganeti_key_names() -> None:
    data = json.loads(encode_state(STATE))
    assert data == {
        "instance": {"web1": {"restart_count": 2, "restart_when": 1_700_000_000.5,
                              "cleanup_count": 0, "cleanup_when": 0.0}},
        "node": {"node1": {"bootid": "0d6c5c9e-boot"}},
    }
    assert decode_state(encode_state(STATE)) == STATE


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[1, 2]", b'{"instance": {"a": 3}}',
     b'{"instance": {"a": {"restart_count": "x"}}}'],
    ids=["empty", "truncated", "list", "record-not-object", "bad-count"],
)
def test_corrupt_file_reads_as_empty(content: bytes) -> None:
    assert decode_state(content) == WatcherState()


def test_missing_file_is_created_empty(tmp_path: Path) -> None:
    path = tmp_path / "watcher.data"
    with StateFile.open(path) as state_file:
        assert state_file.read() == WatcherState()
    assert path.exists()


def test_write_replaces_atomically_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "watcher.data"
    with StateFile.open(path) as state_file:
        inode = path.stat().st_ino
        state_file.write(STATE)
        assert path.stat().st_ino != inode  # a new file was renamed into place
        assert state_file.read() == STATE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["watcher.data"]
    with StateFile.open(path) as again:
        assert again.read() == STATE


def test_failed_write_keeps_the_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    path = tmp_path / "watcher.data"
    with StateFile.open(path) as state_file:
        state_file.write(STATE)

        def broken_fsync(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fsync", broken_fsync)
        with pytest.raises(OSError, match="No space"):
            state_file.write(WatcherState())
        monkeypatch.undo()
        assert state_file.read() == STATE
    assert decode_state(path.read_bytes()) == STATE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["watcher.data"]


def test_second_opener_is_refused_while_locked(tmp_path: Path) -> None:
    path = tmp_path / "watcher.data"
    with StateFile.open(path) as first:
        first.write(STATE)  # the lock moved to the new file; it must still hold
        with pytest.raises(StateLocked, match="another watcher is running"):
            StateFile.open(path)
    with StateFile.open(path) as later:
        assert later.read() == STATE


def test_blocking_opener_waits_and_sees_the_new_content(tmp_path: Path) -> None:
    path = tmp_path / "watcher.data"
    seen: list[WatcherState] = []
    first = StateFile.open(path)

    def second() -> None:
        with StateFile.open(path, blocking=True) as state_file:
            seen.append(state_file.read())

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.2)
    assert seen == []  # still waiting for the lock
    first.write(STATE)
    first.close()
    thread.join(5)
    assert seen == [STATE]


INCREMENTER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from corral.watcher.policy import InstanceRecord
    from corral.watcher.state import StateFile
    path = Path(sys.argv[1])
    for _ in range(200):
        with StateFile.open(path, blocking=True) as state_file:
            state = state_file.read()
            count = state.restarts("counter")
            state_file.write(state.with_record("counter", InstanceRecord(restart_count=count + 1)))
""")


def test_two_processes_never_lose_an_update(tmp_path: Path) -> None:
    path = tmp_path / "watcher.data"
    procs = [
        subprocess.Popen([sys.executable, "-c", INCREMENTER, str(path)],
                         cwd=Path(__file__).resolve().parents[3])
        for _ in range(2)
    ]
    assert [p.wait(60) for p in procs] == [0, 0]
    with StateFile.open(path) as state_file:
        assert state_file.read().restarts("counter") == 400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["watcher.data"]
