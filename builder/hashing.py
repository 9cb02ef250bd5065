"""The one way this tool hashes a file, and reads a published checksum file."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import FetchError

HEX_LENGTH = {"sha256": 64, "sha512": 128}
_CHUNK = 256 * 1024


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (hashlib picks the buffer size)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def sha256_sha512_file(path: Path) -> dict[str, str]:
    """sha256 and sha512 of a file in one read: the manifest records the one, a release may publish the other."""
    sha256, sha512 = hashlib.sha256(), hashlib.sha512()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            sha256.update(chunk)
            sha512.update(chunk)
    return {"sha256": sha256.hexdigest(), "sha512": sha512.hexdigest()}


def parse_checksum(data: bytes, algo: str, where: str) -> str:
    """The hex digest of a published checksum file: the bare hash, or `<hash>  <name>` (sha256sum's format)."""
    words = data.decode("ascii", "replace").split()
    digest = words[0].lower() if words else ""
    if len(digest) != HEX_LENGTH[algo] or any(c not in "0123456789abcdef" for c in digest):
        msg = f"{where}: not a {algo} checksum file (it should start with {HEX_LENGTH[algo]} hex digits)"
        raise FetchError(msg)
    return digest
