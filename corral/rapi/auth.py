"""RAPI users: Ganeti's users file and HTTP Basic authentication.

The file (``/var/lib/corral/rapi/users``) has one user per line::

    # name  password                                  options
    jack    abc123
    fred    {cleartext}foo555                         read
    jessica {HA1}7046452df2cbb530877058712cf17bd4     write

A password is clear text, ``{cleartext}...``, or ``{HA1}`` followed by the MD5
of ``name:Ganeti Remote API:password`` (RFC 2617's HA1); scheme prefixes are
case-insensitive. Options are comma-separated: ``write`` allows changes (and
implies ``read``), ``read`` allows the reads Ganeti reserves to users with a
right (``/2/query``, consoles). Every valid user may use the other reads.
The file is read again whenever it changes (inode, size or modification time).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from corral.rapi.httperror import AUTH_REALM, HttpError, unauthorized
from corral.rapi.routing import Access

log = logging.getLogger(__name__)

OPT_READ = "read"
OPT_WRITE = "write"
SCHEME_CLEARTEXT = "{cleartext}"
SCHEME_HA1 = "{ha1}"


@dataclass(frozen=True, slots=True)
class User:
    """One line of the users file."""

    name: str
    password: str
    options: frozenset[str] = frozenset()

    def may(self, access: Access) -> bool:
        """Whether this user holds the right ``access`` needs."""
        if access is Access.WRITE:
            return OPT_WRITE in self.options
        if access is Access.READ:
            return bool(self.options & {OPT_READ, OPT_WRITE})
        return True


def parse_users(text: str) -> dict[str, User]:
    """Users by name; comments, blank lines and lines with one field are skipped."""
    users: dict[str, User] = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 2)
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) < 2:
            log.warning("ignoring a users file line with less than two fields")
            continue
        options = frozenset(o.strip() for o in parts[2].split(",")) if len(parts) == 3 else None
        users[parts[0]] = User(parts[0], parts[1], options or frozenset())
    return users


def ha1(name: str, password: str, realm: str = AUTH_REALM) -> str:
    """RFC 2617's HA1: hex MD5 of ``name:realm:password``."""
    return hashlib.md5(f"{name}:{realm}:{password}".encode()).hexdigest()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def check_password(user: User, password: str) -> bool:
    """Whether ``password`` is this user's, whatever form the file stores it in."""
    stored = user.password
    lowered = stored.lower()
    if lowered.startswith(SCHEME_HA1):
        return _same(stored[len(SCHEME_HA1) :].lower(), ha1(user.name, password))
    if lowered.startswith(SCHEME_CLEARTEXT):
        return _same(stored[len(SCHEME_CLEARTEXT) :], password)
    if stored.startswith("{"):
        return False  # an unknown scheme never matches
    return _same(stored, password)


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """``(name, password)`` from an ``Authorization: Basic ...`` header, None otherwise."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, password = decoded.partition(":")
    return (name, password) if sep else None


class UsersFile:
    """The users file, parsed again when it changes on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: tuple[int, int, int] | None = None
        self._users: Mapping[str, User] = {}

    def _stat_key(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def refresh(self) -> None:
        key = self._stat_key()
        if key == self._key:
            return
        self._key = key
        try:
            self._users = parse_users(self.path.read_text(errors="replace"))
            log.info("read %d RAPI users from %s", len(self._users), self.path)
        except OSError as err:
            self._users = {}
            log.warning("no RAPI users: cannot read %s (%s)", self.path, err.strerror)

    def get(self, name: str) -> User | None:
        self.refresh()
        return self._users.get(name)


class Authenticator:
    """Decides who may call a route; ``users=None`` disables authentication (tests only)."""

    def __init__(self, users: UsersFile | None) -> None:
        self.users = users
        if users is None:
            log.warning("RAPI AUTHENTICATION IS DISABLED: anyone reaching the port may "
                        "change the cluster. Use this only for tests.")

    def authorize(self, access: Access, header: str | None) -> str | None:
        """The authenticated user's name (None for public routes or without auth).

        Raises:
            HttpError: 401 (with ``WWW-Authenticate``) without valid credentials,
                403 for a valid user lacking the right.
        """
        if access is Access.PUBLIC or self.users is None:
            return None
        credentials = parse_basic(header)
        if credentials is None:
            raise unauthorized()
        user = self.users.get(credentials[0])
        if user is None or not check_password(user, credentials[1]):
            raise unauthorized()
        if not user.may(access):
            log.warning("RAPI user %r lacks the %s right", user.name, access.value)
            raise HttpError(403)
        return user.name
