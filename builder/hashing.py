"""The one way this tool hashes a file."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (hashlib picks the buffer size)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
