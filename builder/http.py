"""HTTP shared by every stage: one session factory and one retry policy.

Retries: connection errors, timeouts, 5xx and 429 (honouring Retry-After), bounded, with
exponential backoff and jitter; never other 4xx. Sleeping goes through the policy's
`sleep`, so tests replace it and never sleep for real.
"""

from __future__ import annotations

import email.utils
import errno
import hashlib
import ipaddress
import logging
import os
import random
import re
import socket
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import requests
import urllib3

from . import __version__
from .errors import FetchError
from .sizes import GiB, parse_size

USER_AGENT = f"k8s-windows-bundle/{__version__} (+python-requests/{requests.__version__})"
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0


class Meter(Protocol):
    """A transfer's byte counter (the reporter's: a bar on a terminal, nothing in a log)."""

    def update(self, done: int, total: int | None) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Net:
    """How to reach the network and how a download is shown; tests pass short timeouts and a policy
    whose sleep only records. `max_download`, `deadline` and `meters` are resolved once, in `cli`."""

    session: requests.Session | None = None
    policy: RetryPolicy | None = None
    timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)
    max_download: int = field(default_factory=lambda: MAX_DOWNLOAD)  # the cap of one download (K8SWB_MAX_DOWNLOAD)
    # the longest one download may take, retries included (K8SWB_DOWNLOAD_DEADLINE)
    deadline: float = field(default_factory=lambda: DOWNLOAD_DEADLINE)
    meters: Callable[[str], Meter] | None = None  # the reporter's meter for a label; None: no progress shown

    def meter(self, label: str) -> Meter | None:
        return self.meters(label) if self.meters is not None else None


def make_session() -> requests.Session:
    """A session with our User-Agent; TLS verification is never turned off."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.verify = True
    return session


@dataclass
class RetryPolicy:
    attempts: int = 5
    backoff: float = 1.0  # first delay, doubled each attempt
    max_delay: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)

    def backoff_delay(self, attempt: int) -> float:
        """Delay before retry number `attempt` (1-based): exponential with full jitter on top."""
        base = min(self.max_delay, self.backoff * (2.0 ** (attempt - 1)))
        return base + self.rng.uniform(0, base / 2)

    def server_delay(self, response: requests.Response) -> float | None:
        """The wait the server asked for (Retry-After, or x-ratelimit-reset with none remaining).

        None when it asked for none, or when the header cannot be read: then back off as usual.
        """
        try:
            return self._asked_delay(response)
        except (ValueError, TypeError, OverflowError):
            return None

    def _asked_delay(self, response: requests.Response) -> float | None:
        retry_after = response.headers.get("Retry-After")
        if retry_after:
            if retry_after.strip().isdigit():
                return min(float(retry_after), self.max_delay * 15)
            when = email.utils.parsedate_to_datetime(retry_after)
            if when is not None:
                return max(0.0, min(when.timestamp() - self.clock(), self.max_delay * 15))
        if response.headers.get("x-ratelimit-remaining") == "0" and response.headers.get("x-ratelimit-reset"):
            reset = float(response.headers["x-ratelimit-reset"])
            return max(0.0, min(reset - self.clock() + 1, self.max_delay * 15))
        return None


def is_retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


# --------------------------------------------------------------------------- downloads

log = logging.getLogger(__name__)
# urllib3's debug lines name every request with its full query string (a signed URL's signature):
# even with --verbose they stay out of the log; ours name each download, redacted.
logging.getLogger("urllib3").setLevel(logging.INFO)

CHUNK = 256 * 1024
MESSAGE_LIMIT = 300  # characters of a server's error body shown to the user
# The most any download may be (an executable, an archive): far above a kubelet.exe (~120 MiB) or
# the SDN archive, far below a full disk. K8SWB_MAX_DOWNLOAD (bytes, or with a MiB/GiB suffix) sets it.
MAX_DOWNLOAD: int = 1 * GiB
MAX_DOWNLOAD_ENV = "K8SWB_MAX_DOWNLOAD"
MAX_CHECKSUM = 16 * 1024  # a checksum file: one hex digest and a name
# The longest one download may take, every attempt and wait included: far above a 1 GiB file at
# 1 MiB/s, far below a server that trickles a byte at a time for ever (each byte would reset the
# read timeout). K8SWB_DOWNLOAD_DEADLINE (seconds, or with an s/min/h suffix) sets it.
DOWNLOAD_DEADLINE = 3600.0
DOWNLOAD_DEADLINE_ENV = "K8SWB_DOWNLOAD_DEADLINE"
MAX_REDIRECTS = 10
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)

# What a broken or stalled transfer raises while the body streams: worth another attempt.
_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,  # raised by the raw body reads below
)


class HTTPStatusError(FetchError):
    """A final answer other than 200/206 (never one that is retried); `status` lets a caller expect a 404."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def max_download(env: Mapping[str, str]) -> int:
    """The size cap of a download: K8SWB_MAX_DOWNLOAD when set (e.g. `2GiB`, `700MiB`, bytes), else 1 GiB.

    Read once, at the edge (`cli`); the downloads get it through `Net.max_download`."""
    return parse_size(env.get(MAX_DOWNLOAD_ENV, ""), MAX_DOWNLOAD_ENV, MAX_DOWNLOAD, FetchError)


def download_deadline(env: Mapping[str, str]) -> float:
    """The deadline of one download in seconds: K8SWB_DOWNLOAD_DEADLINE when set (`90s`, `30min`, `2h`,
    a number of seconds), else an hour. Read once, at the edge (`cli`); downloads get it through `Net`."""
    raw = env.get(DOWNLOAD_DEADLINE_ENV, "").strip()
    if not raw:
        return DOWNLOAD_DEADLINE
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(h|min|s|)", raw)
    if m is None or float(m[1]) <= 0:
        msg = (f"{DOWNLOAD_DEADLINE_ENV}={raw!r} is not a duration; write it like 90s, 30min, 2h or a number "
               "of seconds")
        raise FetchError(msg)
    return float(m[1]) * {"h": 3600, "min": 60, "s": 1, "": 1}[m[2]]


def clean_text(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Remote text fit for a terminal: one line, no control characters (escapes), at most `limit` long."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text[:limit]


def is_loopback(url: str) -> bool:
    return is_loopback_host(urllib.parse.urlsplit(url).hostname or "")


_NUMERIC_V4_RE = re.compile(r"^[0-9a-fA-FxX.]+$")


def is_loopback_host(host: str) -> bool:
    """Whether `host` names this machine, in every spelling the resolver takes for a number.

    The C resolver reads `2130706433`, `0x7f.1`, `127.1` and `0177.0.0.1` as 127.0.0.1 (inet_aton),
    and IPv6 writes 127.0.0.1 as `::ffff:127.0.0.1`: each is recognised, so a loopback mirror is
    accepted and judged the same however it is written. A name is loopback only as `localhost`
    (anything else goes through DNS, and is treated as another machine).
    """
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        if not _NUMERIC_V4_RE.match(host):
            return False
        try:
            addr = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def url_problem(url: str, *, allow_insecure_http: bool = False) -> str | None:
    """Why a source URL is refused: credentials in it, or plain http to another machine."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return None
    if parts.username is not None or parts.password is not None:
        return (f"{redact_url(url)} carries credentials (user:password@); they would be recorded and "
                "logged. Remove them and give them through ~/.netrc (or NETRC) instead")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(url):
        return (f"{redact_url(url)} is plain http: anyone on the way can change what it serves. Use "
                "https, or pass --allow-insecure-http to accept it")
    return None


def redact_url(url: str) -> str:
    """The URL without user:password@ and without a query string, which may carry tokens."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or parts.scheme == "file":
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port:
        host = f"{host}:{port}"
    query = "?..." if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", "")) + query


def append_path(url: str, tail: str) -> str:
    """`url` + tail (`.sha256`, `/v1.37.0/...`), keeping a query string (a signed mirror URL) after the path."""
    if local_path(url) is None and "?" in url:
        path, query = url.split("?", 1)
        return f"{path}{tail}?{query}"
    return url + tail


def local_path(url: str) -> Path | None:
    """The file a `file:` URL or a plain path names; None for http(s)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("http", "https"):
        return None
    if parts.scheme == "file":
        return Path(urllib.request.url2pathname(parts.path))
    return Path(url)


def resolve_location(url: str, config_path: Path | None) -> str:
    """`url` as given, except a relative local path, which is taken from the config file's folder."""
    local = local_path(url)
    if local is not None and not url.startswith("file:") and not local.is_absolute():
        base = config_path.parent if config_path is not None else Path.cwd()
        return str(base / local)
    return url


class RedirectRefused(requests.exceptions.RequestException):
    """A redirect that is not followed: checked before anything is sent to where it points."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").rstrip(".").lower(), port


def redirect_problem(first: str, target: str) -> str | None:
    """Why a redirect (of a request first sent to `first`) to `target` is not followed, or None."""
    parts = urllib.parse.urlsplit(target)
    if parts.scheme not in ("http", "https"):
        return "redirected to a URL that is not http(s) (refused)"
    if not parts.hostname:
        return "redirected to a URL without a host (refused)"
    if parts.username is not None or parts.password is not None:
        return "redirected to a URL with credentials in it (refused)"
    if parts.scheme == "http" and not is_loopback(target) and (first.startswith("https:") or is_loopback(first)):
        # Plain http from the start needed --allow-insecure-http; from https or this machine it would undo TLS.
        return (f"the server redirected to plain http ({redact_url(target)}); refused, since anyone on the way "
                "could change the file")
    return None


class _HopAuth(requests.auth.AuthBase):
    """Credentials for one hop: the netrc's (or the session's) for the first URL's own origin over https
    (or on this machine); none at all anywhere else, not even a netrc entry for that host."""

    def __init__(self, first: str, url: str, session: requests.Session) -> None:
        scheme = _origin(url)[0]
        self.allowed = _origin(url) == _origin(first) and (scheme == "https" or is_loopback(url))
        self.creds: Callable[[requests.PreparedRequest], requests.PreparedRequest] | None = None
        if not self.allowed:
            return
        if session.auth is not None:
            self.creds = (requests.auth.HTTPBasicAuth(*session.auth) if isinstance(session.auth, tuple)
                          else session.auth)
        elif session.trust_env:
            netrc = requests.utils.get_netrc_auth(first)
            self.creds = requests.auth.HTTPBasicAuth(*netrc) if netrc else None

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if not self.allowed:
            r.headers.pop("Authorization", None)
            return r
        return self.creds(r) if self.creds is not None else r


def follow(session: requests.Session, method: str, url: str, **kw: object) -> requests.Response:
    """`session.request` with redirects followed here, one hop at a time: each hop is checked
    (`redirect_problem`) before it is requested, none is visited twice, and credentials go only
    to the first URL's origin (`_HopAuth`). Raises RedirectRefused, TooManyRedirects."""
    seen = {url}
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        resp = session.request(method, current, allow_redirects=False, auth=_HopAuth(url, current, session),
                               **kw)  # type: ignore[arg-type]
        location = resp.headers.get("Location")
        if resp.status_code not in _REDIRECT_STATUSES or not location:
            return resp
        resp.close()
        try:
            target = urllib.parse.urljoin(current, location.strip()).split("#", 1)[0]
        except ValueError as err:
            raise requests.exceptions.InvalidURL(str(err)) from None
        problem = redirect_problem(url, target)
        if problem:
            raise RedirectRefused(problem)
        if target in seen:
            raise requests.exceptions.TooManyRedirects("loop")
        seen.add(target)
        current = target
    raise requests.exceptions.TooManyRedirects(f"more than {MAX_REDIRECTS}")


def head_status(session: requests.Session, url: str, timeout: tuple[float, float]) -> int:
    """The status a HEAD of `url` ends with, redirects followed as `follow` does."""
    resp = follow(session, "HEAD", url, timeout=timeout)
    resp.close()
    return resp.status_code


def download(
    url: str,
    dest: Path,
    *,
    session: requests.Session,
    policy: RetryPolicy,
    expected_size: int | None = None,
    progress: Meter | None = None,
    timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
    max_bytes: int | None = None,
    key: str = "",
    deadline: float | None = None,
) -> str:
    """Download `url` to `dest` and return its sha256 (hex).

    The body streams to a temporary file beside `dest` while it is hashed; `dest` appears only
    when the transfer is complete (and, with `expected_size`, of that size). Transient failures
    are retried per `policy`; a broken transfer resumes with `Range` where the server answers 206.
    `file:` URLs and local paths are copied the same way, without retries. More than `max_bytes`
    (default: MAX_DOWNLOAD) is refused while it streams. `key` is the configuration key the
    URL comes from, named in the hint of an error. The whole transfer, retries included, ends after
    `deadline` seconds (default: DOWNLOAD_DEADLINE), and nothing of it is kept.
    """
    limit = max_bytes if max_bytes is not None else MAX_DOWNLOAD
    seconds = deadline if deadline is not None else DOWNLOAD_DEADLINE
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            source = local_path(url)
            if source is not None:
                digest, size = _copy_local(source, out, limit, key)
            else:
                digest, size = _Transfer(url, out, session, policy, timeout=timeout, progress=progress,
                                         limit=limit, key=key, deadline=seconds).run()
        if expected_size is not None and size != expected_size:
            msg = f"{redact_url(url)}: got {size} bytes, expected {expected_size}; the file is truncated or changed"
            raise FetchError(msg)
        os.replace(tmp, dest)
    finally:
        if progress is not None:
            progress.close()
        tmp.unlink(missing_ok=True)
    return digest


NOT_THERE = (404, 410)  # the answers that mean "no such file" (a release without it, a mirror lacking it)


def download_if_present(url: str, dest: Path, net: Net, session: requests.Session, *,
                        progress: Meter | None = None, key: str = "", max_bytes: int | None = None) -> str | None:
    """`download`, but None when there is no such file (404/410, or a local path that does not exist).

    The cap is `max_bytes` when given (a checksum file's), else `net.max_download`."""
    local = local_path(url)
    if local is not None and not local.is_file():
        return None
    try:
        return download(url, dest, session=session, policy=net.policy or RetryPolicy(), timeout=net.timeout,
                        progress=progress, key=key, deadline=net.deadline,
                        max_bytes=max_bytes if max_bytes is not None else net.max_download)
    except HTTPStatusError as err:
        if err.status in NOT_THERE:
            return None
        raise

def _too_big(shown: str, limit: int) -> FetchError:
    return FetchError(f"{shown} is larger than the limit of {limit} bytes; it was not kept. If it is "
                      f"really that large, raise {MAX_DOWNLOAD_ENV} (e.g. {MAX_DOWNLOAD_ENV}=2GiB)")


def _copy_local(source: Path, out: BinaryIO, limit: int, key: str) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    try:
        with source.open("rb") as src:
            while chunk := src.read(CHUNK):
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
                if size > limit:
                    raise _too_big(str(source), limit)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise  # not a problem of the source: the stage names the full disk
        msg = f"cannot read {source}: {err.strerror or err}; check the path ({key or 'sdn.url or the mirror'})"
        raise FetchError(msg) from err
    return hasher.hexdigest(), size


class _Transfer:
    """One download over HTTP: the attempts, the resume state and the running hash."""

    def __init__(self, url: str, out: BinaryIO, session: requests.Session, policy: RetryPolicy, *,
                 timeout: tuple[float, float], progress: Meter | None, limit: int = MAX_DOWNLOAD,
                 key: str = "", deadline: float = DOWNLOAD_DEADLINE) -> None:
        self.url = url
        self.deadline = deadline
        self.ends = time.monotonic() + deadline
        self.limit = limit
        self.key = key
        self.shown = redact_url(url)
        self.out = out
        self.session = session
        self.policy = policy
        self.timeout = timeout
        self.progress = progress
        self.hasher = hashlib.sha256()
        self.done = 0
        self.total: int | None = None
        self.validator: str | None = None  # ETag or Last-Modified: a resume must get the same file

    def run(self) -> tuple[str, int]:
        reason = ""
        for attempt in range(1, self.policy.attempts + 1):
            self._check_deadline()
            try:
                retry = self._attempt()
            except _FINAL as err:
                # A redirect loop, a redirect to file: or a malformed URL: another attempt gets the same.
                msg = f"{self.shown}: {short_reason(err)}; {self._hint()}"
                raise FetchError(msg) from None
            except _TRANSIENT as err:
                if unresolved(err):  # the name will not resolve on the next try either: say so now
                    msg = f"{self.shown}: {unresolved_text(self.url)}; {self._hint()}"
                    raise FetchError(msg) from None
                retry = (self.policy.backoff_delay(attempt), short_reason(err))
            except requests.RequestException as err:  # anything else requests raises: final, and readable
                msg = f"{self.shown}: {short_reason(err)}; {self._hint()}"
                raise FetchError(msg) from None
            if retry is None:
                return self.hasher.hexdigest(), self.done
            delay, reason = retry
            if delay is None:
                delay = self.policy.backoff_delay(attempt)
            if attempt < self.policy.attempts:
                if delay >= self.ends - time.monotonic():
                    self._check_deadline(waiting=delay)
                log.warning("%s: %s; retry %d of %d in %.1fs (%d bytes kept)", self.shown, reason,
                            attempt, self.policy.attempts - 1, delay, self.done)
                self.policy.sleep(delay)
        msg = f"download of {self.shown} failed after {self.policy.attempts} attempts: {reason}; {self._hint()}"
        raise FetchError(msg)

    def _check_deadline(self, waiting: float = 0.0) -> None:
        if time.monotonic() + waiting < self.ends:
            return
        msg = (f"{self.shown}: not complete after {self.deadline:g} s (the deadline of one download, "
               f"retries included; {self.done} bytes had arrived), so it was given up and nothing was kept. "
               f"A slow but honest mirror needs a longer {DOWNLOAD_DEADLINE_ENV} (e.g. {DOWNLOAD_DEADLINE_ENV}=2h)")
        raise FetchError(msg)

    def _timeouts(self) -> tuple[float, float]:
        left = max(self.ends - time.monotonic(), 0.001)
        return min(self.timeout[0], left), min(self.timeout[1], left)

    def _hint(self) -> str:
        where = f"check {self.key}" if self.key else "check the URL"
        return f"{where} and the network, then run again"

    def _attempt(self) -> tuple[float | None, str] | None:
        """One request: None when the file is complete, else (the server's delay or None, why)."""
        headers = {"Accept-Encoding": "identity"}
        if self.done:
            headers["Range"] = f"bytes={self.done}-"
            if self.validator:
                headers["If-Range"] = self.validator
        with follow(self.session, "GET", self.url, headers=headers, stream=True, timeout=self._timeouts()) as resp:
            if is_retryable_status(resp.status_code):
                return self.policy.server_delay(resp), f"HTTP {resp.status_code} {clean_text(resp.reason or '', 60)}"
            if resp.status_code == 416 and self.done:
                # The part we hold no longer fits the file (it shrank or changed): start over.
                self._reset()
                return 0.0, "HTTP 416 on resume"
            if resp.status_code not in (200, 206):
                status = f"HTTP {resp.status_code} {clean_text(resp.reason or '', 60)}"
                msg = f"{self.shown}: {status}: {_server_message(resp)}"
                raise HTTPStatusError(msg, resp.status_code)
            self._start(resp)
            # read1 hands over whatever has arrived, so a transfer that breaks keeps every byte it
            # got (iter_content would lose its partly filled chunk). No decoding: with identity
            # asked for, a Content-Encoding the server adds anyway belongs to the file itself.
            while chunk := resp.raw.read1(CHUNK, decode_content=False):
                if self.done + len(chunk) > self.limit:
                    raise _too_big(self.shown, self.limit)
                self.out.write(chunk)
                self.hasher.update(chunk)
                self.done += len(chunk)
                if self.progress is not None:
                    self.progress.update(self.done, self.total)
                self._check_deadline()
        if self.total is not None and self.done < self.total:
            # urllib3 usually raises on a short body itself; this catches any that slip through.
            return None, f"body ended after {self.done} of {self.total} bytes"
        return None

    def _reset(self) -> None:
        self.out.seek(0)
        self.out.truncate()
        self.hasher = hashlib.sha256()
        self.done = 0
        self.total = None

    def _start(self, resp: requests.Response) -> None:
        """Set up the file for this response: continue after a 206 at our offset, else start over."""
        if resp.status_code == 206 and _range_start(resp) == self.done:
            total = resp.headers.get("Content-Range", "").rpartition("/")[2]
            self.total = int(total) if total.isdigit() else self.total
            log.info("%s: resuming at byte %d", self.shown, self.done)
            return
        if self.done:
            log.info("%s: the server does not resume; starting over", self.shown)
        self._reset()
        length = resp.headers.get("Content-Length", "")
        self.total = int(length) if length.isdigit() else None
        if self.total is not None and self.total > self.limit:
            raise _too_big(self.shown, self.limit)
        self.validator = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
        if resp.status_code == 206:
            # A 206 that is not at our offset: ask again for the whole file.
            msg = f"server answered a range we did not ask for ({resp.headers.get('Content-Range')})"
            raise requests.exceptions.ChunkedEncodingError(msg)


def _range_start(resp: requests.Response) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/(?:\d+|\*)$", resp.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _server_message(resp: requests.Response) -> str:
    """The start of the server's own explanation, on one line, without control characters."""
    try:
        text = next(resp.iter_content(4096, decode_unicode=False), b"").decode("utf-8", "replace")
    except _TRANSIENT:
        text = ""
    return clean_text(text) or "(no message)"


# Failures that another attempt cannot cure.
_FINAL = (
    requests.exceptions.SSLError,  # a certificate does not start to fit on the fifth try
    RedirectRefused,
    requests.exceptions.TooManyRedirects,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
    urllib3.exceptions.LocationParseError,
)

_ERRNO_TEXT = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset by the server",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "connection timed out",
}


def short_reason(err: BaseException) -> str:
    """One short line for a failed request: never the library's text, which repeats the URL and its query."""
    if isinstance(err, RedirectRefused):
        return str(err)
    if isinstance(err, requests.exceptions.TooManyRedirects):
        return "too many redirects (a redirect loop?)"
    if isinstance(err, requests.exceptions.InvalidSchema):
        return "redirected to a URL that is not http(s) (refused)"
    if isinstance(err, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema
                  | requests.exceptions.URLRequired | urllib3.exceptions.LocationParseError):
        return "not a valid URL (or redirected to one)"
    if isinstance(err, requests.exceptions.InvalidHeader):
        return "the server sent an invalid header"
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return "timed out connecting"
    if isinstance(err, requests.Timeout | urllib3.exceptions.ReadTimeoutError):
        return "timed out waiting for data"
    if isinstance(err, requests.exceptions.SSLError):
        return "TLS failed (certificate not trusted, or not a TLS server)"
    if isinstance(err, requests.exceptions.ChunkedEncodingError | urllib3.exceptions.ProtocolError):
        cause = _root_os_error(err)
        if cause is not None and cause.errno in _ERRNO_TEXT:
            return f"transfer broken: {_ERRNO_TEXT[cause.errno]}"
        return "transfer broken off"
    cause = _root_os_error(err)
    if isinstance(cause, socket.gaierror):
        return "host name not found"
    if cause is not None and cause.errno in _ERRNO_TEXT:
        return _ERRNO_TEXT[cause.errno]
    if isinstance(err, requests.ConnectionError):
        return "connection failed"
    return clean_text(type(err).__name__)


def unresolved(err: BaseException) -> bool:
    """Whether a request failed because its host name does not resolve (DNS): never worth a retry."""
    return isinstance(_root_os_error(err), socket.gaierror)


def unresolved_text(url: str) -> str:
    host = urllib.parse.urlsplit(url).hostname or url
    return f"the host name {host} cannot be resolved (DNS); check the name and this machine's network"


def _root_os_error(err: BaseException) -> OSError | None:
    """The OSError at the bottom of requests' and urllib3's wrapping, if any."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno is not None:
            return e
        todo.extend([e.__cause__, e.__context__, getattr(e, "reason", None)])
        todo.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
    return None
