"""The Go build cache the tree's build uses: kept in the tool's cache, one folder per
(Kubernetes minor, Go version, platform), so a fresh checkout of the next patch tag starts warm.

Go's build cache is content-addressed (an entry is found by the hash of everything that went
into it) and built for several `go` commands at once, so sharing one folder between runs can
make a build faster, never different. Here it only adds what Go does not do itself:

- the folder per minor, which is also what the release workflow restores and saves;
- a size bound (K8SWB_GO_CACHE_MAX, default DEFAULT_MAX): after a build the oldest entries are
  removed until the folder fits. Go refreshes an entry's modification time when it uses it, so
  "oldest" is "used least recently";
- a lock: every build holds it shared, trimming takes it exclusively and only when no build is
  running, so trimming never removes an entry under a build (that would cost the build a
  recompile, not a wrong result; the lock saves the time).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildError
from ..kversion import KubeVersion
from ..sizes import GiB, parse_size

log = logging.getLogger(__name__)

MAX_ENV = "K8SWB_GO_CACHE_MAX"
# A cold windows/amd64 build of kubelet, kube-proxy and kubectl of v1.20 leaves 1.7 GiB (measured;
# the tree's code generators are compiled for the host and cached too): room for the changed
# packages of a few patch releases of one minor.
DEFAULT_MAX = 4 * GiB
FOLDER = "go-build"


@dataclass(frozen=True)
class GoCache:
    path: Path  # the folder given to Go as GOCACHE
    max_bytes: int

    @property
    def lock_path(self) -> Path:
        return self.path.parent / f".{self.path.name}.lock"


def max_size(env: Mapping[str, str]) -> int:
    """K8SWB_GO_CACHE_MAX (e.g. `8GiB`, `500MiB`, bytes), else DEFAULT_MAX."""
    return parse_size(env.get(MAX_ENV, ""), MAX_ENV, DEFAULT_MAX, BuildError)


def folder_name(git_version: str, go_version: str, platform: str) -> str:
    """`v1.20-go1.21.13-windows-amd64`: what one kept cache is shared by."""
    v = KubeVersion.parse(git_version)
    return f"v{v.major}.{v.minor}-go{go_version}-{platform.replace('/', '-')}"


def for_build(cache_dir: Path, git_version: str, go_version: str, platform: str,
              env: Mapping[str, str]) -> GoCache:
    return GoCache(cache_dir / FOLDER / folder_name(git_version, go_version, platform), max_size(env))


@contextlib.contextmanager
def in_use(cache: GoCache) -> Iterator[Path]:
    """Hold the cache for one build (shared with other builds); trim it afterwards when no other
    build holds it."""
    try:
        cache.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(cache.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        msg = f"cannot use the Go build cache {cache.path}: {err.strerror or err}; pass --cache-dir DIR"
        raise BuildError(msg) from err
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            yield cache.path
        finally:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # from shared to exclusive: no other build
            except BlockingIOError:
                log.debug("go cache %s: another build uses it; it trims when it ends", cache.path)
            else:
                trim(cache.path, cache.max_bytes)
    finally:
        os.close(fd)


# Where trees up to about v1.22 force GOCACHE (hack/lib/golang.sh: "${KUBE_GOPATH}/cache").
FORCED = Path("_output/local/go/cache")


def link_forced_folder(root: Path, kept: Path) -> None:
    """Make the folder an older tree forces GOCACHE to a link to the kept cache, when the tree has none.

    The `go` shim already gives every Go command the kept cache; a program that runs Go by its full
    path instead (go/build runs $GOROOT/bin/go) then still finds the kept cache, not a cold one.
    A folder the tree already has is left as it is: it is the tree's, with what it holds."""
    forced = root / FORCED
    if forced.exists() or forced.is_symlink():
        if not (forced.is_symlink() and forced.resolve() == kept.resolve()):
            log.debug("go cache: %s exists; left as it is", forced)
        return
    try:
        forced.parent.mkdir(parents=True, exist_ok=True)
        forced.symlink_to(kept, target_is_directory=True)
    except OSError as err:
        log.debug("go cache: cannot link %s to %s (%s)", forced, kept, err)


def _entries(folder: Path) -> list[tuple[float, int, Path]]:
    """(mtime, size, path) of every entry file Go wrote (its 256 sub-folders), oldest first."""
    out = []
    for sub in folder.iterdir():
        if not sub.is_dir() or len(sub.name) != 2:
            continue
        for entry in sub.iterdir():
            with contextlib.suppress(FileNotFoundError):
                st = entry.lstat()
                out.append((st.st_mtime, st.st_size, entry))
    out.sort()
    return out


def size(folder: Path) -> int:
    return sum(s for _t, s, _p in _entries(folder)) if folder.is_dir() else 0


def trim(folder: Path, max_bytes: int) -> int:
    """Remove the least recently used entries until the folder holds at most `max_bytes`; the bytes removed."""
    entries = _entries(folder)
    total = sum(s for _t, s, _p in entries)
    removed = 0
    for _mtime, entry_size, path in entries:
        if total - removed <= max_bytes:
            break
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        removed += entry_size
    if removed:
        log.info("go build cache %s: removed %.0f MiB of the least recently used entries (limit %.0f MiB, %s)",
                 folder, removed / 2**20, max_bytes / 2**20, MAX_ENV)
    return removed
