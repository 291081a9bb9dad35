"""The ``gnt-X <command> [options] [args]`` framework.

Each tool declares a table ``{name: Command}``; :class:`Tool` turns it into
the ``main(argv) -> int`` entry point. Bad input never shows a traceback: it
becomes one error line on stderr and exit code 1. Failures reported by the
master use Ganeti's texts (``Failure: …``). ``-d/--debug`` shows tracebacks of
unexpected errors.
"""

from __future__ import annotations

import argparse
import os
import sys

from corral import __version__
from corral.cli.errors import CliError, JobSubmitted, UsageError, describe_error
from corral.cli.options import DEBUG_OPT, REASON_OPT
from corral.luxi.client import Client, LuxiClientError, LuxiRemoteError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from corral.cli.options import Opt

    Handler = Callable[["Context", list[str]], "int | None"]

ABORTED = ("Aborted. Note that if the operation created any jobs, they might have been"
           " submitted and will continue to run in the background.")


class Arg:
    """A positional argument: how many values it takes (``max`` None = unlimited)."""

    __slots__ = ("max", "min", "name")

    def __init__(self, name: str, min: int = 0, max: int | None = None) -> None:
        self.name = name
        self.min = min
        self.max = max


class Command:
    """One subcommand: handler, positional arguments, options, usage and help text.

    ``remainder`` stops option parsing at the first positional argument (for
    ``gnt-cluster command``, whose arguments are a command line of their own).
    """

    __slots__ = ("aliases", "args", "handler", "help", "options", "remainder", "usage")

    def __init__(
        self,
        handler: Handler,
        args: Sequence[Arg],
        options: Sequence[Opt],
        usage: str,
        help: str,
        *,
        aliases: Sequence[str] = (),
        remainder: bool = False,
    ) -> None:
        self.handler = handler
        self.args = tuple(args)
        self.options = tuple(options)
        self.usage = usage
        self.help = help
        self.aliases = tuple(aliases)
        self.remainder = remainder


class Context:
    """What a handler gets: the parsed options, output helpers and a lazy LUXI client."""

    def __init__(self, binary: str, command: str, opts: argparse.Namespace) -> None:
        self.binary = binary
        self.command = command
        self.opts = opts
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client()
        return self._client

    def out(self, text: str = "") -> None:
        print(text, file=sys.stdout)

    def err(self, text: str) -> None:
        print(text, file=sys.stderr)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def ask_user(question: str) -> bool:
    """A y/n question on the terminal; without a terminal the answer is no."""
    if not sys.stdin.isatty():
        sys.stderr.write(f"{question} (no terminal to ask on; use --force)\n")
        return False
    try:
        answer = input(f"{question} y/[n]: ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


class _ParserExit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse, but errors become one-line :class:`UsageError` and exits return codes.

    argparse builds a help formatter for every ``add_argument``, and the formatter
    asks ``shutil`` for the terminal width; importing shutil costs more than the
    rest of the parsing. A fixed width is used until help text is really wanted.
    """

    _help_width = 80

    def _get_formatter(self) -> argparse.HelpFormatter:
        return argparse.HelpFormatter(self.prog, width=self._help_width)

    def format_help(self) -> str:
        import shutil

        self._help_width = max(shutil.get_terminal_size().columns - 2, 40)
        return super().format_help()

    def error(self, message: str) -> Any:
        raise UsageError(f"{self.prog}: error: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        if message:
            sys.stderr.write(message)
        raise _ParserExit(status)


def format_usage(binary: str, commands: dict[str, Command]) -> list[str]:
    """The overview printed by ``gnt-X --help`` (Ganeti's layout)."""
    import textwrap

    width = min(60, max(len(name) for name in commands))
    lines = [f"Usage: {binary} {{command}} [options...] [argument...]",
             f"{binary} <command> --help to see details, or man {binary}", "", "Commands:"]
    for name in sorted(commands):
        wrapped = textwrap.wrap(commands[name].help, 79 - 3 - width) or [""]
        lines.append(f" {name:<{width}} - {wrapped[0]}")
        lines.extend(f" {'':<{width}}   {more}" for more in wrapped[1:])
    lines.append("")
    return lines


def build_parser(binary: str, name: str, command: Command) -> argparse.ArgumentParser:
    parser = _Parser(prog=f"{binary} {name}", usage=f"{binary} {name} {command.usage}",
                     description=command.help)
    for opt in (*command.options, DEBUG_OPT, REASON_OPT):
        opt.add_to(parser)
    parser.add_argument("args", nargs=argparse.REMAINDER if command.remainder else "*",
                        help=argparse.SUPPRESS)
    return parser


def check_arguments(name: str, spec: Sequence[Arg], args: Sequence[str]) -> None:
    """Ganeti's argument count rules; raises UsageError with Ganeti's message."""
    if args and not spec:
        raise UsageError(f"Error: Command {name} expects no arguments")
    low = sum(a.min for a in spec)
    high = None if any(a.max is None for a in spec) else sum(a.max or 0 for a in spec)
    if high is not None and low == high and len(args) != low:
        raise UsageError(f"Error: Command {name} expects {low} argument(s)")
    if high is not None and len(args) > high:
        raise UsageError(f"Error: Command {name} expects only {high} argument(s)")
    if len(args) < low:
        raise UsageError(f"Error: Command {name} expects at least {low} argument(s)")


def _resolve(commands: dict[str, Command], name: str) -> str | None:
    if name in commands:
        return name
    for real, command in commands.items():
        if name in command.aliases:
            return real
    return None


def parse(binary: str, commands: dict[str, Command], argv: Sequence[str]
          ) -> tuple[str, Command, argparse.Namespace, list[str]]:
    """Find and parse the subcommand; raises UsageError or _ParserExit."""
    name = _resolve(commands, argv[0])
    if name is None:
        usage = "\n".join(format_usage(binary, commands))
        raise UsageError(f"Error: unknown command '{argv[0]}'\n{usage}")
    command = commands[name]
    parser = build_parser(binary, name, command)
    if command.remainder:
        opts = parser.parse_args(list(argv[1:]))
    else:
        opts = parser.parse_intermixed_args(list(argv[1:]))
    args = list(opts.args)
    if command.remainder and args[:1] == ["--"]:
        args = args[1:]
    check_arguments(name, command.args, args)
    return name, command, opts, args


def _early_exit(binary: str, commands: dict[str, Command], argv: Sequence[str]) -> int | None:
    """``--help``, ``--version`` and a missing command; None when a command follows."""
    if not argv:
        sys.stderr.write("\n".join(format_usage(binary, commands)) + "\n")
        return 1
    if argv[0] in ("--help", "-h"):
        print("\n".join(format_usage(binary, commands)))
        return 0
    if argv[0] == "--version":
        print(f"{binary} (corral) {__version__}")
        return 0
    return None


def dispatch(binary: str, commands: dict[str, Command], argv: Sequence[str],
             state: dict[str, Any]) -> int:
    """Parse ``argv`` (without the program name) and run the chosen handler."""
    early = _early_exit(binary, commands, argv)
    if early is not None:
        return early
    try:
        name, command, opts, args = parse(binary, commands, argv)
    except _ParserExit as done:
        return done.status
    except UsageError as err:
        sys.stderr.write(err.message + "\n")
        return err.exit_code
    state["debug"] = opts.debug
    ctx = Context(binary, name, opts)
    try:
        return _run(ctx, command, args)
    finally:
        ctx.close()


def _run(ctx: Context, command: Command, args: list[str]) -> int:
    try:
        result = command.handler(ctx, args)
    except JobSubmitted as sent:
        ctx.err(f"JobID: {sent.job_id}")
        return 0
    except CliError as err:
        ctx.err(err.message)
        return err.exit_code
    except LuxiClientError as err:
        ctx.err(str(err))
        return 1
    except LuxiRemoteError as err:
        ctx.err(describe_error(err.error_class, err.error_args))
        return 1
    return 0 if result is None else int(result)


class Tool:
    """The entry point of one ``gnt-*`` program: ``main(argv=None) -> exit code``.

    Any unexpected exception becomes one line (``Unexpected error: …``) and exit
    code 1; with ``-d``/``--debug`` the traceback is printed first.
    """

    def __init__(self, binary: str, commands: dict[str, Command]) -> None:
        self.binary = binary
        self.commands = commands

    def __call__(self, argv: Sequence[str] | None = None) -> int:
        args = list(sys.argv[1:] if argv is None else argv)
        state: dict[str, Any] = {"debug": 0}
        try:
            return dispatch(self.binary, self.commands, args, state)
        except KeyboardInterrupt:
            sys.stderr.write(ABORTED + "\n")
            return 1
        except BrokenPipeError:
            _silence_stdout()
            return 1
        except Exception as err:
            if state["debug"] or _debug_requested(args):
                import traceback

                traceback.print_exc()
            sys.stderr.write(f"Unexpected error: {type(err).__name__}: {err}\n")
            return 1


def _debug_requested(argv: Sequence[str]) -> bool:
    return any(a == "--debug" or (a.startswith("-d") and set(a[1:]) == {"d"}) for a in argv)


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
