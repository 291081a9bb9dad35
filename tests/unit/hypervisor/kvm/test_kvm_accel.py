"""Accelerator choice: explicit settings, the auto probe, its cache and the probe guests."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from corral.errors import HypervisorError
from corral.hypervisor.kvm import accel
from corral.process import CommandResult


class ScriptedRunner:
    def __init__(self, result: CommandResult) -> None:
        self.result = result
        self.calls: list[tuple[str, ...]] = []

    async def run(self, argv: Sequence[str], *, timeout: float | None = None,
                  env: Mapping[str, str] | None = None, cwd: str | None = None,
                  stdin: bytes | None = None, reset_env: bool = False) -> CommandResult:
        self.calls.append(tuple(argv))
        return self.result


class CountingProbe:
    def __init__(self, verdict: bool) -> None:
        self.verdict = verdict
        self.calls = 0

    async def __call__(self) -> tuple[bool, str]:
        self.calls += 1
        return self.verdict, "probed"


@pytest.fixture
def device(tmp_path: Path) -> Path:
    path = tmp_path / "kvm-device"
    path.write_bytes(b"")
    return path


def _resolve(setting: str, cache: Path, probe: CountingProbe, device: Path) -> str:
    return asyncio.run(accel.resolve_accel(setting, cache=cache, probe=probe, now=5.0,
                                           device=device)).value


def test_requested_accel_honours_legacy_kvm_flag() -> None:
    assert accel.requested_accel({"accel": "auto"}) == "auto"
    assert accel.requested_accel({"accel": "auto", "kvm_flag": "disabled"}) == "tcg"
    assert accel.requested_accel({"accel": "auto", "kvm_flag": "enabled"}) == "kvm"
    assert accel.requested_accel({"accel": "tcg", "kvm_flag": "enabled"}) == "tcg"


def test_explicit_settings_do_not_probe(tmp_path: Path, device: Path) -> None:
    probe = CountingProbe(True)
    cache = tmp_path / "accel-x.json"
    assert _resolve("tcg", cache, probe, device) == "tcg"
    assert _resolve("kvm", cache, probe, device) == "kvm"
    assert probe.calls == 0
    assert not cache.exists()
    with pytest.raises(HypervisorError, match="cannot be opened"):
        _resolve("kvm", cache, probe, tmp_path / "missing")


def test_auto_without_device_is_tcg_without_probe(tmp_path: Path) -> None:
    probe = CountingProbe(True)
    cache = tmp_path / "accel-6.1.0.json"
    assert _resolve("auto", cache, probe, tmp_path / "missing") == "tcg"
    assert probe.calls == 0
    verdict = accel.read_verdict(cache)
    assert verdict is not None
    assert (verdict.accel, verdict.release, verdict.checked_at) == ("tcg", "6.1.0", 5.0)


@pytest.mark.parametrize(("works", "expected"), [(True, "kvm"), (False, "tcg")])
def test_auto_probes_once_then_uses_the_cache(tmp_path: Path, device: Path, works: bool,
                                              expected: str) -> None:
    probe = CountingProbe(works)
    cache = accel.verdict_file(tmp_path, "6.1.0-test")
    assert _resolve("auto", cache, probe, device) == expected
    assert _resolve("auto", cache, probe, device) == expected
    assert probe.calls == 1
    other_kernel = accel.verdict_file(tmp_path, "6.2.0-test")
    assert _resolve("auto", other_kernel, probe, device) == expected
    assert probe.calls == 2


def test_unreadable_cache_is_probed_again(tmp_path: Path, device: Path) -> None:
    cache = tmp_path / "accel-r.json"
    cache.write_text("{broken")
    probe = CountingProbe(False)
    assert _resolve("auto", cache, probe, device) == "tcg"
    assert probe.calls == 1


def test_boot_sector_layout() -> None:
    sector = accel.boot_sector()
    assert len(sector) == 512
    assert sector.endswith(b"\x55\xaa")
    assert sector[29:29 + len(accel.PROBE_MARKER)] == accel.PROBE_MARKER.encode()


def _probe_result(stdout: str, code: int = 0, timed_out: bool = False) -> tuple[bool, str]:
    runner = ScriptedRunner(CommandResult(("qemu",), code, stdout, "err", timed_out))
    guest = accel.linux_probe(Path("/k"), Path("/i"))
    outcome = asyncio.run(accel.run_probe("/usr/bin/qemu", guest, runner, timeout=2))
    argv = runner.calls[0]
    assert argv[:3] == ("/usr/bin/qemu", "-accel", "kvm")
    assert argv[argv.index("-kernel"):argv.index("-kernel") + 2] == ("-kernel", "/k")
    return outcome


def test_probe_outcomes() -> None:
    assert _probe_result(f"noise\n{accel.PROBE_MARKER}\n")[0]
    ok, reason = _probe_result("", -9, timed_out=True)
    assert not ok
    assert "within 2s" in reason
    ok, reason = _probe_result("", 1)
    assert not ok
    assert "exited with status 1" in reason
