"""The pipeline: preflight -> fetch -> build -> render -> pack, the commands around it, many versions in one run.

Each command takes the one value `cli` resolved for it (`builder.options`): the configuration,
the versions (the tree's detected once), the environment and what children may see of it, the
network and the reporter. Fail fast: the tree is checked when the run is resolved, `preflight`
checks in seconds what else would stop a run after the long build (every version-dependent
configuration rule, dist/ and the cache), and the pinned inputs are fetched and verified once,
for every version, before `make` starts.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from . import errors
from .artifacts import BuildResult, FetchedInput, RenderedFile, SdnResult
from .bundle import sign
from .config import Config
from .errors import BuilderError, BuildError, ConfigError, FetchError
from .options import BenchOptions, FetchOptions, PublishOptions, RenderOptions, Run, SchemaOptions, VerifyOptions

if TYPE_CHECKING:
    from .sources.build import TreeVersion
    from .sources.kit import Inputs

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- the commands


def bundle(run: Run) -> list[Path]:
    """`bundle`: one bundle per Kubernetes version of the run; the zips written to dist/.

    preflight and signer -> fetch (seconds) -> node-kit build -> then per version: build (minutes)
    -> render -> pack. What can fail fast goes first, and once, however many versions follow. Each
    part is a step of the reporter's (a fold group in CI, a line in the summary).
    """
    cfg, ctx = run.cfg, run.ctx
    with ctx.reporter.step("preflight"):
        preflight(run)
        signer = sign.prepare(cfg, ctx.env, ctx.child_env())  # the tool and the key, before the long work
    shared = prepare(run, signer)
    if cfg.kubernetes.versions:
        return bundle_many(run, shared)
    return [bundle_one(run, shared)]


@dataclass(frozen=True)
class Shared:
    """What every bundle of a run takes alike, made once before the first: the signer, the SDN
    files, and each node-kit input (with the section it is for) as the bundle takes it."""

    signer: sign.Signer | None
    sdn: SdnResult
    kit: tuple[tuple[str, FetchedInput], ...]

    def kit_for(self, cfg: Config, version: str | None) -> tuple[FetchedInput, ...]:
        """The node-kit inputs one version's bundle needs (by its runtime: a docker-era one takes no CNI)."""
        from .sources import kit

        wanted = set(kit.wanted_sections(cfg, version))
        return tuple(f for section, f in self.kit if section in wanted)


def prepare(run: Run, signer: sign.Signer | None) -> Shared:
    """Every pinned input of every version, fetched and verified, then the node kit finished (the
    CNI build: seconds, or a reused stamp): all before make."""
    from .sources import kit

    reporter = run.ctx.reporter
    with reporter.step("fetch"):
        fetched = fetch_inputs(run)
    with reporter.step("node kit"):
        finished = kit.finish(run.cfg, fetched, run.ctx.child_env())
    return Shared(signer, fetched.sdn, tuple(zip((f.spec.key for f in fetched.kit), finished, strict=True)))


def bundle_one(run: Run, shared: Shared) -> Path:
    """The bundle of one version: build (or download) -> render -> pack."""
    from .bundle import pack

    cfg, reporter = run.cfg, run.ctx.reporter
    of = f" {run.version}" if run.version else ""
    with reporter.step(f"build{of}"):
        built = build_stage(run)
    with reporter.step(f"render{of}"):
        rendered = render_stage(cfg, built.git_version)
    with reporter.step(f"pack{of}"):
        zip_path = pack.pack(cfg, built, shared.sdn, rendered, signer=shared.signer,
                             inputs=shared.kit_for(cfg, built.git_version))
    log.info("bundle: %s", zip_path)
    return zip_path


def check(run: Run) -> None:
    """`check`: the configuration (already loaded), the preflight, and the pinned inputs, without a build."""
    cfg, ctx = run.cfg, run.ctx
    preflight(run)
    signer = sign.prepare(cfg, ctx.env, ctx.child_env())  # what `bundle` checks before its long work
    fetched = fetch_inputs(run)
    versions = run.versions
    log.info("check: configuration ok%s", f" for {', '.join(versions)}" if versions else "")
    log.info("check: dist %s and cache %s usable", cfg.options.dist, cfg.options.cache_dir)
    if signer is not None:
        log.info("check: signing as %s with %s", signer.section.subject, signer.version)
    if from_tree(cfg):
        log.info("check: %s looks like a Kubernetes tree; make, bash, rsync present", cfg.kubernetes.root)
    else:
        log.info("check: %s", release_reachable(cfg, versions))
    log.info("check: SDN %s@%s: %d files verified", fetched.sdn.repo, fetched.sdn.commit[:12],
             len(fetched.sdn.files))
    for i in fetched.kit:
        log.info("check: %s %s verified (%s)", i.spec.name, i.spec.version, i.h1 or f"sha256 {i.archive_sha256}")


def build(run: Run) -> None:
    """`build`: the binaries only, each with its sha256."""
    preflight(run, writes_dist=False)
    for b in build_stage(run).binaries:
        log.info("%s  %s", b.sha256, b.path)


def fetch(opts: FetchOptions) -> None:
    """`fetch`: the pinned inputs into the cache, verified; with --update-pins, their pins rewritten."""
    from .sources import kit

    run = opts.run
    cfg, ctx = run.cfg, run.ctx
    if opts.update_pins:
        kit.check_update_pins(cfg)  # before the official binaries below are downloaded
        if cfg.kubernetes.source == "release":
            from .sources import release_pins

            release_pins.update_pins(cfg, net=ctx.net, reporter=ctx.reporter)
        kit.update_pins(cfg, run.version, net=ctx.net, reporter=ctx.reporter)
        return
    preflight(run, writes_dist=False)
    fetched = fetch_inputs(run)
    for f in fetched.sdn.files:
        log.info("%s  %s", f.sha256, f.dest)
    for i in fetched.kit:
        log.info("%s  %s %s (%s)", i.archive_sha256, i.spec.name, i.spec.version, i.h1 or "archive")


def render(opts: RenderOptions) -> None:
    """`render`: the node scripts of the run's one version, written to a folder for review."""
    from .node import render as render_mod

    run = opts.run
    preflight(run, writes_dist=False, uses_cache=False)
    folder_problem("--out", opts.out)
    render_mod.write_files(render_stage(run.cfg, run.version), opts.out)
    log.info("scripts written to %s", opts.out)


def verify(opts: VerifyOptions) -> None:
    """`verify`: the named zips, or every bundle in dist/; VerifyError when any has a problem."""
    from .bundle import verify as verify_mod

    if opts.zips:
        verify_mod.verify_zips(list(opts.zips), opts.signatures, reporter=opts.ctx.reporter)
        return
    assert opts.dist is not None
    verify_mod.verify_dist(opts.dist, opts.signatures, reporter=opts.ctx.reporter)


def publish(opts: PublishOptions) -> None:
    """`publish`: every bundle in dist/ to its GitHub release."""
    from .publish import publish as publish_mod

    ctx = opts.run.ctx
    publish_mod.publish_dist(opts.run.cfg, ctx.env, opts.flags, reporter=ctx.reporter, child_env=ctx.child_env())


def bench(opts: BenchOptions) -> int:
    """`bench`: the speed goals; 1 when one was missed (a result, not an error: every line is shown)."""
    from . import bench as bench_mod

    run = opts.run
    return bench_mod.main(run.cfg, run.ctx.child_env(), only=opts.only)


def schema(opts: SchemaOptions) -> None:
    """`schema`: the JSON Schema of bundle.yaml, as the result or into a file."""
    from .config import schema as schema_mod

    schema_mod.write(opts.out, opts.reporter)


def build_stage(run: Run) -> BuildResult:
    """The binaries of the run's one version: the tree's own make, or the verified official binaries."""
    cfg, ctx = run.cfg, run.ctx
    if cfg.kubernetes.source == "release":
        from .sources import binaries

        return binaries.download_binaries(cfg, net=ctx.net)
    from .sources import build as build_mod

    return build_mod.build(cfg, ctx.child_env(), tree=run.tree, reporter=ctx.reporter)


def render_stage(cfg: Config, git_version: str | None) -> list[RenderedFile]:
    from .node import render as render_mod

    if git_version is None:
        msg = ("cannot render without a Kubernetes version: set kubernetes.version, pass --kube-version vX.Y.Z, "
               "or give a tree (--kube-root)")
        raise ConfigError(msg)
    return render_mod.render_bundle(cfg, git_version)


def fetch_inputs(run: Run) -> Inputs:
    """The pinned inputs (SDN and the node kit), fetched and verified: seconds, so before the build.
    With several versions, the inputs of every one of them."""
    from .sources import kit

    return kit.fetch_all(run.cfg, run.version, net=run.ctx.net)


# --------------------------------------------------------------------------- preflight

# Commands the tree's own build runs: its Makefile (make), hack/*.sh (bash), rsync to place outputs.
BUILD_COMMANDS = ("make", "bash", "rsync")
# What every Kubernetes tree has had since 1.0; a Makefile alone could be any project's.
KUBE_TREE_MARKERS = ("hack/lib/version.sh", "cmd/kubelet")
CMD_COMPONENTS = ("kubelet", "kube-proxy", "kubectl", "kubeadm")


def from_tree(cfg: Config) -> bool:
    return cfg.kubernetes.source == "build" and cfg.kubernetes.root is not None


def resolve_versions(cfg: Config, env: Mapping[str, str], *,
                     checks_tree: bool) -> tuple[tuple[str, ...], TreeVersion | None]:
    """Every Kubernetes version the run is for, each once, known before any build: configured, or
    the tree's own, detected here (the one time a run asks git). With `checks_tree` (a command that
    builds), a tree that cannot be built is refused first, naming why. `env` is git's environment."""
    kube = cfg.kubernetes
    if kube.versions:
        return tuple(dict.fromkeys(kube.versions)), None  # a version given twice is one version
    if from_tree(cfg):
        from .sources import build as build_mod

        assert kube.root is not None
        if checks_tree:
            commands_present(kube.root, env)
            tree_problem(kube.root, kube.components)
        tree = build_mod.detect_version(kube.root, kube.version, env)
        return (tree.git_version,), tree
    return ((kube.version,) if kube.version else ()), None


def preflight(run: Run, *, writes_dist: bool = True, uses_cache: bool = True) -> None:
    """Check, in seconds and writing nothing, what would otherwise stop the run after the long work.

    The tree was checked when the run was resolved (`resolve_versions`). Raises ConfigError
    naming the key or option to change.
    """
    cfg = run.cfg
    if writes_dist:
        folder_problem("--dist", cfg.options.dist)
    if uses_cache:
        folder_problem("--cache-dir", cfg.options.cache_dir)
    for version in run.versions:
        check_version_rules(cfg, version)


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
                    status = http.head_status(session, url, (10, 30))
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


# --------------------------------------------------------------------------- many versions


@dataclass(frozen=True)
class Outcome:
    version: str
    zip_path: Path | None = None
    error: BuilderError | None = None


def bundle_many(run: Run, shared: Shared) -> list[Path]:
    """One bundle per version of `kubernetes.versions`: downloads in parallel, then packs one by one.

    A version that fails is reported and skipped; the others are still bundled. The summary lists
    every version; if any failed, a BuilderError follows it.
    """
    from .sources import binaries

    with run.ctx.reporter.step("download"):
        failed = binaries.prefetch(run.cfg, run.versions, net=run.ctx.net)
    outcomes: list[Outcome] = []
    for version in run.versions:
        if version in failed:
            outcomes.append(Outcome(version, error=failed[version]))
            continue
        try:
            outcomes.append(Outcome(version, zip_path=bundle_one(run.for_version(version), shared)))
        except BuilderError as err:
            log.error("%s: %s", version, err)
            outcomes.append(Outcome(version, error=err))
    run.ctx.reporter.summary(summary(outcomes))
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
