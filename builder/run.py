"""The one wrapper for every external command: logged, never through a shell, readable on failure."""

from __future__ import annotations

import collections
import logging
import os
import re
import shlex
import subprocess
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path

from .errors import BuilderError
from .fsutil import DISK_FULL, no_space_message

log = logging.getLogger(__name__)

TAIL_LINES = 40

# What a child process may see: an allowlist, not a denylist. A Kubernetes tree's Makefile, go,
# pip, git and osslsigncode run code we did not write, and none of them needs a token, a cloud
# key, an SSH agent or a registry login; a new secret-shaped variable (a CI's next token) must
# not reach them because nobody thought to list it. A name ending in `*` is a prefix.
BASE_VARS = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TZ", "LANG", "LANGUAGE", "LC_*",
    "TMPDIR", "TEMP", "TMP", "SOURCE_DATE_EPOCH",
    # Windows, where a Python child (pip) needs them to start at all
    "SYSTEMROOT", "SYSTEMDRIVE", "COMSPEC", "PATHEXT", "WINDIR", "USERPROFILE", "APPDATA", "LOCALAPPDATA",
)
# Read by the tree's build (hack/lib/golang.sh, hack/lib/version.sh, build/root/Makefile) and by go.
BUILD_VARS = (
    "GOROOT", "GOPATH", "GOCACHE", "GOMODCACHE", "GOENV", "GOBIN", "GOTMPDIR", "GOFLAGS", "GOLDFLAGS",
    "GOGCFLAGS", "GOOS", "GOARCH", "GOAMD64", "GOTOOLCHAIN", "GOPROXY", "GONOPROXY", "GOPRIVATE",
    "GONOSUMDB", "GOSUMDB", "GOINSECURE", "GOWORK", "GO111MODULE", "GOMAXPROCS", "GOEXPERIMENT",
    "CGO_ENABLED", "FORCE_HOST_GO", "DBG",
    "KUBE_BUILD_PLATFORMS", "KUBE_GIT_VERSION", "KUBE_GIT_COMMIT", "KUBE_GIT_TREE_STATE", "KUBE_GIT_MAJOR",
    "KUBE_GIT_MINOR", "KUBE_GIT_VERSION_FILE", "KUBE_VERBOSE", "KUBE_FASTBUILD", "KUBE_GOFLAGS",
    "KUBE_CGO_OVERRIDES", "KUBE_STATIC_OVERRIDES", "KUBE_PARALLEL_BUILD_MEMORY", "KUBE_BUILD_WITH_COVERAGE",
    "KUBE_RSYNC_COMPRESS", "KUBE_OUTPUT_SUBPATH", "KUBE_EXTRA_GOPATH", "KUBE_COVER", "KUBE_RACE", "KUBE_TIMEOUT",
)
# pip's own configuration and what it needs to reach its index (only pip children get these).
PIP_VARS = (
    "PIP_*", "VIRTUAL_ENV", "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "XDG_CACHE_HOME",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
)
# osslsigncode: OpenSSL's and the usual PKCS#11 module's configuration, and a timestamp server's way out.
SIGN_VARS = (
    "OPENSSL_CONF", "OPENSSL_ENGINES", "OPENSSL_MODULES", "SOFTHSM2_CONF", "SSL_CERT_FILE", "SSL_CERT_DIR",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
)
# A second net under the allowlist: an allowed prefix (PIP_*, LC_*) never lets a secret-shaped name by.
_SECRET_NAME_RE = re.compile(
    r"^(GH_TOKEN|GITHUB_TOKEN|GH_ENTERPRISE_TOKEN|GITHUB_ENTERPRISE_TOKEN|ACTIONS_.*TOKEN.*|ACTIONS_RUNTIME_.*"
    r"|.*_TOKEN|.*_PASSWORD|.*_PASS|.*_PASSPHRASE|.*_SECRET|.*_SECRET_KEY|.*_API_KEY|.*_PRIVATE_KEY"
    r"|.*_PAT|.*_JWT|.*_AUTH|.*_AUTH_.*|.*_CREDENTIALS?|.*_SECRET_ACCESS_KEY)$"
)


def is_secret_name(name: str) -> bool:
    return _SECRET_NAME_RE.match(name.upper()) is not None


def _allowed(name: str, allowed: Iterable[str]) -> bool:
    return any(name.startswith(a[:-1]) if a.endswith("*") else name == a for a in allowed)


def child_env(env: Mapping[str, str], keep: Iterable[str] = (), *, hidden: Collection[str] = ()) -> dict[str, str]:
    """What a child process gets of `env`: BASE_VARS and BUILD_VARS, less anything secret-shaped,
    plus the names (or `PREFIX*`) in `keep` (a caller's PIP_VARS, or what the configuration names),
    which are kept as they are. `hidden` (names a configuration gives for secrets, whatever they are
    called) never passes, kept or not. Everything else stays with this process."""
    keep = tuple(keep)
    gone = frozenset(n.upper() for n in hidden if n)
    return {k: v for k, v in env.items()
            if k.upper() not in gone
            and ((_allowed(k, BASE_VARS + BUILD_VARS) and not is_secret_name(k))
                 or (_allowed(k, keep) and (not is_secret_name(k) or k in keep)))}


def without(env: Mapping[str, str], hidden: Collection[str]) -> dict[str, str]:
    """`env` less the `hidden` names: what a run hands its stages, which `call` then filters."""
    gone = frozenset(n.upper() for n in hidden if n)
    return {k: v for k, v in env.items() if k.upper() not in gone}


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
    keep: Iterable[str] = (),
    redact: Mapping[str, str] | None = None,
    disk: Path | None = None,
) -> str:
    """Run a short command and return its stdout; on failure raise `error` with its output's tail.

    `stdin` is how a secret reaches a command: never on its command line, which is logged. The
    child gets `child_env(env, keep)`: `env` is the run's environment (without the names it hides). `redact`
    maps text of the command line (a URL with a key in its query) to what the log and the error
    show instead, in the command and in its output. `disk`: the folder the command writes to; when
    it fails for want of space, the error names that folder's device instead of the command's traceback."""
    log.debug("$ %s", _redacted(format_cmd(args), redact))
    try:
        proc = subprocess.run(
            [str(a) for a in args],
            cwd=cwd,
            env=child_env(env, keep),
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
        raise error(_redacted(msg, redact))
    return proc.stdout


_NO_SPACE_RE = re.compile(r"No space left on device|\[Errno 28\]|ENOSPC|Disk quota exceeded", re.IGNORECASE)


def _out_of_space(output: str) -> bool:
    return _NO_SPACE_RE.search(output) is not None


def _redacted(text: str, redact: Mapping[str, str] | None) -> str:
    for secret, shown in (redact or {}).items():
        if secret:
            text = text.replace(secret, shown).replace(shlex.quote(secret), shown)
    return text


def call_logged(
    args: Sequence[str | os.PathLike[str]],
    *,
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path | None = None,
    error: type[BuilderError] = BuilderError,
    what: str = "",
    on_line: Callable[[str], None] | None = None,
    keep: Iterable[str] = (),
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
                env=child_env(env, keep),
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
