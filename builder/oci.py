"""OCI images as data: references, media types, descriptors, digests and the image layout.

Shared by the registry client (`sources.registry`, which pulls an image into a layout folder) and
the HostProcess image builder (`bundle.hostprocess`, which reads that folder and writes an OCI
archive): the folder on disk is the whole interface between the two.

References follow the grammar of distribution/reference: a first component with a `.` or a `:`,
or `localhost`, is the registry, anything else is on Docker Hub (`pause` is
`docker.io/library/pause`). Only sha256 digests are taken.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
# What a registry may answer for a tag: an image index, a manifest, and Docker's two equivalents.
ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
# Layer types with the bytes of an OCI layer under another name: a Docker layer becomes its OCI twin.
LAYER_AS_OCI = {
    OCI_LAYER: OCI_LAYER,
    OCI_LAYER_GZIP: OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD: OCI_LAYER_ZSTD,
    DOCKER_LAYER: OCI_LAYER,
    DOCKER_LAYER_GZIP: OCI_LAYER_GZIP,
}
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})

# Annotations: the OCI reference name (a tag, on index.json's descriptors) and containerd's full
# image name, which `ctr images import` prefers (containerd core/transfer/image/imagestore.go).
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
CREATED = "org.opencontainers.image.created"

LAYOUT_FILE = "oci-layout"
LAYOUT_VERSION = "1.0.0"
INDEX_FILE = "index.json"
MAX_JSON = 4 * 2**20  # a manifest, an index or a config: registries take manifests of at least 4 MiB

DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
REGISTRY_RE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                        r"(?::[0-9]+)?|\[[0-9A-Fa-f:.]+\](?::[0-9]+)?")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class ImageRef:
    """`registry/repository[:tag][@digest]`, split; `str()` gives it back in full."""

    registry: str  # mcr.microsoft.com, docker.io, 127.0.0.1:5000
    repository: str  # oss/kubernetes/windows-host-process-containers-base-image, library/pause
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What `/v2/<name>/manifests/<reference>` is asked for: the digest when there is one, else the tag."""
        return self.digest or self.tag or "latest"

    def at(self, digest: str) -> ImageRef:
        return ImageRef(self.registry, self.repository, self.tag, digest)

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.name}{tag}{digest}"


def looks_like_registry(component: str) -> bool:
    """Whether the first component of a name is a registry (distribution/reference's rule)."""
    return "." in component or ":" in component or component == "localhost" or component != component.lower()


def parse_ref(text: str) -> ImageRef:
    """`text` as an image reference; ValueError saying what is wrong (the caller names where it came from)."""
    rest, _, digest = text.strip().partition("@")
    if digest and not DIGEST_RE.fullmatch(digest):
        msg = f"{text!r}: the digest must be sha256: and 64 lower-case hex digits"
        raise ValueError(msg)
    first, slash, remainder = rest.partition("/")
    if slash and looks_like_registry(first):
        registry, path = first, remainder
        if not REGISTRY_RE.fullmatch(registry):
            msg = f"{text!r}: {registry!r} is not a registry host[:port]"
            raise ValueError(msg)
    else:
        registry, path = DOCKER_HUB, rest
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
        if not _TAG_RE.fullmatch(tag):
            msg = f"{text!r}: {tag!r} is not a tag (letters, digits, _ . -, at most 128)"
            raise ValueError(msg)
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not REPOSITORY_RE.fullmatch(path) or len(registry) + 1 + len(path) > 255:
        msg = f"{text!r}: {path!r} is not a repository name (lower-case components joined by /)"
        raise ValueError(msg)
    return ImageRef(registry, path, tag, digest or None)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_hex(digest: str) -> str:
    """The hex part of a sha256 digest; ValueError for anything else (a blob's file name comes from it)."""
    if not DIGEST_RE.fullmatch(digest):
        msg = f"{digest!r} is not a sha256 digest"
        raise ValueError(msg)
    return digest[len("sha256:"):]


def canonical_json(obj: Any) -> bytes:
    """The bytes this tool writes for a JSON document: compact, ASCII, keys in the order given."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True).encode("ascii")


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    os_version: str = ""
    variant: str = ""

    def to_json(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.variant:
            out["variant"] = self.variant
        return out

    @classmethod
    def from_json(cls, obj: object) -> Platform | None:
        if not isinstance(obj, Mapping):
            return None
        return cls(str(obj.get("os", "")), str(obj.get("architecture", "")), str(obj.get("os.version", "") or ""),
                   str(obj.get("variant", "") or ""))


WINDOWS_AMD64 = Platform("windows", "amd64")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, obj: object, where: str) -> Descriptor:
        """A descriptor read from a manifest or index; ValueError naming `where` when it is malformed."""
        if not isinstance(obj, Mapping):
            msg = f"{where}: a descriptor is not an object"
            raise ValueError(msg)
        media, digest, size = obj.get("mediaType"), obj.get("digest"), obj.get("size")
        if not isinstance(media, str) or not isinstance(digest, str) or not DIGEST_RE.fullmatch(digest):
            msg = f"{where}: a descriptor without a mediaType or a sha256 digest"
            raise ValueError(msg)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            msg = f"{where}: descriptor {digest} has no valid size"
            raise ValueError(msg)
        notes = obj.get("annotations") or {}
        urls = obj.get("urls") or []
        return cls(media, digest, size, Platform.from_json(obj.get("platform")),
                   {str(k): str(v) for k, v in notes.items()} if isinstance(notes, Mapping) else {},
                   tuple(str(u) for u in urls) if isinstance(urls, list) else ())


def load_json_object(data: bytes, where: str) -> dict[str, Any]:
    """`data` as a JSON object; ValueError naming `where` otherwise."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        msg = f"{where}: not JSON ({err})"
        raise ValueError(msg) from None
    if not isinstance(obj, dict):
        msg = f"{where}: not a JSON object"
        raise ValueError(msg)
    return obj


def document_type(doc: Mapping[str, Any], served_as: str) -> str:
    """The media type of a manifest or index: its own `mediaType` field, else what it was served as.

    ValueError when the two disagree (a registry labelling one document as another) or when it is
    neither an index nor a manifest."""
    own = doc.get("mediaType")
    media = own if isinstance(own, str) and own else served_as
    if own and served_as and own != served_as:
        msg = f"served as {served_as} but says it is {own}"
        raise ValueError(msg)
    if media not in INDEX_TYPES | MANIFEST_TYPES:
        msg = f"{media or 'a document without a media type'} is neither an image index nor a manifest"
        raise ValueError(msg)
    return media


def children(doc: Mapping[str, Any], key: str, where: str) -> list[Descriptor]:
    items = doc.get(key)
    if not isinstance(items, list):
        msg = f"{where}: no {key} list"
        raise ValueError(msg)
    return [Descriptor.from_json(item, where) for item in items]


def config_descriptor(doc: Mapping[str, Any], where: str) -> Descriptor:
    return Descriptor.from_json(doc.get("config"), f"{where} (config)")


def choose_platform(index: list[Descriptor], want: Platform, where: str) -> Descriptor:
    """The one entry of an index for `want`'s os and architecture; ValueError when there is none or
    several (entries for several os.version: pin the manifest of the one you mean instead)."""
    found = [d for d in index if d.platform is not None and d.platform.os == want.os
             and d.platform.architecture == want.architecture and d.media_type in MANIFEST_TYPES
             and (not want.os_version or d.platform.os_version == want.os_version)]
    if not found:
        have = ", ".join(sorted({f"{d.platform.os}/{d.platform.architecture}" for d in index if d.platform})) or "none"
        msg = f"{where}: no {want.os}/{want.architecture} image in the index (it has: {have})"
        raise ValueError(msg)
    if len(found) > 1:
        versions = ", ".join(d.platform.os_version or "?" for d in found if d.platform)
        msg = (f"{where}: {len(found)} {want.os}/{want.architecture} images in the index (os.version {versions}); "
               "pin the digest of the one you mean")
        raise ValueError(msg)
    return found[0]


def blob_path(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest_hex(digest)


def layout_index(layout: Path) -> tuple[list[Descriptor], str]:
    """The descriptors of a layout folder's index.json and the text naming it in errors; ValueError
    when the folder is not an OCI image layout of a version this tool reads."""
    where = str(layout)
    try:
        marker = load_json_object((layout / LAYOUT_FILE).read_bytes(), f"{where}/{LAYOUT_FILE}")
        index = load_json_object((layout / INDEX_FILE).read_bytes(), f"{where}/{INDEX_FILE}")
    except OSError as err:
        msg = f"{where} is not an OCI image layout ({err.strerror or err})"
        raise ValueError(msg) from None
    if marker.get("imageLayoutVersion") != LAYOUT_VERSION:
        msg = f"{where}/{LAYOUT_FILE}: imageLayoutVersion {marker.get('imageLayoutVersion')!r}, not {LAYOUT_VERSION}"
        raise ValueError(msg)
    return children(index, "manifests", f"{where}/{INDEX_FILE}"), where


def layout_marker() -> bytes:
    return canonical_json({"imageLayoutVersion": LAYOUT_VERSION})


def index_document(manifests: list[Descriptor]) -> bytes:
    return canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX,
                           "manifests": [d.to_json() for d in manifests]})
