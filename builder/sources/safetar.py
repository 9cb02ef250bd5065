"""Reading an untrusted tar.gz in one pass, refusing anything unsafe instead of rewriting it.

`tarfile.extractall` follows the archive's word on links, devices and owners; nothing here
extracts. Every entry is checked as it streams by (the name rules of `safezip`, its kind, its
size, the running total and the expansion ratio against the compressed file), and only regular
files are kept, in memory, by their path. A hostile entry anywhere refuses the whole archive,
so nothing of it reaches the cache or the bundle.
"""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path
from typing import NoReturn

from ..errors import FetchError
from .safezip import Limits, name_problem

_KINDS = {
    tarfile.SYMTYPE: "a symlink",
    tarfile.LNKTYPE: "a hardlink",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.CONTTYPE: "a contiguous file",
}


def clean_name(name: str) -> str:
    """`./a/b` -> `a/b` (release tarballs made with `tar -C dir .`); other names as they are."""
    while name.startswith("./"):
        name = name[2:]
    return name


class SafeTar:
    """The regular files of a tar.gz, checked; `files` maps each path to its bytes.

    `keep` decides which paths are kept in memory (all when None); the others are still
    checked. `source` names the archive (its URL) in every error. Names that differ only in case
    are refused (they would overwrite each other on Windows) unless `fold_case` is False: a
    source tree built here on Linux may hold them, and none of its files reaches the bundle.
    """

    def __init__(self, path: Path, *, source: str, limits: Limits | None = None,
                 keep: set[str] | None = None, fold_case: bool = True) -> None:
        self.source = source
        self._fold = fold_case
        self.limits = limits or Limits()
        self.files: dict[str, bytes] = {}
        self.folders: set[str] = set()
        size = path.stat().st_size
        if size > self.limits.max_archive:
            self._fail(f"is {size} bytes, over the limit of {self.limits.max_archive}")
        self._compressed = max(size, 1)
        try:
            with tarfile.open(path, mode="r:*") as tar:
                self._scan(tar, keep)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
            msg = f"{source}: not a readable tar archive ({err}); the download is corrupt or not an archive"
            raise FetchError(msg) from err

    def _fail(self, problem: str) -> NoReturn:
        msg = f"{self.source}: archive refused: {problem}; it is damaged or not the expected archive"
        raise FetchError(msg)

    def _scan(self, tar: tarfile.TarFile, keep: set[str] | None) -> None:
        lim = self.limits
        seen: dict[str, str] = {}  # case-folded path -> as written: twins would overwrite each other on NTFS
        total = 0
        for count, info in enumerate(iter(tar.next, None), 1):
            if count > lim.max_entries:
                self._fail(f"has more than {lim.max_entries} entries")
            name = clean_name(info.name)
            if name in ("", ".", "./"):
                continue  # the archive's own root folder
            problem = name_problem(name)
            if problem:
                self._fail(f"member {info.name!r} {problem}")
            kind = _KINDS.get(info.type)
            if kind is not None:
                self._fail(f"member {info.name!r} is {kind}")
            if not (info.isreg() or info.isdir()):
                self._fail(f"member {info.name!r} has the unknown entry type {info.type!r}")
            key = name.rstrip("/")
            folded = key.casefold() if self._fold else key
            if folded in seen and not (info.isdir() and key in self.folders):
                self._fail(f"member {info.name!r} appears twice (as {seen[folded]!r}), also ignoring case")
            seen[folded] = key
            if info.isdir():
                self.folders.add(key)
                continue
            if info.size > lim.max_member:
                self._fail(f"member {info.name!r} is {info.size} bytes, over the limit of {lim.max_member}")
            total += info.size
            if total > lim.max_read:
                self._fail(f"its members add up to more than {lim.max_read} bytes")
            if total > lim.ratio_floor and total / self._compressed > lim.max_ratio:
                self._fail(f"it expands more than {lim.max_ratio:.0f} times (a tar bomb?)")
            if keep is not None and key not in keep:
                continue
            member = tar.extractfile(info)
            if member is None:
                self._fail(f"member {info.name!r} cannot be read")
            data = member.read(lim.max_member + 1)
            if len(data) != info.size:
                self._fail(f"member {info.name!r} holds {len(data)} bytes but declares {info.size}")
            self.files[key] = data

    def top(self) -> str:
        """The single top-level folder (a GitHub source archive has one), else an error."""
        tops = {p.split("/", 1)[0] for p in [*self.files, *self.folders]}
        loose = [p for p in self.files if "/" not in p]
        if len(tops) != 1 or loose:
            self._fail(f"must hold exactly one top-level folder, found {len(tops)} top-level names "
                       f"({', '.join(sorted(tops)[:5])})")
        return tops.pop()
