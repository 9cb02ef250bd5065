"""Release notes: a jinja2 template (`publish --notes FILE`, else the built-in one) over the bundle's manifest.

The values are made safe for a Markdown table cell first (no backquote, pipe, angle bracket or
control character), so a template cannot forget it; undefined names are errors that name the
template's file and line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from ..errors import ConfigError

DEFAULT = """\
Offline Kubernetes node bundle for Windows Server: `{{ assets[0].name }}`.

| | |
|---|---|
| Kubernetes | {{ kubernetes.gitVersion }} (commit {{ kubernetes.commit }}, source {{ kubernetes.source }}, \
tree {{ kubernetes.treeState }}) |
| Go | {{ go.version }} |
| SDN scripts | {{ sdn.repo }} at commit {{ sdn.commit }} |
| Network mode | {{ network_mode }} |
| Bundle | {{ bundle.name }} {{ bundle.version }}, revision {{ bundle.revision }} |
| Configuration digest | {{ config_digest }} |

## Checksums (sha256)

```
{% for a in assets %}{{ a.sha256 }}  {{ a.name }}
{% endfor %}```

Check a download with `sha256sum -c --ignore-missing {{ assets[-1].name }}`; after unpacking, \
`k/manifest.json` lists every file's sha256.
{% if executables %}
## Executables (sha256)

```
{% for f in executables %}{{ f.sha256 }}  {{ f.path }}
{% endfor %}```
{% endif %}"""


def cell(value: Any) -> str:
    """A manifest value made safe for one Markdown table cell or code span."""
    return re.sub(r"[\x00-\x1f`|<>]", " ", str(value)).strip() or "-"


def context(manifest: Mapping[str, Any], assets: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """What a template sees: the manifest's sections (each value cleaned), the assets (name, sha256)."""
    def section(name: str, *keys: str) -> dict[str, str]:
        part = manifest.get(name)
        return {k: cell(part.get(k) if isinstance(part, dict) else None) for k in keys}

    config = manifest.get("config")
    network = config.get("network") if isinstance(config, dict) else None
    exes = [f for f in manifest.get("files") or [] if isinstance(f, dict) and str(f.get("path", "")).endswith(".exe")]
    return {
        "kubernetes": section("kubernetes", "gitVersion", "commit", "source", "treeState"),
        "go": section("go", "version"),
        "sdn": section("sdn", "repo", "commit"),
        "bundle": section("bundle", "name", "version", "revision"),
        "network_mode": cell(network.get("mode") if isinstance(network, dict) else None),
        "config_digest": cell(manifest.get("configDigest")),
        "assets": [{"name": cell(n), "sha256": cell(d)} for n, d in assets],
        "executables": [{"path": cell(f.get("path")), "sha256": cell(f.get("sha256"))} for f in exes],
    }


def load(path: Path | None) -> tuple[str, str]:
    """(template text, its name for errors): the file, or the built-in template."""
    if path is None:
        return DEFAULT, "(built-in release notes)"
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as err:
        msg = f"--notes: cannot read {path}: {err}; give a jinja2 template of the release notes"
        raise ConfigError(msg) from err


def render(template: tuple[str, str], manifest: Mapping[str, Any], assets: Sequence[tuple[str, str]]) -> str:
    text, name = template
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,  # noqa: S701 (Markdown)
                             keep_trailing_newline=True)
    try:
        out = env.from_string(text).render(context(manifest, assets))
    except jinja2.TemplateSyntaxError as err:
        msg = f"{name}:{err.lineno}: the release notes template does not parse: {err.message}"
        raise ConfigError(msg) from None
    except jinja2.UndefinedError as err:
        msg = (f"{name}: the release notes template uses a name it is not given ({err.message}); it has "
               "kubernetes, go, sdn, bundle, network_mode, config_digest, assets, executables")
        raise ConfigError(msg) from None
    return out if out.endswith("\n") else out + "\n"
