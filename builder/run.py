"""The one wrapper for every external command: logged, never through a shell, readable on failure."""

from __future__ import annotations

import collections
import logging
import os
import re
import shlex
import subprocess
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from .errors import BuilderError
from .fsutil import DISK_FULL, no_space_message

log = logging.getLogger(__name__)

TAIL_LINES = 40

# Variables no child process gets: a Kubernetes tree's Makefile, go, pip and git run code we did
# not write, and none of them needs a GitHub token or a signing password. Matched on the name,
# upper-cased; `hidden` adds the names a configuration points at (e.g. a signing password), which
# the run resolves once in `cli` and hands down with the environment.
_SECRET_NAME_RE = re.compile(
    r"^(GH_TOKEN|GITHUB_TOKEN|GH_ENTERPRISE_TOKEN|GITHUB_ENTERPRISE_TOKEN|ACTIONS_.*TOKEN.*|ACTIONS_RUNTIME_.*"
    r"|.*_TOKEN|.*_PASSWORD|.*_PASS|.*_PASSPHRASE|.*_SECRET|.*_SECRET_KEY|.*_API_KEY|.*_PRIVATE_KEY)$"
)


def is_secret_name(name: str, hidden: Collection[str] = ()) -> bool:
    upper = name.upper()
    return upper in hidden or _SECRET_NAME_RE.match(upper) is not None


def child_env(env: Mapping[str, str], *, hidden: Collection[str] = ()) -> dict[str, str]:
    """`env` without any secret: what every child gets. `hidden` names more variables to keep out."""
    names = frozenset(n.upper() for n in hidden if n)
    return {k: v for k, v in env.items() if not is_secret_name(k, names)}


def format_cmd(args: Sequence[str | os.PathLike[str]]) -> str:
    return shlex.join(str(a) for a in args)


def call(
    args: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    error: type[BuilderError] = BuilderError,
    what: str = "",
    stdin: str | None = None,
    disk: Path | None = None,
) -> str:
    """Run a short command and return its stdout; on failure raise `error` with its output's tail.

    `env` is the child's environment (the run's, without the names it hides; secret-looking names
    are dropped here again). `stdin` is how a secret reaches a command: never on its command line,
    which is logged. `disk`: the folder the command writes to; when it fails for want of space,
    the error names that folder's device instead of showing the command's traceback."""
    log.debug("$ %s", format_cmd(args))
    try:
        proc = subprocess.run(
            [str(a) for a in args],
            cwd=cwd,
            env=child_env(env),
            capture_output=True,
            text=True,
            check=False,
            input=stdin,
        )
    except FileNotFoundError as err:
        msg = f"{what or 'command'} failed: {args[0]} is not installed or not on PATH"
        raise error(msg) from err
    if proc.returncode != 0:
        if disk is not None and _out_of_space(proc.stdout + proc.stderr):
            raise error(f"{what or 'command'} failed: {no_space_message(disk)}")
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-TAIL_LINES:])
        msg = f"{what or 'command'} failed (exit {proc.returncode}): {format_cmd(args)}\n{tail}"
        raise error(msg)
    return proc.stdout


_NO_SPACE_RE = re.compile(r"No space left on device|\[Errno 28\]|ENOSPC|Disk quota exceeded", re.IGNORECASE)


def _out_of_space(output: str) -> bool:
    return _NO_SPACE_RE.search(output) is not None


def call_logged(
    args: Sequence[str | os.PathLike[str]],
    *,
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path | None = None,
    error: type[BuilderError] = BuilderError,
    what: str = "",
    on_line: Callable[[str], None] | None = None,
    disk: Path | None = None,
) -> None:
    """Run a long command with its whole output going to `log_path`.

    `on_line` sees each output line (for progress). On failure the error shows the last
    TAIL_LINES lines and the log's path; when the command (or the log) ran out of space, it names
    the device holding `disk` (or the log's folder) instead.
    """
    log.debug("$ %s  (log: %s)", format_cmd(args), log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    with log_path.open("w", encoding="utf-8", errors="replace") as out:
        out.write(f"$ {format_cmd(args)}\n")
        try:
            proc = subprocess.Popen(
                [str(a) for a in args],
                cwd=cwd,
                env=child_env(env),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
                bufsize=1,
            )
        except FileNotFoundError as err:
            msg = f"{what or 'command'} failed: {args[0]} is not installed or not on PATH"
            raise error(msg) from err
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                out.write(line)
                tail.append(line.rstrip("\n"))
                if on_line is not None:
                    on_line(line.rstrip("\n"))
            out.flush()
        except OSError as err:
            proc.kill()
            proc.wait()
            if err.errno not in DISK_FULL:
                raise
            raise error(f"{what or 'command'} stopped: {no_space_message(log_path.parent)}") from None
        code = proc.wait()
    if code != 0 and disk is not None and any(_out_of_space(line) for line in tail):
        raise error(f"{what or 'command'} failed: {no_space_message(disk)} (log: {log_path})")
    if code != 0:
        shown = "\n".join(tail)
        msg = (
            f"{what or 'command'} failed (exit {code}): {format_cmd(args)}\n"
            f"--- last {len(tail)} lines ---\n{shown}\n--- full log: {log_path}"
        )
        raise error(msg)
