"""Running one OS script: environment replaced, cwd the OS directory, output to a log file.

Logs follow Ganeti's naming, ``<kind>-<os>-<instance>-<YYYY-mm-dd_HH_MM_SS>.log`` (local
time), where the kind is ``add`` for ``create`` and the script's name otherwise; a rename's
instance part is ``<old>-<new>``. A name already taken gets a ``.<n>`` suffix before ``.log``.
The script writes straight into its log (output and errors interleaved, readable while it
runs, kept when it times out): a shell opens the files and ``exec``s ``env -u`` to drop the
variables the shell itself exports, so the script's environment is exactly the one given.
"""

from __future__ import annotations

import os as _os
import time
from collections.abc import Mapping
from pathlib import Path

from corral.clock import Clock, SystemClock
from corral.osdef import OsInvalidError, OsScriptError
from corral.osdef.discovery import OsInfo, OsScript
from corral.process import CommandResult, CommandRunner

LOG_TAIL_LINES = 20
"""Lines of the log quoted in a failure message (Ganeti's figure)."""

TIMESTAMP_FORMAT = "%Y-%m-%d_%H_%M_%S"
_LOG_KIND = {OsScript.CREATE: "add", OsScript.CREATE_UNTRUSTED: "add"}
_REDIRECT_SHELL = "/bin/sh"
_ENV_PROGRAM = "/usr/bin/env"
_SHELL_EXPORTS = ("PWD", "OLDPWD", "SHLVL", "_")


async def run_os_script(
    os: OsInfo,
    script: OsScript | str,
    env: Mapping[str, str],
    runner: CommandRunner,
    log_dir: Path,
    *,
    timeout: float,
    stdin: bytes | None = None,
    stdin_path: Path | None = None,
    stdout_path: Path | None = None,
    clock: Clock | None = None,
) -> CommandResult:
    """Run ``script`` of ``os`` with exactly ``env`` and return its result.

    Output goes to the log, so the result carries none. ``stdin`` feeds bytes;
    ``stdin_path``/``stdout_path`` connect standard input/output to a file or FIFO instead
    (binary-safe, for ``import``/``export`` streams); with ``stdout_path`` the log holds only
    standard error. ``timeout`` in seconds.

    Raises:
        OsInvalidError: the OS is invalid or lacks the script.
        OsScriptError: the script failed or timed out; the message ends with the log's tail.
    """
    kind = OsScript(script)
    path = _script(os, kind)
    when = (clock or SystemClock()).now()
    log_path = _create_log(log_dir, log_file_name(kind, os.name, env, when))
    result = await runner.run(
        _argv(path, log_path, stdin_path, stdout_path),
        timeout=timeout,
        env=dict(env),
        cwd=str(os.path),
        stdin=stdin,
        reset_env=True,
    )
    if result.stdout or result.stderr:  # only if the shell itself complained
        with log_path.open("a") as log:
            log.write(result.stdout + result.stderr)
    if result.failed:
        raise OsScriptError(_failure(kind, result, log_path), log_path)
    return result


def log_file_name(script: OsScript, os_name: str, env: Mapping[str, str], when: float) -> str:
    """The log's file name for one run (``when`` in seconds since the epoch)."""
    instance = env.get("INSTANCE_NAME", "")
    old = env.get("OLD_INSTANCE_NAME")
    if script is OsScript.RENAME and old:
        instance = f"{old}-{instance}"
    stamp = time.strftime(TIMESTAMP_FORMAT, time.localtime(when))
    kind = _LOG_KIND.get(script, script.value)
    return f"{kind}-{os_name}-{instance}-{stamp}.log".replace("/", "_")


def log_tail(log_path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log ("" when it cannot be read)."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _script(os: OsInfo, script: OsScript) -> Path:
    if not os.valid:
        raise OsInvalidError(f"invalid OS '{os.name}' in {os.path}: {os.error}")
    if not os.has_script(script):
        raise OsInvalidError(f"OS '{os.name}' has no '{script.value}' script")
    return os.script_path(script)


def _create_log(log_dir: Path, name: str) -> Path:
    """Create the log file exclusively, so that two runs never share one."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stem = name.removesuffix(".log")
    for attempt in range(1000):
        path = log_dir / (name if attempt == 0 else f"{stem}.{attempt}.log")
        try:
            fd = _os.open(path, _os.O_WRONLY | _os.O_CREAT | _os.O_EXCL, 0o640)
        except FileExistsError:
            continue
        _os.close(fd)
        return path
    raise OsScriptError(f"cannot create a log file for {name} in {log_dir}")


def _argv(
    script: Path, log_path: Path, stdin_path: Path | None, stdout_path: Path | None
) -> list[str]:
    """A shell that connects the script to its log (and stream files), then ``exec``s it.

    ``$0`` is the script, ``$1`` the log, then the stream files. The shell exports ``PWD``
    (bash also ``SHLVL`` and ``_``); ``env -u`` removes them before the script starts.
    """
    paths = [str(log_path)]
    if stdout_path is None:
        redirects = ['>>"$1"', "2>&1"]
    else:
        paths.append(str(stdout_path))
        redirects = ['>"$2"', '2>>"$1"']
    if stdin_path is not None:
        paths.append(str(stdin_path))
        redirects.append(f'<"${len(paths)}"')
    unset = " ".join(f"-u {name}" for name in _SHELL_EXPORTS)
    body = f'exec {_ENV_PROGRAM} {unset} "$0" {" ".join(redirects)}'
    return [_REDIRECT_SHELL, "-c", body, str(script), *paths]


def _failure(script: OsScript, result: CommandResult, log_path: Path) -> str:
    if result.timed_out:
        reason = "timed out"
    elif result.exit_code < 0:
        reason = f"killed by signal {-result.exit_code}"
    else:
        reason = f"exit code {result.exit_code}"
    tail = log_tail(log_path)
    return f"OS {script.value} script failed ({reason}), last lines in the log file:\n{tail}"
