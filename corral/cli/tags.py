"""``list-tags``, ``add-tags`` and ``remove-tags`` for every object kind."""

from __future__ import annotations

import sys

from corral.cli import options as o
from corral.cli.commands import Arg, Command
from corral.cli.errors import CliError, describe_error
from corral.cli.jobs import opcode, submit_or_send

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from corral.cli.commands import Context

CLUSTER = "cluster"
NODE = "node"
NODEGROUP = "nodegroup"


def _object(kind: str, args: list[str]) -> tuple[str, list[str]]:
    """(object name, remaining args); the cluster's name is the empty string."""
    if kind == CLUSTER:
        return "", args
    return args[0], args[1:]


def read_tag_file(path: str) -> list[str]:
    """Tags one per line from ``path`` (``-`` is stdin); blank lines are skipped."""
    try:
        if path == "-":
            lines = sys.stdin.readlines()
        else:
            with open(path, encoding="utf-8") as handle:
                lines = handle.readlines()
    except OSError as err:
        raise CliError(f"Cannot read tags from {path}: {err.strerror or err}") from None
    return [line.strip() for line in lines if line.strip()]


def _tags(ctx: Context, given: list[str], verb: str) -> list[str]:
    tags = list(given)
    if ctx.opts.tags_source is not None:
        tags.extend(read_tag_file(ctx.opts.tags_source))
    if not tags:
        raise CliError(describe_error("OpPrereqError", [f"No tags to be {verb}", "wrong_input"]))
    return tags


def make_tag_commands(kind: str, object_arg: str | None) -> dict[str, Command]:
    """The three tag subcommands for ``kind`` (``object_arg`` names the object, if any)."""
    obj = [Arg(object_arg, 1, 1)] if object_arg else []
    prefix = f"<{object_arg}> " if object_arg else ""

    def list_tags(ctx: Context, args: list[str]) -> int:
        name, _ = _object(kind, args)
        for tag in sorted(ctx.client.QueryTags(kind, name)):
            ctx.out(tag)
        return 0

    def add_tags(ctx: Context, args: list[str]) -> int:
        name, rest = _object(kind, args)
        tags = _tags(ctx, rest, "added")
        submit_or_send(ctx, opcode("OP_TAGS_SET", kind=kind, name=name, tags=tags))
        return 0

    def remove_tags(ctx: Context, args: list[str]) -> int:
        name, rest = _object(kind, args)
        tags = _tags(ctx, rest, "removed")
        submit_or_send(ctx, opcode("OP_TAGS_DEL", kind=kind, name=name, tags=tags))
        return 0

    tag_opts = (o.TAG_SRC_OPT, *o.SUBMIT_OPTS)
    return {
        "list-tags": Command(list_tags, obj, (), prefix.strip(), f"List the tags of the {kind}"),
        "add-tags": Command(add_tags, [*obj, Arg("tag")], tag_opts, f"{prefix}tag...",
                            f"Add tags to the {kind}"),
        "remove-tags": Command(remove_tags, [*obj, Arg("tag")], tag_opts, f"{prefix}tag...",
                               f"Remove tags from the {kind}"),
    }
