"""The configuration model: constants and tables, the frozen sections, and the rules on them.

Read and validated by `builder.config.load`; every stage takes a `Config` and nothing else of it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..http import redact_url
from .kit_inputs import INPUT_SECTIONS, KIT_INPUTS, kit_input
from .modes import DEFAULT_MODE

DEFAULT_CONFIG = "bundle.yaml"
COMPONENTS = ("kubelet", "kube-proxy", "kubectl", "kubeadm")
REQUIRED_COMPONENTS = ("kubelet", "kube-proxy", "kubectl")  # start-kubelet.ps1 reads podCIDRs with kubectl
ISOLATIONS = ("process", "hyperv")

SDN_COMMIT = "242fb0c3190dbb08d7f9406727be18322218e537"
SDN_FILES_DEFAULT: tuple[tuple[str, str, str], ...] = (
    (
        "Kubernetes/windows/helper.psm1",
        "bc45aa98fa40d51c4e8640865c329bdc4b522ea53cc17a5f0b512b4d44058c8c",
        "helper.psm1",
    ),
    (
        "Kubernetes/windows/hns.psm1",
        "a8a53ed4fac2e27c7e4268db069d4cf3129a56d466ef3bf9465fb52dcd76a29c",
        "hns.psm1",
    ),
    (
        # HNS v2 (HCN): the HostRoute policy of an overlay network (the host reaching its own pods).
        "Kubernetes/windows/hns.v2.psm1",
        "f995a3796328320f9f45acdf906de660f9d1ed01d3efcabf419a38b380fed465",
        "hns.v2.psm1",
    ),
    (
        "Kubernetes/windows/cni/wincni.exe",
        "315e107b7ee866534abb4d04d015a12cb65a2389d9c26b39591c9923fc21746c",
        "cni/wincni.exe",
    ),
)

# Windows Server versions this tool can target, and their build numbers.
WINDOWS_BUILDS: dict[str, int] = {
    "ltsc2016": 14393,
    "1709": 16299,
    "1803": 17134,
    "1809": 17763,
    "ltsc2019": 17763,
    "1903": 18362,
    "1909": 18363,
    "2004": 19041,
    "20H2": 19042,
    "ltsc2022": 20348,
    "ltsc2025": 26100,
}

# Patterns other modules share (publish, sdn, manifest): each written once, here.
HEX40_RE = re.compile(r"^[0-9a-f]{40}$")  # a full git commit id
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")  # a sha256
_LAST_PART_RE = re.compile(r"(\[\d+\]|\.[^.\[]+)$")  # the last `.key` or `[i]` of a key path
TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")  # a usable git tag / release name
# Device names Windows refuses as a file or folder name, with or without an extension.
RESERVED_WINDOWS_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))})

# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class BundleSection:
    name: str = "kubernetes-windows-node"
    revision: int = 1
    source_date_epoch: int | None = None


@dataclass(frozen=True)
class KubernetesSection:
    source: str = "build"
    root: Path | None = None
    version: str | None = None
    versions: tuple[str, ...] = ()
    components: tuple[str, ...] = ("kubelet", "kube-proxy", "kubectl")
    platform: str = "windows/amd64"
    go_version: str | None = None
    release_url: str = "https://dl.k8s.io/release"
    goflags: str = ""
    goldflags: str = ""
    build_env: tuple[str, ...] = ()  # variables the build gets beyond run.BUILD_VARS (HOME: the real one)
    # (version, component, sha256) from kubernetes.pins: what the official binaries must hash to
    pins: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class SdnFile:
    path: str
    sha256: str
    dest: str


@dataclass(frozen=True)
class SdnSection:
    repo: str = "microsoft/SDN"
    commit: str = SDN_COMMIT
    url: str = "https://github.com/{repo}/archive/{commit}.zip"
    files: tuple[SdnFile, ...] = tuple(SdnFile(p, h, d) for p, h, d in SDN_FILES_DEFAULT)

    @property
    def resolved_url(self) -> str:
        return self.url.format(repo=self.repo, commit=self.commit)

    @property
    def pinned(self) -> bool:
        return bool(HEX40_RE.match(self.commit))


@dataclass(frozen=True)
class InputSection:
    """One external input of the node kit: where it comes from and its pins ("" = not pinned yet)."""

    name: str  # the config section: a row of kit_inputs.KIT_INPUTS
    version: str
    source: str = "release"  # build (from the source archive, where the input has one) or release
    url: str = ""  # a template; "" means the default for the source
    sha256: str = ""  # the archive (or single file) as downloaded
    h1: str = ""  # a source archive's content digest (Go dirhash h1:), what `source: build` is pinned by

    @property
    def resolved_url(self) -> str:
        template = self.url or kit_input(self.name).urls[self.source]
        return template.format(version=self.version, bare_version=self.version.removeprefix("v"))


def default_input(name: str) -> InputSection:
    row = kit_input(name)
    return InputSection(name=name, version=row.version, source=row.sources[0], h1=row.known_h1.get(row.version, ""))


@dataclass(frozen=True)
class NetworkSection:
    mode: str = DEFAULT_MODE
    cluster_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/12"
    dns_service_ip: str = "10.96.0.10"
    dns_suffix: str = "svc.cluster.local"
    cluster_domain: str = "cluster.local"
    network_name: str = ""  # resolved: the mode's default (modes.NetworkMode.network_name) unless set
    nic_name: str = "Ethernet"
    control_plane_ip: str | None = None
    api_server_port: int = 6443  # kube-apiserver's --secure-port on control_plane_ip (kubeadm's default)
    vxlan_vni: int = 4096
    vxlan_port: int = 4789


@dataclass(frozen=True)
class NodeSection:
    install_dir: str = "C:\\k"
    labels: tuple[tuple[str, str], ...] = ()
    isolation: str = "process"
    pause_image: str | None = None
    runtime: str | None = None  # resolved by version: docker up to 1.23, containerd from 1.24
    kubelet_extra_args: tuple[str, ...] = ()
    kubeproxy_extra_args: tuple[str, ...] = ()
    windows_version: str = "ltsc2022"
    min_build: int = 16299
    kubeconfig: str = "config"
    bundle_runtime: bool = False  # ship containerd (and crictl) in the bundle; install.ps1 registers it

    @property
    def windows_build(self) -> int:
        return WINDOWS_BUILDS[self.windows_version]


@dataclass(frozen=True)
class ImagesSection:
    """The images of the cluster manifests (`cluster_images.CLUSTER_IMAGES`): each pinned by digest."""

    registry: str = ""  # a private registry every image is pulled from instead of its own
    pins: tuple[str, ...] = ()  # repository:tag@sha256:<64 hex>, one per image a bundle needs
    # The images the bundle can build from what it carries (kube-proxy's), built into it and imported
    # on the node, so that a node without registry access comes up (off: the node pulls them).
    offline: bool = False

    @property
    def is_default(self) -> bool:
        return not (self.registry or self.pins or self.offline)


@dataclass(frozen=True)
class ReleaseSection:
    repo: str | None = None
    tag: str | None = None
    draft: bool = False
    prerelease: bool = False


@dataclass(frozen=True)
class SigningSection:
    """Authenticode signing (`builder.config.signing` validates it). Paths and names only, never a secret."""

    enabled: bool = False
    pkcs12: Path | None = None
    certificate: Path | None = None  # PEM certificate (+ chain): with `key`, or with `pkcs11_uri`
    key: Path | None = None
    pkcs11_uri: str | None = None
    pkcs11_module: Path | None = None
    password_env: str | None = None  # the environment variable holding the password or PIN
    timestamp_url: str | None = None
    signing_time: int | None = None  # None: the bundle's SOURCE_DATE_EPOCH
    tool_env: tuple[str, ...] = ()  # variables osslsigncode gets beyond run.SIGN_VARS (a PKCS#11 module's)
    thumbprint: str = ""  # resolved from the certificate when a bundle is made
    subject: str = ""

    def public(self) -> dict[str, Any]:
        """What the manifest records: no key path (it names this machine) and no secret."""
        # The timestamp URL's query (an API key) is recorded as `?...`, like every URL of the configuration.
        shown = redact_url(self.timestamp_url) if self.timestamp_url else None
        return {"enabled": self.enabled, "timestampUrl": shown, "signingTime": self.signing_time,
                "thumbprint": self.thumbprint, "subject": self.subject}


@dataclass(frozen=True)
class Options:
    """Run options: command line only, never part of what the bundle is made from."""

    config_path: Path | None = None
    dist: Path = Path("dist")
    cache_dir: Path = Path(".cache")
    offline: bool = False
    force: bool = False
    allow_unpinned: bool = False
    allow_insecure_http: bool = False
    allow_dirty: bool = False  # --allow-dirty (or --snapshot): a tree with uncommitted changes may be bundled
    snapshot: bool = False  # --snapshot: the bundle's name says so, and publish refuses it
    clean: bool = False  # --clean: dist/ is emptied before the run writes to it
    allow_unknown_flags: bool = False  # --allow-unknown-flags: extra arguments are not checked against the table
    config_file: str = "(defaults)"  # as errors name it
    key_lines: tuple[tuple[str, int], ...] = ()  # (key path, line) of every key in the file, for errors found later

    def where(self, key: str) -> str:
        """`file:line` of a key (or of the nearest enclosing key the file has), for an error found after loading."""
        lines = dict(self.key_lines)
        probe = key
        while probe:
            if probe in lines:
                return f"{self.config_file}:{lines[probe]}"
            shorter = _LAST_PART_RE.sub("", probe)
            probe = shorter if shorter != probe else ""
        return self.config_file

    def pins_file(self) -> Path:
        """The configuration file `--update-pins` rewrites (SDN, node kit and Kubernetes pins alike)."""
        if self.config_path is None:
            msg = "--update-pins needs a configuration file to rewrite: create bundle.yaml or pass --config FILE"
            raise ConfigError(msg)
        return self.config_path


@dataclass(frozen=True)
class KeyLines:
    """Where bundle.yaml wrote each key ("network.mode" -> 12), for the rules checked once a version is known."""

    file: str = "(defaults)"
    lines: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Config:
    bundle: BundleSection = field(default_factory=BundleSection)
    kubernetes: KubernetesSection = field(default_factory=KubernetesSection)
    sdn: SdnSection = field(default_factory=SdnSection)
    network: NetworkSection = field(default_factory=NetworkSection)
    node: NodeSection = field(default_factory=NodeSection)
    release: ReleaseSection = field(default_factory=ReleaseSection)
    signing: SigningSection = field(default_factory=SigningSection)
    images: ImagesSection = field(default_factory=ImagesSection)
    options: Options = field(default_factory=Options)
    # One section per node-kit input, in the order of kit_inputs.KIT_INPUTS.
    kit: tuple[InputSection, ...] = field(default_factory=lambda: tuple(default_input(i.name) for i in KIT_INPUTS))
    origin: KeyLines = field(default_factory=KeyLines, compare=False)

    def input_section(self, name: str) -> InputSection:
        return next(s for s in self.kit if s.name == name)

    def with_input(self, section: InputSection) -> Config:
        """The same configuration with one node-kit section replaced."""
        return dataclasses.replace(self, kit=tuple(section if s.name == section.name else s for s in self.kit))

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain data (what the bundle is made from, no options)."""
        data = {
            name: _plain(dataclasses.asdict(getattr(self, name)))
            for name in ("bundle", "kubernetes", "sdn", "network", "node", "release")
        }
        data.update({name: _plain(dataclasses.asdict(self.input_section(name))) for name in INPUT_SECTIONS})
        # Where the tree sits on this machine is not an input of the bundle (its commit is, in the
        # manifest): a local path would leak and make the same build differ between folders.
        del data["kubernetes"]["root"]
        # A query string may carry a signature or token: the manifest and provenance record none.
        data["kubernetes"]["release_url"] = redact_url(data["kubernetes"]["release_url"])
        data["sdn"]["url"] = redact_url(data["sdn"]["url"])
        for name in INPUT_SECTIONS:
            kit = data[name]
            kit["url"] = redact_url(kit["url"]) if kit["url"] else ""
            # As bundle.yaml writes it: the section is its name; an input without a build has no source.
            del kit["name"]
            if not kit_input(name).buildable:
                del kit["source"], kit["h1"]
        if self.signing.enabled:  # absent when off, so unsigned bundles keep their digest
            data["signing"] = self.signing.public()
        if not self.images.is_default:  # absent when unset, so bundles without cluster images keep their digest
            data["images"] = _plain(dataclasses.asdict(self.images))
        return data

    def digest(self) -> str:
        return config_digest(self.to_dict())

    def for_version(self, version: str) -> Config:
        """The same configuration for one Kubernetes version of a multi-version run."""
        k = dataclasses.replace(self.kubernetes, version=version, versions=())
        return dataclasses.replace(self, kubernetes=k)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def config_digest(config: Mapping[str, Any]) -> str:
    """The digest of a resolved configuration's plain data (`Config.to_dict`), as the manifest records it."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
