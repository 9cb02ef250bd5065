"""`init`: a commented starter bundle.yaml with the cluster's values, which `check` accepts as written.

The values come from the command line; on a terminal the cluster's values not given are asked for
(Enter keeps the default shown). Each value is checked by the loader's own rules before anything is
written, and an existing file is never overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from ..errors import ConfigError
from ..fsutil import atomic_write
from .model import NetworkSection
from .modes import NETWORK_MODES
from .schema import SCHEMA_FILE
from .yamlread import parse_yaml

Ask = Callable[[str, str], str]  # (question, default) -> answer

_NET = NetworkSection()
# What init asks for, in order: the key, the question, the default ("" = none: left out).
QUESTIONS: tuple[tuple[str, str, str], ...] = (
    ("kubernetes.version", "Kubernetes version to bundle from the official binaries (empty: build from a tree)",
     ""),
    ("network.mode", f"network mode ({', '.join(NETWORK_MODES)})", _NET.mode),
    ("network.cluster_cidr", "pod network (cluster CIDR)", _NET.cluster_cidr),
    ("network.service_cidr", "service network (service CIDR)", _NET.service_cidr),
    ("network.dns_service_ip", "cluster DNS service address", _NET.dns_service_ip),
    ("network.control_plane_ip", "control plane address (empty: none)", ""),
)


def prompter(read: Callable[[str], str], interactive: bool) -> Ask | None:
    """A function that asks on the terminal, or None where nobody can answer."""
    if not interactive:
        return None

    def ask(question: str, default: str) -> str:
        shown = f" [{default}]" if default else ""
        return read(f"{question}{shown}: ").strip() or default

    return ask


def _literal(value: str) -> str:
    """A YAML scalar that reads back as this string (JSON strings are YAML)."""
    return json.dumps(value)


def starter_text(values: Mapping[str, str]) -> str:
    """The file: the given values set, the other common keys commented out with their defaults."""
    def line(key: str, default: str, comment: str) -> str:
        name = key.split(".", 1)[1]
        if key in values:
            return f"  {name}: {_literal(values[key])}  # {comment}"
        return f"  # {name}: {default}  # {comment}" if default else f"  # {name}:  # {comment}"

    release = "kubernetes.version" in values
    source = ('  source: release  # the official binaries of kubernetes.version, verified\n' if release else
              '  # source: build  # build from a Kubernetes tree (kubernetes.root, --kube-root)\n')
    return "\n".join([
        f"# yaml-language-server: $schema={SCHEMA_FILE}",
        "# k8s-windows-bundle configuration, written by `k8s-windows-bundle init`. Every key is optional;",
        "# a commented key shows its default. Check it with `k8s-windows-bundle check --config FILE`.",
        "version: 1",
        "bundle:",
        line("bundle.name", "kubernetes-windows-node", "dist/<name>-<gitVersion>-<revision>.zip"),
        "  # revision: 1",
        "kubernetes:",
        source.rstrip("\n"),
        line("kubernetes.version", "", "vX.Y.Z; a tree's own version when building from one"),
        line("kubernetes.root", "", "the Kubernetes source tree (or $KUBE_ROOT, --kube-root)"),
        "network:",
        line("network.mode", _NET.mode, ", ".join(NETWORK_MODES)),
        line("network.cluster_cidr", _NET.cluster_cidr, "the pod network"),
        line("network.service_cidr", _NET.service_cidr, "the service network"),
        line("network.dns_service_ip", _NET.dns_service_ip, "cluster DNS, inside service_cidr"),
        line("network.control_plane_ip", "", "the control plane's address (AddRoutes.ps1)"),
        "node:",
        line("node.windows_version", "ltsc2022", "ltsc2019, ltsc2022, ltsc2025, ..."),
        "  # labels: {example.com/pool: windows}",
        "release:",
        line("release.repo", "", "owner/name to publish to (or $GITHUB_REPOSITORY)"),
        "",
    ])


def write_starter(path: Path, given: Mapping[str, str], *, ask: Ask | None = None) -> Path:
    """Write the starter to `path`, refusing to overwrite; the values are checked as `check` would."""
    if path.exists():
        msg = f"{path} exists; init never overwrites a configuration: pass --out FILE for a new one, or edit it"
        raise ConfigError(msg)
    values = dict(given)
    if ask is not None:
        for key, question, default in QUESTIONS:
            if key not in values and not (key == "kubernetes.version" and "kubernetes.root" in values):
                answer = ask(question, default)
                if answer and answer != default:
                    values[key] = answer
    text = starter_text(values)
    _validate(text, str(path))
    atomic_write(path, text.encode("utf-8"))
    return path


def _validate(text: str, name: str) -> None:
    """The loader's own rules over what would be written (a bad value never reaches the file)."""
    from .load import Overrides, load

    doc_dir = Path(name).parent
    tmp = doc_dir / f".{Path(name).name}.init-check"
    parse_yaml(text, name)
    try:
        atomic_write(tmp, text.encode("utf-8"))
        load(Overrides(config=tmp, needs_source=False, fetches_sdn=False), {}, doc_dir)
    except ConfigError as err:
        msg = str(err).replace(str(tmp), name)
        raise ConfigError(f"init did not write {name}: {msg}") from None
    finally:
        tmp.unlink(missing_ok=True)
