"""The pipeline: preflight -> fetch -> build -> render -> pack, the commands around it, many versions in one run.

Fail fast: `preflight` checks in seconds everything that would otherwise stop a run after the long
build (every version-dependent configuration rule, dist/ and the cache, the commands the build
runs, the tree's shape), and the pinned inputs are fetched and verified before `make` starts.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from . import errors
from .artifacts import BuildResult, RenderedFile
from .config import Config
from .errors import BuilderError, BuildError, ConfigError, FetchError
from .http import Net

if TYPE_CHECKING:
    from .bundle import verify as verify_mod
    from .sources.kit import Inputs

log = logging.getLogger(__name__)


def run(command: str, cfg: Config, args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Carry out one command of the CLI with a resolved configuration."""
    if command == "bundle":
        bundle(cfg, env)
        return 0
    if command == "check":
        return check(cfg, env)
    if command == "build":
        _one_version(cfg, command)
        preflight(cfg, env, writes_dist=False)
        result = build_stage(cfg, env)
        for b in result.binaries:
            log.info("%s  %s", b.sha256, b.path)
        return 0
    if command == "fetch":
        from .sources import kit

        if getattr(args, "update_pins", False):
            kit.check_update_pins(cfg)  # before the official binaries below are downloaded
            if cfg.kubernetes.source == "release":
                from .sources import release_pins

                release_pins.update_pins(cfg)
            return kit.update_pins(cfg, _known_version(cfg))
        preflight(cfg, env, writes_dist=False, builds=False)
        fetched = kit.fetch_all(cfg, _known_version(cfg))
        for f in fetched.sdn.files:
            log.info("%s  %s", f.sha256, f.dest)
        for i in fetched.kit:
            log.info("%s  %s %s (%s)", i.archive_sha256, i.spec.name, i.spec.version, i.h1 or "archive")
        return 0
    if command == "render":
        from .node import render

        _one_version(cfg, command)
        out = args.out or (cfg.options.dist / "render")
        preflight(cfg, env, writes_dist=False, builds=False, uses_cache=False)
        folder_problem("--out", Path(out))
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


def _one_version(cfg: Config, command: str) -> None:
    """build and render work on one version; several would otherwise be told to give one."""
    versions = list(dict.fromkeys(cfg.kubernetes.versions))
    if len(versions) > 1:
        msg = (f"{command} takes one Kubernetes version, not {len(versions)} ({', '.join(versions)}): pass "
               "--kube-version once (bundle makes one bundle per version)")
        raise ConfigError(msg)


def build_stage(cfg: Config, env: Mapping[str, str], *, net: Net | None = None) -> BuildResult:
    if cfg.kubernetes.source == "release":
        from .sources import binaries

        return binaries.download_binaries(cfg, net=net)
    from .sources import build

    return build.build(cfg, env)


def render_stage(cfg: Config, git_version: str | None) -> list[RenderedFile]:
    from .node import render

    if git_version is None:
        msg = ("cannot render without a Kubernetes version: set kubernetes.version, pass --kube-version vX.Y.Z, "
               "or give a tree (--kube-root)")
        raise ConfigError(msg)
    return render.render_bundle(cfg, git_version)


def _known_version(cfg: Config) -> str | None:
    if cfg.kubernetes.version:
        return cfg.kubernetes.version
    versions = list(dict.fromkeys(cfg.kubernetes.versions))  # a version given twice is one version
    if len(versions) == 1:
        return versions[0]
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
    """preflight -> signer -> fetch (seconds) -> node-kit build -> build (minutes) -> render -> pack:
    what can fail fast goes first."""
    from .bundle import pack, sign
    from .sources import kit

    versions = preflight(cfg, env)
    signer = sign.prepare(cfg, env)  # the tool and the key are checked before the long work
    fetched = fetch_inputs(cfg, versions, net=net)
    inputs = kit.finish(cfg, fetched, env)  # the CNI build (seconds, or a reused stamp) before make (minutes)
    built = build_stage(cfg, env, net=net)
    rendered = render_stage(cfg, built.git_version)
    zip_path = pack.pack(cfg, built, fetched.sdn, rendered, signer=signer, inputs=inputs)
    log.info("bundle: %s", zip_path)
    return zip_path


def fetch_inputs(cfg: Config, versions: Sequence[str], *, net: Net | None = None) -> Inputs:
    """The pinned inputs (SDN and the node kit this bundle needs), fetched and verified: seconds, so
    before the build. `versions` are the preflight's (the tree's version is detected once, there);
    with several, the inputs of every one of them."""
    from .sources import kit

    return kit.fetch_all(cfg, versions[0] if len(versions) == 1 else None, net=net)


# --------------------------------------------------------------------------- preflight

# Commands the tree's own build runs: its Makefile (make), hack/*.sh (bash), rsync to place outputs.
BUILD_COMMANDS = ("make", "bash", "rsync")
# What every Kubernetes tree has had since 1.0; a Makefile alone could be any project's.
KUBE_TREE_MARKERS = ("hack/lib/version.sh", "cmd/kubelet")
CMD_COMPONENTS = ("kubelet", "kube-proxy", "kubectl", "kubeadm")


def preflight(cfg: Config, env: Mapping[str, str], *, writes_dist: bool = True, builds: bool = True,
              uses_cache: bool = True) -> list[str]:
    """Check, in seconds and writing nothing, what would otherwise stop the run after the long work.

    Returns the Kubernetes versions checked. Raises ConfigError (or BuildError for a missing
    command) naming the key or option to change.
    """
    kube = cfg.kubernetes
    from_tree = kube.source == "build" and kube.root is not None
    if from_tree and builds:
        assert kube.root is not None
        commands_present(kube.root, env)
        tree_problem(kube.root, kube.components)
    if writes_dist:
        folder_problem("--dist", cfg.options.dist)
    if uses_cache:
        folder_problem("--cache-dir", cfg.options.cache_dir)
    versions = known_versions(cfg)
    for version in versions:
        check_version_rules(cfg, version)
    return versions


def known_versions(cfg: Config) -> list[str]:
    """Every version this run bundles that can be known before any build: configured, or the tree's."""
    kube = cfg.kubernetes
    if kube.versions:
        return list(dict.fromkeys(kube.versions))
    if kube.source == "build" and kube.root is not None:
        from .sources import build

        return [build.detect_version(kube.root, kube.version).git_version]
    return [kube.version] if kube.version else []


def check_version_rules(cfg: Config, git_version: str) -> None:
    """The configuration rules that depend on the Kubernetes version (config.rules; render reads the result)."""
    from .config import check_for_version
    from .kversion import KubeVersion

    try:
        version = KubeVersion.parse(git_version)
    except ValueError as err:
        msg = f"kubernetes.version: {git_version!r} is not usable: {err}"
        raise ConfigError(msg) from err
    check_for_version(cfg, version)


def commands_present(root: Path, env: Mapping[str, str]) -> None:
    needed = [*BUILD_COMMANDS, *(("git",) if (root / ".git").exists() else ())]
    missing = [c for c in needed if shutil.which(c, path=env.get("PATH")) is None]
    if missing:
        msg = (f"the Kubernetes build needs {', '.join(missing)}, not found on PATH; install "
               f"{'it' if len(missing) == 1 else 'them'} (Debian/Ubuntu: sudo apt-get install {' '.join(missing)})")
        raise BuildError(msg)


def tree_problem(root: Path, components: Sequence[str] = ()) -> None:
    """Refuse a folder that is not a Kubernetes tree, or lacks a component, before its Makefile runs."""
    missing = [m for m in KUBE_TREE_MARKERS if not (root / m).exists()]
    if missing:
        msg = (f"kubernetes.root (--kube-root): {root} does not look like a Kubernetes source tree "
               f"(no {' or '.join(missing)}), so its Makefile is not run; point it at the top folder of a "
               "kubernetes/kubernetes checkout")
        raise ConfigError(msg)
    # The components every tree builds from cmd/<name> (others may live elsewhere, e.g. staging/).
    absent = [c for c in components if c in CMD_COMPONENTS and not (root / "cmd" / c).is_dir()]
    if absent:
        msg = (f"kubernetes.components: the tree {root} has no {', '.join(f'cmd/{c}' for c in absent)}; "
               "remove the component or use a tree that has it")
        raise ConfigError(msg)


def folder_problem(option: str, folder: Path) -> None:
    """A folder this run will write to: a writable folder, or one that can be created."""
    probe = folder
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        what = "is a file" if probe == folder else f"is inside {probe}, which is a file"
        msg = f"{option}: {folder} {what}, not a folder; pass {option} with a folder (it is created if missing)"
        raise ConfigError(msg)
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "" if probe == folder else f" (its nearest existing folder {probe} is read-only)"
        msg = f"{option}: {folder} is not writable{where}; pass {option} with a folder you can write to"
        raise ConfigError(msg)


def check(cfg: Config, env: Mapping[str, str]) -> int:
    """`check`: the configuration (already loaded), the preflight, and the pinned inputs, without a build."""
    from .bundle import sign

    versions = preflight(cfg, env, builds=cfg.kubernetes.source == "build" and cfg.kubernetes.root is not None)
    signer = sign.prepare(cfg, env)  # what `bundle` checks before its long work, checked here too
    fetched = fetch_inputs(cfg, versions)
    log.info("check: configuration ok%s", f" for {', '.join(versions)}" if versions else "")
    log.info("check: dist %s and cache %s usable", cfg.options.dist, cfg.options.cache_dir)
    if signer is not None:
        log.info("check: signing as %s with %s", signer.section.subject, signer.version)
    if cfg.kubernetes.source == "build" and cfg.kubernetes.root is not None:
        log.info("check: %s looks like a Kubernetes tree; make, bash, rsync present", cfg.kubernetes.root)
    else:
        log.info("check: %s", release_reachable(cfg, versions))
    log.info("check: SDN %s@%s: %d files verified", fetched.sdn.repo, fetched.sdn.commit[:12],
             len(fetched.sdn.files))
    for i in fetched.kit:
        log.info("check: %s %s verified (%s)", i.spec.name, i.spec.version, i.h1 or f"sha256 {i.archive_sha256}")
    return 0


def release_reachable(cfg: Config, versions: Sequence[str]) -> str:
    """Each component's binary is published there (HEAD only: nothing is downloaded)."""
    from . import http
    from .sources import binaries

    if cfg.options.offline:
        return "official binaries: not checked (--offline; bundle uses the cache)"
    missing: list[str] = []
    session = http.make_session()
    try:
        for version in versions:
            for name in cfg.kubernetes.components:
                url = binaries.binary_url(cfg, version, name)
                local = http.local_path(url)
                if local is not None:
                    if not local.is_file():
                        missing.append(f"{url}: no such file")
                    continue
                try:
                    status = session.head(url, allow_redirects=True, timeout=(10, 30)).status_code
                except requests.RequestException as err:
                    missing.append(f"{http.redact_url(url)}: {type(err).__name__}")
                    continue
                if status != 200:
                    missing.append(f"{http.redact_url(url)}: HTTP {status}")
    finally:
        session.close()
    if missing:
        msg = ("kubernetes.release_url: these binaries cannot be reached "
               "(check the version and release_url, or the network):\n  " + "\n  ".join(missing))
        raise FetchError(msg)
    count = len(versions) * len(cfg.kubernetes.components)
    return f"official binaries: all {count} are published at {http.redact_url(cfg.kubernetes.release_url)}"


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

    versions = list(dict.fromkeys(cfg.kubernetes.versions))  # a version given twice is bundled once
    known = preflight(cfg, env)
    sign.prepare(cfg, env)  # osslsigncode and the key are checked before any download
    fetch_inputs(cfg, known, net=net)  # once, before the downloads: the same pinned inputs go into every bundle
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
