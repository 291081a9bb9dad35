"""upload_file: allow-list, payload encodings, mode, owner and times."""

from __future__ import annotations

import asyncio
import base64
import os
import stat
import zlib
from pathlib import Path

import pytest

from corral.backend.context import NodeContext
from corral.backend.files import allowed_path, decode_payload, upload_file
from corral.errors import ParameterError
from corral.layout import NodeLayout


def _ctx(tmp_path: Path) -> NodeContext:
    return NodeContext(layout=NodeLayout(tmp_path), node_name="node1")


def _upload(ctx: NodeContext, name: str, data: object, mode: int = 0o640,
            uid: str = "root", gid: str = "root") -> None:
    asyncio.run(upload_file(ctx, name, data, mode, uid, gid, 1_600_000_000.0, 1_600_000_100.0))


def test_uploads_rapi_users_atomically_with_mode_and_times(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    content = b"admin secret write\n"
    _upload(ctx, "var/lib/corral/rapi/users", base64.b64encode(content).decode())
    path = ctx.layout.rapi_users_file
    st = path.stat()
    assert path.read_bytes() == content
    assert stat.S_IMODE(st.st_mode) == 0o600  # a secret: 0600 whatever was asked
    assert (st.st_atime, st.st_mtime) == (1_600_000_000.0, 1_600_000_100.0)
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (0, 0)


def test_absolute_name_accepted_and_unknown_owner_falls_back(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    packed = ["zlib+base64", base64.b64encode(zlib.compress(b"PEM")).decode()]
    _upload(ctx, "/var/lib/corral/crypto/ca.pem", packed, mode=0o644,
            uid="no-such-user-corral", gid="no-such-group-corral")
    assert ctx.layout.ca_cert.read_bytes() == b"PEM"
    if os.geteuid() == 0:
        assert ctx.layout.ca_cert.stat().st_uid == 0


def test_external_mip_script_allowed(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _upload(ctx, "etc/corral/scripts/master-ip-setup", ["none", "#!/bin/sh\n"], mode=0o755)
    assert os.access(ctx.layout.external_mip_script, os.X_OK)


@pytest.mark.parametrize(
    "name",
    [
        "etc/passwd",
        "var/lib/corral/config.db",
        "var/lib/corral/crypto/node-key.pem",
        "var/lib/corral/rapi/../rapi/users",
        "var/lib/corral/rapi/users/../../../../../etc/shadow",
        "../var/lib/corral/rapi/users",
        "",
    ],
    ids=["passwd", "config", "node-key", "dotdot-same-file", "traversal", "above-root", "empty"],
)
def test_names_outside_the_allow_list_rejected(tmp_path: Path, name: str) -> None:
    ctx = _ctx(tmp_path)
    with pytest.raises(ParameterError, match="not allowed"):
        _upload(ctx, name, base64.b64encode(b"x").decode())
    assert not ctx.layout.rapi_users_file.exists()


def test_symlinked_name_rejected(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path)
    (tmp_path / "sneaky").symlink_to(layout.rapi_users_file.parent.parent / "config.db")
    with pytest.raises(ParameterError):
        allowed_path(layout, "sneaky")


def test_decode_payload_forms() -> None:
    assert decode_payload("aGk=", plain_is_base64=True) == b"hi"
    assert decode_payload("hi", plain_is_base64=False) == b"hi"
    assert decode_payload([0, "raw"], plain_is_base64=True) == b"raw"
    packed = base64.b64encode(zlib.compress(b"z")).decode()
    assert decode_payload([1, packed], plain_is_base64=False) == b"z"
    for bad in ("not base64!", ["gzip", "x"], ["zlib+base64", "aGk="], 42):
        with pytest.raises(ParameterError):
            decode_payload(bad, plain_is_base64=True)
