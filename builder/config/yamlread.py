"""YAML read with the line of every key, so that each configuration problem can name file:line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

# Nodes one document may expand to. Aliases share nodes, so nested ones multiply (a few hundred
# bytes can name billions); a real configuration has a few hundred nodes.
NODE_BUDGET = 20_000
# Levels of nesting: a configuration has four or five. PyYAML composes (and we construct) by
# recursion, so thousands of `[` would end in a RecursionError instead of a configuration error.
MAX_DEPTH = 64
_OPEN = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken,
         yaml.FlowSequenceStartToken)
_CLOSE = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


@dataclass
class Doc:
    """Parsed YAML as plain data, with the line of every key path ("network.mode" -> 12)."""

    data: dict[str, Any]
    lines: dict[str, int]
    file: str


def read_yaml(path: Path) -> Doc:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        msg = f"configuration file {path} does not exist; create it or pass --config FILE"
        raise ConfigError(msg) from err
    except (OSError, UnicodeDecodeError) as err:
        msg = f"cannot read configuration file {path}: {err}"
        raise ConfigError(msg) from err
    return parse_yaml(text, str(path))


def _check_depth(text: str, file: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH from the token stream, which PyYAML scans without recursion."""
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, _OPEN):
            depth += 1
            if depth > MAX_DEPTH:
                msg = (f"{file}:{token.start_mark.line + 1}: the YAML nests more than {MAX_DEPTH} levels deep; "
                       "a configuration needs a handful: write it out flat")
                raise ConfigError(msg)
        elif isinstance(token, _CLOSE):
            depth -= 1


def parse_yaml(text: str, file: str) -> Doc:
    loader = yaml.SafeLoader(text)
    try:
        _check_depth(text, file)
        node = loader.get_single_node()
        lines: dict[str, int] = {}
        data = _Builder(loader, file).construct(node, "", lines) if node is not None else {}
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"{file}:{mark.line + 1}" if mark is not None else file
        msg = f"{where}: not valid YAML: {err.problem}; fix the syntax at that line"
        raise ConfigError(msg) from err
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        msg = f"{file}:1: the configuration must be a mapping of sections (bundle:, kubernetes:, ...)"
        raise ConfigError(msg)
    return Doc(data, lines, file)


class _Builder:
    """Plain data from the node tree, counting every node it expands against NODE_BUDGET."""

    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.left = NODE_BUDGET
        self._open: set[int] = set()  # the nodes being constructed: one met again refers to itself

    def _spend(self, node: yaml.Node) -> None:
        self.left -= 1
        if self.left < 0:
            msg = (f"{self.file}:{node.start_mark.line + 1}: the YAML expands to more than {NODE_BUDGET} values "
                   "(aliases of aliases?); write the configuration out without nested aliases")
            raise ConfigError(msg)

    def construct(self, node: yaml.Node, path: str, lines: dict[str, int]) -> Any:
        self._spend(node)
        if isinstance(node, yaml.CollectionNode):
            if id(node) in self._open or len(self._open) >= MAX_DEPTH:
                line = node.start_mark.line + 1
                msg = (f"{self.file}:{line}: {path or 'the document'} contains itself (an alias inside its own "
                       "anchor) or nests too deep; write the value out instead of the alias")
                raise ConfigError(msg)
            self._open.add(id(node))
            try:
                return self._collection(node, path, lines)
            finally:
                self._open.discard(id(node))
        return self.loader.construct_object(node, deep=True)

    def _collection(self, node: yaml.CollectionNode, path: str, lines: dict[str, int]) -> Any:
        file = self.file
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
                    where = f" under {path}" if path else ""
                    msg = f"{file}:{line}: a {kind} is used as a key{where}; keys must be plain names"
                    raise ConfigError(msg)
                key = self.loader.construct_object(key_node, deep=True)
                key_path = f"{path}.{key}" if path else str(key)
                if str(key) in out:
                    msg = f"{file}:{line}: {key_path}: duplicate key; keep only one"
                    raise ConfigError(msg)
                lines[key_path] = line
                out[str(key)] = self.construct(value_node, key_path, lines)
            return out
        items = []
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[f"{path}[{i}]"] = item.start_mark.line + 1
                items.append(self.construct(item, f"{path}[{i}]", lines))
        return items
