"""`reproduce`: build a bundle again from its provenance and compare it byte for byte.

A bundle's manifest.json records what it was made from: the Kubernetes tree (its commit, or for a
tree without git the digest of its files), the resolved configuration (and its digest), and the
tool's version. Reproducing checks each of them against what is at hand before the long build
(the tree given, the configuration, this tool), builds the bundle into a temporary folder exactly
as `bundle` does, and reports the first member that differs, or that the zips are identical.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from . import __version__
from . import config as cfgmod
from .bundle import manifest as mf
from .errors import ConfigError, VerifyError
from .hashing import sha256_file

if TYPE_CHECKING:
    from .options import Run

log = logging.getLogger(__name__)


def read_manifest(zip_path: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(zip_path) as zf:
            data = json.loads(zf.read(mf.MANIFEST))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        msg = f"{zip_path}: not a bundle of this tool (no readable {mf.MANIFEST}: {err})"
        raise VerifyError(msg) from err
    if not isinstance(data, dict) or data.get("schema") != mf.SCHEMA:
        msg = f"{zip_path}: {mf.MANIFEST} is not a {mf.SCHEMA} manifest"
        raise VerifyError(msg)
    return data


def config_file_text(recorded: Mapping[str, Any]) -> str:
    """The recorded configuration (`Config.to_dict`) as bundle.yaml writes it."""
    data = json.loads(json.dumps(recorded))
    kube = data.get("kubernetes", {})
    pins: dict[str, dict[str, str]] = {}
    for version, component, sha in kube.get("pins", []):
        pins.setdefault(version, {})[component] = sha
    kube["pins"] = pins
    node = data.get("node", {})
    node["labels"] = dict(node.get("labels", []))
    return yaml.safe_dump(data, sort_keys=True)


def check_tool(manifest: Mapping[str, Any]) -> None:
    made_by = manifest.get("tool", {}).get("version")
    if made_by != __version__:
        msg = (f"the bundle was made by {mf.TOOL} {made_by or '(a version before 0.1 that records none)'}, this is "
               f"{__version__}: the same bytes need the same tool; install it (pip install {mf.TOOL}=={made_by}) "
               "and run reproduce again")
        raise ConfigError(msg)


def check_tree(manifest: Mapping[str, Any], cfg: cfgmod.Config, env: Mapping[str, str]) -> None:
    """The tree given is the one the bundle was built from: its commit, or its files' digest."""
    from .sources import build

    k = manifest["kubernetes"]
    if k["source"] != "build":
        return
    root = cfg.kubernetes.root
    if root is None:
        msg = (f"the bundle was built from the Kubernetes tree at {k['commit'] or 'a tree without git'}: pass it "
               "with --kube-root DIR")
        raise ConfigError(msg)
    tree = build.detect_version(root, cfg.kubernetes.version, env)
    if k["commit"] and tree.commit != k["commit"]:
        msg = (f"--kube-root {root} is at commit {tree.commit or '(no git)'}, the bundle was built at {k['commit']}: "
               f"check out {k['commit']} (git -C {root} checkout {k['commit']})")
        raise ConfigError(msg)
    digest = build.tree_fingerprint(root, env)
    if k.get("treeDigest") and digest != k["treeDigest"]:
        msg = (f"--kube-root {root}: its files (digest {digest[:16]}...) are not those the bundle was built from "
               f"({k['treeDigest'][:16]}...); unpack the same source archive again, or use the same checkout")
        raise ConfigError(msg)


def first_difference(ours: Path, theirs: Path) -> str | None:
    """The first member (in the zip's order) whose name, content or stored form differs, or None."""
    with zipfile.ZipFile(ours) as a, zipfile.ZipFile(theirs) as b:
        left, right = a.infolist(), b.infolist()
        for x, y in zip(left, right, strict=False):
            if x.filename != y.filename:
                return f"member {x.filename} where the bundle has {y.filename}"
            if (x.CRC, x.file_size) != (y.CRC, y.file_size) or a.read(x) != b.read(y):
                return f"{x.filename}: content differs ({x.file_size} bytes rebuilt, {y.file_size} in the bundle)"
            if (x.compress_size, x.date_time, x.external_attr) != (y.compress_size, y.date_time, y.external_attr):
                return (f"{x.filename}: same content, stored differently (compressed {x.compress_size} vs "
                        f"{y.compress_size} bytes, time {x.date_time} vs {y.date_time}): check the compressor")
        if len(left) != len(right):
            extra = (left if len(left) > len(right) else right)[min(len(left), len(right))].filename
            return f"{extra}: only in the {'rebuilt' if len(left) > len(right) else 'given'} bundle"
    return "every member is the same, the zip's other bytes differ (its directory)"


def reproduce(zip_path: Path, overrides: cfgmod.Overrides, make_run: Callable[[cfgmod.Overrides], Run]) -> None:
    """Rebuild `zip_path` from its provenance; a VerifyError names the first difference.

    `make_run` resolves a run from overrides as every command does (`cli.resolve`): the configuration
    is the one recorded in the manifest unless `overrides.config` names a file."""
    from . import pipeline

    manifest = read_manifest(zip_path)
    check_tool(manifest)
    with tempfile.TemporaryDirectory(prefix="reproduce-") as tmp:
        work = Path(tmp)
        config = overrides.config
        if config is None:
            config = work / "bundle.yaml"
            config.write_text(config_file_text(manifest["config"]), encoding="utf-8")
        run = make_run(dataclasses.replace(overrides, config=config, dist=work / "dist", clean=False))
        cfg = run.cfg
        if cfg.digest() != manifest["configDigest"]:
            differing = sorted(k for k, v in cfg.to_dict().items() if manifest["config"].get(k) != v)
            msg = (f"the configuration ({config if overrides.config else 'rebuilt from the manifest'}) is not the "
                   f"bundle's: {', '.join(differing) or 'its digest'} differ; pass --config with the file it was made "
                   "with")
            raise ConfigError(msg)
        check_tree(manifest, cfg, run.ctx.child_env())
        (rebuilt,) = pipeline.bundle(run)
        new, old = sha256_file(rebuilt), sha256_file(zip_path)
        if new == old:
            run.ctx.reporter.result(f"reproduce: identical: {zip_path.name} (sha256 {old})")
            return
        difference = first_difference(rebuilt, zip_path)
    msg = f"reproduce: {zip_path.name} differs from its rebuild (sha256 {new}, the bundle's {old}): first: {difference}"
    raise VerifyError(msg)
