"""A zip's central directory sized up from its end records, before `zipfile` parses any of it.

`zipfile.ZipFile` reads the whole central directory into memory and builds an object per entry
before a caller can count them: an archive of millions of tiny entries costs gigabytes and
minutes first. Here the end-of-central-directory record (and its ZIP64 form) gives the declared
count and size, and one pass over the directory's fixed-size headers counts the real entries,
stopping at the limit. Both the SDN download and `verify` check this before opening the zip.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

MiB = 2**20

_EOCD = struct.Struct("<4s4H2LH")  # signature, disk, cd disk, entries here, entries, cd size, cd offset, comment
_LOCATOR = struct.Struct("<4sLQL")  # ZIP64 end locator: signature, disk, offset of the ZIP64 record, disks
_EOCD64 = struct.Struct("<4sQ2H2L4Q")  # ... entries here, entries, cd size, cd offset
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # one central directory header, before its name/extra/comment
_MAX_COMMENT = 0xFFFF


@dataclass(frozen=True)
class DirLimits:
    max_entries: int = 50_000
    max_directory: int = 16 * MiB  # bytes of central directory: 50,000 entries with long names fit


@dataclass(frozen=True)
class Directory:
    entries: int  # as declared by the end record
    size: int
    offset: int  # where the directory starts in the file


def read_end(f: BinaryIO) -> Directory:
    """The central directory the end record declares; ValueError when there is none."""
    file_size = f.seek(0, 2)
    tail_len = min(file_size, _EOCD.size + _MAX_COMMENT + _LOCATOR.size)
    f.seek(file_size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    while at >= 0 and at + _EOCD.size > len(tail):
        at = tail.rfind(b"PK\x05\x06", 0, at)
    if at < 0:
        msg = "no end-of-central-directory record (not a zip, or cut short)"
        raise ValueError(msg)
    _sig, _disk, _cd_disk, here, total, size, offset, _comment = _EOCD.unpack_from(tail, at)
    if 0xFFFF in (here, total) or 0xFFFFFFFF in (size, offset):
        loc = at - _LOCATOR.size
        if loc < 0 or tail[loc:loc + 4] != b"PK\x06\x07":
            msg = "a ZIP64 archive without its ZIP64 end locator"
            raise ValueError(msg)
        record_at = _LOCATOR.unpack_from(tail, loc)[2]
        f.seek(record_at)
        raw = f.read(_EOCD64.size)
        if len(raw) != _EOCD64.size or raw[:4] != b"PK\x06\x06":
            msg = "the ZIP64 end record is missing or damaged"
            raise ValueError(msg)
        fields = _EOCD64.unpack(raw)
        here, total, size, offset = fields[6], fields[7], fields[8], fields[9]
    return Directory(entries=max(here, total), size=size, offset=offset)


def directory_problem(f: BinaryIO, limits: DirLimits | None = None) -> str | None:
    """Why this zip's central directory is too large to parse, or None. Reads at most its size."""
    lim = limits or DirLimits()
    try:
        end = read_end(f)
    except ValueError:
        return None  # no end record zipfile could use either: it refuses the file with its own words
    if end.entries > lim.max_entries:
        return f"declares {end.entries} entries, over the limit of {lim.max_entries}"
    if end.size > lim.max_directory:
        return f"has a central directory of {end.size} bytes, over the limit of {lim.max_directory}"
    # The count in the end record is not what zipfile trusts: it reads `size` bytes of headers.
    # Count them the same way, stopping at the limit.
    f.seek(end.offset)
    data = f.read(end.size)
    count, pos = 0, 0
    while pos + _CENTRAL.size <= len(data):
        fields = _CENTRAL.unpack_from(data, pos)
        if fields[0] != b"PK\x01\x02":
            break
        count += 1
        if count > lim.max_entries:
            return f"holds more than {lim.max_entries} entries"
        pos += _CENTRAL.size + fields[10] + fields[11] + fields[12]  # name, extra, comment lengths
    return None
