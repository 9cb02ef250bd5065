"""Reading an untrusted tar.gz in one pass, refusing anything unsafe instead of rewriting it.

`tarfile.extractall` follows the archive's word on links, devices and owners; nothing here
extracts. First the raw headers are read once (`header_problem`): tarfile reads a GNU long-name
or long-link entry, and a pax header, whole into memory whatever size it declares, so those are
capped before tarfile sees them. Then every entry is checked as it streams by (the name rules
of `safezip`, its kind, its size, the running total and the expansion ratio against the compressed
file), and only regular files are kept, in memory, by their path. A hostile entry anywhere refuses the whole archive,
so nothing of it reaches the cache or the bundle.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import tarfile
import zlib
from pathlib import Path
from typing import NoReturn

from ..errors import FetchError
from ..zipdir import MAX_NAME
from .safezip import Limits, PathTree, name_problem

BLOCK = tarfile.BLOCKSIZE
MAX_PAX = 64 * 1024  # a pax header: a path, a link, times, sizes; never more than this
_LONG = {tarfile.GNUTYPE_LONGNAME: "GNU long name", tarfile.GNUTYPE_LONGLINK: "GNU long link name"}
_PAX = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
_PAX_RECORD = re.compile(rb"(\d+) ([^=]+)=")  # tarfile's own record pattern
_SKIP = 1 << 20

_KINDS = {
    tarfile.SYMTYPE: "a symlink",
    tarfile.LNKTYPE: "a hardlink",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.CONTTYPE: "a contiguous file",
}


def _raw(path: Path) -> io.BufferedIOBase:
    """The archive's tar stream, uncompressed the way tarfile's "r:*" would (by the magic bytes)."""
    with path.open("rb") as f:
        magic = f.read(6)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if magic[:3] == b"BZh":
        return bz2.open(path, "rb")
    if magic == b"\xfd7zXZ\x00":
        return lzma.open(path, "rb")
    return path.open("rb")


def _number(field: bytes) -> int:
    """A header's number field as tarfile reads it: octal digits, or base-256 (first byte 0x80 or 0xff)."""
    if field[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field[1:], "big")
        return value - (256 ** (len(field) - 1)) if field[:1] == b"\xff" else value
    text = field.split(b"\0", 1)[0].strip()
    if not text:
        return 0
    return int(text, 8)


def _checksum_ok(block: bytes) -> bool:
    """The header checksum matches, summed unsigned or signed (as tarfile accepts either)."""
    stored = _number(block[148:156])
    plain = block[:148] + b" " * 8 + block[156:]
    return stored == sum(plain) or stored == sum(b - 256 if b > 127 else b for b in plain)


def _pax_size(buf: bytes) -> int | None:
    """The `size` a pax header gives the member after it (tarfile then skips that much data), if any."""
    pos, size = 0, None
    while (m := _PAX_RECORD.match(buf, pos)) is not None:
        length = int(m[1])
        if length == 0:
            return size
        if m[2] == b"size":
            value = buf[m.end(2) + 1:m.start(1) + length - 1]
            size = int(value) if value.isdigit() else size
        pos += length
    return size


def header_problem(path: Path, limits: Limits, compressed: int) -> str | None:
    """Why tarfile must not be given this archive, from its raw 512-byte headers, or None.

    Walks the headers the way tarfile will (data skipped by the size each header, or the pax
    header before it, declares) and stops where tarfile would stop (an empty or invalid block).
    Refused: a GNU long name or long link over the name limit, a pax header over 64 KiB, a sparse
    file, too many headers, or members that add up to more than the archive may expand to.
    """
    total = count = 0
    override: int | None = None
    with _raw(path) as f:
        while len(block := f.read(BLOCK)) == BLOCK and block.count(0) != BLOCK:
            try:
                if not _checksum_ok(block):
                    return None  # tarfile stops here too ("bad checksum")
                size = _number(block[124:136])
            except ValueError:
                return None
            kind = block[156:157]
            count += 1
            if count > 2 * limits.max_entries:  # a name or pax header may come with each entry
                return f"has more than {limits.max_entries} entries"
            if kind in _LONG and size > MAX_NAME + 1:
                return f"holds a {_LONG[kind]} of {size} bytes, over the limit of {MAX_NAME}"
            if kind in _PAX and size > MAX_PAX:
                return f"holds a pax header of {size} bytes, over the limit of {MAX_PAX}"
            if kind == tarfile.GNUTYPE_SPARSE:
                return "holds a sparse file"
            if kind in _PAX:
                payload = f.read(-(-size // BLOCK) * BLOCK)[:size]
                override = _pax_size(payload) if kind != tarfile.XGLTYPE else override
                continue
            if override is not None:
                size, override = override, None
            if kind in _LONG:
                f.read(-(-size // BLOCK) * BLOCK)
                continue
            if kind in tarfile.REGULAR_TYPES or kind not in tarfile.SUPPORTED_TYPES:
                if size > limits.max_member:
                    name = block[:100].split(b"\0", 1)[0].decode("utf-8", "replace")
                    return f"member {name!r} is {size} bytes, over the limit of {limits.max_member}"
                total += size
                if total > limits.max_read:
                    return f"its members add up to more than {limits.max_read} bytes"
                if total > limits.ratio_floor and total / compressed > limits.max_ratio:
                    return f"it expands more than {limits.max_ratio:.0f} times (a tar bomb?)"
                left = -(-size // BLOCK) * BLOCK
                while left > 0 and (chunk := f.read(min(left, _SKIP))):
                    left -= len(chunk)
    return None


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
        self._paths = PathTree()
        try:
            problem = header_problem(path, self.limits, self._compressed)
            if problem:
                self._fail(problem)
            with tarfile.open(path, mode="r:*") as tar:
                self._scan(tar, keep)
        except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as err:
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
            clash = self._paths.add(key, folder=info.isdir())
            if clash:
                self._fail(f"{clash}; it cannot be unpacked")
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
