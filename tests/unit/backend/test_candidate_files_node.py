"""A node stores the candidate files it is sent (secrets always 0600) and drops them
when it is demoted."""

from __future__ import annotations

import asyncio
import base64
import stat
from pathlib import Path

import pytest

from corral.backend.config_replica import node_demote_from_mc
from corral.backend.context import NodeContext
from corral.backend.files import upload_file
from corral.layout import NodeLayout


def _ctx(tmp_path: Path) -> NodeContext:
    layout = NodeLayout(tmp_path)
    layout.ensure_dirs()
    return NodeContext(layout=layout, node_name="node2")


@pytest.mark.parametrize(("name", "asked", "lands"), [
    ("var/lib/corral/crypto/ca-key.pem", 0o644, 0o600),
    ("var/lib/corral/crypto/rapi-key.pem", 0o755, 0o600),
    ("var/lib/corral/crypto/rapi.pem", 0o644, 0o644),
])
def test_candidate_files_uploaded_secrets_as_0600(tmp_path: Path, name: str, asked: int,
                                                  lands: int) -> None:
    ctx = _ctx(tmp_path)
    data = base64.b64encode(b"pem\n").decode()
    asyncio.run(upload_file(ctx, name, data, asked, "", "", 1.0, 2.0))
    path = tmp_path / name
    assert path.read_bytes() == b"pem\n"
    assert stat.S_IMODE(path.stat().st_mode) == lands


def test_demotion_removes_the_candidate_files(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    layout = ctx.layout
    for path in (*layout.candidate_files, layout.ca_cert, layout.rapi_users_file):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert asyncio.run(node_demote_from_mc(ctx)) is True
    assert [p.name for p in layout.candidate_files if p.exists()] == []
    assert layout.ca_cert.exists()
    assert layout.rapi_users_file.exists()
