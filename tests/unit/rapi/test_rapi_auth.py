"""RAPI users file and Basic authentication."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from corral.rapi.auth import (
    Authenticator,
    User,
    UsersFile,
    check_password,
    ha1,
    parse_basic,
    parse_users,
)
from corral.rapi.httperror import HttpError
from corral.rapi.routing import Access

USERS = """\
# Give Jack and Fred read-only access
jack abc123
fred {{cleartext}}foo555 read

autocreator xyz789 write
jessica {{HA1}}54C12257EE9BE413F2F3182435514AAE write
monitor {{ha1}}{} read,write
broken
odd {{sha}}whatever write
""".format(ha1("monitor", "m0n"))


def _basic(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def test_ha1_is_rfc2617s_with_ganetis_realm() -> None:
    assert ha1("jack", "abc123") == "54c12257ee9be413f2f3182435514aae"


def test_users_file_parsing() -> None:
    users = parse_users(USERS)
    assert set(users) == {"jack", "fred", "autocreator", "jessica", "monitor", "odd"}
    assert users["jack"] == User("jack", "abc123", frozenset())
    assert users["monitor"].options == frozenset({"read", "write"})
    assert users["fred"].options == frozenset({"read"})


@pytest.mark.parametrize(
    ("name", "password", "ok"),
    [
        ("jack", "abc123", True),
        ("jack", "abc1234", False),
        ("fred", "foo555", True),
        ("fred", "{cleartext}foo555", False),
        ("autocreator", "xyz789", True),
        ("jessica", "abc123", False),  # the hash is jack's: the name is part of it
        ("monitor", "m0n", True),
        ("monitor", "m0n ", False),
        ("odd", "whatever", False),
    ],
    ids=lambda v: str(v),
)
def test_passwords_plain_cleartext_and_ha1(name: str, password: str, ok: bool) -> None:
    assert check_password(parse_users(USERS)[name], password) is ok


def test_jacks_hash_under_his_own_name() -> None:
    user = User("jack", "{HA1}54c12257ee9be413f2f3182435514aae")
    assert check_password(user, "abc123")


def test_parse_basic_header() -> None:
    assert parse_basic(_basic("a", "b:c")) == ("a", "b:c")
    assert parse_basic("Basic !!!") is None
    assert parse_basic("Digest abc") is None
    assert parse_basic(None) is None
    assert parse_basic("Basic " + base64.b64encode(b"nocolon").decode()) is None


@pytest.fixture
def auth(tmp_path: Path) -> Authenticator:
    path = tmp_path / "users"
    path.write_text(USERS)
    return Authenticator(UsersFile(path))


def _status(auth: Authenticator, access: Access, header: str | None) -> int:
    try:
        auth.authorize(access, header)
    except HttpError as err:
        return err.code
    return 200


def test_missing_or_wrong_credentials_get_401_with_the_realm(auth: Authenticator) -> None:
    for header in (None, _basic("jack", "wrong"), _basic("nobody", "x"), "Bearer t"):
        with pytest.raises(HttpError) as err:
            auth.authorize(Access.ANY, header)
        assert err.value.code == 401
        assert err.value.headers["WWW-Authenticate"] == 'Basic realm="Ganeti Remote API"'


def test_rights(auth: Authenticator) -> None:
    jack, fred = _basic("jack", "abc123"), _basic("fred", "foo555")
    writer = _basic("autocreator", "xyz789")
    assert _status(auth, Access.ANY, jack) == 200
    assert _status(auth, Access.READ, jack) == 403
    assert _status(auth, Access.WRITE, jack) == 403
    assert _status(auth, Access.READ, fred) == 200
    assert _status(auth, Access.WRITE, fred) == 403
    assert _status(auth, Access.READ, writer) == 200
    assert _status(auth, Access.WRITE, writer) == 200
    assert auth.authorize(Access.WRITE, writer) == "autocreator"


def test_public_routes_need_no_user(auth: Authenticator) -> None:
    assert auth.authorize(Access.PUBLIC, None) is None


def test_users_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text("alice one write\n")
    auth = Authenticator(UsersFile(path))
    assert _status(auth, Access.WRITE, _basic("alice", "one")) == 200
    path.write_text("alice two read\nbob three write\n")
    os.utime(path, ns=(1, 1))  # a different mtime even within the same clock tick
    assert _status(auth, Access.WRITE, _basic("alice", "one")) == 401
    assert _status(auth, Access.WRITE, _basic("alice", "two")) == 403
    assert _status(auth, Access.WRITE, _basic("bob", "three")) == 200
    path.unlink()
    assert _status(auth, Access.ANY, _basic("bob", "three")) == 401


def test_without_authentication_everyone_passes(caplog: pytest.LogCaptureFixture) -> None:
    auth = Authenticator(None)
    assert "AUTHENTICATION IS DISABLED" in caplog.text
    assert auth.authorize(Access.WRITE, None) is None
