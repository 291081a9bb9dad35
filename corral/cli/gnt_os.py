"""``gnt-os``: the OS definitions found on the nodes (through ``OP_OS_DIAGNOSE`` jobs)."""

from __future__ import annotations

import sys

from corral.cli import instance_opts as io
from corral.cli import options as o
from corral.cli.commands import Arg, Command, Tool
from corral.cli.errors import CliError, UsageError
from corral.cli.jobs import opcode, submit_opcode, submit_or_send
from corral.cli.output import generate_table
from corral.cli.params import ParamError, group_params

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from corral.cli.commands import Context

BINARY = "gnt-os"
OS_API_V15 = 15
OS_API_V20 = 20
LIST_FIELDS = ["name", "valid", "variants"]
INFO_FIELDS = ["name", "valid", "variants", "parameters", "api_versions", "blacklisted",
               "hidden", "os_hvp", "osparams", "trusted"]
DIAGNOSE_FIELDS = ["name", "valid", "variants", "node_status", "hidden", "blacklisted"]


def os_names(name: str, variants: list[str] | None) -> list[str]:
    """``name+variant`` for every variant, or the bare name (Ganeti's CalculateOSNames)."""
    return [f"{name}+{variant}" for variant in variants] if variants else [name]


def _diagnose(ctx: Context, fields: list[str]) -> list[Any]:
    return list(submit_opcode(ctx, opcode("OP_OS_DIAGNOSE", output_fields=fields, names=[]))
                or [])


def list_os(ctx: Context, args: list[str]) -> int:
    """Valid OS names, one per line (with variants), under a ``Name`` header."""
    rows = [[entry] for name, valid, variants in _diagnose(ctx, LIST_FIELDS) if valid
            for entry in os_names(name, variants)]
    headers = None if ctx.opts.no_headers else {"name": "Name"}
    for line in generate_table(headers, ["name"], None, rows):
        ctx.out(line)
    return 0


def _os_details(ctx: Context, variants: Any, parameters: Any, apis: Any) -> None:
    ctx.out("  - API versions:")
    for version in sorted(apis or []):
        ctx.out(f"    - {version}")
    ctx.out("  - variants:")
    for variant in variants or []:
        ctx.out(f"    - {variant}")
    ctx.out("  - parameters:")
    for pname, pdesc in parameters or []:
        ctx.out(f"    - {pname}: {pdesc}")


def show_os_info(ctx: Context, args: list[str]) -> int:
    """Validity, visibility, API versions, variants and parameters of each OS."""
    result = _diagnose(ctx, INFO_FIELDS)
    if not result:
        raise CliError("Can't get the OS list")
    wanted = list(args)
    os_hvp: dict[str, Any] = {}
    osparams: dict[str, Any] = {}
    for row in result:
        name, valid, variants, parameters, apis, blacklisted, hidden = row[:7]
        hvp, params, trusted = [*row[7:], {}, {}, True][:3]
        os_hvp.update(hvp or {})
        osparams.update(params or {})
        if args:
            if name not in wanted:
                continue
            wanted.remove(name)
        ctx.out(f"{name}:")
        ctx.out(f"  - valid: {valid}")
        ctx.out(f"  - hidden: {hidden}")
        ctx.out(f"  - blacklisted: {blacklisted}")
        if valid:
            _os_details(ctx, variants, parameters, apis)
        ctx.out(f"  - trusted: {trusted}")
        ctx.out("")
    for name in wanted:
        if name not in os_hvp and name not in osparams:
            ctx.out(f"{name}: ")
            continue
        from corral.cli.info import format_generic_info

        ctx.out(format_generic_info([(name, [
            ("OS-specific hypervisor parameters", os_hvp.get(name, {})),
            ("OS parameters", osparams.get(name, {})),
        ])]))
    return 0


def _status_text(valid: Any, message: Any) -> str:
    return "valid" if valid else f"invalid - {message}"


def node_os_message(entry: list[Any]) -> str:
    """One node's first (effective) definition of an OS, as ``diagnose`` shows it."""
    path, valid, message, variants, params, apis, trusted = (list(entry) + [True] * 7)[:7]
    text = f"{_status_text(valid, message)} (path: {path})"
    max_api = max(apis) if apis else 0
    if apis:
        text += f" [API versions: {', '.join(str(v) for v in apis)}]"
    else:
        text += " [no API versions declared]"
    if max_api >= OS_API_V15:
        text += f" [variants: {', '.join(variants)}]" if variants else " [no variants]"
    if max_api >= OS_API_V20:
        names = ", ".join(str(p[0]) for p in params or [])
        text += f" [parameters: {names}]" if names else " [no parameters]"
    text += " [trusted]" if trusted else " [untrusted]"
    return text


def _nice_key(name: str) -> list[Any]:
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _diagnose_one(ctx: Context, row: list[Any]) -> bool:
    """Print one OS's block; True when it is valid on every node."""
    name, _valid, variants, node_data, hidden, blacklisted = row
    good: dict[str, str] = {}
    bad: dict[str, str] = {}
    shadowed: dict[str, list[str]] = {}
    for node, entries in (node_data or {}).items():
        if not entries:
            bad[node] = "OS not found"
            continue
        (good if entries[0][1] else bad)[node] = node_os_message(entries[0])
        shadowed[node] = [f"    [hidden] path: {e[0]}, status: {_status_text(e[1], e[2])}"
                          for e in entries[1:]]
    status = "valid" if good and not bad else "invalid" if not good else "partial valid"
    ctx.out(f"OS: {name} [global status: {status}]" + (" [hidden]" if hidden else "")
            + (" [blacklisted]" if blacklisted else ""))
    if variants:
        ctx.out(f"  Variants: [{', '.join(variants)}]")
    for messages in (good, bad):
        for node in sorted(messages, key=_nice_key):
            ctx.out(f"  Node: {node}, status: {messages[node]}")
            for line in shadowed.get(node, []):
                ctx.out(line)
    ctx.out("")
    return status == "valid"


def diagnose_os(ctx: Context, args: list[str]) -> int:
    """Per OS, per node status; exit code 1 when any OS is not valid everywhere."""
    result = _diagnose(ctx, DIAGNOSE_FIELDS)
    if not result:
        raise CliError("Can't get the OS list")
    outcomes = [_diagnose_one(ctx, row) for row in result]
    return 0 if all(outcomes) else 1


def _flag_change(os_name: str, flag: bool | None) -> list[list[str]] | None:
    if flag is None:
        return None
    return [["add" if flag else "remove", os_name]]


def modify_os(ctx: Context, args: list[str]) -> int:
    """Cluster-wide hypervisor and OS parameters of one OS, and its hidden/blacklisted flags."""
    opts, os_name = ctx.opts, args[0]
    try:
        hvp = group_params("-H", opts.hvparams) if opts.hvparams else None
    except ParamError as err:
        raise UsageError(f"Error: {err}") from None
    changes = {
        "os_hvp": {os_name: hvp} if hvp else None,
        "osparams": {os_name: opts.osparams} if opts.osparams else None,
        "osparams_private_cluster": ({os_name: opts.osparams_private}
                                     if opts.osparams_private else None),
        "hidden_os": _flag_change(os_name, opts.hidden),
        "blacklisted_os": _flag_change(os_name, opts.blacklisted),
    }
    if all(value is None for value in changes.values()):
        raise CliError("At least one of OS parameters or hypervisor parameters must be passed")
    submit_or_send(ctx, opcode("OP_CLUSTER_SET_PARAMS", **changes))
    return 0


_MODIFY_OPTS = (
    o.HVLIST_OPT, io.OSPARAMS_OPT, io.OSPARAMS_PRIVATE_OPT, o.DRY_RUN_OPT, o.PRIORITY_OPT,
    o.SUBMIT_OPT, o.PRINT_JOBID_OPT,
    o.Opt("--hidden", dest="hidden", type=io.bool_type, metavar=o.YES_NO,
          help="Sets the hidden flag on the OS"),
    o.Opt("--blacklisted", dest="blacklisted", type=io.bool_type, metavar=o.YES_NO,
          help="Sets the blacklisted flag on the OS"),
)

COMMANDS = {
    "list": Command(list_os, [], (o.NOHDR_OPT, o.PRIORITY_OPT), "",
                    "Lists all valid operating systems on the cluster"),
    "diagnose": Command(diagnose_os, [], (o.PRIORITY_OPT,), "",
                        "Diagnose all operating systems"),
    "info": Command(show_os_info, [Arg("os")], (o.PRIORITY_OPT,), "[<os>...]",
                    "Show detailed information about operating systems", aliases=("show",)),
    "modify": Command(modify_os, [Arg("os", 1, 1)], _MODIFY_OPTS, "<os>",
                      "Modify the OS parameters"),
}

main = Tool(BINARY, COMMANDS)

if __name__ == "__main__":
    sys.exit(main())
