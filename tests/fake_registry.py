"""A fake OCI registry on 127.0.0.1: a real HTTP server, started by the tests.

It speaks what `builder.sources.registry` relies on, the way public registries do:
- `/v2/` and every repository route answer 401 with `WWW-Authenticate: Bearer realm=...,service=...,
  scope=repository:<name>:pull` until a request carries a token issued for that repository;
- `/token?service=...&scope=...` issues anonymous tokens (for the right service only; a private
  repository gets 401), each valid for the scopes it was asked for;
- `/v2/<name>/manifests/<tag or digest>` (GET and HEAD) with Content-Type, Docker-Content-Digest
  and Accept negotiation (a manifest whose media type the Accept header does not name is
  MANIFEST_UNKNOWN, as registries answer that cannot convert it); unknown names, tags and digests
  get the spec's JSON errors (NAME_UNKNOWN, MANIFEST_UNKNOWN, BLOB_UNKNOWN);
- `/v2/<name>/blobs/<digest>`, served here or, with `cdn=True`, answered with a 307 to a second
  server on another port (another origin, like a blob CDN), which records what reached it.

Faults for the client's error paths: `fail(path_regex, status, times, headers=...)` answers the
next matching requests with a status; `lie_digest(digest)` sends a wrong Docker-Content-Digest;
`tamper(digest, data)` serves other bytes for a manifest or blob. Every request is recorded
(`requests`, `cdn_requests`) with its headers, so tests can check where a token went.

`hostprocess_base(reg, repo, tag)` pushes an image shaped like the HostProcess base image that
microsoft/windows-host-process-containers-base-image builds: one layer holding `Files/` with the
license files and the five empty registry hives under `Files/Windows/System32/config/`, a config
for windows/amd64 with `cmd.exe` as its command, optionally an os.version, as a Docker v2 manifest
(or OCI), optionally inside an index.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import secrets
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
SERVICE = "fake-registry"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, indent=3).encode()  # indented, as registries often store them: digests are of these bytes


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int = 0


@dataclass
class _Fault:
    path: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str]


@dataclass
class Repo:
    tags: dict[str, str] = field(default_factory=dict)
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # digest -> (media type, bytes)
    blobs: dict[str, bytes] = field(default_factory=dict)
    private: bool = False


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class FakeRegistry:
    def __init__(self, *, auth: bool = True, cdn: bool = False) -> None:
        self.auth = auth
        self.repos: dict[str, Repo] = {}
        self.requests: list[Recorded] = []
        self.cdn_requests: list[Recorded] = []
        self.tokens: dict[str, set[str]] = {}  # token -> repositories it may pull
        self.realm_path = "/token"
        self.challenge_scope = True  # False: challenges without a scope (the client then asks for pull)
        self._faults: list[_Fault] = []
        self._lies: set[str] = set()
        self._tampered: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._server = _Server(_handler(self, cdn=False))
        self._cdn = _Server(_handler(self, cdn=True)) if cdn else None

    # ------------------------------------------------------------------ lifecycle

    @property
    def host(self) -> str:
        """`127.0.0.1:<port>`: the registry part of an image name."""
        return self._server.host

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def __enter__(self) -> FakeRegistry:
        self._server.start()
        if self._cdn is not None:
            self._cdn.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
        if self._cdn is not None:
            self._cdn.stop()

    # ------------------------------------------------------------------ content

    def repo(self, name: str) -> Repo:
        return self.repos.setdefault(name, Repo())

    def add_blob(self, name: str, data: bytes) -> dict[str, Any]:
        digest = digest_of(data)
        self.repo(name).blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    def add_manifest(self, name: str, media_type: str, body: bytes, *tags: str) -> str:
        digest = digest_of(body)
        repo = self.repo(name)
        repo.manifests[digest] = (media_type, body)
        for tag in tags:
            repo.tags[tag] = digest
        return digest

    # ------------------------------------------------------------------ faults

    def fail(self, path: str, status: int, times: int = 1, **headers: str) -> None:
        """The next `times` requests whose path matches the regex `path` get `status` (with `headers`)."""
        with self._lock:
            self._faults.append(_Fault(re.compile(path), status, times, dict(headers)))

    def lie_digest(self, digest: str) -> None:
        self._lies.add(digest)

    def tamper(self, digest: str, data: bytes) -> None:
        self._tampered[digest] = data

    # ------------------------------------------------------------------ reading the record

    def hits(self, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if re.search(pattern, r.path)]

    def issued(self) -> set[str]:
        return set(self.tokens)

    def cdn_url(self, path: str) -> str:
        assert self._cdn is not None
        return f"http://{self._cdn.host}{path}"

    # ------------------------------------------------------------------ routing

    def _fault(self, path: str) -> _Fault | None:
        with self._lock:
            for f in self._faults:
                if f.times > 0 and f.path.search(path):
                    f.times -= 1
                    return f
        return None

    def _challenge(self, name: str | None) -> dict[str, str]:
        scope = f',scope="repository:{name}:pull"' if name and self.challenge_scope else ""
        return {"WWW-Authenticate": f'Bearer realm="{self.url}{self.realm_path}",service="{SERVICE}"{scope}'}

    def _authorized(self, headers: dict[str, str], name: str | None) -> bool:
        if not self.auth:
            return True
        value = headers.get("Authorization", "")
        if not value.startswith("Bearer "):
            return False
        granted = self.tokens.get(value[len("Bearer "):])
        return granted is not None and (name is None or name in granted)

    def handle(self, rec: Recorded) -> tuple[int, dict[str, str], bytes]:
        fault = self._fault(rec.path)
        if fault is not None:
            return fault.status, fault.headers, _errors("FAULT", f"scripted {fault.status}")
        if rec.path == self.realm_path:
            return self._token(rec)
        if rec.path == "/v2/":
            if not self._authorized(rec.headers, None):
                return 401, self._challenge(None), _errors("UNAUTHORIZED", "authentication required")
            return 200, {"Content-Type": "application/json"}, b"{}"
        m = re.fullmatch(r"/v2/(?P<name>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)", rec.path)
        if m is None:
            return 404, {}, _errors("NOT_FOUND", "no such route")
        name, kind, ref = m["name"], m["kind"], m["ref"]
        if not self._authorized(rec.headers, name):
            return 401, self._challenge(name), _errors("UNAUTHORIZED", "authentication required")
        repo = self.repos.get(name)
        if repo is None:
            return 404, {}, _errors("NAME_UNKNOWN", f"repository {name} not known to registry")
        if kind == "manifests":
            return self._manifest(repo, ref, rec.headers.get("Accept", ""))
        return self._blob(repo, ref)

    def _token(self, rec: Recorded) -> tuple[int, dict[str, str], bytes]:
        if rec.query.get("service") != SERVICE:
            return 400, {}, _errors("DENIED", "unknown service")
        names = set()
        for scope in rec.query.get("scope", "").split():
            m = re.fullmatch(r"repository:(?P<name>[^:]+):(?P<actions>[a-z,*]+)", scope)
            if m is None or "pull" not in m["actions"].split(","):
                return 400, {}, _errors("DENIED", f"bad scope {scope!r}")
            known = self.repos.get(m["name"])
            if known is not None and known.private:
                return 401, {}, _errors("UNAUTHORIZED", "authentication required")
            names.add(m["name"])
        token = secrets.token_urlsafe(24)
        self.tokens[token] = names
        return 200, {"Content-Type": "application/json"}, json.dumps({"token": token, "expires_in": 300}).encode()

    def _manifest(self, repo: Repo, ref: str, accept: str) -> tuple[int, dict[str, str], bytes]:
        digest = ref if ref.startswith("sha256:") else repo.tags.get(ref)
        if digest is None or digest not in repo.manifests:
            return 404, {}, _errors("MANIFEST_UNKNOWN", "manifest unknown")
        media, body = repo.manifests[digest]
        if media not in [a.split(";")[0].strip() for a in accept.split(",")]:
            return 404, {}, _errors("MANIFEST_UNKNOWN", f"manifest unknown for Accept {accept!r}")
        said = digest_of(b"lie") if digest in self._lies else digest
        headers = {"Content-Type": media, "Docker-Content-Digest": said}
        return 200, headers, self._tampered.get(digest, body)

    def _blob(self, repo: Repo, digest: str) -> tuple[int, dict[str, str], bytes]:
        if digest not in repo.blobs:
            return 404, {}, _errors("BLOB_UNKNOWN", "blob unknown to registry")
        if self._cdn is not None:
            return 307, {"Location": self.cdn_url(f"/cdn/{digest}")}, b""
        return 200, {"Content-Type": "application/octet-stream"}, self._tampered.get(digest, repo.blobs[digest])

    def handle_cdn(self, rec: Recorded) -> tuple[int, dict[str, str], bytes]:
        digest = rec.path.rsplit("/", 1)[-1]
        for repo in self.repos.values():
            if digest in repo.blobs:
                return 200, {"Content-Type": "application/octet-stream"}, self._tampered.get(digest, repo.blobs[digest])
        return 404, {}, b"not here"


def _errors(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()


def _handler(reg: FakeRegistry, *, cdn: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._serve(head=False)

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def _serve(self, *, head: bool) -> None:
            parts = urlsplit(self.path)
            query = {k: " ".join(v) for k, v in parse_qs(parts.query).items()}
            rec = Recorded(self.command, parts.path, query, dict(self.headers.items()))
            with reg._lock:
                (reg.cdn_requests if cdn else reg.requests).append(rec)
            status, headers, body = reg.handle_cdn(rec) if cdn else reg.handle(rec)
            rec.status = status
            self.send_response(status)
            if status >= 400 and "Content-Type" not in headers:
                headers = {**headers, "Content-Type": "application/json"}
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

    return Handler


# --------------------------------------------------------------------------- a HostProcess-like base image

HIVES = ("DEFAULT", "SAM", "SECURITY", "SOFTWARE", "SYSTEM")


@dataclass(frozen=True)
class Pushed:
    """What `hostprocess_base` pushed: the digest to pin, the platform manifest's, and the parts."""

    name: str  # registry/repository
    tag: str
    digest: str  # the tag's: the index's when wrapped in one
    manifest_digest: str
    config: dict[str, Any]
    layer: bytes  # as stored (gzip)
    layer_tar: bytes  # uncompressed: its sha256 is the config's diff_id

    @property
    def pinned(self) -> str:
        return f"{self.name}:{self.tag}@{self.digest}"


def _tar(entries: Iterator[tuple[str, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, data in entries:
            info = tarfile.TarInfo(path)
            info.mtime = 1_650_000_000
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def base_layer() -> bytes:
    """The base image's one layer: `Files/` with the license and the registry hives, no `Hives/`."""
    def entries() -> Iterator[tuple[str, bytes | None]]:
        yield "Files/", None
        yield "Files/License.txt", b"CC0 1.0 Universal (test copy)\n"
        yield "Files/Windows/", None
        yield "Files/Windows/System32/", None
        yield "Files/Windows/System32/config/", None
        for hive in HIVES:
            yield f"Files/Windows/System32/config/{hive}", b""
    return _tar(entries())


def hostprocess_base(reg: FakeRegistry, repo: str = "oss/kubernetes/windows-host-process-containers-base-image",
                     tag: str = "v1.0.0", *, os_version: str | None = None, index: bool = True,
                     oci_media: bool = False, linux_too: bool = False) -> Pushed:
    layer_tar = base_layer()
    layer = gzip.compress(layer_tar, mtime=0)
    config: dict[str, Any] = {
        "architecture": "amd64",
        "config": {"User": "", "Env": None, "Cmd": ["c:\\windows\\system32\\cmd.exe"], "WorkingDir": "",
                   "Entrypoint": None},
        "created": "2023-03-01T00:00:00Z",
        "history": [{"created": "2023-03-01T00:00:00Z"}],
        "os": "windows",
        "rootfs": {"type": "layers", "diff_ids": [digest_of(layer_tar)]},
    }
    if os_version:
        config["os.version"] = os_version
    config_body = dumps(config)
    cfg = reg.add_blob(repo, config_body)
    lay = reg.add_blob(repo, layer)
    manifest_type = OCI_MANIFEST if oci_media else DOCKER_MANIFEST
    manifest = dumps({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": OCI_CONFIG if oci_media else DOCKER_CONFIG, **cfg},
        "layers": [{"mediaType": OCI_LAYER_GZIP if oci_media else DOCKER_LAYER_GZIP, **lay}],
    })
    manifest_digest = reg.add_manifest(repo, manifest_type, manifest, *(() if index else (tag,)))
    digest = manifest_digest
    if index:
        platform: dict[str, str] = {"architecture": "amd64", "os": "windows"}
        if os_version:
            platform["os.version"] = os_version
        entries = [{"mediaType": manifest_type, "digest": manifest_digest, "size": len(manifest), "platform": platform}]
        if linux_too:
            entries.insert(0, _linux_image(reg, repo, manifest_type))
        index_type = OCI_INDEX if oci_media else DOCKER_LIST
        digest = reg.add_manifest(repo, index_type, dumps({"schemaVersion": 2, "mediaType": index_type,
                                                           "manifests": entries}), tag)
    return Pushed(f"{reg.host}/{repo}", tag, digest, manifest_digest, config, layer, layer_tar)


def _linux_image(reg: FakeRegistry, repo: str, manifest_type: str) -> dict[str, Any]:
    layer = gzip.compress(_tar(iter([("etc/", None), ("etc/hostname", b"linux\n")])), mtime=0)
    cfg = reg.add_blob(repo, dumps({"architecture": "amd64", "os": "linux",
                                    "rootfs": {"type": "layers", "diff_ids": [digest_of(gzip.decompress(layer))]}}))
    lay = reg.add_blob(repo, layer)
    body = dumps({"schemaVersion": 2, "mediaType": manifest_type,
                  "config": {"mediaType": DOCKER_CONFIG, **cfg}, "layers": [{"mediaType": DOCKER_LAYER_GZIP, **lay}]})
    digest = reg.add_manifest(repo, manifest_type, body)
    return {"mediaType": manifest_type, "digest": digest, "size": len(body),
            "platform": {"architecture": "amd64", "os": "linux"}}
