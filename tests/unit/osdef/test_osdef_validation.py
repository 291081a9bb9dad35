"""Variant and OS parameter checks, and the verify script."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from corral.osdef import OsParamsError
from corral.osdef.discovery import OsInfo, inspect_os
from corral.osdef.validation import check_parameters, check_variant, validate_os
from corral.process import SubprocessRunner

if TYPE_CHECKING:
    from tests.unit.osdef.conftest import RecordingRunner

MakeOs = Callable[..., Path]

STRICT_VERIFY = """#!/bin/sh
[ "$1" = parameters ] || { echo "bad check '$1'" >&2; exit 2; }
case "$OSP_SIZE" in
  ""|*[!0-9]*) echo "size must be a number, not '$OSP_SIZE'" >&2; exit 1 ;;
esac
exit 0
"""


def _osinfo(make_os: MakeOs, **options: object) -> OsInfo:
    path = make_os(**options)
    return inspect_os(path.name, path)


def test_unknown_parameter_is_rejected_before_verify(
    make_os: MakeOs, recorder: RecordingRunner
) -> None:
    os = _osinfo(make_os)
    with pytest.raises(OsParamsError) as caught:
        asyncio.run(validate_os(os, "default", {"size": "1", "zz": "x", "aa": "y"}, recorder))
    assert str(caught.value) == (
        "The following parameters are not supported by the OS testos: aa, zz"
    )
    assert recorder.calls == []


def test_verify_gets_core_environment_and_parameters_check(
    make_os: MakeOs, recorder: RecordingRunner
) -> None:
    os = _osinfo(make_os)
    asyncio.run(validate_os(os, "other", {"size": "5", "colour": "red"}, recorder))
    [call] = recorder.calls
    assert call.argv == (str(os.path / "verify"), "parameters")
    assert call.kwargs["cwd"] == str(os.path)
    assert call.kwargs["reset_env"] is True
    assert call.kwargs["env"] == {
        "OS_API_VERSION": "20",
        "OS_NAME": "testos",
        "OS_VARIANT": "other",
        "DEBUG_LEVEL": "0",
        "OSP_SIZE": "5",
        "OSP_COLOUR": "red",
        "PATH": "/sbin:/bin:/usr/sbin:/usr/bin",
    }


def test_real_verify_accepts_and_rejects(make_os: MakeOs) -> None:
    os = _osinfo(make_os, scripts={"verify": STRICT_VERIFY})
    runner = SubprocessRunner()
    asyncio.run(validate_os(os, "default", {"size": "10"}, runner))
    with pytest.raises(OsParamsError) as caught:
        asyncio.run(validate_os(os, "default", {"size": "ten"}, runner))
    assert str(caught.value) == (
        "OS 'testos' validation script failed (exit code 1), "
        "output: size must be a number, not 'ten'"
    )


def test_verify_timeout(make_os: MakeOs) -> None:
    os = _osinfo(make_os, scripts={"verify": "#!/bin/sh\nsleep 30\n"})
    with pytest.raises(OsParamsError, match=r"failed \(timed out\)"):
        asyncio.run(validate_os(os, "default", {}, SubprocessRunner(), timeout=0.3))


def test_api_below_20_runs_no_verify_and_checks_no_parameters(
    make_os: MakeOs, recorder: RecordingRunner
) -> None:
    os = _osinfo(make_os, api=(15, 10), omit=("verify", "parameters.list"))
    asyncio.run(validate_os(os, "default", {"anything": "goes"}, recorder))
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("variants", "variant", "error"),
    [
        ("default\nother\n", None, "OS name must include a variant (one of: default, other)"),
        ("default\n", "nope", "OS 'testos' does not support variant 'nope' (one of: default)"),
        (None, "extra", "OS 'testos' doesn't support variants ('extra' passed)"),
    ],
    ids=["missing", "unknown", "unsupported"],
)
def test_variant_errors(
    make_os: MakeOs,
    recorder: RecordingRunner,
    variants: str | None,
    variant: str | None,
    error: str,
) -> None:
    os = _osinfo(make_os, variants=variants)
    with pytest.raises(OsParamsError) as caught:
        asyncio.run(validate_os(os, variant, {}, recorder))
    assert str(caught.value) == error
    assert recorder.calls == []
    asyncio.run(validate_os(os, variant, {}, recorder, force_variant=True))
    assert len(recorder.calls) == 1


def test_good_variants_pass(make_os: MakeOs) -> None:
    check_variant(_osinfo(make_os, name="listed", variants="a\nb\n"), "b")
    check_variant(_osinfo(make_os, name="absent", variants=None), None)
    check_variant(_osinfo(make_os, name="empty", variants="# none\n"), "")


def test_check_parameters_accepts_declared_names(make_os: MakeOs) -> None:
    check_parameters(_osinfo(make_os), ["size", "colour"])
    with pytest.raises(OsParamsError, match="not supported by the OS testos: SIZE"):
        check_parameters(_osinfo(make_os), ["SIZE"])
