"""The pipeline: build -> fetch -> render -> pack, and the commands around it."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from pathlib import Path

from .artifacts import BuildResult, RenderedFile, SdnResult
from .config import Config
from .errors import BuilderError

log = logging.getLogger(__name__)


def run(command: str, cfg: Config, args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Carry out one command of the CLI with a resolved configuration."""
    if command == "bundle":
        bundle(cfg, env)
        return 0
    if command == "build":
        result = build_stage(cfg, env)
        for b in result.binaries:
            log.info("%s  %s", b.sha256, b.path)
        return 0
    if command == "fetch":
        from . import fetch

        if getattr(args, "update_pins", False):
            return fetch.update_pins(cfg)
        sdn = fetch.fetch_sdn(cfg)
        for f in sdn.files:
            log.info("%s  %s", f.sha256, f.dest)
        return 0
    if command == "render":
        from . import render

        out = args.out or (cfg.options.dist / "render")
        render.write_files(render_stage(cfg, None, version=_known_version(cfg, env)), Path(out))
        log.info("scripts written to %s", out)
        return 0
    if command == "verify":
        from . import verify

        return verify.verify_dist(cfg.options.dist)
    if command == "publish":
        from . import publish

        return publish.publish_dist(
            cfg, env, draft=args.draft, replace=args.replace, dry_run=args.dry_run
        )
    if command == "bench":
        from . import bench

        return bench.main(cfg, env, only=args.only)
    msg = f"unknown command {command!r}"
    raise BuilderError(msg)


def build_stage(cfg: Config, env: Mapping[str, str]) -> BuildResult:
    if cfg.kubernetes.source == "release":
        from . import release

        return release.download_binaries(cfg)
    from . import build

    return build.build(cfg, env)


def render_stage(cfg: Config, built: BuildResult | None, *, version: str | None = None) -> list[RenderedFile]:
    from . import node, render

    git_version = built.git_version if built is not None else version
    if git_version is None:
        msg = "cannot render without a Kubernetes version: set kubernetes.version or give a tree"
        raise BuilderError(msg)
    files = {f.dest: f for f in render.render_bundle(cfg, git_version, built)}
    # The node files (installer, join script, samples, guide) win over a same-named script.
    files.update({f.dest: f for f in node.render_node_files(cfg, git_version, built)})
    return sorted(files.values(), key=lambda f: f.dest)


def _known_version(cfg: Config, env: Mapping[str, str]) -> str | None:
    if cfg.kubernetes.version:
        return cfg.kubernetes.version
    if len(cfg.kubernetes.versions) == 1:
        return cfg.kubernetes.versions[0]
    if cfg.kubernetes.source == "build" and cfg.kubernetes.root is not None:
        from . import build

        return build.detect_version(cfg.kubernetes.root, cfg.kubernetes.version).git_version
    return None


def bundle(cfg: Config, env: Mapping[str, str]) -> list[Path]:
    """Build one bundle per Kubernetes version; return the zips written to dist/."""
    if cfg.kubernetes.versions:
        from . import release

        return release.bundle_many(cfg, env, bundle_one)
    return [bundle_one(cfg, env)]


def bundle_one(cfg: Config, env: Mapping[str, str]) -> Path:
    from . import fetch, pack

    built = build_stage(cfg, env)
    sdn: SdnResult = fetch.fetch_sdn(cfg)
    rendered = render_stage(cfg, built)
    zip_path = pack.pack(cfg, built, sdn, rendered)
    log.info("bundle: %s", zip_path)
    return zip_path


def verify_paths(zips: list[Path]) -> int:
    from . import verify

    return verify.verify_zips(zips)
