"""Configuration: `bundle.yaml`, then the environment, then the command line, resolved once.

Everything is validated before any work starts. Every problem is reported (not only the
first), each naming the key, the file and line, and what would be valid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

import yaml

from .errors import ConfigError
from .kversion import KubeVersion

DEFAULT_CONFIG = "bundle.yaml"
COMPONENTS = ("kubelet", "kube-proxy", "kubectl", "kubeadm")
REQUIRED_COMPONENTS = ("kubelet", "kube-proxy")
NETWORK_MODES = ("host-gw", "l3", "overlay")
RUNTIMES = ("docker", "containerd")
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

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_IDENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,63}$")
_HEX40_RE = re.compile(r"^[0-9a-f]{40}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_GO_VERSION_RE = re.compile(r"^(?:go)?(\d+)\.(\d+)(?:\.(\d+))?$")
_LABEL_KEY_RE = re.compile(r"^(?:[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE_RE = re.compile(r"^(?:[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")
_EXTRA_ARG_RE = re.compile(r"^--[a-z0-9][a-z0-9-]*(?:=[A-Za-z0-9_.,:/=@+%-]*)?$")
_IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9._/-]*(?::[A-Za-z0-9._-]+)?(?:@sha256:[0-9a-f]{64})?$")
_REL_PATH_RE = re.compile(r"^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$")
_RESERVED_WIN = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


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
        return bool(_HEX40_RE.match(self.commit))


@dataclass(frozen=True)
class NetworkSection:
    mode: str = "host-gw"
    cluster_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/12"
    dns_service_ip: str = "10.96.0.10"
    dns_suffix: str = "svc.cluster.local"
    cluster_domain: str = "cluster.local"
    network_name: str = ""  # resolved: "l2bridge" for host-gw/l3, "vxlan0" for overlay
    nic_name: str = "Ethernet"
    control_plane_ip: str | None = None
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

    @property
    def windows_build(self) -> int:
        return WINDOWS_BUILDS[self.windows_version]


@dataclass(frozen=True)
class ReleaseSection:
    repo: str | None = None
    tag: str | None = None
    draft: bool = False
    prerelease: bool = False


@dataclass(frozen=True)
class Options:
    """Run options: command line only, never part of what the bundle is made from."""

    config_path: Path | None = None
    dist: Path = Path("dist")
    cache_dir: Path = Path(".cache")
    offline: bool = False
    force: bool = False
    allow_unpinned: bool = False


@dataclass(frozen=True)
class Config:
    bundle: BundleSection = field(default_factory=BundleSection)
    kubernetes: KubernetesSection = field(default_factory=KubernetesSection)
    sdn: SdnSection = field(default_factory=SdnSection)
    network: NetworkSection = field(default_factory=NetworkSection)
    node: NodeSection = field(default_factory=NodeSection)
    release: ReleaseSection = field(default_factory=ReleaseSection)
    options: Options = field(default_factory=Options)

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain data (what the bundle is made from, no options)."""
        data = {
            name: _plain(dataclasses.asdict(getattr(self, name)))
            for name in ("bundle", "kubernetes", "sdn", "network", "node", "release")
        }
        # Where the tree sits on this machine is not an input of the bundle (its commit is, in the
        # manifest): a local path would leak and make the same build differ between folders.
        del data["kubernetes"]["root"]
        return data

    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

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


# --------------------------------------------------------------------------- YAML with lines


@dataclass
class _Doc:
    """Parsed YAML as plain data, with the line of every key path ("network.mode" -> 12)."""

    data: dict[str, Any]
    lines: dict[str, int]
    file: str


def _read_yaml(path: Path) -> _Doc:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        msg = f"configuration file {path} does not exist; create it or pass --config FILE"
        raise ConfigError(msg) from err
    except (OSError, UnicodeDecodeError) as err:
        msg = f"cannot read configuration file {path}: {err}"
        raise ConfigError(msg) from err
    return parse_yaml(text, str(path))


def parse_yaml(text: str, file: str) -> _Doc:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[str, int] = {}
        data = _construct(loader, node, "", lines, file) if node is not None else {}
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"{file}:{mark.line + 1}" if mark is not None else file
        msg = f"{where}: not valid YAML: {err.problem}; fix the syntax at that line"
        raise ConfigError(msg) from err
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        msg = f"{file}:1: the configuration must be a mapping of sections (bundle:, kubernetes:, ...)"
        raise ConfigError(msg)
    return _Doc(data, lines, file)


def _construct(loader: yaml.SafeLoader, node: yaml.Node, path: str, lines: dict[str, int], file: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key_path = f"{path}.{key}" if path else str(key)
            if key in out:
                msg = f"{file}:{key_node.start_mark.line + 1}: {key_path}: duplicate key; keep only one"
                raise ConfigError(msg)
            lines[key_path] = key_node.start_mark.line + 1
            out[str(key)] = _construct(loader, value_node, key_path, lines, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines[f"{path}[{i}]"] = item.start_mark.line + 1
            items.append(_construct(loader, item, f"{path}[{i}]", lines, file))
        return items
    return loader.construct_object(node, deep=True)


# --------------------------------------------------------------------------- validation


class _Problems:
    """Collects every problem, each with its place, so one run shows them all."""

    def __init__(self, doc: _Doc) -> None:
        self.doc = doc
        self.items: list[str] = []

    def where(self, key: str) -> str:
        probe = key
        while probe:
            if probe in self.doc.lines:
                return f"{self.doc.file}:{self.doc.lines[probe]}"
            probe = probe.rsplit(".", 1)[0] if "." in probe else ""
        return self.doc.file

    def add(self, key: str, problem: str) -> None:
        self.items.append(f"{self.where(key)}: {key}: {problem}")

    def raise_if_any(self) -> None:
        if self.items:
            head = "invalid configuration" if len(self.items) == 1 else f"{len(self.items)} configuration problems"
            msg = head + ":\n  " + "\n  ".join(self.items)
            raise ConfigError(msg)


_MISSING = object()


class _Section:
    """Typed access to one section's keys; wrong types and unknown keys become problems."""

    def __init__(self, probs: _Problems, name: str, data: Any, known: Sequence[str]) -> None:
        self.probs = probs
        self.name = name
        if data is None:
            data = {}
        if not isinstance(data, dict):
            probs.add(name, f"must be a mapping of keys, got {type(data).__name__}")
            data = {}
        self.data: dict[str, Any] = data
        for key in data:
            if re.search("token", str(key), re.IGNORECASE):
                probs.add(
                    f"{name}.{key}",
                    "secrets are never part of the configuration: the kubeadm join token and CA hash "
                    "are run-time parameters of join-node.ps1 on the node; remove this key",
                )
            elif key not in known:
                probs.add(f"{name}.{key}", f"unknown key; valid keys of {name}: {', '.join(known)}")

    def key(self, key: str) -> str:
        return f"{self.name}.{key}"

    def get(self, key: str, kind: type | tuple[type, ...], default: Any, what: str) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool) and kind is not bool and not (isinstance(kind, tuple) and bool in kind):
            self.probs.add(self.key(key), f"must be {what}, got a boolean")
            return default
        if not isinstance(value, kind):
            self.probs.add(self.key(key), f"must be {what}, got {type(value).__name__} {value!r}")
            return default
        return value

    def text(self, key: str, default: Any, what: str = "a string") -> Any:
        value = self.get(key, str, default, what)
        if isinstance(value, str) and _has_control(value):
            self.probs.add(self.key(key), "must not contain NUL, control characters or newlines")
            return default
        return value

    def choice(self, key: str, default: Any, choices: Sequence[str]) -> Any:
        value = self.text(key, default, f"one of {', '.join(choices)}")
        if value is not None and value not in choices:
            self.probs.add(self.key(key), f"{value!r} is not valid; use one of {', '.join(choices)}")
            return default
        return value

    def string_list(self, key: str, default: tuple[str, ...], what: str) -> tuple[str, ...]:
        value = self.get(key, list, None, f"a list of {what}")
        if value is None:
            return default
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or _has_control(item):
                self.probs.add(f"{self.key(key)}[{i}]", f"must be {what}, got {item!r}")
            else:
                out.append(item)
        return tuple(out)


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F or 0x80 <= ord(c) < 0xA0 for c in text)


def _check(probs: _Problems, key: str, value: Any, test: Callable[[Any], str | None]) -> bool:
    """Add the problem `test` finds with `value`; True when the value is fine (or absent)."""
    if value is None:
        return True
    problem = test(value)
    if problem:
        probs.add(key, problem)
    return not problem


def _network_problem(value: str, version: int | None = None) -> str | None:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        return f"{value!r} is not a CIDR ({err}); write it like 10.244.0.0/16"
    if version is not None and net.version != version:
        return f"{value!r} must be an IPv{version} network"
    return None


def _ip_problem(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"{value!r} is not an IP address; write it like 10.96.0.10"
    return None


def _semver_problem(value: str) -> str | None:
    try:
        KubeVersion.parse(value)
    except ValueError as err:
        return str(err)
    return None


def _dns_name_problem(value: str) -> str | None:
    labels = value.split(".")
    if not value or len(value) > 253 or not all(re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", x) for x in labels):
        return f"{value!r} is not a DNS name; use lower-case labels like cluster.local"
    return None


def windows_path_problem(value: str) -> str | None:
    """Why `value` is not an acceptable absolute Windows install path, or None."""
    p = PureWindowsPath(value)
    if not re.fullmatch(r"[A-Za-z]:\\", p.anchor):
        return f"{value!r} must be an absolute local path with a drive letter, like C:\\k (no UNC paths)"
    for part in p.parts[1:]:
        if part in ("..", "."):
            return f"{value!r} must not contain '.' or '..'"
        if part.split(".")[0].upper() in _RESERVED_WIN:
            return f"{value!r} uses the reserved Windows name {part!r}"
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9 _.-]*", part) or part.endswith((" ", ".")):
            return f"{value!r}: folder {part!r} may use letters, digits, space, '_', '.', '-' only"
    return None


def _url_problem(value: str) -> str | None:
    if not re.match(r"^(https?|file)://[^\s]+$", value) and not value.startswith(("/", "./", "../")):
        return f"{value!r} must be an http(s):// or file:// URL, or a local path"
    return None


def _go_version_problem(value: str) -> str | None:
    if not _GO_VERSION_RE.match(value):
        return f"{value!r} is not a Go version; write it like 1.25.5 or 1.25"
    return None


# --------------------------------------------------------------------------- sections


def _bundle(probs: _Problems, raw: Any) -> BundleSection:
    s = _Section(probs, "bundle", raw, ["name", "revision", "source_date_epoch"])
    d = BundleSection()
    name = s.text("name", d.name)
    _check(probs, "bundle.name", name, lambda v: None if _NAME_RE.match(v) else
           f"{v!r} must be lower-case letters, digits, '.', '_' or '-', like kubernetes-windows-node")
    revision = s.get("revision", int, d.revision, "a whole number >= 1")
    if revision < 1:
        probs.add("bundle.revision", f"{revision} must be >= 1")
    sde = s.get("source_date_epoch", int, None, "a Unix time in seconds")
    if sde is not None and sde < 0:
        probs.add("bundle.source_date_epoch", "must be >= 0")
    return BundleSection(name=name, revision=revision, source_date_epoch=sde)


def _kubernetes(probs: _Problems, raw: Any, base: Path) -> KubernetesSection:
    known = ["source", "root", "version", "versions", "components", "platform", "go_version",
             "release_url", "goflags", "goldflags"]
    s = _Section(probs, "kubernetes", raw, known)
    d = KubernetesSection()
    root = s.text("root", None, "a folder path")
    version = s.text("version", None, "a version like v1.37.0")
    _check(probs, "kubernetes.version", version, _semver_problem)
    versions = s.string_list("versions", (), "versions like v1.37.0")
    for i, v in enumerate(versions):
        _check(probs, f"kubernetes.versions[{i}]", v, _semver_problem)
    components = s.string_list("components", d.components, "component names")
    for i, c in enumerate(components):
        if c not in COMPONENTS:
            probs.add(f"kubernetes.components[{i}]", f"{c!r} is not a component; use {', '.join(COMPONENTS)}")
    if len(set(components)) != len(components):
        probs.add("kubernetes.components", "lists a component twice")
    for need in REQUIRED_COMPONENTS:
        if need not in components:
            probs.add("kubernetes.components", f"must include {need}: a node cannot run without it")
    go_version = s.text("go_version", None, "a Go version like 1.25.5")
    _check(probs, "kubernetes.go_version", go_version, _go_version_problem)
    release_url = s.text("release_url", d.release_url, "a URL")
    _check(probs, "kubernetes.release_url", release_url, _url_problem)
    goflags = s.text("goflags", "")
    goldflags = s.text("goldflags", "")
    return KubernetesSection(
        source=s.choice("source", d.source, ("build", "release")),
        root=(base / root) if root else None,
        version=version,
        versions=versions,
        components=tuple(c for c in COMPONENTS if c in components),
        platform=s.choice("platform", d.platform, ("windows/amd64",)),
        go_version=go_version.removeprefix("go") if go_version else None,
        release_url=release_url.rstrip("/"),
        goflags=goflags,
        goldflags=goldflags,
    )


def _sdn(probs: _Problems, raw: Any) -> SdnSection:
    s = _Section(probs, "sdn", raw, ["repo", "commit", "url", "files"])
    d = SdnSection()
    repo = s.text("repo", d.repo)
    _check(probs, "sdn.repo", repo, lambda v: None if _REPO_RE.match(v) else f"{v!r} must be owner/name")
    commit = s.text("commit", d.commit, "a 40-hex commit id")
    _check(probs, "sdn.commit", commit, lambda v: None if re.fullmatch(r"[A-Za-z0-9._/-]+", v) else
           f"{v!r} must be a full 40-hex commit id (or, with --allow-unpinned, a branch or tag)")
    url = s.text("url", d.url)
    _check(probs, "sdn.url", url, _url_problem)
    files_raw = s.get("files", list, None, "a list of {path, sha256, dest}")
    files = d.files
    if files_raw is not None:
        out: list[SdnFile] = []
        for i, item in enumerate(files_raw):
            key = f"sdn.files[{i}]"
            fs = _Section(probs, key, item, ["path", "sha256", "dest"])
            path = fs.text("path", None, "a path inside the archive")
            sha = fs.text("sha256", None, "64 lower-case hex digits")
            dest = fs.text("dest", None, "a path inside the bundle")
            if path is None or sha is None:
                probs.add(key, "needs path and sha256 (dest defaults to the file name)")
                continue
            _check(probs, f"{key}.path", path, lambda v: None if _REL_PATH_RE.match(v) and ".." not in v.split("/")
                   else f"{v!r} must be a relative path with '/' separators and no '..'")
            _check(probs, f"{key}.sha256", sha, lambda v: None if _HEX64_RE.match(v) else
                   f"{v!r} must be 64 lower-case hex digits (run nox -s fetch -- --update-pins)")
            dest = dest or path.rsplit("/", 1)[-1]
            _check(probs, f"{key}.dest", dest, lambda v: None if _REL_PATH_RE.match(v) and ".." not in v.split("/")
                   else f"{v!r} must be a relative path with '/' separators and no '..'")
            out.append(SdnFile(path, sha, dest))
        files = tuple(out)
    return SdnSection(repo=repo, commit=commit, url=url, files=files)


def _network(probs: _Problems, raw: Any) -> NetworkSection:
    known = ["mode", "cluster_cidr", "service_cidr", "dns_service_ip", "dns_suffix", "cluster_domain",
             "network_name", "nic_name", "control_plane_ip", "vxlan_vni", "vxlan_port"]
    s = _Section(probs, "network", raw, known)
    d = NetworkSection()
    mode = s.choice("mode", d.mode, NETWORK_MODES)
    cluster_cidr = s.text("cluster_cidr", d.cluster_cidr, "a CIDR")
    cluster_ok = _check(probs, "network.cluster_cidr", cluster_cidr, _network_problem)
    service_cidr = s.text("service_cidr", d.service_cidr, "a CIDR")
    service_ok = _check(probs, "network.service_cidr", service_cidr, _network_problem)
    dns_ip = s.text("dns_service_ip", d.dns_service_ip, "an IP address")
    dns_ok = _check(probs, "network.dns_service_ip", dns_ip, _ip_problem)
    if service_ok and dns_ok and ipaddress.ip_address(dns_ip) not in ipaddress.ip_network(service_cidr):
        probs.add("network.dns_service_ip",
                  f"{dns_ip} is outside service_cidr {service_cidr}; pick an address inside it")
    if service_ok and cluster_ok and ipaddress.ip_network(service_cidr).overlaps(ipaddress.ip_network(cluster_cidr)):
        probs.add("network.service_cidr",
                  f"{service_cidr} overlaps cluster_cidr {cluster_cidr}; they must be disjoint")
    dns_suffix = s.text("dns_suffix", d.dns_suffix)
    _check(probs, "network.dns_suffix", dns_suffix, _dns_name_problem)
    cluster_domain = s.text("cluster_domain", d.cluster_domain)
    _check(probs, "network.cluster_domain", cluster_domain, _dns_name_problem)
    network_name = s.text("network_name", "l2bridge" if mode != "overlay" else "vxlan0")
    _check(probs, "network.network_name", network_name,
           lambda v: None if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", v)
           else f"{v!r} may use letters, digits, '_', '.', '-' (up to 64)")
    nic_name = s.text("nic_name", d.nic_name)
    _check(probs, "network.nic_name", nic_name, lambda v: None if _IDENT_RE.match(v)
           else f"{v!r} may use letters, digits, space, '.', '_', '-', '(' and ')'")
    cp_ip = s.text("control_plane_ip", None, "an IP address")
    _check(probs, "network.control_plane_ip", cp_ip, _ip_problem)
    vni = s.get("vxlan_vni", int, d.vxlan_vni, "a whole number")
    if not 4096 <= vni <= 16777215:
        probs.add("network.vxlan_vni", f"{vni} must be between 4096 and 16777215 (Windows overlay requires >= 4096)")
    port = s.get("vxlan_port", int, d.vxlan_port, "a UDP port")
    if not 1 <= port <= 65535:
        probs.add("network.vxlan_port", f"{port} must be a port between 1 and 65535")
    return NetworkSection(mode=mode, cluster_cidr=cluster_cidr, service_cidr=service_cidr, dns_service_ip=dns_ip,
                          dns_suffix=dns_suffix, cluster_domain=cluster_domain, network_name=network_name,
                          nic_name=nic_name, control_plane_ip=cp_ip, vxlan_vni=vni, vxlan_port=port)


def _node(probs: _Problems, raw: Any) -> NodeSection:
    known = ["install_dir", "labels", "isolation", "pause_image", "runtime", "kubelet_extra_args",
             "kubeproxy_extra_args", "windows_version", "min_build", "kubeconfig"]
    s = _Section(probs, "node", raw, known)
    d = NodeSection()
    install_dir = s.text("install_dir", d.install_dir)
    _check(probs, "node.install_dir", install_dir, windows_path_problem)
    labels_raw = s.get("labels", dict, {}, "a mapping of label keys to values")
    labels: list[tuple[str, str]] = []
    for k, raw_value in labels_raw.items():
        v = "" if raw_value is None else raw_value
        if not isinstance(k, str) or not _LABEL_KEY_RE.match(k):
            probs.add(f"node.labels.{k}", "is not a valid label key (prefix/name, like example.com/role)")
        elif not isinstance(v, str) or not _LABEL_VALUE_RE.match(v):
            probs.add(f"node.labels.{k}", f"{v!r} is not a valid label value (up to 63 of A-Z a-z 0-9 . _ -)")
        else:
            labels.append((k, v))
    pause = s.text("pause_image", None, "an image reference")
    _check(probs, "node.pause_image", pause, lambda v: None if _IMAGE_RE.match(v)
           else f"{v!r} is not an image reference like registry.k8s.io/pause:3.10")
    extra: dict[str, tuple[str, ...]] = {}
    for key in ("kubelet_extra_args", "kubeproxy_extra_args"):
        args = s.string_list(key, (), "flags like --flag or --flag=value")
        for i, a in enumerate(args):
            if not _EXTRA_ARG_RE.match(a):
                probs.add(f"node.{key}[{i}]", f"{a!r} must look like --flag or --flag=value "
                          "(value from A-Z a-z 0-9 _ . , : / = @ + % -)")
        extra[key] = args
    min_build = s.get("min_build", int, d.min_build, "a Windows build number like 17763")
    kubeconfig = s.text("kubeconfig", d.kubeconfig)
    _check(probs, "node.kubeconfig", kubeconfig, lambda v: None if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}", v)
           else f"{v!r} must be a file name inside install_dir, like config")
    return NodeSection(
        install_dir=install_dir,
        labels=tuple(sorted(labels)),
        isolation=s.choice("isolation", d.isolation, ISOLATIONS),
        pause_image=pause,
        runtime=s.choice("runtime", None, RUNTIMES),
        kubelet_extra_args=extra["kubelet_extra_args"],
        kubeproxy_extra_args=extra["kubeproxy_extra_args"],
        windows_version=s.choice("windows_version", d.windows_version, tuple(WINDOWS_BUILDS)),
        min_build=min_build,
        kubeconfig=kubeconfig,
    )


def _release(probs: _Problems, raw: Any, env: Mapping[str, str]) -> ReleaseSection:
    s = _Section(probs, "release", raw, ["repo", "tag", "draft", "prerelease"])
    repo = s.text("repo", None, "owner/name") or env.get("GITHUB_REPOSITORY") or None
    _check(probs, "release.repo", repo, lambda v: None if _REPO_RE.match(v) else f"{v!r} must be owner/name")
    tag = s.text("tag", None, "a tag name")
    _check(probs, "release.tag", tag, lambda v: None if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}", v)
           else f"{v!r} is not a usable tag name")
    return ReleaseSection(repo=repo, tag=tag, draft=s.get("draft", bool, False, "true or false"),
                          prerelease=s.get("prerelease", bool, False, "true or false"))


# --------------------------------------------------------------------------- entry point


@dataclass(frozen=True)
class Overrides:
    """What the command line may override."""

    config: Path | None = None
    kube_root: Path | None = None
    revision: int | None = None
    dist: Path | None = None
    cache_dir: Path | None = None
    offline: bool = False
    force: bool = False
    allow_unpinned: bool = False
    kube_versions: tuple[str, ...] = ()
    # False for commands that only read dist/ (verify, publish): no tree or version is needed.
    needs_source: bool = True


def default_cache_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", ".")) / ".cache")
    return Path(base) / "k8s-windows-bundle"


def load(overrides: Overrides, env: Mapping[str, str], cwd: Path) -> Config:
    """Read, merge and validate the configuration; raise ConfigError listing every problem."""
    path = overrides.config
    if path is None and (cwd / DEFAULT_CONFIG).is_file():
        path = cwd / DEFAULT_CONFIG
    if path is not None and not path.is_absolute():
        path = cwd / path
    doc = _read_yaml(path) if path is not None else _Doc({}, {}, "(defaults)")
    probs = _Problems(doc)
    sections = ("bundle", "kubernetes", "sdn", "network", "node", "release")
    for key in doc.data:
        if key not in sections:
            probs.add(str(key), f"unknown section; valid sections: {', '.join(sections)}")
    base = path.parent if path is not None else cwd
    bundle = _bundle(probs, doc.data.get("bundle"))
    kube = _kubernetes(probs, doc.data.get("kubernetes"), base)
    sdn = _sdn(probs, doc.data.get("sdn"))
    network = _network(probs, doc.data.get("network"))
    node = _node(probs, doc.data.get("node"))
    release = _release(probs, doc.data.get("release"), env)

    if overrides.revision is not None:
        if overrides.revision < 1:
            probs.items.append(f"--revision: {overrides.revision} must be >= 1")
        bundle = dataclasses.replace(bundle, revision=overrides.revision)
    if overrides.kube_versions:
        for v in overrides.kube_versions:
            problem = _semver_problem(v)
            if problem:
                probs.items.append(f"--kube-version: {problem}")
        kube = dataclasses.replace(kube, source="release", version=None, versions=overrides.kube_versions)
    if kube.version and kube.versions:
        probs.add("kubernetes.versions", "give either version or versions, not both")
    if overrides.needs_source:
        kube = _resolve_source(probs, kube, overrides, env, cwd)
    _check_runtime(probs, node, kube)
    probs.raise_if_any()

    options = Options(
        config_path=path,
        dist=(cwd / (overrides.dist or Path("dist"))),
        cache_dir=(cwd / overrides.cache_dir) if overrides.cache_dir else default_cache_dir(env),
        offline=overrides.offline,
        force=overrides.force,
        allow_unpinned=overrides.allow_unpinned,
    )
    if not sdn.pinned and not options.allow_unpinned:
        msg = (f"{probs.where('sdn.commit')}: sdn.commit: {sdn.commit!r} is a branch or tag, not a pinned "
               "40-hex commit; pin a commit, or pass --allow-unpinned to take what the ref points at now")
        raise ConfigError(msg)
    return Config(bundle=bundle, kubernetes=kube, sdn=sdn, network=network, node=node, release=release,
                  options=options)


def _resolve_source(probs: _Problems, kube: KubernetesSection, overrides: Overrides, env: Mapping[str, str],
                    cwd: Path) -> KubernetesSection:
    """Find and check the tree for source: build; check a version is given for source: release."""
    if kube.source != "build":
        if not (kube.version or kube.versions):
            probs.add("kubernetes.version", "source: release needs version (or versions, or --kube-version vX.Y.Z)")
        return kube
    if kube.versions:
        probs.add("kubernetes.versions", "many versions need source: release (binaries from a release)")
    root = overrides.kube_root or kube.root
    if root is None and env.get("KUBE_ROOT"):
        root = Path(env["KUBE_ROOT"])
    if root is None and env.get("GOPATH"):
        root = Path(env["GOPATH"].split(":")[0]) / "src" / "k8s.io" / "kubernetes"
    if root is None:
        probs.add("kubernetes.root", "no Kubernetes tree given: set kubernetes.root, $KUBE_ROOT, "
                  "or --kube-root DIR (or $GOPATH/src/k8s.io/kubernetes)")
        return kube
    root = (cwd / root).resolve()
    if not (root / "Makefile").is_file() and not (root / "build" / "root" / "Makefile").is_file():
        key = "--kube-root" if overrides.kube_root else "kubernetes.root"
        where = "" if overrides.kube_root else f"{probs.where(key)}: "
        probs.items.append(f"{where}{key}: {root} is not a Kubernetes source tree (no Makefile); "
                           "point it at the tree's top folder")
    return dataclasses.replace(kube, root=root)


def _runtime_problem(runtime: str | None, version: KubeVersion) -> str | None:
    if runtime == "docker" and version.minor_key >= (1, 24):
        return (f"docker (dockershim) was removed in Kubernetes 1.24; {version} needs containerd: "
                "set node.runtime: containerd or remove the key")
    return None


def _check_runtime(probs: _Problems, node: NodeSection, kube: KubernetesSection) -> None:
    """Check the runtime against a version known now; the build stage re-checks a detected one."""
    for v in [kube.version] if kube.version else kube.versions:
        try:
            problem = _runtime_problem(node.runtime, KubeVersion.parse(v))
        except ValueError:
            continue  # already reported as not a version
        if problem:
            probs.add("node.runtime", problem)


def runtime_for(node: NodeSection, version: KubeVersion) -> str:
    """The container runtime for this version: the configured one, else what the version supports."""
    problem = _runtime_problem(node.runtime, version)
    if problem:
        msg = f"node.runtime: {problem}"
        raise ConfigError(msg)
    if node.runtime:
        return node.runtime
    return "docker" if version.minor_key < (1, 24) else "containerd"
