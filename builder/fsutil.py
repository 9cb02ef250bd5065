"""The one way this tool writes a file in place: a unique temp file in the target folder, fsync, rename."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .errors import BuilderError, BuildError, ConfigError, FetchError, PackError, ToolchainError

if TYPE_CHECKING:
    from .report import StepRecord

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)  # no space left, or the user's quota is used up


def no_space_message(path: Path | str) -> str:
    """The one wording of a full disk: which device, and what to do."""
    return (f"no space left on the device holding {path}; free space there (or point the run at another "
            "folder: --dist, --cache-dir) and run again")


@contextlib.contextmanager
def on_full_disk(path: Path, error: type[BuilderError]) -> Iterator[None]:
    """A stage that writes under `path`: a full disk there ends it with the stage's error (its exit
    code), naming the device, instead of an OSError's traceback. What was half-written is removed by
    the writers themselves (temp file, then rename)."""
    try:
        yield
    except OSError as err:
        if err.errno not in DISK_FULL:
            raise
        where = Path(err.filename).parent if isinstance(err.filename, str) and err.filename else path
        raise error(no_space_message(where)) from None


# The error class of each step a run reports, by the first word of its title.
_STEP_ERRORS: dict[str, type[BuilderError]] = {"preflight": ConfigError, "fetch": FetchError, "download": FetchError,
                                               "node": BuildError, "build": BuildError, "pack": PackError,
                                               "go": ToolchainError}


def disk_full_error(err: OSError, steps: Sequence[StepRecord]) -> BuilderError | None:
    """A full disk no stage caught, as the error of the step that was running (None: not a full disk)."""
    if err.errno not in DISK_FULL:
        return None
    running = next((s.title for s in reversed(steps) if s.ok is not True), "")  # the step it ended
    cls = _STEP_ERRORS.get(running.split(" ", 1)[0], BuilderError)
    where = Path(err.filename).parent if isinstance(err.filename, str) and err.filename else "(unknown)"
    return cls(no_space_message(where))


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
