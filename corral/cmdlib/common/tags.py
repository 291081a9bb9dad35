"""Tag rules (Ganeti's ``TaggableObject``): length, characters, count per object."""

from __future__ import annotations

import re
from collections.abc import Iterable

from corral.errors import TagError

MAX_TAG_LEN = 128
MAX_TAGS_PER_OBJ = 4096
_VALID_TAG_RE = re.compile(r"^[\w.+*/:@-]+$")


def validate_tag(tag: str) -> None:
    """Raises TagError when ``tag`` is empty, too long or uses characters outside ``\\w.+*/:@-``."""
    if not isinstance(tag, str):
        raise TagError("Invalid tag type (not a string)")
    if len(tag) > MAX_TAG_LEN:
        raise TagError(f"Tag too long (>{MAX_TAG_LEN} characters)")
    if not tag:
        raise TagError("Tags cannot be empty")
    if not _VALID_TAG_RE.fullmatch(tag):  # match() would let a trailing newline through
        raise TagError(f"Tag contains invalid characters: '{tag}'")


def added_tags(current: Iterable[str], new: Iterable[str]) -> frozenset[str]:
    """``current`` plus ``new``, each new tag validated.

    Raises:
        TagError: an invalid tag, or more than :data:`MAX_TAGS_PER_OBJ` in all.
    """
    wanted = list(new)
    for tag in wanted:
        validate_tag(tag)
    result = frozenset(current) | frozenset(wanted)
    if len(result) > MAX_TAGS_PER_OBJ:
        raise TagError("Too many tags")
    return result
