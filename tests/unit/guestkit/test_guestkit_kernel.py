"""ensure_kernel: fetch once through apt-get/dpkg-deb, reuse the cache, serialise callers."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from corral.errors import HypervisorError
from corral.guestkit.kernel import cached_kernel, ensure_kernel, parse_depends
from corral.process import CommandResult

VERSION = "6.1.0-99-cloud-amd64"
DEPENDS = f"linux-image-cloud-amd64\n  Depends: linux-image-{VERSION}\n"


class AptSimulator:
    """Plays apt-cache, apt-get download and dpkg-deb -x on the file system."""

    def __init__(self, *, depends_ok: bool = True) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.depends_ok = depends_ok

    async def run(self, argv: Sequence[str], *, timeout: float | None = None,
                  env: Mapping[str, str] | None = None, cwd: str | None = None,
                  stdin: bytes | None = None, reset_env: bool = False) -> CommandResult:
        self.calls.append(tuple(argv))
        await asyncio.sleep(0.01)
        if argv[0] == "apt-cache":
            code = 0 if self.depends_ok else 100
            return CommandResult(tuple(argv), code, DEPENDS if code == 0 else "", "E: no net")
        if argv[0] == "apt-get":
            assert cwd is not None
            (Path(cwd) / f"{argv[-1]}_6.1.99-1_amd64.deb").write_bytes(b"deb")
        elif argv[0] == "dpkg-deb":
            tree = Path(argv[-1])
            (tree / "boot").mkdir(parents=True)
            (tree / "boot" / f"vmlinuz-{VERSION}").write_bytes(b"kernel")
            (tree / "lib" / "modules" / VERSION / "kernel").mkdir(parents=True)
        return CommandResult(tuple(argv), 0, "", "")


def test_parse_depends() -> None:
    assert parse_depends(DEPENDS) == f"linux-image-{VERSION}"
    with pytest.raises(HypervisorError, match="cannot find"):
        parse_depends("linux-image-cloud-amd64\n")


def test_fetch_once_then_reuse(tmp_path: Path) -> None:
    apt = AptSimulator()
    files = asyncio.run(ensure_kernel(tmp_path, apt))
    assert files.version == VERSION
    assert files.vmlinuz.read_bytes() == b"kernel"
    assert files.modules_dir == tmp_path / VERSION / "lib" / "modules" / VERSION
    assert [c[0] for c in apt.calls] == ["apt-cache", "apt-get", "dpkg-deb"]
    assert not (tmp_path / "download").exists()
    assert asyncio.run(ensure_kernel(tmp_path, apt)) == files
    assert len(apt.calls) == 3
    assert cached_kernel(tmp_path) == files


def test_concurrent_callers_fetch_once(tmp_path: Path) -> None:
    apt = AptSimulator()

    async def many() -> set[str]:
        found = await asyncio.gather(*(ensure_kernel(tmp_path, apt) for _ in range(4)))
        return {f.version for f in found}

    assert asyncio.run(many()) == {VERSION}
    assert [c[0] for c in apt.calls].count("dpkg-deb") == 1


def test_fetch_failure_is_reported(tmp_path: Path) -> None:
    with pytest.raises(HypervisorError, match="no net"):
        asyncio.run(ensure_kernel(tmp_path, AptSimulator(depends_ok=False)))
    assert cached_kernel(tmp_path) is None
