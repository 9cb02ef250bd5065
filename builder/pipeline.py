"""The pipeline: build -> fetch -> render -> pack, the commands around it, and many versions in one run."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import errors
from .artifacts import BuildResult, RenderedFile
from .config import Config
from .errors import BuilderError
from .http import Net

if TYPE_CHECKING:
    from .bundle import verify as verify_mod

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
        from .sources import kit

        if getattr(args, "update_pins", False):
            if cfg.kubernetes.source == "release":
                from .sources import release_pins

                release_pins.update_pins(cfg)
            return kit.update_pins(cfg, _known_version(cfg))
        fetched = kit.fetch_all(cfg, _known_version(cfg))
        for f in fetched.sdn.files:
            log.info("%s  %s", f.sha256, f.dest)
        for i in fetched.kit:
            log.info("%s  %s %s (%s)", i.archive_sha256, i.spec.name, i.spec.version, i.h1 or "archive")
        return 0
    if command == "render":
        from .node import render

        out = args.out or (cfg.options.dist / "render")
        render.write_files(render_stage(cfg, _known_version(cfg)), Path(out))
        log.info("scripts written to %s", out)
        return 0
    if command == "verify":
        from .bundle import verify

        return verify.verify_dist(cfg.options.dist, signature_options(args))
    if command == "publish":
        from .publish import publish

        return publish.publish_dist(
            cfg, env, draft=args.draft, replace=args.replace, dry_run=args.dry_run,
            sigstore=getattr(args, "sigstore", False),
            target_commitish=args.target_commitish,
        )
    if command == "bench":
        from . import bench

        return bench.main(cfg, env, only=args.only)
    msg = f"unknown command {command!r}"
    raise BuilderError(msg)


def build_stage(cfg: Config, env: Mapping[str, str], *, net: Net | None = None) -> BuildResult:
    if cfg.kubernetes.source == "release":
        from .sources import binaries

        return binaries.download_binaries(cfg, net=net)
    from .sources import build

    return build.build(cfg, env)


def render_stage(cfg: Config, git_version: str | None) -> list[RenderedFile]:
    from .node import render

    if git_version is None:
        msg = "cannot render without a Kubernetes version: set kubernetes.version or give a tree"
        raise BuilderError(msg)
    return render.render_bundle(cfg, git_version)


def _known_version(cfg: Config) -> str | None:
    if cfg.kubernetes.version:
        return cfg.kubernetes.version
    if len(cfg.kubernetes.versions) == 1:
        return cfg.kubernetes.versions[0]
    if cfg.kubernetes.source == "build" and cfg.kubernetes.root is not None:
        from .sources import build

        return build.detect_version(cfg.kubernetes.root, cfg.kubernetes.version).git_version
    return None


def bundle(cfg: Config, env: Mapping[str, str]) -> list[Path]:
    """Build one bundle per Kubernetes version; return the zips written to dist/."""
    if cfg.kubernetes.versions:
        return bundle_many(cfg, env)
    return [bundle_one(cfg, env)]


def bundle_one(cfg: Config, env: Mapping[str, str], *, net: Net | None = None) -> Path:
    from .bundle import pack, sign
    from .sources import kit

    signer = sign.prepare(cfg, env)  # the tool and the key are checked before the long work
    # Every pinned input first: a bad pin or a missing file stops the run before a long build.
    fetched = kit.fetch_all(cfg, _known_version(cfg), net=net)
    built = build_stage(cfg, env, net=net)
    inputs = kit.finish(cfg, fetched, env)
    rendered = render_stage(cfg, built.git_version)
    zip_path = pack.pack(cfg, built, fetched.sdn, rendered, signer=signer, inputs=inputs)
    log.info("bundle: %s", zip_path)
    return zip_path


def verify_paths(zips: list[Path], sig: verify_mod.SignatureOptions | None = None) -> int:
    from .bundle import verify

    return verify.verify_zips(zips, sig)


def signature_options(args: argparse.Namespace) -> verify_mod.SignatureOptions:
    from .bundle import verify

    return verify.SignatureOptions(
        trust_ca=getattr(args, "trust_ca", None), sigstore_identity=getattr(args, "sigstore_identity", None),
        sigstore_issuer=getattr(args, "sigstore_issuer", None),
        sigstore_trusted_root=getattr(args, "sigstore_trusted_root", None))


# --------------------------------------------------------------------------- many versions


@dataclass(frozen=True)
class Outcome:
    version: str
    zip_path: Path | None = None
    error: BuilderError | None = None


def bundle_many(cfg: Config, env: Mapping[str, str], *, net: Net | None = None) -> list[Path]:
    """One bundle per version of `kubernetes.versions`: downloads in parallel, then packs one by one.

    A version that fails is reported and skipped; the others are still bundled. The summary lists
    every version; if any failed, a BuilderError follows it.
    """
    from .bundle import sign
    from .sources import binaries

    sign.prepare(cfg, env)  # osslsigncode and the key are checked before any download
    versions = list(dict.fromkeys(cfg.kubernetes.versions))  # a version given twice is bundled once
    failed = binaries.prefetch(cfg, versions, net=net)
    outcomes: list[Outcome] = []
    for version in versions:
        if version in failed:
            outcomes.append(Outcome(version, error=failed[version]))
            continue
        try:
            outcomes.append(Outcome(version, zip_path=bundle_one(cfg.for_version(version), env, net=net)))
        except BuilderError as err:
            log.error("%s: %s", version, err)
            outcomes.append(Outcome(version, error=err))
    for line in summary(outcomes):
        log.info("%s", line)
    problems = [o for o in outcomes if o.error is not None]
    if problems:
        msg = (f"{len(problems)} of {len(outcomes)} Kubernetes versions failed "
               f"({', '.join(o.version for o in problems)}); see the summary above")
        if len(problems) < len(outcomes):
            msg += "; the bundles of the others are complete in dist/"
        raise _common_class([o.error for o in problems if o.error is not None])(msg)
    return [o.zip_path for o in outcomes if o.zip_path is not None]


def summary(outcomes: Sequence[Outcome]) -> list[str]:
    """One line per version: ok and its zip, or FAILED and why (later lines of the error indented)."""
    failed = sum(1 for o in outcomes if o.error is not None)
    lines = [f"summary: {len(outcomes)} Kubernetes version(s), {len(outcomes) - failed} ok, {failed} failed"]
    width = max((len(o.version) for o in outcomes), default=0)
    for o in outcomes:
        if o.error is None:
            lines.append(f"  {o.version:<{width}}  ok      {o.zip_path}")
            continue
        first, *rest = str(o.error).splitlines() or [""]
        lines.append(f"  {o.version:<{width}}  FAILED  {first}")
        lines.extend(f"  {'':<{width}}          {line}" for line in rest)
    return lines


def _common_class(errs: Sequence[BuilderError]) -> type[BuilderError]:
    """The error class (from errors.py) all failures share, so the exit code still says what failed."""
    classes = {next(c for c in type(e).__mro__ if c.__module__ == errors.__name__) for e in errs}
    if len(classes) == 1:
        cls = classes.pop()
        if issubclass(cls, BuilderError):
            return cls
    return BuilderError
