"""ssconf files: write, replace, remove, read."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from corral.backend.context import NodeContext
from corral.backend.files import write_ssconf_files
from corral.backend.ssconf import (
    read_ssconf,
    read_ssconf_lines,
    remove_ssconf,
    ssconf_keys_on_disk,
    write_ssconf,
)
from corral.errors import ParameterError
from corral.layout import NodeLayout


def test_handler_writes_read_only_files(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path)
    ctx = NodeContext(layout=layout, node_name="node1")
    values = {"cluster_name": "c.example.com", "node_list": "n1\nn2", "hvparams_fake": ""}
    asyncio.run(write_ssconf_files(ctx, values))
    assert layout.ssconf_file("cluster_name").read_text() == "c.example.com"
    assert stat.S_IMODE(layout.ssconf_file("node_list").stat().st_mode) == 0o444
    assert read_ssconf(layout, "node_list") == "n1\nn2"
    assert read_ssconf_lines(layout, "node_list") == ["n1", "n2"]
    assert read_ssconf(layout, "hvparams_fake") == ""
    assert read_ssconf(layout, "master_node") is None
    assert read_ssconf_lines(layout, "master_node") == []


def test_rewrite_replaces_and_removes_stale_keys(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path)
    write_ssconf(layout, {"cluster_name": "old", "master_node": "n1", "offline_nodes": ""})
    (layout.data_dir / "config.db").write_text("not ssconf")
    write_ssconf(layout, {"cluster_name": "new", "master_node": "n2"})
    assert ssconf_keys_on_disk(layout) == ["cluster_name", "master_node"]
    assert read_ssconf(layout, "cluster_name") == "new"
    assert read_ssconf(layout, "master_node") == "n2"
    assert (layout.data_dir / "config.db").exists()
    assert not [p for p in layout.data_dir.iterdir() if p.name.endswith(".tmp")]
    remove_ssconf(layout)
    assert ssconf_keys_on_disk(layout) == []
    assert (layout.data_dir / "config.db").exists()


def test_trailing_newline_stripped_on_read(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path)
    write_ssconf(layout, {"master_ip": "192.0.2.1\n"})
    assert read_ssconf(layout, "master_ip") == "192.0.2.1"


@pytest.mark.parametrize("key", ["../etc", "Upper", "a/b", "", "x.y", "ok\n"],
                         ids=["traversal", "upper", "slash", "empty", "dot", "newline"])
def test_bad_keys_rejected_before_anything_is_written(tmp_path: Path, key: str) -> None:
    layout = NodeLayout(tmp_path)
    with pytest.raises(ParameterError, match="Invalid ssconf key"):
        write_ssconf(layout, {"cluster_name": "c", key: "x"})
    assert ssconf_keys_on_disk(layout) == []
    with pytest.raises(ParameterError):
        read_ssconf(layout, key)


@pytest.mark.parametrize("entry", ["n2\nn3", "n2\r", "n2\x85n3", "n2\u2028"],
                         ids=["newline", "carriage-return", "next-line", "line-separator"])
def test_list_entry_spanning_lines_is_refused_before_anything_is_written(
    tmp_path: Path, entry: str,
) -> None:
    layout = NodeLayout(tmp_path)
    write_ssconf(layout, {"node_list": ["n1"]})
    with pytest.raises(ParameterError, match=r"Invalid ssconf 'node_list': entry .* spans lines"):
        write_ssconf(layout, {"cluster_name": "c", "node_list": ["n1", entry]})
    assert ssconf_keys_on_disk(layout) == ["node_list"]
    assert read_ssconf_lines(layout, "node_list") == ["n1"]
