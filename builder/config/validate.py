"""Validation: every key of every section checked, every problem collected with its file:line.

`Problems` gathers them so that one run shows them all; `Section` gives typed access to one
section's keys; one function per section turns raw YAML data into its frozen dataclass.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PureWindowsPath
from typing import Any

from ..errors import ConfigError
from ..http import redact_url, url_problem
from ..kversion import KubeVersion
from .cluster_images import REGISTRY_RE, parse_pin
from .kit_inputs import kit_input
from .model import (
    COMPONENTS,
    HEX64_RE,
    ISOLATIONS,
    REQUIRED_COMPONENTS,
    RESERVED_WINDOWS_NAMES,
    TAG_RE,
    WINDOWS_BUILDS,
    BundleSection,
    ImagesSection,
    InputSection,
    KubernetesSection,
    NetworkSection,
    NodeSection,
    ReleaseSection,
    SdnFile,
    SdnSection,
)
from .modes import NETWORK_MODES, mode_for
from .runtimes import RUNTIMES
from .yamlread import Doc

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_IDENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,63}$")
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_GO_VERSION_RE = re.compile(r"^(?:go)?(\d+)\.(\d+)(?:\.(\d+))?$")
_LABEL_KEY_RE = re.compile(r"^(?:[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE_RE = re.compile(r"^(?:[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")
_EXTRA_ARG_RE = re.compile(r"^--[a-z0-9][a-z0-9-]*(?:=[A-Za-z0-9_.,:/=@+%-]*)?$")
_IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9._/-]*(?::[A-Za-z0-9._-]+)?(?:@sha256:[0-9a-f]{64})?$")
_REL_PATH_RE = re.compile(r"^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$")



class Problems:
    """Collects every problem, each with its place, so one run shows them all."""

    def __init__(self, doc: Doc) -> None:
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


class Section:
    """Typed access to one section's keys; wrong types and unknown keys become problems."""

    def __init__(self, probs: Problems, name: str, data: Any, known: Sequence[str]) -> None:
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
                probs.add(f"{name}.{key}", f"unknown key{did_you_mean(str(key), known)}; valid keys of {name}: "
                          f"{', '.join(known)}")

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


def did_you_mean(word: str, known: Sequence[str]) -> str:
    """`; did you mean X?` for the nearest known word, or "" when none is near."""
    near = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f" (did you mean {near[0]}?)" if near else ""


FILE_VERSIONS = (1,)  # the `version:` values of bundle.yaml this tool reads


def file_version_problem(probs: Problems, value: Any) -> None:
    """`version: 1` (or none, the same): the configuration file's format; another is refused, saying why."""
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        probs.add("version", f"must be a whole number, like 1, got {value!r}")
        return
    if value not in FILE_VERSIONS:
        newer = value > max(FILE_VERSIONS)
        fix = ("it was written for a newer k8s-windows-bundle: upgrade this tool" if newer
               else "write version: 1 and check the file")
        probs.add("version", f"{value} is not a configuration version this tool knows (it reads version "
                  f"{', '.join(map(str, FILE_VERSIONS))}); {fix}")


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F or 0x80 <= ord(c) < 0xA0 for c in text)


_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_NEVER_PASSED = ("GH_TOKEN", "GITHUB_TOKEN")


def env_names(probs: Problems, s: Section, key: str) -> tuple[str, ...]:
    """A list of environment variable NAMES that a child process is given (never their values here)."""
    names = s.string_list(key, (), "environment variable names")
    for i, name in enumerate(names):
        if not _ENV_NAME_RE.match(name):
            probs.add(f"{s.key(key)}[{i}]", "must be the NAME of an environment variable (like GOPROXY), "
                      "not its value")
        elif name.upper() in _NEVER_PASSED:
            probs.add(f"{s.key(key)}[{i}]", f"{name} is the publishing token: no child process ever gets it")
    return tuple(n for n in names if _ENV_NAME_RE.match(n) and n.upper() not in _NEVER_PASSED)


def check(probs: Problems, key: str, value: Any, test: Callable[[Any], str | None]) -> bool:
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


def semver_problem(value: str) -> str | None:
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
        if part.split(".")[0].upper() in RESERVED_WINDOWS_NAMES:
            return f"{value!r} uses the reserved Windows name {part!r}"
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9 _.-]*", part) or part.endswith((" ", ".")):
            return f"{value!r}: folder {part!r} may use letters, digits, space, '_', '.', '-' only"
    return None


def _url_problem(value: str) -> str | None:
    if not re.match(r"^(https?|file)://[^\s]+$", value) and not value.startswith(("/", "./", "../")):
        return f"{redact_url(value)!r} must be an http(s):// or file:// URL, or a local path"
    return None


def check_source_urls(probs: Problems, release_url: str, sdn_url: str, *, allow_insecure_http: bool,
                      more: Sequence[tuple[str, str]] = ()) -> None:
    """No credentials in a source URL, and plain http only when asked for (or on this machine).

    `more` adds (key, url) pairs: the node kit's `url` templates.
    """
    for key, url in (("kubernetes.release_url", release_url), ("sdn.url", sdn_url), *more):
        check(probs, key, url, lambda v: url_problem(v, allow_insecure_http=allow_insecure_http))


def _pins(probs: Problems, raw: Any) -> tuple[tuple[str, str, str], ...]:
    """kubernetes.pins: {vX.Y.Z: {component: sha256}} as (version, component, sha256) triples."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        probs.add("kubernetes.pins", "must map versions to {component: sha256}, like v1.37.0: {kubelet: <sha256>}")
        return ()
    out: list[tuple[str, str, str]] = []
    for version, comps in raw.items():
        key = f"kubernetes.pins.{version}"
        if not check(probs, key, str(version), semver_problem):
            continue
        if not isinstance(comps, dict):
            probs.add(key, "must map component names to sha256 digests")
            continue
        for comp, sha in comps.items():
            # kube-log-runner is no component one chooses, but a release from 1.23 brings it, pinned like the rest.
            if comp not in (*COMPONENTS, "kube-log-runner"):
                probs.add(f"{key}.{comp}", f"{comp!r} is not a component; use {', '.join(COMPONENTS)} "
                          "(or kube-log-runner)")
            elif not isinstance(sha, str) or not HEX64_RE.match(sha):
                probs.add(f"{key}.{comp}", f"{sha!r} must be 64 lower-case hex digits (the exe's sha256)")
            else:
                out.append((str(version), str(comp), sha))
    return tuple(sorted(out))


def _go_version_problem(value: str) -> str | None:
    if not _GO_VERSION_RE.match(value):
        return f"{value!r} is not a Go version; write it like 1.25.5 or 1.25"
    return None


# --------------------------------------------------------------------------- sections


def section_bundle(probs: Problems, raw: Any) -> BundleSection:
    s = Section(probs, "bundle", raw, ["name", "revision", "source_date_epoch"])
    d = BundleSection()
    name = s.text("name", d.name)
    check(probs, "bundle.name", name, lambda v: None if _NAME_RE.match(v) else
           f"{v!r} must be lower-case letters, digits, '.', '_' or '-', like kubernetes-windows-node")
    revision = s.get("revision", int, d.revision, "a whole number >= 1")
    if revision < 1:
        probs.add("bundle.revision", f"{revision} must be >= 1")
    sde = s.get("source_date_epoch", int, None, "a Unix time in seconds")
    if sde is not None and sde < 0:
        probs.add("bundle.source_date_epoch", "must be >= 0")
    return BundleSection(name=name, revision=revision, source_date_epoch=sde)


def section_kubernetes(probs: Problems, raw: Any, base: Path) -> KubernetesSection:
    known = ["source", "root", "version", "versions", "components", "platform", "go_version",
             "release_url", "goflags", "goldflags", "build_env", "pins"]
    s = Section(probs, "kubernetes", raw, known)
    d = KubernetesSection()
    root = s.text("root", None, "a folder path")
    version = s.text("version", None, "a version like v1.37.0")
    check(probs, "kubernetes.version", version, semver_problem)
    versions = s.string_list("versions", (), "versions like v1.37.0")
    for i, v in enumerate(versions):
        check(probs, f"kubernetes.versions[{i}]", v, semver_problem)
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
    check(probs, "kubernetes.go_version", go_version, _go_version_problem)
    release_url = s.text("release_url", d.release_url, "a URL")
    check(probs, "kubernetes.release_url", release_url, _url_problem)
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
        build_env=env_names(probs, s, "build_env"),
        pins=_pins(probs, s.data.get("pins")),
    )


def section_sdn(probs: Problems, raw: Any) -> SdnSection:
    s = Section(probs, "sdn", raw, ["repo", "commit", "url", "files"])
    d = SdnSection()
    repo = s.text("repo", d.repo)
    check(probs, "sdn.repo", repo, lambda v: None if _REPO_RE.match(v) else f"{v!r} must be owner/name")
    commit = s.text("commit", d.commit, "a 40-hex commit id")
    check(probs, "sdn.commit", commit, lambda v: None if re.fullmatch(r"[A-Za-z0-9._/-]+", v) else
           f"{v!r} must be a full 40-hex commit id (or, with --allow-unpinned, a branch or tag)")
    url = s.text("url", d.url)
    check(probs, "sdn.url", url, _url_problem)
    files_raw = s.get("files", list, None, "a list of {path, sha256, dest}")
    files = d.files
    if files_raw is not None:
        out: list[SdnFile] = []
        for i, item in enumerate(files_raw):
            key = f"sdn.files[{i}]"
            fs = Section(probs, key, item, ["path", "sha256", "dest"])
            path = fs.text("path", None, "a path inside the archive")
            sha = fs.text("sha256", None, "64 lower-case hex digits")
            dest = fs.text("dest", None, "a path inside the bundle")
            if path is None or sha is None:
                probs.add(key, "needs path and sha256 (dest defaults to the file name)")
                continue
            check(probs, f"{key}.path", path, lambda v: None if _REL_PATH_RE.match(v) and ".." not in v.split("/")
                   else f"{v!r} must be a relative path with '/' separators and no '..'")
            check(probs, f"{key}.sha256", sha, lambda v: None if HEX64_RE.match(v) else
                   f"{v!r} must be 64 lower-case hex digits (run nox -s fetch -- --update-pins)")
            dest = dest or path.rsplit("/", 1)[-1]
            check(probs, f"{key}.dest", dest, lambda v: None if _REL_PATH_RE.match(v) and ".." not in v.split("/")
                   else f"{v!r} must be a relative path with '/' separators and no '..'")
            out.append(SdnFile(path, sha, dest))
        files = tuple(out)
    return SdnSection(repo=repo, commit=commit, url=url, files=files)


def section_network(probs: Problems, raw: Any) -> NetworkSection:
    known = ["mode", "cluster_cidr", "service_cidr", "dns_service_ip", "dns_suffix", "cluster_domain",
             "network_name", "nic_name", "control_plane_ip", "api_server_port", "vxlan_vni", "vxlan_port"]
    s = Section(probs, "network", raw, known)
    d = NetworkSection()
    mode = s.choice("mode", d.mode, NETWORK_MODES)
    cluster_cidr = s.text("cluster_cidr", d.cluster_cidr, "a CIDR")
    cluster_ok = check(probs, "network.cluster_cidr", cluster_cidr, _network_problem)
    service_cidr = s.text("service_cidr", d.service_cidr, "a CIDR")
    service_ok = check(probs, "network.service_cidr", service_cidr, _network_problem)
    dns_ip = s.text("dns_service_ip", d.dns_service_ip, "an IP address")
    dns_ok = check(probs, "network.dns_service_ip", dns_ip, _ip_problem)
    if service_ok and dns_ok:
        _dns_in_services(probs, ipaddress.ip_address(dns_ip), ipaddress.ip_network(service_cidr))
    if service_ok and cluster_ok and ipaddress.ip_network(service_cidr).overlaps(ipaddress.ip_network(cluster_cidr)):
        probs.add("network.service_cidr",
                  f"{service_cidr} overlaps cluster_cidr {cluster_cidr}; they must be disjoint")
    dns_suffix = s.text("dns_suffix", d.dns_suffix)
    check(probs, "network.dns_suffix", dns_suffix, _dns_name_problem)
    cluster_domain = s.text("cluster_domain", d.cluster_domain)
    check(probs, "network.cluster_domain", cluster_domain, _dns_name_problem)
    vni = s.get("vxlan_vni", int, d.vxlan_vni, "a whole number")
    network_name = s.text("network_name", mode_for(mode).default_network_name(vni))
    check(probs, "network.network_name", network_name,
           lambda v: None if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", v)
           else f"{v!r} may use letters, digits, '_', '.', '-' (up to 64)")
    nic_name = s.text("nic_name", d.nic_name)
    check(probs, "network.nic_name", nic_name, lambda v: None if _IDENT_RE.match(v)
           else f"{v!r} may use letters, digits, space, '.', '_', '-', '(' and ')'")
    cp_ip = s.text("control_plane_ip", None, "an IP address")
    check(probs, "network.control_plane_ip", cp_ip, _ip_problem)
    if not 4096 <= vni <= 16777215:
        probs.add("network.vxlan_vni", f"{vni} must be between 4096 and 16777215 (Windows overlay requires >= 4096)")
    port = s.get("vxlan_port", int, d.vxlan_port, "a UDP port")
    if not 1 <= port <= 65535:
        probs.add("network.vxlan_port", f"{port} must be a port between 1 and 65535")
    api_port = s.get("api_server_port", int, d.api_server_port, "a TCP port")
    if not 1 <= api_port <= 65535:
        probs.add("network.api_server_port", f"{api_port} must be a port between 1 and 65535")
    return NetworkSection(mode=mode, cluster_cidr=cluster_cidr, service_cidr=service_cidr, dns_service_ip=dns_ip,
                          dns_suffix=dns_suffix, cluster_domain=cluster_domain, network_name=network_name,
                          nic_name=nic_name, control_plane_ip=cp_ip, api_server_port=api_port, vxlan_vni=vni,
                          vxlan_port=port)


def section_images(probs: Problems, raw: Any) -> ImagesSection:
    """images: a private registry and the digest pins of the cluster manifests' images."""
    s = Section(probs, "images", raw, ["registry", "pins", "offline"])
    registry = s.text("registry", "", "a registry host with an optional path, like registry.example.com/k8s")
    check(probs, "images.registry", registry or None, lambda v: None if REGISTRY_RE.match(v) else
          f"{v!r} is not a registry: write a host with an optional path, like registry.example.com/k8s "
          "(no scheme, no tag)")
    pins = s.string_list("pins", (), "pinned references like docker.io/antrea/antrea-windows:v2.7.0@sha256:<64 hex>")
    seen: dict[str, int] = {}
    for i, pin in enumerate(pins):
        parsed = parse_pin(pin)
        if parsed is None:
            probs.add(f"images.pins[{i}]", f"{pin!r} is not repository:tag@sha256:<64 lower-case hex> (the "
                      "repository with its registry host, like docker.io/antrea/antrea-windows)")
            continue
        name = f"{parsed[0]}:{parsed[1]}"
        if name in seen:
            probs.add(f"images.pins[{i}]", f"pins {name} a second time (first at images.pins[{seen[name]}]); "
                      "keep one")
        seen.setdefault(name, i)
    offline = s.get("offline", bool, False, "true or false")
    return ImagesSection(registry=registry.rstrip("/"), pins=tuple(p for p in pins if parse_pin(p)), offline=offline)


def _dns_in_services(probs: Problems, dns: ipaddress.IPv4Address | ipaddress.IPv6Address,
                     services: ipaddress.IPv4Network | ipaddress.IPv6Network) -> None:
    """Inside the service CIDR, and neither its network address nor its first address, which the API
    server's own ClusterIP (the `kubernetes` service) always takes."""
    if dns not in services:
        probs.add("network.dns_service_ip", f"{dns} is outside service_cidr {services}; pick an address inside it")
    elif dns == services.network_address:
        probs.add("network.dns_service_ip", f"{dns} is service_cidr {services}'s network address, which no "
                  f"service gets; use another, like {services.network_address + 10}")
    elif dns == services.network_address + 1:
        probs.add("network.dns_service_ip", f"{dns} is service_cidr {services}'s first address, which the API "
                  f"server's ClusterIP (the kubernetes service) takes; use another, like "
                  f"{services.network_address + 10}")


def section_node(probs: Problems, raw: Any) -> NodeSection:
    known = ["install_dir", "labels", "isolation", "pause_image", "runtime", "kubelet_extra_args",
             "kubeproxy_extra_args", "windows_version", "min_build", "kubeconfig", "bundle_runtime"]
    s = Section(probs, "node", raw, known)
    d = NodeSection()
    install_dir = s.text("install_dir", d.install_dir)
    check(probs, "node.install_dir", install_dir, windows_path_problem)
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
    check(probs, "node.pause_image", pause, lambda v: None if _IMAGE_RE.match(v)
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
    check(probs, "node.kubeconfig", kubeconfig, lambda v: None if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}", v)
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
        bundle_runtime=s.get("bundle_runtime", bool, d.bundle_runtime, "true or false"),
    )


def section_release(probs: Problems, raw: Any, env: Mapping[str, str]) -> ReleaseSection:
    s = Section(probs, "release", raw, ["repo", "tag", "draft", "prerelease"])
    repo = s.text("repo", None, "owner/name") or env.get("GITHUB_REPOSITORY") or None
    check(probs, "release.repo", repo, lambda v: None if _REPO_RE.match(v) else f"{v!r} must be owner/name")
    tag = s.text("tag", None, "a tag name")
    check(probs, "release.tag", tag, lambda v: None if TAG_RE.match(v)
           else f"{v!r} is not a usable tag name")
    return ReleaseSection(repo=repo, tag=tag, draft=s.get("draft", bool, False, "true or false"),
                          prerelease=s.get("prerelease", bool, False, "true or false"))



_H1_RE = re.compile(r"^h1:[A-Za-z0-9+/]{43}=$")
_INPUT_VERSION_RE = re.compile(r"^v?\d+\.\d+\.\d+(?:[-+][A-Za-z0-9.-]+)?$")


def section_input(probs: Problems, name: str, raw: Any) -> InputSection:
    """One node-kit input section (a row of kit_inputs.KIT_INPUTS): version, url, pins."""
    row = kit_input(name)
    version_default = row.version
    known = ["version", "url", "sha256", *(["source", "h1"] if row.buildable else [])]
    s = Section(probs, name, raw, known)
    sources = row.sources
    source = s.choice("source", sources[0], sources) if row.buildable else sources[0]
    version = s.text("version", version_default, "a version tag like " + version_default)
    check(probs, f"{name}.version", version, lambda v: None if _INPUT_VERSION_RE.match(v)
           else f"{v!r} must be a release tag like {version_default}")
    url = s.text("url", "", "a URL template")
    check(probs, f"{name}.url", url or None, _url_problem)
    if url:
        try:
            url.format(version=version, bare_version=version)
        except (KeyError, IndexError, ValueError) as err:
            probs.add(f"{name}.url", f"{redact_url(url)!r} may use only {{version}} and {{bare_version}} ({err})")
            url = ""
    sha = s.text("sha256", "", "64 lower-case hex digits")
    check(probs, f"{name}.sha256", sha or None, lambda v: None if HEX64_RE.match(v) else
           f"{v!r} must be 64 lower-case hex digits, or '' (fill it with nox -s fetch -- --update-pins)")
    h1 = s.text("h1", "", "a content digest like h1:<base64>") if row.buildable else ""
    check(probs, f"{name}.h1", h1 or None, lambda v: None if _H1_RE.match(v) else
           f"{v!r} must be a Go dirhash like h1:<44 base64 characters>, or '' (nox -s fetch -- --update-pins)")
    if not h1 and source == "build" and "h1" not in s.data:
        h1 = row.known_h1.get(version, "")  # a known version's digest; h1: "" asks for none
    return InputSection(name=name, version=version, source=source, url=url, sha256=sha, h1=h1)
