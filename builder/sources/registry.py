"""An OCI distribution client: tags resolved to digests, images pulled by digest, every byte verified.

What it speaks (the OCI distribution spec, and Docker's token protocol that public registries use):
- `GET /v2/<name>/manifests/<reference>` with an Accept header naming the OCI index and manifest
  and Docker's manifest list and v2 manifest. The digest of a manifest is the sha256 of the body
  received; a `Docker-Content-Digest` header that disagrees, a body whose sha256 is not the digest
  asked for, or a body whose own `mediaType` contradicts the `Content-Type` is refused.
- `GET /v2/<name>/blobs/<digest>`, streamed to a temporary file while it is hashed, renamed into
  place only when its size and sha256 are the descriptor's.
- Token auth: a 401 with `WWW-Authenticate: Bearer realm=...,service=...,scope=...` is answered by
  an anonymous GET of the realm (with that service and scope), and the request is sent again with
  the token. A token is sent only to the registry (scheme, host, port) whose challenge asked for
  it: redirects are followed by hand, and a hop to another host (a blob's CDN) goes without it.
- https, except to a registry on this machine (127.0.0.0/8, ::1, localhost), which is spoken to
  over plain http (a local test or cache registry); a redirect or a token realm on plain http to
  another machine is refused.
- Retries as the rest of the tool does them (`http.RetryPolicy`): connection errors, 5xx and 429,
  never another 4xx. Sizes are capped: manifests at 4 MiB, blobs at `Net.max_download`.

A mirror is one setting, `host[:port][/prefix]`: every image is then fetched from
`<mirror>/<registry>/<repository>` (the layout `skopeo sync --scoped` writes), and errors name both
the image and the mirror. Every failure is a FetchError (exit 5) naming the registry, the repository
and the reference.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
import urllib3

from .. import oci
from ..errors import ConfigError, FetchError
from ..fsutil import atomic_write
from ..hashing import sha256_file
from ..http import (
    HTTPStatusError,
    Net,
    RetryPolicy,
    clean_text,
    is_loopback_host,
    is_retryable_status,
    make_session,
    redact_url,
    short_reason,
)
from ..oci import Descriptor, ImageRef, Platform

log = logging.getLogger(__name__)

DOCKER_HUB_API = "registry-1.docker.io"  # where docker.io's /v2/ API is served
MAX_HOPS = 10
MAX_TOKEN = 1 * 2**20  # a token answer: a JWT or an opaque string, with a few fields
CHUNK = 256 * 1024
REDIRECTS = (301, 302, 303, 307, 308)
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
              urllib3.exceptions.HTTPError)
_CHALLENGE_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)')
_TOKEN_RE = re.compile(r"[\x21-\x7e]+")  # what may go into an Authorization header: no spaces, no controls

T = TypeVar("T")


class _ShortBody(requests.exceptions.ChunkedEncodingError):
    """A body that ended before its declared size: another attempt may get all of it."""


@dataclass(frozen=True)
class Mirror:
    registry: str  # host[:port]
    prefix: str  # path below it, "" for the root

    def image(self, ref: ImageRef) -> ImageRef:
        """Where `ref` lives in the mirror: `<prefix>/<registry>/<repository>`, tag and digest kept."""
        if ":" in ref.registry:
            msg = (f"{ref}: an image of a registry with a port ({ref.registry}) has no place in a mirror "
                   f"({self}); name it by a registry without a port, or use no mirror")
            raise ConfigError(msg)
        path = "/".join(p for p in (self.prefix, ref.registry, ref.repository) if p)
        return ImageRef(self.registry, path, ref.tag, ref.digest)

    def __str__(self) -> str:
        return f"{self.registry}/{self.prefix}" if self.prefix else self.registry


def parse_mirror(text: str, key: str = "the registry mirror") -> Mirror | None:
    """`host[:port][/prefix]` as a Mirror, None for ""; ConfigError naming `key` when it is not one."""
    text = text.strip().rstrip("/")
    if not text:
        return None
    registry, _, prefix = text.partition("/")
    if "://" in text or not oci.looks_like_registry(registry) or not oci.REGISTRY_RE.fullmatch(registry) \
            or (prefix and not oci.REPOSITORY_RE.fullmatch(prefix)):
        msg = (f"{key}: {text!r} is not host[:port][/prefix] (a registry host with a dot, a port or localhost, "
               "then lower-case path components; no scheme: https is used, plain http only on this machine)")
        raise ConfigError(msg)
    return Mirror(registry, prefix)


@dataclass(frozen=True)
class Manifest:
    """One manifest or index as received: its bytes, their digest and what they are."""

    digest: str
    media_type: str
    body: bytes
    doc: dict[str, Any]

    @property
    def is_index(self) -> bool:
        return self.media_type in oci.INDEX_TYPES


@dataclass(frozen=True)
class Resolved:
    """A tag resolved: the digest to pin (the index's for a multi-platform image) and what it holds."""

    ref: ImageRef  # as asked for (not the mirror's name)
    digest: str
    media_type: str
    platforms: tuple[Platform, ...]  # the index's entries; () for a single manifest


@dataclass(frozen=True)
class PulledImage:
    """One platform's image in an OCI layout folder (index.json names its manifest by `ref`)."""

    ref: ImageRef  # as pinned: registry/repository[:tag]@digest
    manifest_digest: str  # the platform's manifest (the pinned digest itself for a single manifest)
    layout: Path
    platform: Platform


class RegistryClient:
    """Reads images from registries (or one mirror of them) over `net`; one per run, not thread-safe.

    Tokens live only in this object, keyed by the registry origin and repository they were issued for.
    """

    def __init__(self, net: Net | None = None, *, mirror: str = "", mirror_key: str = "the registry mirror") -> None:
        self.net = net or Net()
        self.policy = self.net.policy or RetryPolicy()
        self.mirror = parse_mirror(mirror, mirror_key)
        self._session = self.net.session
        self._tokens: dict[tuple[str, str], str] = {}

    def close(self) -> None:
        if self.net.session is None and self._session is not None:
            self._session.close()
        self._session = None

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- the API

    def resolve(self, ref: ImageRef) -> Resolved:
        """The digest `ref`'s tag (or digest) names now, verified against the body received."""
        got = self.manifest(ref, ref.reference)
        platforms = tuple(d.platform for d in self._entries(ref, got) if d.platform) if got.is_index else ()
        return Resolved(ref, got.digest, got.media_type, platforms)

    def manifest(self, ref: ImageRef, reference: str) -> Manifest:
        """The manifest or index `reference` (a tag or a digest) names in `ref`'s repository."""
        target = self._target(ref)
        where = self._where(ref, reference)
        url = f"{_base_url(target.registry)}/v2/{target.repository}/manifests/{reference}"

        def read(resp: requests.Response) -> tuple[str, bytes, str]:
            _expect_ok(resp, where, "manifest")
            media = resp.headers.get("Content-Type", "").split(";")[0].strip()
            body = _read_capped(resp, oci.MAX_JSON, where, "manifest")
            return media, body, resp.headers.get("Docker-Content-Digest", "")

        media, body, header = self._fetch(target, url, where, read, accept=oci.ACCEPT)
        digest = oci.sha256_digest(body)
        if oci.DIGEST_RE.fullmatch(reference) and digest != reference:
            msg = f"{where}: the registry sent a manifest whose sha256 is {digest}, not the digest asked for; refused"
            raise FetchError(msg)
        if header.startswith("sha256:") and header.strip() != digest:
            msg = (f"{where}: the registry says the manifest is {clean_text(header, 80)} (Docker-Content-Digest) "
                   f"but the body received is {digest}; refused")
            raise FetchError(msg)
        try:
            doc = oci.load_json_object(body, where)
            media = oci.document_type(doc, media)
        except ValueError as err:
            msg = f"{where}: {err}; refused"
            raise FetchError(msg) from None
        log.info("registry: %s is %s (%s)", where, digest, media)
        return Manifest(digest, media, body, doc)

    def blob(self, ref: ImageRef, desc: Descriptor, dest: Path) -> None:
        """Blob `desc` of `ref`'s repository at `dest`, verified (size and sha256) before it appears."""
        target = self._target(ref)
        where = self._where(ref, desc.digest)
        limit = self.net.max_download
        if desc.size > limit:
            msg = (f"{where}: the blob is {desc.size} bytes, above the limit of {limit}; raise K8SWB_MAX_DOWNLOAD "
                   "if it is really that large")
            raise FetchError(msg)
        url = f"{_base_url(target.registry)}/v2/{target.repository}/blobs/{desc.digest}"
        dest.parent.mkdir(parents=True, exist_ok=True)

        def save(resp: requests.Response) -> None:
            _expect_ok(resp, where, "blob")
            _save_blob(resp, desc, dest, where)

        self._fetch(target, url, where, save)

    def pull(self, ref: ImageRef, layout: Path, platform: Platform = oci.WINDOWS_AMD64) -> PulledImage:
        """The image `ref` pins (by digest) for `platform`, into the OCI layout folder `layout`.

        An index is followed to its one entry for the platform's os and architecture; the
        manifest, its config and its layers are stored under `layout/blobs/sha256/`, each verified
        (blobs already there with the right sha256 are kept), then `index.json` names the manifest,
        with the platform its config declares and `ref` as its reference name."""
        if ref.digest is None:
            msg = f"{ref}: pull an image by its pinned digest (name@sha256:...), not by a tag"
            raise ConfigError(msg)
        top = self.manifest(ref, ref.digest)
        manifest = top
        if top.is_index:
            entry = self._choose(ref, top, platform)
            manifest = self.manifest(ref, entry.digest)
            if manifest.is_index or len(manifest.body) != entry.size:
                msg = (f"{self._where(ref, entry.digest)}: not the {platform.os}/{platform.architecture} manifest "
                       "the index describes")
                raise FetchError(msg)
        config, layers = self._parts(ref, manifest)
        self._store(ref, layout, config)
        image_platform = _config_platform(ref, layout, config, platform, self._where(ref, manifest.digest))
        for layer in layers:
            self._store(ref, layout, layer)
        for doc in {top.digest: top, manifest.digest: manifest}.values():
            path = oci.blob_path(layout, doc.digest)
            if not path.is_file():
                atomic_write(path, doc.body)
        named = Descriptor(manifest.media_type, manifest.digest, len(manifest.body), image_platform,
                           {oci.REF_NAME: str(ref)})
        atomic_write(layout / oci.LAYOUT_FILE, oci.layout_marker())
        atomic_write(layout / oci.INDEX_FILE, oci.index_document([named]))
        log.info("registry: pulled %s (%s) into %s", ref, manifest.digest, layout)
        return PulledImage(ref, manifest.digest, layout, image_platform)

    # ----------------------------------------------------------------- manifests

    def _entries(self, ref: ImageRef, index: Manifest) -> list[Descriptor]:
        try:
            return oci.children(index.doc, "manifests", self._where(ref, index.digest))
        except ValueError as err:
            raise FetchError(f"{err}; refused") from None

    def _choose(self, ref: ImageRef, index: Manifest, platform: Platform) -> Descriptor:
        try:
            return oci.choose_platform(self._entries(ref, index), platform, self._where(ref, index.digest))
        except ValueError as err:
            raise FetchError(str(err)) from None

    def _parts(self, ref: ImageRef, manifest: Manifest) -> tuple[Descriptor, list[Descriptor]]:
        where = self._where(ref, manifest.digest)
        try:
            config = oci.config_descriptor(manifest.doc, where)
            layers = oci.children(manifest.doc, "layers", where)
        except ValueError as err:
            raise FetchError(f"{err}; refused") from None
        for layer in layers:
            if layer.urls or layer.media_type not in oci.LAYER_AS_OCI:
                msg = (f"{where}: layer {layer.digest} is {layer.media_type}"
                       f"{' with external URLs' if layer.urls else ''}, which this tool does not carry offline")
                raise FetchError(msg)
        return config, layers

    def _store(self, ref: ImageRef, layout: Path, desc: Descriptor) -> None:
        path = oci.blob_path(layout, desc.digest)
        if path.is_file() and path.stat().st_size == desc.size and "sha256:" + sha256_file(path) == desc.digest:
            return
        self.blob(ref, desc, path)

    # ----------------------------------------------------------------- requests

    def _target(self, ref: ImageRef) -> ImageRef:
        return self.mirror.image(ref) if self.mirror else ref

    def _where(self, ref: ImageRef, reference: str) -> str:
        sep = "@" if oci.DIGEST_RE.fullmatch(reference) else ":"
        shown = f"{ref.name}{sep}{reference}"
        return f"{shown} (through the mirror {self.mirror})" if self.mirror else shown

    def _fetch(self, target: ImageRef, url: str, where: str, consume: Callable[[requests.Response], T], *,
               accept: str | None = None, challenge: bool = True) -> T:
        """GET `url` from `target`'s registry and hand the answer to `consume`, with token auth and retries.

        `consume` reads the body; a transfer that breaks while it reads is tried again. With
        `challenge`, a 401 is answered once with a token; without (the token request itself) it is
        handed to `consume` like any answer."""
        origin = _origin(url)
        key = (origin, target.repository)  # the token request itself carries none (challenge=False)
        headers = {"Accept-Encoding": "identity", **({"Accept": accept} if accept else {})}
        authorized = not challenge
        attempt = 0
        while True:
            attempt += 1
            try:
                token = self._tokens.get(key) if challenge else None
                with self._follow(url, headers, token_for=(origin, token), where=where) as resp:
                    if resp.status_code == 401 and not authorized:
                        _drain(resp)
                        self._authorize(key, resp.headers.get("WWW-Authenticate", ""), target, where)
                        authorized = True
                        attempt -= 1  # the challenge is part of the protocol, not a failure
                        continue
                    if not is_retryable_status(resp.status_code):
                        return consume(resp)
                    delay = self.policy.server_delay(resp)
                    reason = f"HTTP {resp.status_code} {clean_text(resp.reason or '', 60)}"
                    _drain(resp)
            except _TRANSIENT as err:
                delay, reason = None, short_reason(err)
            except requests.RequestException as err:
                msg = f"{where}: {short_reason(err)}; check the registry and the network, then run again"
                raise FetchError(msg) from None
            if attempt >= self.policy.attempts:
                msg = (f"{where}: failed after {self.policy.attempts} attempts: {reason}; check the registry "
                       "and the network, then run again")
                raise FetchError(msg)
            wait = delay if delay is not None else self.policy.backoff_delay(attempt)
            log.warning("%s: %s; retry %d of %d in %.1fs", where, reason, attempt, self.policy.attempts - 1, wait)
            self.policy.sleep(wait)

    def _follow(self, url: str, headers: Mapping[str, str], *, token_for: tuple[str, str | None],
                where: str) -> requests.Response:
        """One GET, its redirects followed by hand: the token goes to `token_for`'s origin only."""
        session = self._session_()
        origin, token = token_for
        for _hop in range(MAX_HOPS + 1):
            _check_scheme(url, where)
            auth = _Bearer(token) if token and _origin(url) == origin else None
            resp = session.get(url, headers=dict(headers), stream=True, timeout=self.net.timeout,
                               allow_redirects=False, auth=auth)
            location = resp.headers.get("Location")
            if resp.status_code not in REDIRECTS or not location:
                return resp
            _drain(resp)
            url = urllib.parse.urljoin(url, location)
        msg = f"{where}: more than {MAX_HOPS} redirects (a redirect loop?); check the registry"
        raise FetchError(msg)

    def _session_(self) -> requests.Session:
        if self._session is None:
            self._session = make_session()
        return self._session

    def _authorize(self, key: tuple[str, str], header: str, target: ImageRef, where: str) -> None:
        """Answer a 401's challenge: an anonymous token for this repository from the realm it names."""
        scheme, params = _parse_challenge(header)
        if scheme != "bearer" or "realm" not in params:
            what = f"{scheme.capitalize()} authentication" if scheme else "authentication without a challenge"
            msg = (f"{where}: the registry asks for {what} (HTTP 401); this tool pulls anonymously, so the "
                   "repository is private or the name is wrong; check it, or use a mirror that serves it anonymously")
            raise FetchError(msg)
        realm = params["realm"]
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            msg = f"{where}: the registry's token realm {clean_text(realm, 120)!r} is not an http(s) URL; refused"
            raise FetchError(msg)
        query = {k: v for k, v in (("service", params.get("service")),
                                   ("scope", params.get("scope") or f"repository:{target.repository}:pull")) if v}
        token_url = realm + ("&" if parts.query else "?") + urllib.parse.urlencode(query)

        def read(resp: requests.Response) -> str:
            if resp.status_code != 200:
                msg = (f"{where}: the token service {redact_url(realm)} refused an anonymous token "
                       f"(HTTP {resp.status_code}: {_registry_message(resp)}); the repository is private or "
                       "does not exist")
                raise FetchError(msg)
            return _token(_read_capped(resp, MAX_TOKEN, where, "token"), where, realm)

        # The realm may be another host: it gets no token (none is held for it), only the question.
        self._tokens[key] = self._fetch(ImageRef(parts.hostname, target.repository), token_url, where, read,
                                        challenge=False)


class _Bearer(requests.auth.AuthBase):
    """The token as an Authorization header (as `auth=`, so a ~/.netrc entry cannot replace it)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def resolve_digests(pairs: Iterable[tuple[str, str]], *, net: Net | None = None,
                    mirror: str = "") -> dict[tuple[str, str], str]:
    """`fetch --update-pins` for images: each (repository, tag) resolved to the digest it names now.

    The digest is the image index's for a multi-platform image, else the manifest's. Raises
    ConfigError for a name that is not a repository, FetchError for what the registry answers."""
    out: dict[tuple[str, str], str] = {}
    with RegistryClient(net, mirror=mirror) as client:
        for repository, tag in pairs:
            try:
                ref = oci.parse_ref(f"{repository}:{tag}")
            except ValueError as err:
                raise ConfigError(f"image {repository}:{tag}: {err}") from None
            out[(repository, tag)] = client.resolve(ref).digest
    return out


# --------------------------------------------------------------------------- helpers


def _base_url(registry: str) -> str:
    """https://<registry>, or http:// for a registry on this machine; docker.io's API host for docker.io."""
    if registry == oci.DOCKER_HUB:
        return f"https://{DOCKER_HUB_API}"
    host = urllib.parse.urlsplit(f"//{registry}").hostname or registry
    return f"{'http' if is_loopback_host(host) else 'https'}://{registry}"


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2].lower()}"


def _check_scheme(url: str, where: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname or "")):
        return
    msg = (f"{where}: refused to go to {redact_url(url)}: only https (plain http on this machine only), "
           "since anyone on the way could change what it serves or read a token")
    raise FetchError(msg)


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="...",scope="..."` as ("bearer", {...}); ("", {}) for none."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _CHALLENGE_PARAM.match(rest, pos)
        if m is None:
            break
        params[m[1].lower()] = m[2].replace('\\"', '"') if m[2] is not None else m[3]
        pos = m.end()
    return scheme.lower(), params


def _token(data: bytes, where: str, realm: str) -> str:
    try:
        doc = oci.load_json_object(data, "the token answer")
    except ValueError:
        doc = {}
    token = doc.get("token") or doc.get("access_token")
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        msg = f"{where}: the token service {redact_url(realm)} answered without a usable token; refused"
        raise FetchError(msg)
    return token


def _expect_ok(resp: requests.Response, where: str, what: str) -> None:
    if resp.status_code == 200:
        return
    status = f"HTTP {resp.status_code}"
    if resp.status_code in (404, 410):
        hint = "check the repository, the tag or digest"
        hint += " and that the mirror holds it" if "mirror" in where else ""
        msg = f"{where}: {what} not found ({status}: {_registry_message(resp)}); {hint}"
    elif resp.status_code in (401, 403):
        msg = (f"{where}: the registry refused access ({status}: {_registry_message(resp)}); the repository is "
               "private or the name is wrong")
    else:
        msg = f"{where}: {what}: {status}: {_registry_message(resp)}"
    raise HTTPStatusError(msg, resp.status_code)


def _drain(resp: requests.Response, limit: int = 64 * 1024) -> None:
    """Read a short answer's body before it is closed, so the connection ends cleanly (a socket
    closed with unread data is reset); a longer one is cut off."""
    got = 0
    try:
        while got < limit and (chunk := resp.raw.read1(CHUNK, decode_content=False)):
            got += len(chunk)
    except _TRANSIENT:
        pass
    resp.close()


def _registry_message(resp: requests.Response) -> str:
    """The registry's own explanation: `CODE: message` of its first error, else the start of the body."""
    try:
        text = resp.raw.read(4096, decode_content=True) or b""
    except _TRANSIENT:
        text = b""
    _drain(resp)
    try:
        errors = oci.load_json_object(text, "").get("errors")
        first = errors[0] if isinstance(errors, list) and errors else None
        if isinstance(first, dict):
            return clean_text(f"{first.get('code', '')}: {first.get('message', '')}".strip(": "))
    except ValueError:
        pass
    return clean_text(text.decode("utf-8", "replace")) or "(no message)"


def _read_capped(resp: requests.Response, cap: int, where: str, what: str) -> bytes:
    length = resp.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > cap:
        msg = f"{where}: the {what} is {length} bytes, more than the {cap} a {what} may be; refused"
        raise FetchError(msg)
    out = bytearray()
    while chunk := resp.raw.read1(CHUNK, decode_content=False):
        out += chunk
        if len(out) > cap:
            msg = f"{where}: the {what} is more than the {cap} bytes a {what} may be; refused"
            raise FetchError(msg)
    if length.isdigit() and len(out) < int(length):
        raise _ShortBody(f"body ended after {len(out)} of {length} bytes")
    return bytes(out)


def _save_blob(resp: requests.Response, desc: Descriptor, dest: Path, where: str) -> None:
    hasher = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := resp.raw.read1(CHUNK, decode_content=False):
                size += len(chunk)
                if size > desc.size:
                    msg = f"{where}: the registry sent more than the {desc.size} bytes the descriptor gives; refused"
                    raise FetchError(msg)
                hasher.update(chunk)
                out.write(chunk)
        if size < desc.size:
            raise _ShortBody(f"blob ended after {size} of {desc.size} bytes")
        got = "sha256:" + hasher.hexdigest()
        if got != desc.digest:
            msg = f"{where}: the blob received has sha256 {got}, not its digest; refused"
            raise FetchError(msg)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _config_platform(ref: ImageRef, layout: Path, config: Descriptor, want: Platform, where: str) -> Platform:
    """The platform the stored config declares; FetchError when it is not the one asked for."""
    try:
        doc = oci.load_json_object(oci.blob_path(layout, config.digest).read_bytes(), f"{where} (config)")
    except ValueError as err:
        raise FetchError(f"{err}; refused") from None
    found = Platform.from_json(doc) or Platform("", "")
    if (found.os, found.architecture) != (want.os, want.architecture):
        msg = (f"{where}: the image is for {found.os or '?'}/{found.architecture or '?'}, not "
               f"{want.os}/{want.architecture}; pin the digest of the {want.os}/{want.architecture} image")
        raise FetchError(msg)
    return found
