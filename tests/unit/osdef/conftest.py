"""Builders for OS definition directories and a runner that records what it was asked."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from corral.process import CommandResult

SCRIPTS = ("create", "import", "export", "rename", "verify")

ENV_DUMPER = """#!/usr/bin/perl
# Writes its environment, NUL-separated, to env.dump in the current directory.
open(my $out, ">", "env.dump") or die "env.dump: $!";
print $out "$_=$ENV{$_}\\0" for sort keys %ENV;
close($out);
print STDERR "dumped\\n";
"""
"""Perl, because shells export PWD and Python exports LC_CTYPE at start-up."""

MakeOs = Callable[..., Path]


def write_os(
    base: Path,
    name: str = "testos",
    *,
    api: Sequence[int | str] = (20,),
    scripts: Mapping[str, str] | None = None,
    variants: str | None = "default\nother\n",
    parameters: str | None = "size Size of something\ncolour The colour\n",
    omit: Sequence[str] = (),
    mode: int = 0o755,
) -> Path:
    """An OS directory; every script is ``exit 0`` unless ``scripts`` gives its body."""
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    (path / "ganeti_api_version").write_text("".join(f"{v}\n" for v in api))
    bodies = dict.fromkeys(SCRIPTS, "#!/bin/sh\nexit 0\n") | dict(scripts or {})
    for script, body in bodies.items():
        (path / script).write_text(body)
        (path / script).chmod(mode)
    if variants is not None:
        (path / "variants.list").write_text(variants)
    if parameters is not None:
        (path / "parameters.list").write_text(parameters)
    for victim in omit:
        (path / victim).unlink()
    return path


@pytest.fixture
def make_os(tmp_path: Path) -> MakeOs:
    """``make_os(name, base=None, **options)`` writes an OS under ``base`` (default
    ``tmp_path / "os"``); options as :func:`write_os`."""

    def build(name: str = "testos", base: Path | None = None, **options: Any) -> Path:
        return write_os(base or tmp_path / "os", name, **options)

    return build


@dataclass
class Call:
    argv: tuple[str, ...]
    kwargs: dict[str, Any]


@dataclass
class RecordingRunner:
    """A CommandRunner that records calls and answers with a fixed result."""

    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""
    calls: list[Call] = field(default_factory=list)

    async def run(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        self.calls.append(Call(tuple(argv), kwargs))
        return CommandResult(tuple(argv), self.exit_code, self.stdout, self.stderr)


@pytest.fixture
def recorder() -> RecordingRunner:
    return RecordingRunner()


@pytest.fixture
def env_dumper() -> str:
    """Body of a script that dumps its environment to ``env.dump`` (see :data:`ENV_DUMPER`)."""
    return ENV_DUMPER


def read_env_dump(path: Path) -> dict[str, str]:
    entries = [e for e in path.read_bytes().decode().split("\0") if e]
    return dict(e.split("=", 1) for e in entries)


@pytest.fixture
def load_env_dump() -> Callable[[Path], dict[str, str]]:
    return read_env_dump
