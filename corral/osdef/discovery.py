"""Finding OS definitions in the search path and checking them against the OS API's rules.

An OS definition is a directory named after the OS. Its ``ganeti_api_version``
lists integers; the highest one shared with :data:`SUPPORTED_API_VERSIONS` is
the version spoken. Required files by that version:

- always: ``import``, ``export``, ``rename`` and at least one of ``create`` /
  ``create_untrusted`` (the OS is "untrusted" when the latter exists);
- API >= 15: ``variants.list`` is read when present;
- API >= 20: ``parameters.list`` and ``verify`` are required.

Files must be regular (symlinks are followed); scripts need the owner-execute bit.
"""

from __future__ import annotations

import enum
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from corral.osdef import OsInvalidError, OsNotFoundError

SUPPORTED_API_VERSIONS = frozenset({10, 15, 20})
API_V15 = 15
API_V20 = 20
VARIANT_DELIMITER = "+"

API_FILE = "ganeti_api_version"
VARIANTS_FILE = "variants.list"
PARAMETERS_FILE = "parameters.list"


class OsScript(enum.StrEnum):
    """The scripts of an OS definition (file names)."""

    CREATE = "create"
    CREATE_UNTRUSTED = "create_untrusted"
    IMPORT = "import"
    EXPORT = "export"
    RENAME = "rename"
    VERIFY = "verify"


@dataclass(frozen=True, slots=True)
class OsInfo:
    """One OS definition as found on this node (Ganeti's ``os_diagnose`` entry).

    For an invalid OS, ``error`` says why and the lists are empty.
    """

    name: str
    path: Path
    valid: bool
    error: str | None = None
    api_versions: tuple[int, ...] = ()
    variants: tuple[str, ...] = ()
    parameters: tuple[tuple[str, str], ...] = ()
    trusted: bool = True

    @property
    def api_version(self) -> int:
        """The API version spoken: the highest supported one listed (0 when none)."""
        return max(SUPPORTED_API_VERSIONS.intersection(self.api_versions), default=0)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.parameters)

    def script_path(self, script: OsScript) -> Path:
        return self.path / script.value

    def has_script(self, script: OsScript) -> bool:
        """Whether the script exists (and so passed the checks, for a valid OS)."""
        if script is OsScript.VERIFY and self.api_version < API_V20:
            return False
        return os.path.isfile(self.script_path(script))


def split_os_name(full_name: str) -> tuple[str, str | None]:
    """``"debootstrap+default"`` → ``("debootstrap", "default")``; no variant → ``None``."""
    name, sep, variant = full_name.partition(VARIANT_DELIMITER)
    return name, (variant if sep else None)


def diagnose(search_path: Sequence[Path]) -> list[OsInfo]:
    """Every OS directory in the search path, valid or not.

    Directories are scanned in order; within one, names are sorted and hidden
    entries (``.``-prefixed) and non-directories are skipped. When a name appears
    in several directories the first one wins, as it does for :func:`find_os`.
    """
    found: dict[str, OsInfo] = {}
    for base in search_path:
        for name in _visible_dirs(base):
            if name not in found:
                found[name] = inspect_os(name, base / name)
    return list(found.values())


def find_os(search_path: Sequence[Path], name: str) -> OsInfo:
    """The valid OS called ``name`` (a ``+variant`` suffix is ignored).

    Raises:
        OsNotFoundError: no directory of that name in the search path.
        OsInvalidError: the first such directory breaks the OS API's rules.
    """
    name = split_os_name(name)[0]
    if not _plain_name(name):
        raise OsNotFoundError(f"OS '{name}' not found: not a valid OS name")
    for base in search_path:
        if (base / name).is_dir():
            info = inspect_os(name, base / name)
            if not info.valid:
                raise OsInvalidError(f"invalid OS '{name}' in {info.path}: {info.error}")
            return info
    where = ", ".join(str(p) for p in search_path) or "(empty)"
    raise OsNotFoundError(f"OS '{name}' not found in the search path ({where})")


def inspect_os(name: str, path: Path) -> OsInfo:
    """Check one OS directory and read its lists; never raises for a bad definition."""
    try:
        versions, variants, parameters, trusted = _load(path)
    except OsInvalidError as err:
        return OsInfo(name, path, valid=False, error=str(err))
    return OsInfo(name, path, True, None, versions, variants, parameters, trusted)


def _plain_name(name: str) -> bool:
    return bool(name) and "/" not in name and not name.startswith(".") and "\0" not in name


def _visible_dirs(base: Path) -> list[str]:
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    return [n for n in names if not n.startswith(".") and (base / n).is_dir()]


_Loaded = tuple[tuple[int, ...], tuple[str, ...], tuple[tuple[str, str], ...], bool]


def _load(path: Path) -> _Loaded:
    versions = _read_api_versions(path)
    api = max(SUPPORTED_API_VERSIONS.intersection(versions), default=0)
    if not api:
        listed = ", ".join(str(v) for v in versions) or "none"
        wanted = ", ".join(str(v) for v in sorted(SUPPORTED_API_VERSIONS))
        raise OsInvalidError(
            f"no supported API version in {API_FILE} (found {listed}; want {wanted})"
        )
    present = {s for s in _scripts_for(api) if _check_file(path, s.value, _required(s), True)}
    if OsScript.CREATE not in present and OsScript.CREATE_UNTRUSTED not in present:
        raise OsInvalidError("missing script 'create' (nor is there a 'create_untrusted')")
    variants: tuple[str, ...] = ()
    if api >= API_V15 and _check_file(path, VARIANTS_FILE, False, False):
        variants = tuple(_content_lines(path / VARIANTS_FILE))
    parameters: tuple[tuple[str, str], ...] = ()
    if api >= API_V20 and _check_file(path, PARAMETERS_FILE, True, False):
        lines = _content_lines(path / PARAMETERS_FILE)
        parameters = tuple(_parse_parameter(line) for line in lines)
    return versions, variants, parameters, OsScript.CREATE_UNTRUSTED not in present


def _scripts_for(api: int) -> list[OsScript]:
    return [s for s in OsScript if s is not OsScript.VERIFY or api >= API_V20]


def _required(script: OsScript) -> bool:
    return script not in (OsScript.CREATE, OsScript.CREATE_UNTRUSTED)


def _check_file(path: Path, filename: str, required: bool, script: bool) -> bool:
    """Whether the file is there; raises when it breaks a rule or is required but absent."""
    kind = "script" if script else "file"
    try:
        st = os.stat(path / filename)
    except FileNotFoundError:
        if required:
            raise OsInvalidError(f"missing {kind} '{filename}'") from None
        return False
    except OSError as err:
        raise OsInvalidError(f"cannot access {kind} '{filename}': {err.strerror}") from err
    if not stat.S_ISREG(st.st_mode):
        raise OsInvalidError(f"{kind} '{filename}' is not a regular file")
    if script and not st.st_mode & stat.S_IXUSR:
        raise OsInvalidError(f"script '{filename}' is not executable (no owner execute bit)")
    return True


def _read_api_versions(path: Path) -> tuple[int, ...]:
    _check_file(path, API_FILE, True, False)
    lines = _content_lines(path / API_FILE)
    try:
        return tuple(int(line) for line in lines)
    except ValueError:
        raise OsInvalidError(f"{API_FILE} holds a non-integer line: {lines!r}") from None


def _content_lines(file: Path) -> list[str]:
    """Stripped lines, without blank lines and ``#`` comments."""
    try:
        text = file.read_text(errors="replace")
    except OSError as err:
        raise OsInvalidError(f"cannot read '{file.name}': {err.strerror}") from err
    return list(_filter_lines(text.splitlines()))


def _filter_lines(lines: Iterable[str]) -> Iterable[str]:
    for line in lines:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield stripped


def _parse_parameter(line: str) -> tuple[str, str]:
    """``<name> <description>``; the description may be empty."""
    parts = line.split(None, 1)
    return parts[0], (parts[1] if len(parts) > 1 else "")
