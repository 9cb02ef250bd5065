"""`fetch --update-pins` for the official binaries: `kubernetes.pins` written from verified downloads.

Opt-in: only a configuration that has a `kubernetes.pins` key (`pins: {}` to start) gets them,
so refreshing the SDN pins does not download every binary. The binaries are downloaded and
verified against their published checksums (as a release build does, old pins set aside), then
their sha256 are written into the config file under `kubernetes.pins.<version>`. Lines are
edited, not the YAML dumped, so comments and layout stay; pins of other versions are kept.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ..config import Config, parse_yaml
from ..errors import ConfigError
from ..fsutil import atomic_write
from ..http import Net
from ..report import Reporter
from .binaries import download_binaries

Pins = dict[str, dict[str, str]]


def update_pins(cfg: Config, *, net: Net | None = None, reporter: Reporter | None = None) -> int:
    """Download and verify the configured versions' binaries; write their sha256 into kubernetes.pins."""
    reporter = reporter or Reporter()
    path = cfg.options.pins_file()
    text = path.read_text(encoding="utf-8")
    if "kubernetes.pins" not in parse_yaml(text, str(path)).lines:
        return 0
    versions = [cfg.kubernetes.version] if cfg.kubernetes.version else list(cfg.kubernetes.versions)
    unpinned = dataclasses.replace(cfg, kubernetes=dataclasses.replace(cfg.kubernetes, pins=()))
    new: Pins = {}
    for version in versions:
        result = download_binaries(unpinned.for_version(version), net=net)
        new[version] = {b.name: b.sha256 for b in result.binaries}
    updated = rewrite_kubernetes_pins(text, str(path), new)
    old = {(v, c): h for v, c, h in cfg.kubernetes.pins}
    reporter.result(f"kubernetes pins in {path}:")
    for version, comps in new.items():
        for name, sha in comps.items():
            before = old.get((version, name))
            state = "unchanged" if before == sha else f"{before or 'none'} -> {sha}"
            reporter.result(f"  {version} {name}: {state}")
    if updated != text:
        atomic_write(path, updated.encode("utf-8"), keep_mode=True)
        reporter.result(f"wrote {path}; review the change before committing it")
    return 0


def rewrite_kubernetes_pins(text: str, file: str, new: Pins) -> str:
    """`text` with `kubernetes.pins` holding `new` (merged over the pins already there)."""
    doc = parse_yaml(text, file)
    kube: Any = doc.data.get("kubernetes") or {}
    current = kube.get("pins") if isinstance(kube, dict) else None
    merged: Pins = {str(v): dict(c) for v, c in (current or {}).items() if isinstance(c, dict)}
    for version, comps in new.items():
        merged.setdefault(version, {}).update(comps)
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += nl
    if "kubernetes" not in doc.lines:
        lines += [f"kubernetes:{nl}", *_block(merged, "  ", nl)]
    else:
        lines = _replace_block(lines, doc.lines, merged, nl, file)
    result = "".join(lines)
    got = (parse_yaml(result, file).data.get("kubernetes") or {}).get("pins")
    if got != merged:
        msg = f"{file}: could not rewrite kubernetes.pins safely; edit them by hand"
        raise ConfigError(msg)
    return result


def _replace_block(lines: list[str], where: dict[str, int], pins: Pins, nl: str, file: str) -> list[str]:
    start = where["kubernetes"] - 1
    if not re.match(r"^kubernetes\s*:\s*(#.*)?$", lines[start].rstrip("\r\n")):
        msg = f"{file}:{start + 1}: write the kubernetes section as a block (`kubernetes:` on its own line)"
        raise ConfigError(msg)
    children = [where[k] for k in where if k.startswith("kubernetes.") and k.count(".") == 1]
    first = lines[min(children) - 1] if children else "  x"
    indent = first[: len(first) - len(first.lstrip())]
    if "kubernetes.pins" in where:
        begin = where["kubernetes.pins"] - 1
        end = _block_end(lines, begin, len(indent))
        return [*lines[:begin], *_block(pins, indent, nl), *lines[end:]]
    end = _block_end(lines, start, 0)
    return [*lines[:end], *_block(pins, indent, nl), *lines[end:]]


def _block_end(lines: list[str], begin: int, indent: int) -> int:
    """The index after the last line that belongs to the block starting at `begin` (deeper indented)."""
    end = begin + 1
    for i in range(begin + 1, len(lines)):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            continue
        if len(lines[i]) - len(lines[i].lstrip()) <= indent:
            break
        end = i + 1
    return end


def _block(pins: Pins, indent: str, nl: str) -> list[str]:
    out = [f"{indent}pins:{nl}"]
    for version in sorted(pins):
        out.append(f"{indent}  {version}:{nl}")
        out += [f"{indent}    {name}: {sha}{nl}" for name, sha in sorted(pins[version].items())]
    return out
