"""PowerShell literals: the only way a value reaches a generated script.

The jinja2 environment of `builder.node.render` uses `finalize` as its `finalize`, so every
`{{ value }}` in a template becomes a literal made here. A template therefore cannot print
a raw value: a string always comes out single-quoted, with every single-quote character
PowerShell knows doubled. PowerShell's tokenizer treats U+2018, U+2019, U+201A and U+201B
as single quotes too, so doubling only the ASCII `'` would leave an injection.

Code that must be emitted as code (a variable reference, a bare word, a comment, the text of a
template macro) is wrapped in `PsCode`, which is only ever built here from validated pieces, as
markupsafe's `Markup` is for HTML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import jinja2

from ..errors import RenderError

# Every character PowerShell's tokenizer accepts as a single quote.
SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")  # a variable's name, or a bare word
_COMMENT_RE = re.compile(r"^[\x20-\x7e]{0,200}$")
_QUOTE_RE = re.compile(f"[{SINGLE_QUOTES}]")


class PsCode(str):
    """Text already known to be safe PowerShell code; `finalize` passes it through unchanged."""

    __slots__ = ()


def var(name: str) -> PsCode:
    """`$Name` for a script variable; only plain identifiers are accepted."""
    return PsCode("$" + _plain(name, "variable name"))


def word(text: str) -> PsCode:
    """A bare word (an enum value such as `-Type Overlay`); only letters and digits are accepted."""
    return PsCode(_plain(text, "word"))


def _plain(text: str, what: str) -> str:
    if not _NAME_RE.match(text):
        msg = f"{text!r} is not a plain PowerShell {what} (letters and digits only)"
        raise RenderError(msg)
    return text


def comment(text: str) -> PsCode:
    """`# text`: one line of printable ASCII (a newline would end the comment and start code)."""
    if not _COMMENT_RE.match(text):
        msg = f"{text!r} cannot be a PowerShell comment: one line of printable ASCII only"
        raise RenderError(msg)
    return PsCode(f"# {text}")


def template_text(text: str) -> PsCode:
    """What a template macro wrote: template text, whose values were printed through `finalize`.

    Macros are called as `{{ macro(...) }}`; without this their output would be quoted as a value.
    One final newline is dropped, so that the call stands on its own line like the text it replaces.
    """
    return PsCode(text.removesuffix("\n"))


def concat(prefix: str, name: str) -> PsCode:
    """`('prefix' + $Name)`: fixed text joined to a variable's run-time value."""
    return PsCode(f"({quote(prefix)} + {var(name)})")


def quote(text: str) -> str:
    """A single-quoted PowerShell string that evaluates to exactly `text`."""
    if "\x00" in text:
        msg = "a NUL character cannot be part of a PowerShell string literal"
        raise RenderError(msg)
    # PowerShell reads two adjacent quote characters of the set as one, the second of the
    # pair; doubling each with itself therefore decodes back to the very same character.
    return "'" + _QUOTE_RE.sub(lambda m: m.group(0) * 2, text) + "'"


def literal(value: object) -> str:
    """The PowerShell literal for a str, int, bool, None, list/tuple or str-keyed mapping."""
    if isinstance(value, PsCode):
        return str(value)
    if value is None:
        return "$null"
    if isinstance(value, bool):  # before int: bool is an int
        return "$true" if value else "$false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Mapping):
        items = "; ".join(f"{quote(_key(k))} = {literal(v)}" for k, v in value.items())
        return "@{" + items + "}"
    if isinstance(value, Sequence):
        return "@(" + ", ".join(literal(v) for v in value) + ")"
    msg = f"cannot write a {type(value).__name__} as a PowerShell literal: {value!r}"
    raise RenderError(msg)


def _key(key: object) -> str:
    if not isinstance(key, str):
        msg = f"hashtable keys must be strings, got {key!r}"
        raise RenderError(msg)
    return key


def finalize(value: object) -> str:
    """jinja2 `finalize`: every printed expression becomes a literal (or passes as PsCode)."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises UndefinedError here, naming the variable
        msg = "a template printed an undefined value; use undefined=StrictUndefined"
        raise RenderError(msg)
    return literal(value)
