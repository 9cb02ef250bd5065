"""Reading chosen members of an untrusted zip, refusing anything unsafe instead of rewriting it.

Python's `zipfile.extract` silently rewrites `../` and absolute names, keeps backslashes
literally and writes symlink entries as plain files; so nothing here extracts. The archive's
size and its central directory's declared size and entry count are checked before `zipfile`
parses anything (`builder.zipdir`); then the whole central directory is checked once (names,
duplicates, count, declared sizes), and members are read into memory only when asked for by
name, within size and compression-ratio limits.
"""

from __future__ import annotations

import re
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NoReturn

from ..errors import FetchError
from ..zipdir import MAX_DEPTH, MAX_NAME, DirLimits, directory_problem

MiB = 2**20
_DRIVE_RE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Limits:
    max_archive: int = 512 * MiB  # the zip file itself
    max_entries: int = 50_000
    max_directory: int = 16 * MiB  # the central directory, checked before zipfile parses it
    max_member: int = 64 * MiB  # one member, uncompressed
    max_read: int = 256 * MiB  # all members read, uncompressed
    max_ratio: float = 100.0  # uncompressed / compressed, for members large enough to matter
    ratio_floor: int = 1 * MiB  # a smaller member cannot make a bomb whatever its ratio


def name_problem(name: str) -> str | None:
    """Why `name` (as stored) cannot be a member we trust, or None."""
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME:
        return f"is longer than {MAX_NAME} bytes"
    if name.rstrip("/").count("/") >= MAX_DEPTH:
        return f"is {MAX_DEPTH} or more folders deep"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "contains NUL or control characters"
    if "\\" in name:
        return "contains a backslash (a Windows path separator)"
    if name.startswith("/"):
        return "is an absolute path"
    if _DRIVE_RE.match(name) or ":" in name:
        return "has a drive letter or ':' (an NTFS stream)"
    parts = name.rstrip("/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "has an empty, '.' or '..' path component"
    return None


class PathTree:
    """Every member's path and the folders above it, in memory linear in the names' total length.

    A path is a chain of (parent, part) nodes, so a name 60 folders deep costs its 60 parts, not the
    60 strings of its parent paths (which made one 65,000-byte name cost gigabytes). Kept twice:
    as written, and case-folded (as NTFS compares), each folded node knowing its spellings.
    """

    def __init__(self) -> None:
        self._ids: dict[tuple[int, str], int] = {}
        self._nodes: list[tuple[int, str]] = [(0, "")]  # node -> (parent, part); 0 is the root
        self._folded_ids: dict[tuple[int, str], int] = {}
        self._spellings: dict[int, set[int]] = {}  # folded node -> the nodes written that way
        self._files: set[int] = set()
        self._folders: set[int] = set()

    def _child(self, table: dict[tuple[int, str], int], parent: int, part: str, nodes: list[tuple[int, str]] | None,
               ) -> int:
        node = table.get((parent, part))
        if node is None:
            node = table[(parent, part)] = len(table) + 1
            if nodes is not None:
                nodes.append((parent, part))
        return node

    def path(self, node: int) -> str:
        parts: list[str] = []
        while node:
            node, part = self._nodes[node]
            parts.append(part)
        return "/".join(reversed(parts))

    def add(self, name: str, *, folder: bool) -> str | None:
        """Record one member; why it cannot sit beside the others (a file that is also a folder), or None."""
        node = folded = 0
        parts = name.rstrip("/").split("/")
        for i, part in enumerate(parts):
            node = self._child(self._ids, node, part, self._nodes)
            folded = self._child(self._folded_ids, folded, part.casefold(), None)
            self._spellings.setdefault(folded, set()).add(node)
            if i < len(parts) - 1 or folder:
                if node in self._files:
                    return f"{self.path(node)!r} is a file and also the folder of {name!r}"
                self._folders.add(node)
        if not folder:
            if node in self._folders:
                return f"{name!r} is a file and also the folder of other members"
            self._files.add(node)
        return None

    def twins(self, name: str) -> list[str]:
        """The spellings that differ only in case from `name` or a folder on its way, if any."""
        folded = 0
        for part in name.rstrip("/").split("/"):
            folded = self._folded_ids.get((folded, part.casefold()), -1)
            spellings = self._spellings.get(folded, set())
            if len(spellings) > 1:
                return sorted(self.path(n) for n in spellings)
        return []


def is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


class SafeZip:
    """An open zip whose directory has been checked; `read(name)` returns one member's bytes.

    Every entry's name must be safe and unique, and the archive must hold exactly one top-level
    folder (`top`), as GitHub's archives do. A member read must not be a symlink, nor lie below
    one, nor collide case-insensitively (as on NTFS) with another entry or folder.
    `source` names the archive (its URL) in every error.
    """

    def __init__(self, path: Path, *, source: str, limits: Limits | None = None, require_top: bool = True) -> None:
        self.source = source
        self.limits = limits or Limits()
        size = path.stat().st_size
        if size > self.limits.max_archive:
            self._fail(f"is {size} bytes, over the limit of {self.limits.max_archive}")
        try:
            with path.open("rb") as f:
                # Before zipfile reads the directory: it would build every entry first.
                problem = directory_problem(f, DirLimits(max_entries=self.limits.max_entries,
                                                         max_directory=self.limits.max_directory))
        except OSError as err:
            msg = f"{source}: cannot read the archive: {err.strerror or err}"
            raise FetchError(msg) from err
        if problem:
            self._fail(problem)
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as err:
            msg = f"{source}: not a readable zip archive ({err}); the download is corrupt or not an archive"
            raise FetchError(msg) from err
        try:
            self._infos = self._check_directory(self._zip.infolist())
            # A release zip may hold its files at the root; then `top` is "" and names are read as they are.
            self.top = self._top_folder() if require_top else ""
        except BaseException:
            self._zip.close()
            raise
        self._read_total = 0

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    @property
    def comment(self) -> bytes:
        return self._zip.comment

    def _fail(self, problem: str) -> NoReturn:
        msg = f"{self.source}: archive refused: {problem}; it is damaged or not the expected archive"
        raise FetchError(msg)

    def _check_directory(self, infos: Iterable[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
        by_name: dict[str, zipfile.ZipInfo] = {}
        self._paths = PathTree()
        for count, info in enumerate(infos, 1):
            if count > self.limits.max_entries:
                self._fail(f"has more than {self.limits.max_entries} entries")
            # orig_filename keeps what zipfile cuts off at a NUL byte.
            name = info.orig_filename
            problem = name_problem(name)
            if problem:
                self._fail(f"member {name!r} {problem}")
            key = name.rstrip("/")
            if key in by_name:
                self._fail(f"member {name!r} appears twice")
            by_name[key] = info
            # A symlink may stand for a folder: reading through it is refused in `read`, with that reason.
            clash = self._paths.add(key, folder=info.is_dir() or is_symlink(info))
            if clash:
                self._fail(f"{clash}; it cannot be unpacked")
        return by_name

    def _top_folder(self) -> str:
        tops = {name.split("/", 1)[0] for name in self._infos}
        loose = [name for name, info in self._infos.items() if "/" not in name and not info.is_dir()]
        if len(tops) != 1 or loose:
            shown = ", ".join(sorted(tops)[:5])
            self._fail(f"must hold exactly one top-level folder, found {len(tops)} top-level names ({shown})")
        return tops.pop()

    def file_names(self) -> list[str]:
        """Every member's full path but folders, sorted (a symlink among them is refused when read)."""
        return sorted(n for n, i in self._infos.items() if not i.is_dir())

    def read(self, name: str) -> bytes:
        """The bytes of member `name` (full path inside the archive), checked against the limits."""
        info = self._infos.get(name)
        if info is None or info.is_dir():
            msg = f"{self.source}: archive has no file {name!r}; check the path in the configuration"
            raise FetchError(msg)
        for parent in _parents(name):
            if parent in self._infos and is_symlink(self._infos[parent]):
                self._fail(f"{parent!r} (a folder of {name!r}) is a symlink")
        # Only collisions on the way to what is read matter: elsewhere git allows them, and
        # refusing the whole repository's archive for them would refuse good commits.
        twins = self._paths.twins(name)
        if twins:
            self._fail(f"members {' and '.join(repr(t) for t in twins)} differ only in case "
                       "and would overwrite each other on Windows")
        if is_symlink(info):
            self._fail(f"member {name!r} is a symlink")
        if info.flag_bits & 0x1:
            self._fail(f"member {name!r} is encrypted")
        self._check_size(name, info)
        try:
            with self._zip.open(info) as member:
                data = member.read(self.limits.max_member + 1)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as err:
            msg = f"{self.source}: cannot read member {name!r}: {err}; the archive is damaged"
            raise FetchError(msg) from err
        if len(data) != info.file_size:
            self._fail(f"member {name!r} holds {len(data)} bytes but declares {info.file_size}")
        self._read_total += len(data)
        return data

    def _check_size(self, name: str, info: zipfile.ZipInfo) -> None:
        lim = self.limits
        if info.file_size > lim.max_member:
            self._fail(f"member {name!r} is {info.file_size} bytes uncompressed, over the limit of {lim.max_member}")
        if self._read_total + info.file_size > lim.max_read:
            self._fail(f"the members read add up to more than {lim.max_read} bytes")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > lim.ratio_floor and ratio > lim.max_ratio:
            self._fail(f"member {name!r} expands {ratio:.0f} times, over the limit of {lim.max_ratio:.0f} "
                       "(a zip bomb?)")


def _parents(name: str) -> list[str]:
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]
