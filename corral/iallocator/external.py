"""``corral-iallocator FILE``: Corral's built-in allocator as an external iallocator.

Reads Ganeti's request document from FILE and prints Ganeti's answer, as ``hail`` does; so
it can be installed in an iallocator directory (as ``corral``) and used by Ganeti or Corral.
"""

from __future__ import annotations

import json
import sys

from corral.iallocator import builtin


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("Usage: corral-iallocator REQUEST_FILE [options]", file=sys.stderr)
        return 2
    try:
        with open(args[0], encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as err:
        print(f"Cannot read the request {args[0]}: {err}", file=sys.stderr)
        return 1
    print(json.dumps(builtin.allocate(document, "--ignore-soft-errors" in args[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
