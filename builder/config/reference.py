"""The bundle.yaml reference: every key, its default and meaning, in `reference.yaml`.

The one source of `docs/configuration.md` (`markdown`, written by `k8s-windows-bundle schema
--markdown FILE`) and of the descriptions in `bundle.schema.json` (`description`), so that an editor
shows what the documentation says. A row may name several keys (`goflags`, `goldflags`), and the
node-kit section names its inputs' keys as `cni.source` or, for every input, `url`.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from typing import Any

import yaml

GENERATED = ("<!-- Generated from builder/config/reference.yaml by `k8s-windows-bundle schema --markdown "
             "docs/configuration.md`: edit that file, not this one. -->")


@functools.cache
def load() -> dict[str, Any]:
    text = importlib.resources.files("builder.config").joinpath("reference.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def row_keys(row: dict[str, str]) -> list[str]:
    """The keys one row documents: `goflags`, `goldflags` is two."""
    return [k.strip("`") for k in str(row["key"]).split("`, `")]


def section_names(title: str) -> list[str]:
    """The sections a heading names: `cni`, `flannel`, `containerd`, `crictl` is four."""
    return re.findall(r"`([a-z_]+)`", title)


def description(section: str, key: str) -> str | None:
    """What the reference says of `section.key`, as plain text (code marks dropped); None if nothing."""
    for part in load()["sections"]:
        if section not in section_names(part["title"]):
            continue
        for row in part["keys"]:
            if key in row_keys(row) or f"{section}.{key}" in row_keys(row):
                default = str(row["default"]).replace("`", "")
                return f"{row['meaning']} (default: {default})".replace("`", "")
    return None


def markdown() -> str:
    """docs/configuration.md."""
    data = load()
    out = ["# Configuration reference (`bundle.yaml`)", "", GENERATED, "", data["intro"], ""]
    out += [f"- [{part['title']}](#{_anchor(part['title'])})" for part in data["sections"]]
    for part in data["sections"]:
        out += ["", f"## {part['title']}", ""]
        if part["intro"]:
            out += [part["intro"], ""]
        if part["keys"]:
            out += ["| key | default | meaning |", "|---|---|---|"]
            out += [f"| `{row['key']}` | {row['default']} | {row['meaning']} |" for row in part["keys"]]
        if part["outro"]:
            out += ["", part["outro"]]
    return "\n".join(out).rstrip("\n") + "\n"


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")
