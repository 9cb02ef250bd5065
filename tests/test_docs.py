"""The documents name only what exists: every command, nox session and option README.md and docs/
name, and every parameter they pass a node script, is one the tool (or the rendered script) has."""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest
from cluster_support import pinned
from test_node_contract import make_config, script_params

from builder import cli
from builder.node import render

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROG = "k8s-windows-bundle"
# nox sessions whose arguments after `--` go to the command of the same name.
PASS_THROUGH = {"bundle", "check", "build", "fetch", "render", "verify", "publish", "reproduce", "bench"}


def code_texts(path: Path) -> list[str]:
    """The lines of fenced code blocks and the inline code spans of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    lines = [line for block in blocks for line in block.splitlines()]
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    spans = re.findall(r"`([^`\n]+)`", prose.replace("\n", " "))
    return lines + spans


def commands() -> dict[str, set[str]]:
    """Each subcommand of the command line and the options it takes (the top-level ones included)."""
    parser = cli.build_parser()
    top = {o for a in parser._actions for o in a.option_strings}
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: top | {o for a in p._actions for o in a.option_strings}
            for name, p in subs.choices.items()}


def nox_sessions() -> set[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    return {f.name for f in tree.body if isinstance(f, ast.FunctionDef)
            and any("session" in ast.unparse(d) for d in f.decorator_list)}


def invocations(texts: dict[str, list[str]] | None = None) -> list[tuple[str, str, list[str]]]:
    """(document, command, options) for each `k8s-windows-bundle CMD ...` and `nox -s S -- ...` named."""
    found = []
    for name, lines in (texts or {doc.name: code_texts(doc) for doc in DOCS}).items():
        for text in lines:
            code = text.split(" # ")[0]
            for m in re.finditer(rf"(?:{PROG}|python -m builder) ([a-z]+)((?: +[^ |;&]+)*)", code):
                found.append((name, m.group(1), re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", m.group(2))))
            for m in re.finditer(r"nox -s ((?:[a-z]+ ?)+)(?:-- ((?:[^ |;&]+ ?)*))?", code):
                sessions = m.group(1).split()
                options = re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", m.group(2) or "")
                for session in sessions:
                    found.append((name, f"nox:{session}", options if session in PASS_THROUGH else []))
    return found


def test_the_documents_name_commands_at_all() -> None:
    named = invocations()
    assert len([c for _, c, _ in named if c.startswith("nox:")]) > 10
    assert len([c for _, c, _ in named if not c.startswith("nox:")]) > 5


def problems_in(named: list[tuple[str, str, list[str]]]) -> list[str]:
    cmds, sessions = commands(), nox_sessions()
    problems = []
    for doc, named_as, options in named:
        command = named_as
        if named_as.startswith("nox:"):
            command = named_as[4:]
            if command not in sessions:
                problems.append(f"{doc}: nox -s {command}: the noxfile has no such session")
                continue
            if command not in PASS_THROUGH:
                continue
        if command not in cmds:
            problems.append(f"{doc}: {PROG} {command}: no such command")
            continue
        problems += [f"{doc}: {PROG} {command} {o}: no such option" for o in options if o not in cmds[command]]
    return sorted(set(problems))


def test_every_command_session_and_option_named_exists() -> None:
    assert problems_in(invocations()) == []
    # The options the Commands section lists on their own exist on some command.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Commands"):readme.index("### Exit codes")]
    known = set().union(*commands().values())
    listed = set(re.findall(r"`(--[a-z][a-z0-9-]*)", section))
    assert len(listed) > 15
    assert sorted(listed - known) == []


def test_the_check_finds_what_does_not_exist() -> None:
    named = invocations({"x.md": ["nox -s bundle -- --kube-roots DIR", f"{PROG} publish --fast", "nox -s docs",
                                  f"{PROG} deploy"]})
    assert problems_in(named) == ["x.md: k8s-windows-bundle bundle --kube-roots: no such option",
                                  "x.md: k8s-windows-bundle deploy: no such command",
                                  "x.md: k8s-windows-bundle publish --fast: no such option",
                                  "x.md: nox -s docs: the noxfile has no such session"]


def bundle_script_params() -> dict[str, set[str]]:
    """The parameters of each node script, over a few bundles that together render every script."""
    variants = [("host-gw", "v1.37.0", True, "containerd"), ("overlay", "v1.23.0", False, "docker"),
                ("flannel-vxlan", "v1.30.0", True, "containerd"), ("calico-vxlan", "v1.30.0", False, "containerd")]
    params: dict[str, set[str]] = {}
    for mode, version, bundled, runtime in variants:
        cfg = pinned(make_config(mode, runtime, bundled), [version])
        for f in render.render_bundle(cfg, version):
            if f.dest.endswith(".ps1") and "/" not in f.dest and f.dest != render.NODE_FUNCTIONS:  # loaded, not run
                text = f.data.decode("ascii").replace("\r\n", "\n")
                params.setdefault(f.dest, set()).update(p.lower() for p in script_params(text))
                params[f.dest] |= {"whatif", "confirm", "verbose"}  # what CmdletBinding gives
    return params


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_node_script_parameter_named_exists(doc: Path) -> None:
    params = bundle_script_params()
    problems = []
    for text in code_texts(doc):
        for m in re.finditer(r"\\([\w-]+\.ps1)((?: +-?[^ |;&#]+)*)", text.split(" # ")[0]):
            script = m.group(1)
            if script not in params:
                problems.append(f"{doc.name}: names {script}, which no bundle has")
                continue
            problems += [f"{doc.name}: {script} -{p}: no such parameter" for p in re.findall(r"(?<!\S)-([A-Za-z]\w+)",
                         m.group(2)) if p.lower() not in params[script]]
    assert sorted(set(problems)) == []


def test_the_configuration_reference_is_generated_from_the_one_source(repo_root: Path) -> None:
    from builder.config import reference

    assert (repo_root / "docs" / "configuration.md").read_text(encoding="utf-8") == reference.markdown(), (
        "docs/configuration.md differs from builder/config/reference.yaml: run "
        "k8s-windows-bundle schema --out bundle.schema.json --markdown docs/configuration.md")


def test_every_key_of_bundle_yaml_is_documented_and_every_documented_key_exists() -> None:
    from builder.config import reference, schema

    sections = schema.generate()["properties"]
    undocumented = [f"{s}.{k}" for s, spec in sections.items()
                    for k, prop in (spec.get("properties") or {}).items() if "description" not in prop]
    assert undocumented == []
    known = {f"{s}.{k}" for s, spec in sections.items() for k in (spec.get("properties") or {})}
    stale = []
    for part in reference.load()["sections"]:
        names = reference.section_names(part["title"])
        for row in part["keys"]:
            for key in reference.row_keys(row):
                # `cni.source` names one section; `url` each section of the heading that has it.
                full = [key] if "." in key else [f"{name}.{key}" for name in names]
                if not any(f in known for f in full):
                    stale.append(key)
    assert stale == []
