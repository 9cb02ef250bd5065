"""YAML read with the line of every key, so that each configuration problem can name file:line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError


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


def parse_yaml(text: str, file: str) -> Doc:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[str, int] = {}
        data = _construct(loader, node, "", lines, file) if node is not None else {}
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


def _construct(loader: yaml.SafeLoader, node: yaml.Node, path: str, lines: dict[str, int], file: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key_path = f"{path}.{key}" if path else str(key)
            if key in out:
                msg = f"{file}:{key_node.start_mark.line + 1}: {key_path}: duplicate key; keep only one"
                raise ConfigError(msg)
            lines[key_path] = key_node.start_mark.line + 1
            out[str(key)] = _construct(loader, value_node, key_path, lines, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines[f"{path}[{i}]"] = item.start_mark.line + 1
            items.append(_construct(loader, item, f"{path}[{i}]", lines, file))
        return items
    return loader.construct_object(node, deep=True)

