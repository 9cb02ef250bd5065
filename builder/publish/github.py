"""A small GitHub Releases client on `requests`: only what publishing needs, and safe with the token.

The token only ever goes to the API origin and the matching uploads origin, is attached per
request (never stored in the session's headers), is never sent after a redirect (redirects are
not followed at all), and is scrubbed from every message built from a server's answer.
Retries follow `builder.http.RetryPolicy`; writes are paced about one second apart, as GitHub
asks of integrations, through the policy's injected clock and sleep.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import requests
import urllib3

from ..errors import ConfigError, PublishError
from ..http import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    RetryPolicy,
    clean_text,
    is_loopback_host,
    is_retryable_status,
    make_session,
    short_reason,
    unresolved,
    unresolved_text,
)

log = logging.getLogger(__name__)

DEFAULT_API = "https://api.github.com"
API_VERSION = "2022-11-28"
WRITE_INTERVAL = 1.0  # seconds between two writes (GitHub's advice for integrations)
RATE_LIMIT_WAIT = 60.0  # a secondary rate limit with no hint: GitHub says wait at least a minute
_TOKEN_SHAPES = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{8,}|github_pat_[A-Za-z0-9_]{8,})")
_TIMEOUT = (CONNECT_TIMEOUT, READ_TIMEOUT)
MAX_BODY = 8 << 20  # one answer: a page of 100 releases with their assets is well under a megabyte
MAX_PAGES = 100  # 10,000 releases or assets: a list that goes on longer is a server going round in circles

Json = dict[str, Any]
Progress = Callable[[int, int], None]


class Secret:
    """A token that never shows itself: repr, str and f-strings print `***`; `reveal()` is explicit."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def scrub(self, text: str) -> str:
        """`text` with this token, and anything shaped like a GitHub token, replaced by `***`."""
        if self._value:
            text = text.replace(self._value, "***").replace(quote(self._value, safe=""), "***")
        return _TOKEN_SHAPES.sub("***", text)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        msg = "a Secret is not picklable: it would write the token out"
        raise TypeError(msg)


class GitHubError(PublishError):
    """GitHub refused or failed a request; the message is GitHub's own, with the token scrubbed."""

    def __init__(self, msg: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code


class AssetExists(GitHubError):
    """An upload met an asset of the same name (422 already_exists)."""


class AmbiguousWrite(GitHubError):
    """A non-repeatable write failed in a way that leaves unknown whether GitHub carried it out."""


# --------------------------------------------------------------------------- where requests may go


@dataclass(frozen=True)
class Endpoints:
    api: str  # API base, no trailing slash
    uploads_origin: str  # scheme://host[:port] that may receive uploads
    uploads_prefix: str  # path every upload_url must start with

    @property
    def api_origin(self) -> str:
        return _origin(self.api)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()



def endpoints_for(api_base: str) -> Endpoints:
    """The API and uploads endpoints for `GITHUB_API_URL` (github.com, GitHub Enterprise, or a local test API)."""
    parts = urlsplit(api_base.strip())
    host = (parts.hostname or "").lower()
    path = parts.path.rstrip("/")
    api = f"{parts.scheme}://{parts.netloc}{path}"
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(host)):
        msg = f"GITHUB_API_URL={api_base!r} must be an https:// URL (plain http only for a loopback test API)"
        raise ConfigError(msg)
    if parts.query or parts.fragment or parts.username or parts.password:
        msg = f"GITHUB_API_URL={api_base!r} must be a bare base URL, without query, fragment or credentials"
        raise ConfigError(msg)
    if host == "api.github.com" and not path:
        return Endpoints(api, "https://uploads.github.com", "/")
    if path.endswith("/api/v3"):
        return Endpoints(api, _origin(api), path[: -len("/v3")] + "/uploads/")
    if is_loopback_host(host):
        return Endpoints(api, _origin(api), path + "/")
    msg = (f"GITHUB_API_URL={api_base!r} is neither https://api.github.com nor a GitHub Enterprise API "
           "base (https://HOST/api/v3); set it to one of those")
    raise ConfigError(msg)


# --------------------------------------------------------------------------- upload body


class _UploadBody:
    """A file read in blocks with its length known (so requests sends Content-Length) and progress told."""

    def __init__(self, f: BinaryIO, size: int, progress: Progress | None) -> None:
        self._f = f
        self._size = size
        self._sent = 0
        self._progress = progress

    def __len__(self) -> int:
        return self._size

    def close(self) -> None:
        self._f.close()

    def read(self, n: int = -1) -> bytes:
        block = self._f.read(n)
        self._sent += len(block)
        if self._progress is not None and block:
            self._progress(self._sent, self._size)
        return block


# --------------------------------------------------------------------------- the client


class GitHubClient:
    def __init__(
        self,
        endpoints: Endpoints,
        repo: str,
        token: Secret,
        policy: RetryPolicy,
        *,
        session: requests.Session | None = None,
        read_only: bool = False,
    ) -> None:
        self.endpoints = endpoints
        self.repo = repo
        self._token = token
        self._policy = policy
        self._session = session or make_session()
        self._session.headers["Accept"] = "application/vnd.github+json"
        self._session.headers["X-GitHub-Api-Version"] = API_VERSION
        self._read_only = read_only
        self._last_write: float | None = None

    def __repr__(self) -> str:
        return f"GitHubClient({self.endpoints.api!r}, {self.repo!r}, token=***)"

    def close(self) -> None:
        self._session.close()

    # ----------------------------------------------------------------------- releases

    def repo_url(self, path: str) -> str:
        return f"{self.endpoints.api}/repos/{self.repo}{path}"

    def release_by_tag(self, tag: str) -> Json | None:
        """The PUBLISHED release of `tag`, or None (GitHub answers 404 for drafts)."""
        resp = self.call("GET", self.repo_url(f"/releases/tags/{quote(tag, safe='')}"), ok=(200, 404))
        return None if resp.status_code == 404 else _release(resp)

    def find_release(self, tag: str) -> Json | None:
        """The release of `tag`, draft or published: by tag first, then by listing (drafts are only listed)."""
        found = self.release_by_tag(tag)
        if found is not None:
            return found
        url = self.repo_url("/releases")
        matches = [_shaped(r, _RELEASE, _where("GET", url), "release") for r in self.paged(url)
                   if r.get("tag_name") == tag]
        if len(matches) > 1:
            log.warning("%d draft releases carry tag %s; using the oldest (id %d); delete the others",
                        len(matches), tag, min(int(r["id"]) for r in matches))
        return min(matches, key=lambda r: int(r["id"])) if matches else None

    def create_release(self, fields: Mapping[str, Any]) -> Json:
        """Create a release; after a failure that may have created it anyway, find it instead of a twin."""
        tag = str(fields["tag_name"])
        for attempt in range(1, self._policy.attempts + 1):
            try:
                return _release(self.call("POST", self.repo_url("/releases"), json_body=fields,
                                          ok=(201,), repeatable=False))
            except AmbiguousWrite:
                found = self.find_release(tag)
                if found is not None:
                    return found
                if attempt == self._policy.attempts:
                    raise
                self._policy.sleep(self._policy.backoff_delay(attempt))
            except GitHubError as err:
                found = self.find_release(tag) if err.code == "already_exists" else None
                if found is None:
                    raise
                return found
        raise AssertionError("unreachable")  # pragma: no cover

    def update_release(self, release_id: int, fields: Mapping[str, Any]) -> Json:
        return _release(self.call("PATCH", self.repo_url(f"/releases/{release_id}"), json_body=fields))

    def list_assets(self, release_id: int) -> list[Json]:
        url = self.repo_url(f"/releases/{release_id}/assets")
        return [_shaped(a, _ASSET, _where("GET", url), "asset") for a in self.paged(url)]

    def delete_asset(self, asset_id: int) -> None:
        # 404 means it is gone already (say, an earlier attempt's answer was lost): the goal is met.
        self.call("DELETE", self.repo_url(f"/releases/assets/{asset_id}"), ok=(204, 404))

    def upload_asset(self, release: Json, path: Path, name: str, *, progress: Progress | None = None) -> Json:
        """Upload one file; the file is reopened for every attempt. 422 already_exists raises AssetExists."""
        url = self.upload_target(str(release.get("upload_url", "")))
        size = path.stat().st_size
        resp = self.call("POST", url, params={"name": name},
                         body=lambda: _UploadBody(path.open("rb"), size, progress),
                         content_type=_content_type(name), ok=(201,))
        return _shaped(_json(resp), _ASSET, _where("POST", url), "asset")

    def upload_target(self, upload_url: str) -> str:
        """The release's upload URL without its `{?name,label}` template, if it is on the expected uploads host."""
        url = upload_url.split("{", 1)[0]
        expected = self.endpoints
        if _origin(url) != expected.uploads_origin or not urlsplit(url).path.startswith(expected.uploads_prefix):
            msg = (f"the release's upload_url points at {_origin(url) or upload_url!r}, not the expected uploads "
                   f"host {expected.uploads_origin}{expected.uploads_prefix}; nothing was uploaded there "
                   "(the token would have gone with it); check GITHUB_API_URL")
            raise GitHubError(msg)
        return url

    def paged(self, url: str) -> Iterator[Json]:
        """Every item of a paginated list, following `Link: rel=next` (on the API origin only), each
        page once and at most MAX_PAGES of them."""
        params: dict[str, str] | None = {"per_page": "100"}
        next_url: str | None = url
        seen: set[str] = set()
        while next_url:
            if next_url in seen or len(seen) >= MAX_PAGES:
                why = "links back to a page already read" if next_url in seen else f"goes on past {MAX_PAGES} pages"
                msg = f"GitHub {_where('GET', url)}: the list {why}; the server is not answering like GitHub"
                raise GitHubError(msg)
            seen.add(next_url)
            resp = self.call("GET", next_url, params=params)
            items = _json(resp)
            if not isinstance(items, list):
                msg = f"GitHub {_where('GET', next_url)}: expected a list, got {type(items).__name__}"
                raise GitHubError(msg)
            yield from (i for i in items if isinstance(i, dict))
            next_url = resp.links.get("next", {}).get("url")
            params = None  # the next link carries its own query

    # ----------------------------------------------------------------------- one request, with retries

    def call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        body: Callable[[], _UploadBody] | None = None,
        content_type: str | None = None,
        ok: tuple[int, ...] = (200,),
        repeatable: bool = True,
    ) -> requests.Response:
        """Send with retries; return a response whose status is in `ok`, else raise GitHubError.

        `repeatable=False` (creating something): a failure that may have reached GitHub raises
        AmbiguousWrite instead of being retried blindly; rate-limit answers are still waited out.
        """
        self._check_origin(url)
        write = method != "GET"
        if write and self._read_only:
            msg = f"internal error: {method} {urlsplit(url).path} attempted in a dry run"
            raise AssertionError(msg)
        where = _where(method, url)
        send = functools.partial(self._send, method, url, params=params, json_body=json_body, body=body,
                                 content_type=content_type)
        for attempt in range(1, self._policy.attempts + 1):
            if write:
                self._pace()
            outcome = self._attempt(send, where, attempt, ok=ok, repeatable=repeatable)
            if isinstance(outcome, requests.Response):
                return outcome
            self._policy.sleep(outcome)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, send: Callable[[], requests.Response], where: str, attempt: int, *,
                 ok: tuple[int, ...], repeatable: bool) -> requests.Response | float:
        """One try: the response when its status is in `ok`, else the delay before the next try, else raise."""
        last = attempt == self._policy.attempts
        try:
            resp = send()
        except (requests.ConnectionError, requests.Timeout) as err:
            if unresolved(err):
                msg = f"GitHub {where}: {unresolved_text(self.endpoints.api)} (GITHUB_API_URL)"
                raise GitHubError(msg) from err
            reason = self._token.scrub(short_reason(err))  # not the library's text: it repeats the URL
            # Refused or unreachable before sending is safe to repeat; anything later may have been done.
            maybe_done = not isinstance(err, requests.ConnectTimeout)
            if last or (maybe_done and not repeatable):
                cls = AmbiguousWrite if maybe_done and not repeatable else GitHubError
                msg = f"GitHub {where}: {reason} (after {attempt} attempt(s))"
                raise cls(msg) from err
            delay = self._policy.backoff_delay(attempt)
            log.warning("GitHub %s: %s; retrying in %.0f s (%d/%d)", where, reason, delay, attempt,
                        self._policy.attempts)
            return delay
        if resp.status_code in ok:
            return resp
        retry_in = self._retry_delay(resp, attempt)
        if retry_in is not None and resp.status_code >= 500 and not repeatable:
            raise self._error(where, resp, attempt, cls=AmbiguousWrite)
        if retry_in is None or last:
            raise self._error(where, resp, attempt)
        log.warning("GitHub %s: %s; retrying in %.0f s (%d/%d)", where, resp.status_code, retry_in, attempt,
                    self._policy.attempts)
        return retry_in

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        json_body: Any,
        body: Callable[[], _UploadBody] | None,
        content_type: str | None,
    ) -> requests.Response:
        # identity: a body is read as it comes, up to MAX_BODY, never inflated (a 0.5 MB gzip of one
        # JSON string once took a gigabyte).
        headers = {"Authorization": f"Bearer {self._token.reveal()}", "Accept-Encoding": "identity"}
        if content_type:
            headers["Content-Type"] = content_type
        log.debug("GitHub %s %s", method, url)
        data = body() if body is not None else None
        try:
            resp = self._session.request(method, url, params=params, json=json_body, data=data, headers=headers,
                                         timeout=_TIMEOUT, allow_redirects=False, stream=True)
        finally:
            if data is not None:
                data.close()
        with resp:
            resp._content = _read_capped(resp, _where(method, url))
        return resp

    def _check_origin(self, url: str) -> None:
        allowed = {self.endpoints.api_origin, self.endpoints.uploads_origin}
        if _origin(url) not in allowed:
            msg = (f"refusing to send the token to {_origin(url)!r}: only {' and '.join(sorted(allowed))} "
                   "may receive it")
            raise GitHubError(msg)

    def _pace(self) -> None:
        clock = self._policy.clock
        if self._last_write is not None:
            wait = self._last_write + WRITE_INTERVAL - clock()
            if wait > 0:
                self._policy.sleep(wait)
        self._last_write = clock()

    def _retry_delay(self, resp: requests.Response, attempt: int) -> float | None:
        status = resp.status_code
        if status == 403 and not _rate_limited(resp):
            return None
        if not (is_retryable_status(status) or status == 403):
            return None
        server = self._policy.server_delay(resp)
        if server is not None:
            return server
        if status in (403, 429):
            return max(RATE_LIMIT_WAIT, self._policy.backoff_delay(attempt))
        return self._policy.backoff_delay(attempt)

    def _error(self, where: str, resp: requests.Response, attempt: int,
               cls: type[GitHubError] = GitHubError) -> GitHubError:
        status = resp.status_code
        message, code = _github_message(resp)
        if 300 <= status < 400:
            message = (f"redirect to {clean_text(_origin(resp.headers.get('Location', '')), 100) or '?'} not "
                       "followed: an authenticated request never follows a redirect")
        hint = _HINTS.get(status, "")
        if code == "already_exists" and cls is GitHubError and "/assets" in where:
            cls = AssetExists
        tries = f" (after {attempt} attempts)" if attempt > 1 else ""
        msg = self._token.scrub(f"GitHub {where}: {status} {message}{tries}{hint}")
        return cls(msg, status=status, code=code)


_HINTS = {
    401: "; the token in GH_TOKEN/GITHUB_TOKEN is not valid: renew it",
    403: "; the token lacks permission: it needs contents:write on the repository",
    404: "; the repository does not exist or the token cannot see it: check release.repo and the token",
}


def _rate_limited(resp: requests.Response) -> bool:
    if resp.headers.get("Retry-After") or resp.headers.get("x-ratelimit-remaining") == "0":
        return True
    return "rate limit" in _github_message(resp)[0].lower()


def _github_message(resp: requests.Response) -> tuple[str, str | None]:
    """GitHub's message and first error code, on one line without control characters (no terminal escapes)."""
    message, code = _raw_message(resp)
    return clean_text(message, 600), code


def _raw_message(resp: requests.Response) -> tuple[str, str | None]:
    try:
        data = json.loads(resp.content)
    except (ValueError, RecursionError):
        text = resp.text.strip()[:300]
        return (text or resp.reason or "no message"), None
    if not isinstance(data, dict):
        return str(data)[:300], None
    message = str(data.get("message") or resp.reason or "no message")
    code: str | None = None
    details = []
    for e in data.get("errors") or []:
        if isinstance(e, dict):
            code = code or (str(e["code"]) if e.get("code") else None)
            details.append(", ".join(f"{k}={e[k]}" for k in ("resource", "field", "code", "message") if e.get(k)))
        else:
            details.append(str(e))
    if details:
        message += " [" + "; ".join(details) + "]"
    return message, code


def _where(method: str, url: str) -> str:
    """A request as messages name it: host, method and path (never the query, which may carry a signature)."""
    parts = urlsplit(url)
    return clean_text(f"{parts.netloc} {method} {parts.path}", 200)


def _read_capped(resp: requests.Response, where: str) -> bytes:
    """The raw body, as sent (no content decoding), refused past MAX_BODY."""
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        msg = f"GitHub {where}: answered with {declared} bytes, over the limit of {MAX_BODY}; nothing was read"
        raise GitHubError(msg)
    try:
        body = resp.raw.read(MAX_BODY + 1, decode_content=False)
    except urllib3.exceptions.HTTPError as err:
        raise requests.ConnectionError(short_reason(err)) from err
    if len(body) > MAX_BODY:
        msg = f"GitHub {where}: answered with more than {MAX_BODY} bytes; the answer was not read"
        raise GitHubError(msg)
    return body


def _json(resp: requests.Response) -> Any:
    """The body as JSON; anything else (HTML from a proxy, a compressed body, junk) is a GitHubError."""
    where = _where(resp.request.method or "?", resp.url)
    try:
        return json.loads(resp.content)
    except (ValueError, RecursionError) as err:
        msg = (f"GitHub {where}: answered {resp.status_code} with a body that is not JSON "
               f"({clean_text(resp.headers.get('Content-Type', 'no content type'), 80)}); check GITHUB_API_URL")
        raise GitHubError(msg) from err


# What publishing reads of a release and of an asset, and the type each must have.
_RELEASE = {"id": int, "tag_name": str}
_ASSET = {"id": int, "name": str, "size": int, "state": str}
_OPTIONAL = {"draft": bool, "prerelease": bool, "immutable": bool, "upload_url": str, "html_url": str,
             "browser_download_url": str, "digest": str, "body": str, "name": str, "assets": list}


def _shaped(data: Any, fields: Mapping[str, type], where: str, what: str) -> Json:
    """`data` when it is a JSON object with `fields` (and, where present, `_OPTIONAL`) of the right type."""
    if not isinstance(data, dict):
        msg = f"GitHub {where}: expected a JSON object for the {what}, got {type(data).__name__}"
        raise GitHubError(msg)
    wanted = {**{k: v for k, v in _OPTIONAL.items() if data.get(k) is not None}, **fields}
    for key, kind in wanted.items():
        value = data.get(key)
        negative = isinstance(value, int) and value < 0
        if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or negative)):
            shown = clean_text(repr(value), 60)
            msg = (f"GitHub {where}: the {what}'s {key!r} is {shown}, not a {kind.__name__}; the server is not "
                   "answering like GitHub (check GITHUB_API_URL)")
            raise GitHubError(msg)
    return data


def _release(resp: requests.Response) -> Json:
    return _shaped(_json(resp), _RELEASE, _where(resp.request.method or "?", resp.url), "release")


def _content_type(name: str) -> str:
    if name.endswith(".zip"):
        return "application/zip"
    if name.endswith(".json"):
        return "application/json"
    return "text/plain; charset=utf-8"
