"""The command line and the order of a run, with the daemons and the master replaced."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from corral.backend.ssconf import write_ssconf
from corral.layout import NodeLayout
from corral.watcher import daemons, main
from corral.watcher.state import StateFile

OPTIONS = ["--debug", "--job-age", "--ignore-pause", "--wait-children", "--no-wait-children",
           "--no-verify-disks", "--no-strict", "--rapi-ip", "--root"]


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main.parse_args(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for option in OPTIONS:
        assert option in text
    assert main.NOW_ENV in text


@pytest.mark.parametrize(("given", "seconds"), [(None, 21600), ("30m", 1800), ("90", 90),
                                                ("2d", 172800)],
                         ids=["default-6h", "minutes", "plain-seconds", "days"])
def test_job_age_accepts_time_specs(given: str | None, seconds: int) -> None:
    argv = [] if given is None else ["--job-age", given]
    assert main.parse_args(argv).job_age == seconds


def test_bad_job_age_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main.parse_args(["-A", "soon"])
    assert stop.value.code == 2
    assert "soon" in capsys.readouterr().err


def _log(root: Path) -> str:
    return NodeLayout(root).log_file(main.LOG_NAME).read_text()


def _join(root: Path, name: str = "node1", master: str = "node1") -> NodeLayout:
    layout = NodeLayout(root)
    layout.ensure_dirs()
    layout.node_name_file.write_text(f"{name}\n")
    write_ssconf(layout, {"master_node": master, "noded_port": "1811",
                          "node_primary_ips": f"node1 10.0.0.1\n{name} 10.0.0.9"})
    return layout


def test_paused_watcher_does_nothing_and_says_why(tmp_path: Path) -> None:
    layout = _join(tmp_path)
    layout.watcher_pause_file.write_text(f"{int(time.time()) + 3600}\n")
    assert main.main(["--root", str(tmp_path)]) == 0
    assert "paused until" in _log(tmp_path)
    assert not layout.watcher_state_file.exists()


def test_pause_ignored_on_request(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path)
    layout.ensure_dirs()
    layout.watcher_pause_file.write_text(f"{int(time.time()) + 3600}\n")
    assert main.main(["--root", str(tmp_path), "--ignore-pause"]) == 0
    assert "not part of a cluster" in _log(tmp_path)
    assert layout.watcher_pause_file.exists()


def test_second_watcher_exits_while_the_state_is_locked(tmp_path: Path) -> None:
    layout = _join(tmp_path)
    with StateFile.open(layout.watcher_state_file):
        assert main.main(["--root", str(tmp_path)]) == 0
    assert "another watcher is running" in _log(tmp_path)


@pytest.fixture
def no_daemons(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(daemons, "ensure_noded", lambda layout, node: calls.append(node.name))
    monkeypatch.setattr(daemons, "check_rapi", lambda layout, address, port: False)
    return calls


def test_non_master_runs_node_checks_and_hooks_only(
    tmp_path: Path, no_daemons: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = _join(tmp_path, name="node2", master="node1")
    hooks = layout.hooks_dir / "watcher"
    hooks.mkdir(parents=True)
    script = hooks / "10-record"
    script.write_text(f"#!/bin/sh\necho \"$WATCHER_TEST_MARK\" > {tmp_path}/hook-ran\n")
    script.chmod(0o755)
    monkeypatch.setenv("WATCHER_TEST_MARK", "inherited")
    monkeypatch.setattr(main, "connect_master", lambda layout: pytest.fail("not the master"))
    assert main.main(["--root", str(tmp_path)]) == 0
    assert no_daemons == ["node2"]
    assert (tmp_path / "hook-ran").read_text() == "inherited\n"
    assert "not the master (the master is node1)" in _log(tmp_path)


def _master(tmp_path: Path, luxi: Any, monkeypatch: pytest.MonkeyPatch) -> NodeLayout:
    layout = _join(tmp_path)
    monkeypatch.setattr(main, "connect_master", lambda layout: luxi)
    return layout


def test_master_run_archives_restarts_and_verifies(
    tmp_path: Path, luxi: Any, no_daemons: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = _master(tmp_path, luxi, monkeypatch)
    luxi.nodes = [["node1", "boot", False, "10.0.0.1"]]
    luxi.instances = [["web", "ERROR_down", "up", "node1", [], True]]
    monkeypatch.setenv(main.NOW_ENV, "1234567890")
    assert main.main(["--root", str(tmp_path), "-A", "1h"]) == 0
    assert luxi.auto_archive_age == [3600]
    assert luxi.started() == ["web"]
    assert len(luxi.ops_of("OP_GROUP_VERIFY_DISKS")) == 1
    stored = json.loads(layout.watcher_state_file.read_text())
    assert stored["instance"]["web"]["restart_when"] == 1234567890.0
    assert stored["node"] == {"node1": {"bootid": "boot"}}


def test_no_verify_disks(tmp_path: Path, luxi: Any, no_daemons: list[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    _master(tmp_path, luxi, monkeypatch)
    assert main.main(["--root", str(tmp_path), "--no-verify-disks"]) == 0
    assert luxi.ops_of("OP_GROUP_VERIFY_DISKS") == []


def test_master_daemon_naming_another_master_is_not_master(
    tmp_path: Path, luxi: Any, no_daemons: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _master(tmp_path, luxi, monkeypatch)
    luxi.master = "node7"
    assert main.main(["--root", str(tmp_path)]) == main.EXIT_NOTMASTER
    assert luxi.submitted == []


def test_drained_queue_exits_quietly(tmp_path: Path, luxi: Any, no_daemons: list[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _master(tmp_path, luxi, monkeypatch)
    luxi.instances = [["web", "ERROR_down", "up", "node1", [], True]]
    luxi.refuse_jobs = "JobQueueDrainError"
    assert main.main(["--root", str(tmp_path)]) == 0
    assert "refuses jobs" in _log(tmp_path)


def test_unreachable_master_daemon_fails_without_damage(
    tmp_path: Path, no_daemons: list[str]
) -> None:
    layout = _join(tmp_path)  # the master per ssconf, but no configuration to start from
    assert main.main(["--root", str(tmp_path)]) == main.EXIT_FAILURE
    assert "master daemon cannot be reached" in _log(tmp_path)
    assert "no cluster configuration" in _log(tmp_path)
    assert not layout.config_db.exists()


def test_node_maintenance_only_with_maintain_node_health(
    tmp_path: Path, luxi: Any, no_daemons: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from corral.watcher import nodemaint

    calls: list[Any] = []

    def maintain(layout: NodeLayout, nodes: Any, port: int, hvs: list[str],
                 epoch: int | None = None) -> list[str]:
        calls.append((nodes, port, hvs, epoch))
        return []

    monkeypatch.setattr(nodemaint, "maintain_offline_nodes", maintain)
    _master(tmp_path, luxi, monkeypatch)
    luxi.nodes = [["node1", "b", False, "10.0.0.1"], ["node3", None, True, "10.0.0.3"]]
    assert main.main(["--root", str(tmp_path), "--no-verify-disks"]) == 0
    assert calls == []
    luxi.info["maintain_node_health"] = True
    luxi.info["master_epoch"] = 3
    assert main.main(["--root", str(tmp_path), "--no-verify-disks"]) == 0
    assert calls == [([("node3", "10.0.0.3")], 1811, ["fake"], 3)]


def test_time_of_a_run_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(main.NOW_ENV, raising=False)
    assert abs(main.clock_from_env().now() - time.time()) < 5
    monkeypatch.setenv(main.NOW_ENV, "1800000000.5")
    assert main.clock_from_env().now() == 1800000000.5


def test_bad_time_in_the_environment_is_a_clear_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(main.NOW_ENV, "tomorrow")
    assert main.main(["--root", str(tmp_path)]) == main.EXIT_FAILURE
    assert "must be seconds since the epoch" in _log(tmp_path)


def test_auto_failover_candidate_keeps_a_standby_master_daemon(
    tmp_path: Path, no_daemons: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = _join(tmp_path, name="node1", master="node1")
    monkeypatch.setattr(main, "auto_failover_configured", lambda layout: True)
    started: list[Path] = []

    def ensure(layout: NodeLayout) -> bool:
        started.append(layout.root)
        return True

    monkeypatch.setattr(daemons, "ensure_standby_masterd", ensure)
    monkeypatch.setattr(main, "connect_master", lambda layout: pytest.fail("in standby"))
    assert main.main(["--root", str(tmp_path)]) == 0
    assert started == [layout.root]
    assert no_daemons == ["node1"]
    assert "master daemon is in standby" in _log(tmp_path)
