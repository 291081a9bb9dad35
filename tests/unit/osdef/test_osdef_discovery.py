"""The OS API's on-disk rules, API version selection and the search path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from corral.osdef import OsInvalidError, OsNotFoundError
from corral.osdef.discovery import (
    OsInfo,
    OsScript,
    diagnose,
    find_os,
    inspect_os,
    split_os_name,
)

MakeOs = Callable[..., Path]


def _inspect(path: Path) -> OsInfo:
    return inspect_os(path.name, path)


def test_valid_api20_os_is_read_whole(make_os: MakeOs) -> None:
    path = make_os(
        "full",
        api=(20, 15, 10),
        variants="# comment\n\ndefault\n  other  \n",
        parameters="size Size of the thing\n\n# skipped\ncolour\n",
    )
    info = _inspect(path)
    assert info == OsInfo(
        name="full",
        path=path,
        valid=True,
        error=None,
        api_versions=(20, 15, 10),
        variants=("default", "other"),
        parameters=(("size", "Size of the thing"), ("colour", "")),
        trusted=True,
    )
    assert info.api_version == 20
    assert info.parameter_names == ("size", "colour")
    assert info.has_script(OsScript.VERIFY)


@pytest.mark.parametrize(
    ("missing", "error"),
    [
        ("ganeti_api_version", "missing file 'ganeti_api_version'"),
        ("import", "missing script 'import'"),
        ("export", "missing script 'export'"),
        ("rename", "missing script 'rename'"),
        ("verify", "missing script 'verify'"),
        ("parameters.list", "missing file 'parameters.list'"),
        ("create", "missing script 'create'"),
    ],
    ids=lambda v: v if "'" not in v else "",
)
def test_api20_required_files(make_os: MakeOs, missing: str, error: str) -> None:
    info = _inspect(make_os(omit=(missing,)))
    assert not info.valid
    assert info.error is not None
    assert info.error.startswith(error)
    assert (info.api_versions, info.variants, info.parameters) == ((), (), ())


def test_variants_list_is_optional(make_os: MakeOs) -> None:
    info = _inspect(make_os(variants=None))
    assert info.valid
    assert info.variants == ()


def test_create_untrusted_alone_makes_an_untrusted_os(make_os: MakeOs) -> None:
    path = make_os(omit=("create",), scripts={"create_untrusted": "#!/bin/sh\n"})
    info = _inspect(path)
    assert info.valid
    assert not info.trusted
    assert not info.has_script(OsScript.CREATE)


def test_create_and_create_untrusted_together_are_untrusted(make_os: MakeOs) -> None:
    info = _inspect(make_os(scripts={"create_untrusted": "#!/bin/sh\n"}))
    assert info.valid
    assert not info.trusted


@pytest.mark.parametrize("mode", [0o644, 0o655, 0o055], ids=["no-x", "group-other-x", "no-owner"])
def test_script_needs_owner_execute_bit(make_os: MakeOs, mode: int) -> None:
    path = make_os()
    (path / "rename").chmod(mode)
    info = _inspect(path)
    assert not info.valid
    assert info.error == "script 'rename' is not executable (no owner execute bit)"


def test_owner_execute_bit_alone_is_enough(make_os: MakeOs) -> None:
    path = make_os()
    (path / "rename").chmod(0o100)
    assert _inspect(path).valid


def test_script_must_be_a_regular_file(make_os: MakeOs) -> None:
    path = make_os(omit=("export",))
    (path / "export").mkdir()
    info = _inspect(path)
    assert info.error == "script 'export' is not a regular file"


def test_list_files_must_be_regular(make_os: MakeOs) -> None:
    path = make_os(variants=None)
    (path / "variants.list").mkdir()
    assert _inspect(path).error == "file 'variants.list' is not a regular file"


def test_symlinks_are_followed(make_os: MakeOs, tmp_path: Path) -> None:
    path = make_os(omit=("import",), variants=None)
    real = tmp_path / "real-import"
    real.write_text("#!/bin/sh\n")
    real.chmod(0o755)
    (path / "import").symlink_to(real)
    listed = tmp_path / "variants"
    listed.write_text("linked\n")
    (path / "variants.list").symlink_to(listed)
    info = _inspect(path)
    assert info.valid
    assert info.variants == ("linked",)


@pytest.mark.parametrize(
    ("versions", "chosen"),
    [((10, 15, 20, 25), 20), ((5, 10), 10), ((15, 10), 15), ((20,), 20), ((10,), 10)],
    ids=["future-listed", "old-listed", "v15", "v20", "v10"],
)
def test_highest_common_api_version_is_used(
    make_os: MakeOs, versions: tuple[int, ...], chosen: int
) -> None:
    info = _inspect(make_os(api=versions))
    assert info.valid
    assert info.api_versions == versions
    assert info.api_version == chosen


@pytest.mark.parametrize("versions", [(5,), (4, 5), (30,), ()], ids=["v5", "v4-5", "v30", "none"])
def test_no_common_api_version_is_invalid(make_os: MakeOs, versions: tuple[int, ...]) -> None:
    info = _inspect(make_os(api=versions))
    assert not info.valid
    assert info.error is not None
    assert info.error.startswith("no supported API version in ganeti_api_version")
    assert info.error.endswith("want 10, 15, 20)")


def test_non_integer_api_version_is_invalid(make_os: MakeOs) -> None:
    info = _inspect(make_os(api=("twenty",)))
    assert not info.valid
    assert "non-integer" in (info.error or "")


def test_api10_ignores_verify_variants_and_parameters(make_os: MakeOs) -> None:
    path = make_os(api=(10,), omit=("verify", "parameters.list"))
    info = _inspect(path)
    assert info.valid
    assert info.variants == ()
    assert info.parameters == ()
    (path / "verify").write_text("#!/bin/sh\n")
    (path / "verify").chmod(0o755)
    assert not _inspect(path).has_script(OsScript.VERIFY)


def test_api15_reads_variants_but_needs_no_parameters(make_os: MakeOs) -> None:
    info = _inspect(make_os(api=(15,), omit=("verify", "parameters.list")))
    assert info.valid
    assert info.variants == ("default", "other")
    assert info.parameters == ()


def test_api15_ignores_a_non_executable_verify(make_os: MakeOs) -> None:
    path = make_os(api=(15, 10))
    (path / "verify").chmod(0o644)
    assert _inspect(path).valid


def test_diagnose_scans_in_order_and_first_match_wins(make_os: MakeOs, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    make_os("alpha", base=first)
    make_os("broken", base=first, omit=("rename",))
    make_os("alpha", base=second, api=(10,))
    make_os("beta", base=second)
    make_os(".hidden", base=second)
    (second / "stray-file").write_text("not an OS")
    found = diagnose([first, tmp_path / "absent", second])
    assert [(i.name, i.path, i.valid) for i in found] == [
        ("alpha", first / "alpha", True),
        ("broken", first / "broken", False),
        ("beta", second / "beta", True),
    ]
    assert found[0].api_version == 20
    assert found[1].error == "missing script 'rename'"


def test_diagnose_of_empty_search_path() -> None:
    assert diagnose([]) == []


def test_find_os_strips_the_variant(make_os: MakeOs, tmp_path: Path) -> None:
    make_os("myos")
    info = find_os([tmp_path / "nowhere", tmp_path / "os"], "myos+other")
    assert info.name == "myos"
    assert info.path == tmp_path / "os" / "myos"


def test_find_os_skips_non_directories(make_os: MakeOs, tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "myos").write_text("a file, not an OS directory")
    make_os("myos")
    assert find_os([shadow, tmp_path / "os"], "myos").path == tmp_path / "os" / "myos"


def test_find_os_not_found_names_the_search_path(tmp_path: Path) -> None:
    with pytest.raises(OsNotFoundError) as caught:
        find_os([tmp_path / "a", tmp_path / "b"], "ghost")
    assert str(caught.value) == (
        f"OS 'ghost' not found in the search path ({tmp_path / 'a'}, {tmp_path / 'b'})"
    )


def test_find_os_invalid_names_the_problem(make_os: MakeOs, tmp_path: Path) -> None:
    path = make_os("x", omit=("rename",))
    with pytest.raises(OsInvalidError) as caught:
        find_os([tmp_path / "os"], "x")
    assert str(caught.value) == f"invalid OS 'x' in {path}: missing script 'rename'"


@pytest.mark.parametrize("name", ["../os/testos", "", ".hidden", "a/b"], ids=repr)
def test_find_os_refuses_names_that_are_paths(make_os: MakeOs, tmp_path: Path, name: str) -> None:
    make_os()
    (tmp_path / "os" / "sub").mkdir()
    with pytest.raises(OsNotFoundError, match="not a valid OS name"):
        find_os([tmp_path / "os" / "sub"], name)


def test_split_os_name() -> None:
    assert split_os_name("debootstrap+default") == ("debootstrap", "default")
    assert split_os_name("noop") == ("noop", None)
    assert split_os_name("a+") == ("a", "")
