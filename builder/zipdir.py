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
MAX_NAME = 1024  # bytes of one member's name: far above any real path, far below a 64 KiB bomb
MAX_DEPTH = 64  # folders in one member's name


@dataclass(frozen=True)
class DirLimits:
    max_entries: int = 50_000
    max_directory: int = 16 * MiB  # bytes of central directory: 50,000 entries with long names fit
    max_name: int = MAX_NAME
    max_depth: int = MAX_DEPTH


@dataclass(frozen=True)
class Directory:
    entries: int  # as declared by the end record
    size: int
    offset: int  # where zipfile will read the directory from


def _end_record(f: BinaryIO, file_size: int) -> tuple[int, bytes]:
    """Where the end record is and its bytes, found as zipfile's _EndRecData finds it."""
    if file_size < _EOCD.size:
        msg = "no end-of-central-directory record (not a zip, or cut short)"
        raise ValueError(msg)
    f.seek(file_size - _EOCD.size)
    data = f.read(_EOCD.size)
    if data[:4] == b"PK\x05\x06" and data[-2:] == b"\0\0":
        return file_size - _EOCD.size, data
    start = max(file_size - _MAX_COMMENT - 1 - _EOCD.size, 0)
    f.seek(start)
    tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(tail):
        msg = "no end-of-central-directory record (not a zip, or cut short)"
        raise ValueError(msg)
    return start + at, tail[at:at + _EOCD.size]


def read_end(f: BinaryIO) -> Directory:
    """The central directory as zipfile will read it; ValueError when zipfile would find none.

    Parsed the way CPython's zipfile parses it, not the way the format says it should be: the
    ZIP64 end record is the one just before the locator that sits just before the end record,
    used whatever the 32-bit fields hold, and the directory starts `size` bytes before the end
    records (the offset fields only say how much was prepended). A decoy (a 32-bit record that
    declares one entry in front of a ZIP64 record that declares a million) is so seen as zipfile
    sees it, before zipfile reads a byte of it.
    """
    file_size = f.seek(0, 2)
    at, record = _end_record(f, file_size)
    _sig, _disk, _cd_disk, here, total, size, _offset, _comment = _EOCD.unpack(record)
    zip64 = False
    if at >= _LOCATOR.size:
        f.seek(at - _LOCATOR.size)
        loc = f.read(_LOCATOR.size)
        if loc[:4] == b"PK\x06\x07":
            _lsig, disk, _rel, disks = _LOCATOR.unpack(loc)
            if disk != 0 or disks > 1:
                msg = "spans several disks"
                raise ValueError(msg)
            record_at = at - _LOCATOR.size - _EOCD64.size
            if record_at >= 0:
                f.seek(record_at)
                raw = f.read(_EOCD64.size)
                if raw[:4] == b"PK\x06\x06":
                    fields = _EOCD64.unpack(raw)
                    here, total, size, zip64 = fields[6], fields[7], fields[8], True
    start = at - size - ((_LOCATOR.size + _EOCD64.size) if zip64 else 0)
    if start < 0:
        msg = "its central directory would start before the file does"
        raise ValueError(msg)
    return Directory(entries=max(here, total), size=size, offset=start)


def directory_problem(f: BinaryIO, limits: DirLimits | None = None) -> str | None:
    """Why this zip's central directory must not be parsed, or None. Reads at most its size.

    Too many entries or bytes (declared, or counted header by header as zipfile will walk them),
    or a member name over the length or depth limit: each would cost zipfile (and every list of
    paths made from its names) memory and time out of all proportion to the download.
    """
    lim = limits or DirLimits()
    try:
        end = read_end(f)
    except ValueError:
        return None  # no end record zipfile could use either: it refuses the file with its own words
    if end.entries > lim.max_entries:
        return f"declares {end.entries} entries, over the limit of {lim.max_entries}"
    if end.size > lim.max_directory:
        return f"has a central directory of {end.size} bytes, over the limit of {lim.max_directory}"
    f.seek(end.offset)
    data = f.read(end.size)
    count, pos = 0, 0
    while pos + _CENTRAL.size <= len(data):
        fields = _CENTRAL.unpack_from(data, pos)
        if fields[0] != b"PK\x01\x02":
            break  # zipfile stops here too, with "Bad magic number for central directory"
        count += 1
        if count > lim.max_entries:
            return f"holds more than {lim.max_entries} entries"
        name_len = fields[10]
        if name_len > lim.max_name:
            return f"has a member name of {name_len} bytes, over the limit of {lim.max_name}"
        name = data[pos + _CENTRAL.size: pos + _CENTRAL.size + name_len]
        if name.rstrip(b"/").count(b"/") >= lim.max_depth:
            return f"has a member {lim.max_depth} or more folders deep ({name[:60]!r}...)"
        pos += _CENTRAL.size + name_len + fields[11] + fields[12]  # name, extra, comment lengths
    return None
