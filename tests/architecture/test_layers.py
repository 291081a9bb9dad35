"""Lower layers never import higher ones (the table in ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "corral"

LAYER = {
    "errors": 0,
    "layout": 0,
    "clock": 0,
    "process": 0,
    "serde": 0,
    "sqlite": 0,
    "version": 0,
    "daemon_control": 0,
    "job_wire": 0,
    "filter_ops": 0,
    "jsonlimits": 0,
    "__init__": 0,
    "objects": 1,
    "opcodes": 1,
    "hooks": 2,
    "hypervisor": 2,
    "storage": 2,
    "osdef": 2,
    "guestkit": 2,
    "testing": 2,
    "rpc": 3,
    "backend": 4,
    "config": 4,
    "locking": 4,
    "jobs": 4,
    "cmdlib": 4,
    "query": 4,
    "iallocator": 4,
    "master": 4,
    "bootstrap": 4,
    "luxi": 5,
    "cli": 5,
    "rapi": 5,
    "daemons": 6,
    "watcher": 6,
    "vcluster": 6,
}
"""``rpc`` (the call table, the client, TLS and the join protocol) sits below both sides that
use it: node logic (``backend``, with the node's RPC server) and master logic. The two sides
share a layer number but never import each other (:func:`test_node_and_master_logic_apart`)."""

NODE_SIDE = {"backend"}
MASTER_SIDE = {"config", "locking", "jobs", "cmdlib", "query", "master", "bootstrap",
               "iallocator"}

ALLOWED = {
    # a candidate keeps its configuration replica in the master's store format
    ("backend.config_replica", "config.store"),
    ("backend.config_replica", "config"),
    # bootstrap speaks to the new master over LUXI and starts daemons through the backend helper
    ("bootstrap.init", "luxi.client"),
    ("bootstrap.init", "luxi"),
    ("bootstrap.destroy", "luxi.client"),
    ("bootstrap.destroy", "luxi"),
}
"""(importer module, imported module) pairs allowed to cross layers upwards."""

LAZY_EDGES = {"cli.direct", "cli.cluster_init", "cli.gnt_cluster"}
"""CLI modules that import node-side code lazily (inside functions) for node-direct commands."""


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py"))


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"] or ["__init__"]
    return ".".join(parts)


def _top_level_imports(tree: ast.Module) -> list[str]:
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks do not run
            continue
    return [name for name in found if name == "corral" or name.startswith("corral.")]


def _layer(module: str) -> int:
    return LAYER[module.split(".")[0]]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: _module_name(p))
def test_imports_respect_layers(path: Path) -> None:
    importer = _module_name(path)
    tree = ast.parse(path.read_text())
    for imported_full in _top_level_imports(tree):
        imported = imported_full.removeprefix("corral.").removeprefix("corral") or "__init__"
        if _layer(imported) <= _layer(importer):
            continue
        assert (importer, imported) in ALLOWED, (
            f"{importer} (layer {_layer(importer)}) imports {imported} (layer {_layer(imported)})"
        )


def test_cli_imports_stay_light() -> None:
    """CLI modules import only the standard library, cli, luxi and job_wire at module level."""
    for path in sorted((ROOT / "cli").glob("*.py")):
        module = _module_name(path)
        for imported in _top_level_imports(ast.parse(path.read_text())):
            top = imported.removeprefix("corral.").split(".")[0]
            light = top in {"cli", "luxi", "job_wire", "filter_ops", "corral"}
            assert light or module in LAZY_EDGES, (module, imported)


@pytest.mark.parametrize("module", ["job_wire.py", "filter_ops.py"])
def test_cli_foundations_import_only_the_standard_library(module: str) -> None:
    """The CLI loads these on every command: they must stay dependency-free."""
    assert _top_level_imports(ast.parse((ROOT / module).read_text())) == []


def test_every_package_has_a_layer() -> None:
    for child in ROOT.iterdir():
        if child.name.startswith("__"):
            continue
        assert child.stem in LAYER, f"{child.name} has no layer in the table"


def _all_imports(tree: ast.Module) -> list[str]:
    """Every absolute import in the module, lazy ones inside functions included."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: _module_name(p))
def test_node_and_master_logic_apart(path: Path) -> None:
    """Node logic never imports master logic, nor master logic node logic."""
    importer = _module_name(path)
    side = importer.split(".")[0]
    other = MASTER_SIDE if side in NODE_SIDE else NODE_SIDE if side in MASTER_SIDE else set()
    for imported_full in _top_level_imports(ast.parse(path.read_text())):
        imported = imported_full.removeprefix("corral.")
        if imported.split(".")[0] in other:
            assert (importer, imported) in ALLOWED, f"{importer} imports {imported}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: _module_name(p))
def test_product_never_imports_the_test_tree(path: Path) -> None:
    for imported in _all_imports(ast.parse(path.read_text())):
        assert imported.split(".")[0] != "tests", f"{_module_name(path)} imports {imported}"
    assert "sys.path" not in path.read_text(), f"{_module_name(path)} edits sys.path"


def test_layer_table_matches_architecture_doc() -> None:
    """Every package named in the table has a row in ARCHITECTURE.md's layer table."""
    doc = (ROOT.parent / "ARCHITECTURE.md").read_text()
    missing = [name for name in LAYER if name != "__init__" and f"`{name}" not in doc]
    assert not missing, f"ARCHITECTURE.md does not name: {missing}"
