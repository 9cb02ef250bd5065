"""Recognise a PE32+ x86-64 Windows executable from its headers (no third-party parser needed)."""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

IMAGE_FILE_MACHINE_AMD64 = 0x8664
PE32_PLUS_MAGIC = 0x20B


def pe_problem(head: bytes) -> str | None:
    """Why these leading bytes are not a PE32+ x86-64 image, or None when they are.

    `head` must hold at least the DOS header and the PE headers (4 KiB is plenty).
    """
    if len(head) < 64 or head[:2] != b"MZ":
        return "no MZ header: not a Windows executable"
    (pe_offset,) = struct.unpack_from("<I", head, 0x3C)
    if pe_offset + 26 > len(head):
        return f"PE header offset {pe_offset:#x} is past the file's start"
    if head[pe_offset : pe_offset + 4] != b"PE\0\0":
        return "no PE signature"
    (machine,) = struct.unpack_from("<H", head, pe_offset + 4)
    if machine != IMAGE_FILE_MACHINE_AMD64:
        return f"machine type {machine:#06x} is not x86-64 (0x8664)"
    (magic,) = struct.unpack_from("<H", head, pe_offset + 24)
    if magic != PE32_PLUS_MAGIC:
        return f"optional header magic {magic:#x} is not PE32+ (0x20b)"
    return None


def file_pe_problem(path: Path) -> str | None:
    with path.open("rb") as f:
        return pe_problem(f.read(4096))


def file_contains(path: Path, needle: bytes) -> bool:
    """Whether the file holds these bytes anywhere (a version string stamped into an executable)."""
    if path.stat().st_size == 0:
        return False  # mmap refuses empty files
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return m.find(needle) != -1
