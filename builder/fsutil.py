"""The one way this tool writes a file in place: a unique temp file in the target folder, fsync, rename."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .errors import FetchError


def temp_prefix(name: str) -> str:
    """`.<name>.<pid>.`: hidden, and naming the process, so a later run can remove a dead run's temp files."""
    return f".{name}.{os.getpid()}."


def atomic_write(path: Path, data: bytes | Callable[[BinaryIO], object], *, mode: int = 0o644,
                 keep_mode: bool = False) -> None:
    """Replace `path` with `data` (bytes, or a function that writes to the open file) all at once.

    The temp file is named after `path` (`.<name>.<pid>.<random>.tmp`, see `temp_prefix`) in the
    same folder, so the rename is atomic and a reader sees the old file or the new one, never half. On any failure,
    Ctrl-C included, the temp file is removed and `path` is left as it was. `keep_mode` copies the
    mode of an existing `path` (a configuration file keeps its permissions).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                data(f)
            f.flush()
            os.fsync(f.fileno())
        if keep_mode and path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def swap_dir(staging: Path, final: Path, trash: Path) -> None:
    """Put the finished folder `staging` at `final`, an older `final` moved to `trash` (inside a
    `cache_workdir`, so removed with it). Two renames: a reader finds the old entry, none, or the new
    one, never a half-written one. Raises OSError for the caller to name."""
    if final.exists():
        os.replace(final, trash)
    os.replace(staging, final)


def read_json_object(path: Path) -> dict[str, Any] | None:
    """A JSON object this tool wrote (a cache record or stamp); None when it is missing, unreadable or
    not an object, which every caller treats as "not cached"."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@contextlib.contextmanager
def cache_workdir(root: Path) -> Iterator[Path]:
    """A fresh temporary folder inside a cache folder, so that finished entries are renamed into
    place, never copied; removed with everything in it on the way out."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        work = tempfile.TemporaryDirectory(prefix=".tmp-", dir=root)
    except OSError as err:
        msg = f"cannot write to the cache folder {root}: {err.strerror or err}; pass --cache-dir DIR"
        raise FetchError(msg) from err
    with work as tmp:
        yield Path(tmp)
