"""PowerShell literals: decoded back with PowerShell's own tokenizer rules, written out here.

tree-sitter-powershell does not know the curly single quotes, so the quoting is checked against
a decoder that follows PowerShell's tokenizer (`ScanStringLiteral`): a single-quoted string starts
at any of the five single-quote characters and ends at the first one that is not followed by
another; two adjacent quote characters stand for one, the second of the pair.
"""

from __future__ import annotations

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder import psparse
from builder.errors import RenderError
from builder.node import pslit

PS_SINGLE_QUOTES = {"'", "\u2018", "\u2019", "\u201a", "\u201b"}


class Unterminated(Exception):
    pass


def decode_single_quoted(text: str, start: int = 0) -> tuple[str, int]:
    """Read one single-quoted literal at `start`; return its value and the index just after it."""
    if text[start] not in PS_SINGLE_QUOTES:
        raise ValueError(f"no single quote at {start}: {text[start]!r}")
    out: list[str] = []
    i = start + 1
    while True:
        if i >= len(text):
            raise Unterminated(text)
        c = text[i]
        if c in PS_SINGLE_QUOTES:
            if i + 1 < len(text) and text[i + 1] in PS_SINGLE_QUOTES:
                out.append(text[i + 1])  # the tokenizer keeps the second of the pair
                i += 2
                continue
            return "".join(out), i + 1
        out.append(c)
        i += 1


# Strings rich in the characters that matter: every quote, $, backtick, newline, plus anything.
_tricky = st.sampled_from([*sorted(PS_SINGLE_QUOTES), '"', "\u201c", "\u201d", "\u201e", "$", "`", "(", ")",
                           "\n", "\r", "#", ">", "<", ";", "&", "@", " "])
_texts = st.text(alphabet=st.one_of(_tricky, st.characters(blacklist_characters="\x00")), max_size=60)


@given(_texts)
def test_literal_decodes_to_its_input(text: str) -> None:
    lit = pslit.quote(text)
    value, end = decode_single_quoted(lit)
    assert value == text
    assert end == len(lit)  # never ends early: the whole literal is one token


@given(_texts, _texts)
def test_literal_ends_exactly_where_it_should_inside_code(text: str, after: str) -> None:
    code = "$x = " + pslit.quote(text) + "; " + after
    value, end = decode_single_quoted(code, 5)
    assert value == text
    assert code[end:] == "; " + after


@given(st.lists(_texts, max_size=5))
def test_list_is_an_array_of_literals(items: list[str]) -> None:
    lit = pslit.literal(items)
    assert lit.startswith("@(") and lit.endswith(")")
    pos, values = 2, []
    for n in range(len(items)):
        value, pos = decode_single_quoted(lit, pos)
        values.append(value)
        if n < len(items) - 1:
            assert lit[pos:pos + 2] == ", "
            pos += 2
    assert values == items
    assert lit[pos:] == ")"


@settings(max_examples=60)
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40))
def test_ascii_literal_parses_cleanly_with_tree_sitter(text: str) -> None:
    script = f"$x = {pslit.quote(text)}\r\nWrite-Host $x\r\n"
    assert psparse.parse_errors(script) == []


@pytest.mark.parametrize("quote", sorted(PS_SINGLE_QUOTES))
def test_every_single_quote_character_is_doubled(quote: str) -> None:
    assert pslit.quote(f"a{quote}b") == f"'a{quote}{quote}b'"


def test_injection_attempt_stays_a_string() -> None:
    evil = "x'; Remove-Item -Recurse C:\\ ; '"
    lit = pslit.quote(evil)
    assert lit == "'x''; Remove-Item -Recurse C:\\ ; '''"
    assert decode_single_quoted(lit) == (evil, len(lit))


def test_scalars() -> None:
    assert pslit.literal(True) == "$true"
    assert pslit.literal(False) == "$false"
    assert pslit.literal(4096) == "4096"
    assert pslit.literal(-3) == "-3"
    assert pslit.literal(None) == "$null"
    assert pslit.literal([]) == "@()"
    assert pslit.literal(("a", 1, False)) == "@('a', 1, $false)"
    assert pslit.literal({"Type": "VSID", "VSID": 4096}) == "@{'Type' = 'VSID'; 'VSID' = 4096}"


def test_unknown_types_and_nul_are_refused() -> None:
    with pytest.raises(RenderError, match="float"):
        pslit.literal(1.5)
    with pytest.raises(RenderError, match="NUL"):
        pslit.quote("a\x00b")


def test_var_accepts_identifiers_only() -> None:
    assert pslit.var("NodeIp") == "$NodeIp"
    for bad in ["", "1a", "a-b", "a b", "a;b", "env:PATH", "a$b"]:
        with pytest.raises(RenderError):
            pslit.var(bad)


def test_concat_joins_literal_and_variable() -> None:
    assert pslit.concat("--node-ip=", "NodeIp") == "('--node-ip=' + $NodeIp)"
    assert isinstance(pslit.concat("--a='", "X"), pslit.PsCode)
    assert pslit.concat("--a='", "X") == "('--a=''' + $X)"


def _env() -> jinja2.Environment:
    return jinja2.Environment(undefined=jinja2.StrictUndefined, finalize=pslit.finalize, autoescape=False)


def test_finalize_makes_every_printed_value_a_literal() -> None:
    out = _env().from_string("$a = {{ s }}; $b = {{ n }}; $c = {{ l }}; $d = {{ code }}").render(
        s="$(Stop-Computer)", n=7, l=["x", True], code=pslit.var("Y"))
    assert out == "$a = '$(Stop-Computer)'; $b = 7; $c = @('x', $true); $d = $Y"


def test_undefined_names_are_errors() -> None:
    with pytest.raises(jinja2.UndefinedError):
        _env().from_string("{{ missing }}").render()


def test_safe_filter_does_not_bypass_quoting() -> None:
    # With autoescape off, |safe yields a Markup string: still a str, so still a literal.
    out = _env().from_string("{{ s|safe }} {{ s ~ 'x' }} {{ [s]|join }}").render(s="a'; b")
    assert out == "'a''; b' 'a''; bx' 'a''; b'"


def test_code_is_made_only_from_checked_pieces() -> None:
    """The filters a template turns a name into code with refuse anything but a plain name or one line."""
    assert (pslit.var("NetworkName"), pslit.word("Overlay"), pslit.comment("a note")) == (
        "$NetworkName", "Overlay", "# a note")
    for bad in ("a b", "x;y", "$(x)", "", "Ab'"):
        with pytest.raises(RenderError, match="plain PowerShell"):
            pslit.word(bad)
    with pytest.raises(RenderError, match="comment"):
        pslit.comment("line one\nStop-Computer")
    assert pslit.template_text("a\nb\n") == "a\nb" and isinstance(pslit.template_text("x"), pslit.PsCode)
