"""The package's layout is its pipeline: imports point down the layers and never form a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "builder"

# Top to bottom. A module may import its own package's modules, and any module of a lower layer;
# never one of a higher layer or of another package of its own layer, except where listed below.
LAYERS: list[set[str]] = [
    {"builder.__main__", "builder.cli", "builder.completion"},
    {"builder.pipeline", "builder.options", "builder.bench", "builder.reproduce"},
    {"builder.publish"},
    {"builder.bundle", "builder.sources", "builder.node"},
    {"builder.config"},
    {"builder.artifacts", "builder.errors", "builder.fsutil", "builder.hashing", "builder.http", "builder.kversion",
     "builder.oci", "builder.pe", "builder.psparse", "builder.report", "builder.run", "builder.sizes",
     "builder.toolinfo", "builder.zipdir", "builder"},
]


# The stages never import each other sideways: what two stages share moves down to config or a leaf.
SIDEWAYS_FORBIDDEN = {3}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> str:
    """The layer entry a module belongs to: its package (builder.node) or the module itself (builder.http)."""
    for layer in LAYERS:
        for unit in sorted(layer, key=len, reverse=True):
            if module == unit or (module.startswith(unit + ".") and unit != "builder"):
                return unit
    return "builder" if module == "builder" else module


def layer_of(unit: str) -> int:
    for i, layer in enumerate(LAYERS):
        if unit in layer:
            return i
    raise AssertionError(f"{unit} is in no layer of tests/test_layout.py: place it")


def imports_of(path: Path) -> set[str]:
    """Every builder module this file imports (at the top or inside a function)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("builder"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if not target.startswith("builder"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists()
                          or (PACKAGE.parent / sub.replace(".", "/")).is_dir() else target)
    found.discard(name)
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_imports_point_down_the_layers(name: str) -> None:
    me = unit_of(name)
    for target in GRAPH[name]:
        other = unit_of(target)
        if other == me or other == "builder":
            continue
        if layer_of(other) == layer_of(me) and layer_of(me) not in SIDEWAYS_FORBIDDEN:
            continue  # the edge of the run (cli, pipeline) and the shared leaves may use each other (no cycle)
        assert layer_of(other) > layer_of(me), (
            f"{name} imports {target}: {other} is not below {me}; move the shared piece down a layer")


def test_no_import_cycle() -> None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in GRAPH.get(node, ()):
            if nxt not in GRAPH:
                continue
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt):], nxt] if nxt in path else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(GRAPH):
        if start not in state:
            visit(start, [start])


def test_no_internal_module_is_imported_by_name() -> None:
    """`importlib.import_module` of our own modules hides an edge from this test and from mypy."""
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        assert "import_module(f\"{__package__}" not in text and "import_module(\"builder" not in text, name


def test_the_layer_check_catches_an_upward_import(tmp_path: Path) -> None:
    """The check itself can fail: a leaf importing a stage is reported."""
    assert layer_of(unit_of("builder.http")) > layer_of(unit_of("builder.sources.sdn"))
    assert unit_of("builder.node.render") == "builder.node"
    assert unit_of("builder.config.model") == "builder.config"


def argparse_uses(source: str) -> list[str]:
    """Where a module imports argparse or takes (or returns) an argparse namespace."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names):
            found.append(f"line {node.lineno}: import argparse")
        elif isinstance(node, ast.ImportFrom) and node.module == "argparse":
            found.append(f"line {node.lineno}: from argparse import ...")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            annotations = [a.annotation for a in (*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs)]
            for ann in [*annotations, node.returns]:
                if ann is not None and "Namespace" in ast.unparse(ann):
                    found.append(f"line {node.lineno}: {node.name} takes or gives a Namespace")
    return found


def test_only_the_command_line_sees_argparse() -> None:
    """argv becomes typed options in cli (`CommandLine`, `builder.options`); no stage reads the namespace."""
    for name, path in MODULES.items():
        uses = argparse_uses(path.read_text(encoding="utf-8"))
        if name in ("builder.cli", "builder.completion"):  # the command line, and its completion scripts
            assert not [u for u in uses if "Namespace" in u], uses  # parsed into CommandLine at once
            continue
        assert uses == [], f"{name}: {uses}"


def test_the_argparse_check_catches_a_stage_that_reads_the_namespace() -> None:
    stage = "import argparse\n\ndef run(args: argparse.Namespace) -> int:\n    return 0\n"
    assert argparse_uses(stage) == ["line 1: import argparse", "line 3: run takes or gives a Namespace"]
