"""A fake GitHub Releases API: a real HTTP server on 127.0.0.1, started by the tests.

It implements the endpoints `builder.publish.github` uses and GitHub's behaviours that matter for
publishing: a draft answers 404 by tag (only listing finds it), an asset name that exists
answers 422 already_exists, an upload can fail with a 502 after leaving an asset in state
`starter`, rate limits answer 429/403 with retry-after or x-ratelimit-remaining: 0, a published
release may be immutable, and the release's upload_url may be made to point at another host.
Every request is recorded (with the injected clock's time) so tests can check what was sent,
in which order, how many were in flight at once, and that the token went nowhere else.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    t: float  # the injected clock when the request arrived
    status: int = 0
    arrived: float = field(default_factory=time.monotonic)  # real time, to prove requests did not overlap
    done: float = 0.0

    @property
    def write(self) -> bool:
        return self.method != "GET"


@dataclass
class Fault:
    """Answer matching requests with `status` instead, `times` times.

    effect: "none" (nothing happens), "starter" (an upload leaves a `starter` asset first),
    "apply" (the request is carried out, then the answer is lost as `status`).
    `body` may hold "{auth}", replaced by the Authorization header received (a server echoing it);
    bytes are sent as they are (with `headers`, say a Content-Encoding).
    """

    method: str
    path: str  # regex matched against the whole path
    status: int
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    effect: str = "none"
    name: str | None = None  # uploads only: the asset name


@dataclass
class Asset:
    id: int
    release_id: int
    name: str
    data: bytes
    state: str = "uploaded"
    content_type: str = "application/octet-stream"


@dataclass
class Release:
    id: int
    tag: str
    name: str = ""
    body: str = ""
    draft: bool = True
    prerelease: bool = False
    immutable: bool = False
    target_commitish: str = "main"  # GitHub's answer when none was given: the default branch


class FakeGitHub:
    def __init__(self, repo: str = "acme/nodes", token: str = "ghp_test", *,
                 clock: Callable[[], float] = time.monotonic, digests: bool = True, enterprise: bool = False) -> None:
        self.repo = repo
        self.token = token
        self.clock = clock
        self.digests = digests
        # GitHub Enterprise layout: the API under /api/v3, uploads under /api/uploads, on one host.
        self.api_prefix, self.uploads_prefix = ("/api/v3", "/api/uploads") if enterprise else ("", "")
        self.releases: dict[int, Release] = {}
        self.assets: dict[int, Asset] = {}
        self.requests: list[Recorded] = []
        self.runs: list[int] = []  # index into `requests` where each publish run began (set by the tests)
        self.faults: list[Fault] = []
        self.upload_origin: str | None = None  # set to make upload_url point elsewhere
        self.immutable_on_publish = False
        self.page_size = 30
        self.in_flight = 0
        self.max_in_flight = 0
        self._ids = 100
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        # serve_forever checks for shutdown every poll_interval: 0.05 s, as the other loopback servers.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    # ----------------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # ----------------------------------------------------------------------- seeding and reading state

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    def add_release(self, tag: str, *, draft: bool = False, immutable: bool = False,
                    assets: dict[str, bytes] | None = None, starters: dict[str, bytes] | None = None) -> Release:
        rel = Release(self.next_id(), tag, name=tag, draft=draft, immutable=immutable)
        self.releases[rel.id] = rel
        for name, data in (assets or {}).items():
            self._add_asset(rel, name, data, "uploaded")
        for name, data in (starters or {}).items():
            self._add_asset(rel, name, data, "starter")
        return rel

    def fail(self, method: str, path: str, status: int, **kw: Any) -> Fault:
        fault = Fault(method, path, status, **kw)
        self.faults.append(fault)
        return fault

    def release_by_tag(self, tag: str) -> list[Release]:
        return [r for r in self.releases.values() if r.tag == tag]

    def asset_state(self, tag: str) -> dict[str, tuple[str, str]]:
        """{name: (state, sha256)} of the one release with `tag`."""
        (rel,) = self.release_by_tag(tag)
        return {a.name: (a.state, hashlib.sha256(a.data).hexdigest())
                for a in self.assets.values() if a.release_id == rel.id}

    def uploads(self, ok_only: bool = True) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/assets")
                and (r.status == 201 or not ok_only)]

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.write]

    # ----------------------------------------------------------------------- JSON shapes

    def release_json(self, rel: Release) -> dict[str, Any]:
        upload_origin = self.upload_origin or self.url
        return {
            "id": rel.id, "tag_name": rel.tag, "name": rel.name, "body": rel.body, "draft": rel.draft,
            "prerelease": rel.prerelease, "immutable": rel.immutable, "target_commitish": rel.target_commitish,
            "html_url": f"{self.url}/{self.repo}/releases/tag/{rel.tag}",
            "upload_url": (f"{upload_origin}{self.uploads_prefix}/repos/{self.repo}/releases/{rel.id}/assets"
                           "{?name,label}"),
            "assets": [self.asset_json(a) for a in self.assets.values() if a.release_id == rel.id],
        }

    def asset_json(self, a: Asset) -> dict[str, Any]:
        rel = self.releases[a.release_id]
        digest = f"sha256:{hashlib.sha256(a.data).hexdigest()}" if self.digests and a.state == "uploaded" else None
        return {
            "id": a.id, "name": a.name, "size": len(a.data), "state": a.state, "digest": digest,
            "content_type": a.content_type,
            "browser_download_url": f"{self.url}/{self.repo}/releases/download/{rel.tag}/{a.name}",
        }

    def _add_asset(self, rel: Release, name: str, data: bytes, state: str, ctype: str = "") -> Asset:
        asset = Asset(self.next_id(), rel.id, name, data, state, ctype or "application/octet-stream")
        self.assets[asset.id] = asset
        return asset

    # ----------------------------------------------------------------------- routing

    @property
    def api_url(self) -> str:
        return self.url + self.api_prefix

    def handle(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        if self.api_prefix:
            upload = rec.method == "POST" and rec.path.endswith("/assets")
            prefix = self.uploads_prefix if upload else self.api_prefix
            if not rec.path.startswith(prefix + "/"):
                return 404, {}, {"message": "Not Found"}
            rec.path = rec.path[len(prefix):]
        if rec.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {}, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        fault = self._fault(rec)
        if fault is not None:
            if fault.effect == "starter":
                rel = self.releases[int(rec.path.split("/")[-2])]
                self._add_asset(rel, rec.query["name"], rec.body[: len(rec.body) // 2], "starter")
            elif fault.effect == "apply":
                self._route(rec)
            body = fault.body
            if isinstance(body, str):
                body = body.replace("{auth}", rec.headers.get("authorization", ""))
            return fault.status, dict(fault.headers), body if body is not None else {"message": "Server Error"}
        return self._route(rec)

    def _fault(self, rec: Recorded) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.method == rec.method and re.fullmatch(fault.path, rec.path) and (
                    fault.name is None or rec.query.get("name") == fault.name) and not self._taken(rec):
                fault.times -= 1
                return fault
        return None

    def _taken(self, rec: Recorded) -> bool:
        """An upload whose name exists: GitHub answers 422 before anything else can go wrong."""
        m = re.fullmatch(rf"/repos/{re.escape(self.repo)}/releases/(\d+)/assets", rec.path)
        return rec.method == "POST" and m is not None and any(
            a.release_id == int(m[1]) and a.name == rec.query.get("name") for a in self.assets.values())

    def _route(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        prefix = f"/repos/{self.repo}/releases"
        if not rec.path.startswith(prefix):
            return 404, {}, {"message": "Not Found"}
        rest = rec.path[len(prefix):]
        routes: list[tuple[str, str, Callable[[Recorded, re.Match[str]], tuple[int, dict[str, str], Any]]]] = [
            ("GET", r"/tags/(?P<tag>[^/]+)", self._get_by_tag),
            ("GET", r"", self._list_releases),
            ("POST", r"", self._create_release),
            ("PATCH", r"/(?P<id>\d+)", self._update_release),
            ("GET", r"/(?P<id>\d+)/assets", self._list_assets),
            ("POST", r"/(?P<id>\d+)/assets", self._upload),
            ("DELETE", r"/assets/(?P<id>\d+)", self._delete_asset),
        ]
        for method, pattern, fn in routes:
            m = re.fullmatch(pattern, rest)
            if m and method == rec.method:
                return fn(rec, m)
        return 404, {}, {"message": "Not Found"}

    def _get_by_tag(self, rec: Recorded, m: re.Match[str]) -> tuple[int, dict[str, str], Any]:
        tag = unquote(m["tag"])
        for rel in self.releases.values():
            if rel.tag == tag and not rel.draft:  # GitHub: drafts are not found by tag
                return 200, {}, self.release_json(rel)
        return 404, {}, {"message": "Not Found"}

    def _list_releases(self, rec: Recorded, m: re.Match[str]) -> tuple[int, dict[str, str], Any]:
        page = int(rec.query.get("page", "1"))
        size = min(int(rec.query.get("per_page", "30")), self.page_size)
        items = sorted(self.releases.values(), key=lambda r: -r.id)
        chunk = items[(page - 1) * size: page * size]
        headers = {}
        if page * size < len(items):
            nxt = f"{self.api_url}/repos/{self.repo}/releases?per_page={size}&page={page + 1}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        return 200, headers, [self.release_json(r) for r in chunk]

    def _create_release(self, rec: Recorded, m: re.Match[str]) -> tuple[int, dict[str, str], Any]:
        data = json.loads(rec.body)
        if self.release_by_tag(data["tag_name"]):
            return 422, {}, {"message": "Validation Failed",
                             "errors": [{"resource": "Release", "code": "already_exists", "field": "tag_name"}]}
        rel = Release(self.next_id(), data["tag_name"], data.get("name", ""), data.get("body", ""),
                      bool(data.get("draft")), bool(data.get("prerelease")))
        rel.target_commitish = data.get("target_commitish") or rel.target_commitish
        self._publish_effects(rel)
        self.releases[rel.id] = rel
        return 201, {}, self.release_json(rel)

    def _update_release(self, rec: Recorded, m: re.Match[str]) -> tuple[int, dict[str, str], Any]:
        rel = self.releases.get(int(m["id"]))
        if rel is None:
            return 404, {}, {"message": "Not Found"}
        data = json.loads(rec.body)
        if rel.immutable and data.get("draft") is True:
            return 422, {}, {"message": "Cannot unpublish an immutable release"}
        rel.name = data.get("name", rel.name)
        rel.body = data.get("body", rel.body)
        rel.prerelease = data.get("prerelease", rel.prerelease)
        if rel.draft:  # a published release's tag exists: GitHub does not move it
            rel.target_commitish = data.get("target_commitish") or rel.target_commitish
        if "draft" in data:
            rel.draft = bool(data["draft"])
        self._publish_effects(rel)
        return 200, {}, self.release_json(rel)

    def _publish_effects(self, rel: Release) -> None:
        if not rel.draft and self.immutable_on_publish:
            rel.immutable = True

    def _list_assets(self, rec: Recorded, m: re.Match[str]) -> tuple[int, dict[str, str], Any]:
        rel = self.releases.get(int(m["id"]))
        if rel is None:
            return 404, {}, {"message": "Not Found"}
        return 200, {}, [self.asset_json(a) for a in self.assets.values() if a.release_id == rel.id]

    def _upload(self, rec: Recorded, m: re.Match[str]) -> tuple[int, dict[str, str], Any]:
        rel = self.releases.get(int(m["id"]))
        name = rec.query.get("name", "")
        if rel is None:
            return 404, {}, {"message": "Not Found"}
        if rel.immutable:
            return 422, {}, {"message": "Cannot upload assets to an immutable release."}
        if int(rec.headers.get("content-length", "-1")) != len(rec.body):
            return 400, {}, {"message": "Content-Length missing or wrong"}
        if any(a.release_id == rel.id and a.name == name for a in self.assets.values()):
            return 422, {}, {"message": "Validation Failed",
                             "errors": [{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}]}
        asset = self._add_asset(rel, name, rec.body, "uploaded", rec.headers.get("content-type", ""))
        return 201, {}, self.asset_json(asset)

    def _delete_asset(self, rec: Recorded, m: re.Match[str]) -> tuple[int, dict[str, str], Any]:
        asset = self.assets.get(int(m["id"]))
        if asset is None:
            return 404, {}, {"message": "Not Found"}
        if self.releases[asset.release_id].immutable:
            return 422, {}, {"message": "Cannot delete assets of an immutable release."}
        del self.assets[asset.id]
        return 204, {}, None


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test records requests itself; keep pytest's output clean

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            rec = Recorded(self.command, parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()},
                           {k.lower(): v for k, v in self.headers.items()}, body, fake.clock())
            with fake._lock:
                fake.requests.append(rec)
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            try:
                with fake._lock:
                    status, headers, payload = fake.handle(rec)
            finally:
                with fake._lock:
                    fake.in_flight -= 1
                    rec.done = time.monotonic()
            rec.status = status
            data = (b"" if payload is None else payload if isinstance(payload, bytes)
                    else payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if payload is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

    return Handler
