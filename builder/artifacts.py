"""What the pipeline stages hand each other: plain, frozen records."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Binary:
    """One Windows executable for the bundle, already checked."""

    name: str  # component name: kubelet, kube-proxy, kubectl, kubeadm
    path: Path  # the local file
    sha256: str
    origin: str  # where it came from: the build's tree and commit, or the download URL
    published_checksums: dict[str, str] = field(default_factory=dict)  # {"sha512": ...} for release binaries

    @property
    def filename(self) -> str:
        return f"{self.name}.exe"


@dataclass(frozen=True)
class BuildResult:
    git_version: str  # the stamped gitVersion, e.g. v1.37.0
    git_commit: str | None  # the tree's commit, None for a tree without .git
    tree_state: str  # clean, dirty, or archive (no .git)
    source: str  # build or release
    go_version: str | None  # the Go that compiled it (build only)
    source_date_epoch: int | None  # the tree's commit time, when known
    binaries: tuple[Binary, ...]
    reused: bool = False  # True when a no-op rebuild reused the last outputs
    tree_digest: str | None = None  # build only: the tree's content digest (builder.sources.build.tree_fingerprint)

    @property
    def components(self) -> tuple[str, ...]:
        """The bundled Kubernetes executables by name (kube-log-runner among them when bundled)."""
        return tuple(b.name for b in self.binaries)


@dataclass(frozen=True)
class FetchedFile:
    source_path: str  # path inside the archive, below its top folder
    dest: str  # path inside the bundle's k/ folder
    path: Path  # the verified local copy (in the cache)
    sha256: str


@dataclass(frozen=True)
class SdnResult:
    repo: str
    commit: str
    url: str
    archive_sha256: str
    files: tuple[FetchedFile, ...]


@dataclass(frozen=True)
class FetchedInput:
    """One pinned external input (CNI plugins, flanneld, containerd, crictl), verified.

    `files` are what goes into the bundle (for a source archive: what was built from it).
    """

    name: str  # cni-plugins, flanneld, containerd, crictl
    version: str
    url: str  # as shown and recorded: no credentials, no query string
    kind: str  # zip, tar.gz or file
    archive_sha256: str
    files: tuple[FetchedFile, ...]
    h1: str | None = None  # content digest of a source archive's files (Go dirhash)
    published: tuple[tuple[str, str], ...] = ()  # (checksum file URL, hex) that verified it
    licence: str | None = None
    built: str | None = None  # for a source archive: how its files were built

    @property
    def origin(self) -> str:
        return f"input:{self.name}"


# install.ps1 binds the manifest: render writes this digest into it, pack replaces it with the digest of
# every other manifest entry (builder.bundle.manifest.files_digest), so that a signed install.ps1 covers
# the manifest, and the manifest every other file.
INSTALL_SCRIPT = "install.ps1"
# images.offline: the folder of k/ that holds the image archives the bundle built.
IMAGES_DIR = "images"
UNBOUND_FILES_DIGEST = "0" * 64


@dataclass(frozen=True)
class RenderedFile:
    dest: str  # path inside the bundle's k/ folder, '/' separated
    data: bytes
    kind: str = "script"  # script, config, sample, doc


def bundle_stem(name: str, git_version: str, revision: int, snapshot: str = "") -> str:
    """`<name>-<gitVersion>-<revision>[-SNAPSHOT-<commit>]`: the bundle's file name without `.zip`."""
    return f"{name}-{git_version}-{revision}" + (f"-{snapshot}" if snapshot else "")


def snapshot_id(commit: str | None) -> str:
    """A snapshot bundle's suffix (GoReleaser's word): never a release version, so never published."""
    return f"SNAPSHOT-{commit[:12] if commit else 'local'}"
