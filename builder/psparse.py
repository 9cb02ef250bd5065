"""Grammar check of PowerShell text with tree-sitter-powershell (no pwsh exists on these machines)."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def _parser() -> Any:
    import tree_sitter_powershell
    from tree_sitter import Language, Parser

    return Parser(Language(tree_sitter_powershell.language()))


def parse_errors(text: str) -> list[str]:
    """Each syntax error as `line L, column C: <snippet>`; empty when the script parses cleanly."""
    tree = _parser().parse(text.encode("utf-8"))
    errors: list[str] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            row, col = node.start_point
            snippet = text.encode("utf-8")[node.start_byte : node.end_byte][:60].decode("utf-8", "replace")
            kind = "missing " + node.type if node.is_missing else "unexpected"
            errors.append(f"line {row + 1}, column {col + 1}: {kind} {snippet!r}")
            continue
        if node.has_error:
            stack.extend(reversed(node.children))
    return errors
