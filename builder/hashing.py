"""The one way this tool hashes a file, and reads a published checksum file."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import FetchError

HEX_LENGTH = {"sha256": 64, "sha512": 128}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (hashlib picks the buffer size)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def parse_checksum(data: bytes, algo: str, where: str) -> str:
    """The hex digest of a published checksum file: the bare hash, or `<hash>  <name>` (sha256sum's format)."""
    words = data.decode("ascii", "replace").split()
    digest = words[0].lower() if words else ""
    if len(digest) != HEX_LENGTH[algo] or any(c not in "0123456789abcdef" for c in digest):
        msg = f"{where}: not a {algo} checksum file (it should start with {HEX_LENGTH[algo]} hex digits)"
        raise FetchError(msg)
    return digest
