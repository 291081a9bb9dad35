"""``corral vcluster env`` follows the master the nodes' ssconf names, or a given node."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.errors import OpPrereqError
from corral.layout import NodeLayout
from corral.vcluster import cluster


def _vcluster(tmp_path: Path, masters: dict[str, str]) -> cluster.VCluster:
    vc = cluster.plan(tmp_path, 3, port=18199)
    vc.save()
    for node in vc.nodes:
        layout = NodeLayout(Path(node.root))
        layout.data_dir.mkdir(parents=True)
        if node.name in masters:
            layout.ssconf_file("master_node").write_text(masters[node.name] + "\n")
    return vc


def _exports(lines: list[str]) -> dict[str, str]:
    pairs = (line.removeprefix("export ").split("=", 1) for line in lines)
    return dict(pairs)


def test_env_names_the_master_most_nodes_name(tmp_path: Path) -> None:
    vc = _vcluster(tmp_path, {"node1": "node1", "node2": "node2", "node3": "node2"})
    env = _exports(cluster.env_lines(tmp_path))
    assert env["CORRAL_ROOT"] == vc.nodes[1].root
    assert env["CORRAL_LUXI"] == str(NodeLayout(Path(vc.nodes[1].root)).luxi_socket)


def test_env_of_a_given_node(tmp_path: Path) -> None:
    vc = _vcluster(tmp_path, {"node1": "node1"})
    assert _exports(cluster.env_lines(tmp_path, "node3"))["CORRAL_ROOT"] == vc.nodes[2].root


def test_env_of_an_unknown_node_is_refused(tmp_path: Path) -> None:
    _vcluster(tmp_path, {})
    with pytest.raises(OpPrereqError, match="No node 'node9' in the virtual cluster"):
        cluster.env_lines(tmp_path, "node9")


def test_env_without_ssconf_names_the_first_node(tmp_path: Path) -> None:
    vc = _vcluster(tmp_path, {})
    assert _exports(cluster.env_lines(tmp_path))["CORRAL_ROOT"] == vc.nodes[0].root
