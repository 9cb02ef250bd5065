"""Build stage: the tree's own `make`, once for every component, then check what it made.

Contract (the tree's build/root/Makefile and hack/make-rules):
`make WHAT="cmd/kubelet ..." KUBE_BUILD_PLATFORMS=windows/amd64` in the tree root writes
`_output/local/bin/windows/amd64/<name>.exe`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..artifacts import Binary, BuildResult
from ..config import Config, KubernetesSection
from ..errors import BuildError, ConfigError
from ..fsutil import atomic_write, read_json_object
from ..hashing import sha256_file
from ..kversion import KubeVersion, from_git_describe
from ..pe import file_contains, file_pe_problem
from ..report import Reporter
from ..run import call, call_logged
from . import gocache
from .toolchain import Toolchain, private_home, provision, requirement, shim_text, show, write_shim

log = logging.getLogger(__name__)

STAMP_SCHEMA = 2  # 2: built through the `go` shim (toolchain.write_shim), with -trimpath


@dataclass(frozen=True)
class TreeVersion:
    git_version: str
    commit: str | None
    tree_state: str  # clean, dirty, archive
    commit_time: int | None


def _git(root: Path, env: Mapping[str, str], *args: str) -> str:
    return call(["git", "-C", str(root), *args], env=env, error=BuildError, what=f"git {args[0]}").strip()


def detect_version(root: Path, configured: str | None, env: Mapping[str, str]) -> TreeVersion:
    """The gitVersion to stamp: from `git describe` in a git tree, or `kubernetes.version` otherwise.

    `env` is git's environment (the run's, without its secrets)."""
    if not (root / ".git").exists():
        if not configured:
            msg = (f"kubernetes.version: {root} has no .git (an unpacked tarball?), so its version cannot be "
                   "detected; set kubernetes.version: vX.Y.Z to the version of this tree")
            raise ConfigError(msg)
        return TreeVersion(configured, None, "archive", None)
    commit = _git(root, env, "rev-parse", "HEAD")
    dirty = bool(_git(root, env, "status", "--porcelain"))
    commit_time = int(_git(root, env, "show", "-s", "--format=%ct", "HEAD"))
    try:
        describe = _git(root, env, "describe", "--tags", "--match=v*", "--abbrev=14", "HEAD")
    except BuildError:
        describe = ""
    if not describe:
        if not configured:
            msg = (f"kubernetes.version: the tree {root} has no v* tag to describe its version; "
                   "tag it, or set kubernetes.version: vX.Y.Z")
            raise ConfigError(msg)
        version = configured + ("-dirty" if dirty and "-dirty" not in configured else "")
    else:
        version = from_git_describe(describe, dirty)
        if configured and configured != version and configured != version.removesuffix("-dirty"):
            msg = (f"kubernetes.version: {configured} is set, but the tree {root} describes itself as "
                   f"{version}; remove kubernetes.version to use the tree's, or check out {configured}")
            raise ConfigError(msg)
    try:
        KubeVersion.parse(version)
    except ValueError as err:
        msg = f"the tree's version is not usable: {err}; tag the tree with a vX.Y.Z tag or set kubernetes.version"
        raise ConfigError(msg) from err
    return TreeVersion(version, commit, "dirty" if dirty else "clean", commit_time)


# What the Kubernetes build itself writes inside the tree: its outputs and code generation
# (`make` runs generators that write zz_generated.* next to the sources, bindata.go under
# generated/, and keeps stamps in .make/ and scratch in _tmp/). None of it is an input of the
# build: the no-op key and the tree's time leave it out, so a build does not invalidate itself.
GENERATED_DIRS = frozenset({"_output", "_tmp", ".make", ".git"})
GENERATED_NAMES = ("zz_generated.*", "bindata.go", "*.generated_files")


def generated(rel: str) -> bool:
    """Whether a path (relative to the tree, '/'-separated) is something the tree's build writes."""
    parts = rel.split("/")
    if any(p in GENERATED_DIRS for p in parts[:-1]):
        return True
    return any(fnmatch.fnmatchcase(parts[-1], pat) for pat in GENERATED_NAMES)


def source_files(root: Path) -> Iterator[tuple[str, Path]]:
    """Every file of a tree without git, sorted, with what its build generates left out."""
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in GENERATED_DIRS)
        for name in sorted(filenames):
            rel = (base / name).relative_to(root).as_posix()
            if not generated(rel):
                yield rel, base / name


def tree_time(root: Path) -> int | None:
    """The time of a tree without git: the newest modification time among its source files.

    Unpacking a source archive (tar, unzip, `git archive` output) keeps the files' times, and the
    tree's own build writes only what `generated` leaves out, so the time stays the same from one
    build to the next: that is what makes two builds of the same tree byte-identical.
    """
    newest = None
    for _rel, path in source_files(root):
        mtime = int(path.lstat().st_mtime)
        newest = mtime if newest is None else max(newest, mtime)
    return newest


def tree_fingerprint(root: Path, env: Mapping[str, str]) -> str:
    """A digest of the tree's content: commit plus uncommitted changes, or every file without git.

    What the build generates inside the tree (`generated`) is left out either way.
    """
    h = hashlib.sha256()
    if (root / ".git").exists():
        h.update(_git(root, env, "rev-parse", "HEAD").encode())
        status = call(["git", "-C", str(root), "status", "--porcelain=v1", "-z", "--untracked-files=all"],
                      env=env, error=BuildError, what="git status")
        status = "\0".join(e for e in status.split("\0") if not (e.startswith("?? ") and generated(e[3:])))
        h.update(status.encode())
        if status:
            h.update(call(["git", "-C", str(root), "diff", "HEAD", "--binary"], env=env, error=BuildError,
                          what="git diff").encode())
            for entry in status.split("\0"):
                if entry.startswith("?? ") and not generated(entry[3:]):
                    _hash_file(h, root / entry[3:])
        return h.hexdigest()
    for rel, path in source_files(root):
        h.update(rel.encode() + b"\0")
        _hash_file(h, path)
    return h.hexdigest()


def _hash_file(h: hashlib._Hash, path: Path) -> None:
    if path.is_symlink():
        h.update(os.readlink(path).encode())
    elif path.is_file():
        with path.open("rb") as f:
            h.update(hashlib.file_digest(f, "sha256").digest())


def output_dir(root: Path, platform: str) -> Path:
    return root / "_output" / "local" / "bin" / platform


def make_env(base: Mapping[str, str], go: Toolchain, kube: KubernetesSection, tree: TreeVersion,
             source_date_epoch: int | None, home: Path | None = None, shim: Path | None = None,
             go_cache: Path | None = None) -> dict[str, str]:
    """What make runs with (before `run.child_env`): `base` with `home` (when given) as its HOME (see
    `private_home`), the toolchain (behind the `shim` folder), the version stamp and the kept Go build
    cache (which trees that honour GOCACHE take from here, others from the shim)."""
    env = go.env(base if home is None else private_home(base, home, kube.build_env), shim)
    if go_cache is not None:
        env["GOCACHE"] = str(go_cache)
    env["KUBE_BUILD_PLATFORMS"] = kube.platform
    env["KUBE_GIT_VERSION"] = tree.git_version
    env["KUBE_GIT_TREE_STATE"] = tree.tree_state
    if tree.commit:
        env["KUBE_GIT_COMMIT"] = tree.commit
    if source_date_epoch is not None:
        env["SOURCE_DATE_EPOCH"] = str(source_date_epoch)
    if kube.goflags:
        env["GOFLAGS"] = kube.goflags
    if kube.goldflags:
        env["GOLDFLAGS"] = kube.goldflags
    return env


LOG_RUNNER = "kube-log-runner"
LOG_RUNNER_PATH = "staging/src/k8s.io/component-base/logs/kube-log-runner"


def targets(kube: KubernetesSection, root: Path | None = None) -> dict[str, str]:
    """Output name -> WHAT path: the components, and kube-log-runner when the tree has it (1.23+)."""
    out = {c: f"cmd/{c}" for c in kube.components}
    if root is not None and (root / LOG_RUNNER_PATH).is_dir():
        out[LOG_RUNNER] = LOG_RUNNER_PATH
    return out


def make_args(kube: KubernetesSection, root: Path | None = None) -> list[str]:
    what = " ".join(targets(kube, root).values())
    return ["make", f"WHAT={what}", f"KUBE_BUILD_PLATFORMS={kube.platform}"]


def build(cfg: Config, env: Mapping[str, str], *, tree: TreeVersion | None = None,
          reporter: Reporter | None = None) -> BuildResult:
    """Build the configured components from the tree; reuse the last build when nothing changed.

    `env` is the children's environment (without secrets); `tree` the tree's version as the run
    detected it (detected here when not given)."""
    kube = cfg.kubernetes
    assert kube.root is not None  # config.load guarantees a tree for source: build
    root = kube.root
    tree = tree if tree is not None else detect_version(root, kube.version, env)
    reporter = reporter or Reporter()
    sde = source_date_epoch(cfg, root, tree)
    go = provision(requirement(root, kube.go_version), cfg.options.cache_dir, env, cfg.options.offline)
    names = list(targets(kube, root))
    args = make_args(kube, root)
    kept = gocache.for_build(cfg.options.cache_dir, tree.git_version, show(go.version), kube.platform, env)
    digest = tree_fingerprint(root, env)
    key = _stamp_key(digest, go, kube, tree, sde, args, shim_text(go, kept.path))
    stamp_path = cfg.options.cache_dir / "build" / (hashlib.sha256(str(root).encode()).hexdigest()[:16] + ".json")

    reused = _reuse(stamp_path, key, root, kube, names)
    if reused is None:
        _remove_old_outputs(root, kube, names)
        shim = write_shim(cfg.options.cache_dir, go, kept.path)
        gocache.link_forced_folder(root, kept.path)
        with gocache.in_use(kept), tempfile.TemporaryDirectory(prefix="k8swb-home-") as home:
            menv = make_env(env, go, kube, tree, sde, Path(home), shim, kept.path)
            _run_make(root, args, menv, cfg.options.cache_dir / "logs" / "make.log", reporter, kube.build_env,
                      kept.path)
        outputs = check_outputs(root, kube, tree.git_version, names)
        _write_stamp(stamp_path, key, outputs)
    else:
        outputs = reused
        log.info("build: nothing changed since the last build of %s; reusing its outputs", root)
    # No local paths: the manifest must not depend on where the tree was checked out.
    origin = (f"built from the Kubernetes tree at {tree.commit or 'an unversioned tree'} ({tree.tree_state}) "
              f"with Go {show(go.version)}")
    binaries = tuple(Binary(name, path, digest, origin) for name, (path, digest) in outputs.items())
    return BuildResult(
        git_version=tree.git_version,
        git_commit=tree.commit,
        tree_state=tree.tree_state,
        source="build",
        go_version=show(go.version),
        source_date_epoch=sde,
        binaries=binaries,
        reused=reused is not None,
        tree_digest=digest,
    )


def source_date_epoch(cfg: Config, root: Path, tree: TreeVersion) -> int | None:
    """SOURCE_DATE_EPOCH (config.load puts the environment's in bundle.source_date_epoch), else the
    commit time of a git tree, else `tree_time` of a tree without git."""
    if cfg.bundle.source_date_epoch is not None:
        return cfg.bundle.source_date_epoch
    if tree.commit_time is not None:
        return tree.commit_time
    return tree_time(root)


def _stamp_key(tree_digest: str, go: Toolchain, kube: KubernetesSection, tree: TreeVersion,
               sde: int | None, args: list[str], shim: str) -> str:
    parts = {
        "schema": STAMP_SCHEMA,
        "tree": tree_digest,
        "shim": shim,
        "go": show(go.version),
        "goroot": str(go.goroot),
        "args": args,
        "goflags": kube.goflags,
        "goldflags": kube.goldflags,
        "version": tree.git_version,
        "state": tree.tree_state,
        "sde": sde,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _reuse(stamp_path: Path, key: str, root: Path, kube: KubernetesSection,
           names: list[str]) -> dict[str, tuple[Path, str]] | None:
    """The last build's outputs when its key matches and every output still has its recorded hash."""
    stamp = read_json_object(stamp_path)
    if stamp is None or stamp.get("key") != key or sorted(stamp.get("outputs", {})) != sorted(names):
        return None
    out: dict[str, tuple[Path, str]] = {}
    for name in names:
        path = output_dir(root, kube.platform) / f"{name}.exe"
        recorded = stamp["outputs"][name]
        if not path.is_file() or path.stat().st_size != recorded["size"] or sha256_file(path) != recorded["sha256"]:
            log.info("build: %s changed since the last build; building again", path)
            return None
        out[name] = (path, recorded["sha256"])
    return out


def _remove_old_outputs(root: Path, kube: KubernetesSection, names: list[str]) -> None:
    """Delete last build's executables, so that what we check afterwards is what this make wrote.

    The tree places its outputs with `rsync -a`, whose quick check (size and mtime to the
    second) can keep a stale or damaged file that happens to match both.
    """
    out_dir = output_dir(root, kube.platform)
    for name in names:
        (out_dir / f"{name}.exe").unlink(missing_ok=True)


def _write_stamp(stamp_path: Path, key: str, outputs: dict[str, tuple[Path, str]]) -> None:
    data = {"key": key, "outputs": {n: {"sha256": d, "size": p.stat().st_size} for n, (p, d) in outputs.items()}}
    atomic_write(stamp_path, json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))


_PHASE = re.compile(r"^\+\+\+ (?:\[[^\]]*\] )?(?P<text>.+)$")


def _run_make(root: Path, args: list[str], env: dict[str, str], log_path: Path, reporter: Reporter,
              keep: tuple[str, ...], go_cache: Path) -> None:
    for tool in ("make", "bash"):
        if shutil.which(tool, path=env.get("PATH")) is None:
            msg = (f"the Kubernetes build needs {tool}, which is not on PATH; "
                   f"install it (Debian: apt-get install {tool})")
            raise BuildError(msg)
    start = time.monotonic()
    log.info("build: %s (in %s)", " ".join(args), root)
    with reporter.status("build") as progress:
        def on_line(line: str) -> None:
            progress.set_line(line)  # the heartbeat of a CI log shows it
            m = _PHASE.match(line)
            if m:
                progress.set_phase(m["text"])

        try:
            call_logged(args, log_path=log_path, cwd=root, env=env, error=BuildError,
                        what="the Kubernetes build (make)", on_line=on_line, keep=keep, disk=root / "_output")
        except BuildError as err:
            msg = (f"{err}\nif this tree built before, the kept Go build cache may be damaged: remove {go_cache} "
                   "and run again")
            raise BuildError(msg) from err
    log.info("build: make finished in %.1f s (log: %s)", time.monotonic() - start, log_path)


def check_outputs(root: Path, kube: KubernetesSection, git_version: str,
                  names: list[str] | None = None) -> dict[str, tuple[Path, str]]:
    """Each output's .exe: present, PE32+ x86-64, and (but kube-log-runner, which links no version
    package) stamped with `git_version`."""
    out: dict[str, tuple[Path, str]] = {}
    problems: list[str] = []
    for name in names if names is not None else list(kube.components):
        path = output_dir(root, kube.platform) / f"{name}.exe"
        if not path.is_file():
            problems.append(f"{path}: missing: make did not produce {name}.exe (is cmd/{name} in the tree?)")
            continue
        problem = file_pe_problem(path)
        if problem:
            problems.append(f"{path}: {problem}; expected a PE32+ x86-64 Windows executable")
            continue
        if name != LOG_RUNNER and not file_contains(path, git_version.encode()):
            problems.append(f"{path}: does not carry the version {git_version}: the build ignored "
                            "KUBE_GIT_VERSION (is this a Kubernetes tree with hack/lib/version.sh?)")
            continue
        out[name] = (path, sha256_file(path))
    if problems:
        raise BuildError("the build's outputs are not usable:\n  " + "\n  ".join(problems))
    return out
