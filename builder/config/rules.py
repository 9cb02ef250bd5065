"""The configuration rules that depend on the Kubernetes version, checked in one place.

`check_for_version` is the one entry point: it checks a loaded `Config` for one Kubernetes version
(the runtime, the network mode, isolation, labels, extra arguments against the flag table, the
cluster's ranges) and returns what the node files are made from (`VersionedConfig`: the runtime the
version runs, the mode's record, the vSwitch network). Every problem is reported at once, each
with its key and, where bundle.yaml wrote that key, its file:line, the way the loader reports.
The preflight calls it for every version before any long work; the render stage reads its result.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..errors import ConfigError
from ..kversion import KubeVersion
from . import cluster_images
from .flagtable import CONTAINERD_SINCE, GATES, NEWEST, OLDEST, TABLES, WIN_OVERLAY_LOCKED, Minor, fmt, supported
from .model import WINDOWS_BUILDS, Config, NodeSection
from .modes import MODES, OVERLAY, NetworkMode, mode_for
from .runtimes import CONTAINERD, DOCKER
from .validate import Problems
from .yamlread import Doc

# Node label prefixes a kubelet may set on itself from 1.16 (NodeRestriction); any other
# kubernetes.io / k8s.io label makes kubelet refuse to start.
LABELS_RESTRICTED_FROM: Minor = (1, 16)
ALLOWED_K8S_LABELS = frozenset({
    "kubernetes.io/hostname", "kubernetes.io/instance-type", "kubernetes.io/os", "kubernetes.io/arch",
    "beta.kubernetes.io/instance-type", "beta.kubernetes.io/os", "beta.kubernetes.io/arch",
    "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
    "failure-domain.kubernetes.io/zone", "failure-domain.kubernetes.io/region",
    "topology.kubernetes.io/zone", "topology.kubernetes.io/region", "node.kubernetes.io/instance-type",
})
ALLOWED_K8S_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
# The HyperVContainer gate (docker only): the only way to hyperv isolation.
HYPERV_MINORS: tuple[Minor, Minor] = (GATES["HyperVContainer"].since, GATES["HyperVContainer"].until or NEWEST)

# The small HNS network start-kubelet.ps1 creates first, so that the vSwitch exists before the pod
# network. Upstream uses 192.168.255.0/30; a cluster may use 192.168.0.0/16 (the seed's own
# example), so the first candidate clear of the cluster's ranges is taken.
SWITCH_NETWORK_CANDIDATES = tuple(ipaddress.IPv4Network(n) for n in (
    "192.168.255.0/30", "172.31.255.252/30", "10.255.255.252/30", "100.127.255.252/30"))
SWITCH_NETWORK_VSID = 9999


@dataclass(frozen=True)
class VersionedConfig:
    """A configuration checked for one Kubernetes version: what the node files are made from."""

    cfg: Config
    version: KubeVersion
    runtime: str
    mode: NetworkMode
    switch_network: ipaddress.IPv4Network

    @property
    def minor(self) -> Minor:
        return self.version.minor_key


# --------------------------------------------------------------------------- runtime


def runtime_problem(runtime: str | None, version: KubeVersion) -> str | None:
    if runtime == DOCKER and version.minor_key >= (1, 24):
        return (f"docker (dockershim) was removed in Kubernetes 1.24; {version} needs containerd: "
                "set node.runtime: containerd or remove the key")
    return None


def runtime_for(node: NodeSection, version: KubeVersion) -> str:
    """The container runtime for this version: the configured one, else what the version supports."""
    problem = runtime_problem(node.runtime, version)
    if problem:
        msg = f"node.runtime: {problem}"
        raise ConfigError(msg)
    if node.runtime:
        return node.runtime
    return DOCKER if version.minor_key < (1, 24) else CONTAINERD


# --------------------------------------------------------------------------- the entry point


def check_for_version(cfg: Config, version: KubeVersion) -> VersionedConfig:
    """Check `cfg` for Kubernetes `version`; raise one ConfigError listing every problem."""
    probs = Problems(Doc({}, dict(cfg.origin.lines), cfg.origin.file))
    minor = version.minor_key
    if not supported(minor):
        probs.add("kubernetes.version", f"Kubernetes {version} is outside the versions these scripts know "
                  f"({fmt(OLDEST)} to {fmt(NEWEST)}); add its flags to builder/config/flagtable.py first")
        probs.raise_if_any()
    problem = runtime_problem(cfg.node.runtime, version)
    if problem:
        probs.add("node.runtime", problem)
        probs.raise_if_any()
    runtime = runtime_for(cfg.node, version)
    if runtime == CONTAINERD and minor < CONTAINERD_SINCE:
        probs.add("node.runtime", f"containerd on Windows needs Kubernetes {fmt(CONTAINERD_SINCE)} or newer; "
                  f"{version} runs with docker: set node.runtime: docker or remove the key")
    mode = mode_for(cfg.network.mode)
    _check_node(probs, cfg, version, runtime)
    _check_mode(probs, mode, version, runtime)
    _check_cluster_network(probs, cfg, mode, version)
    switch = _check_networks(probs, cfg, mode)
    probs.raise_if_any()
    assert switch is not None
    return VersionedConfig(cfg=cfg, version=version, runtime=runtime, mode=mode, switch_network=switch)


def _check_node(probs: Problems, cfg: Config, version: KubeVersion, runtime: str) -> None:
    minor = version.minor_key
    first, gone = HYPERV_MINORS
    if cfg.node.isolation == "hyperv" and (runtime != DOCKER or not first <= minor < gone):
        probs.add("node.isolation", f"hyperv needs the HyperVContainer feature gate, which exists only in "
                  f"Kubernetes {fmt(first)} to {fmt((gone[0], gone[1] - 1))} with docker (gone in {fmt(gone)}, "
                  f"#97141); {version} with {runtime} runs process isolation: set node.isolation: process")
    if minor >= LABELS_RESTRICTED_FROM:
        for key, _ in cfg.node.labels:
            if not label_allowed(key):
                probs.add(f"node.labels.{key}", f"from {fmt(LABELS_RESTRICTED_FROM)} kubelet refuses to set "
                          "kubernetes.io / k8s.io labels outside kubelet.kubernetes.io and node.kubernetes.io; "
                          "use your own prefix (example.com/role) or set it with kubectl label")
    check_extra_args(probs, "kubelet", cfg.node.kubelet_extra_args, minor, runtime, "node.kubelet_extra_args")
    check_extra_args(probs, "kube-proxy", cfg.node.kubeproxy_extra_args, minor, runtime, "node.kubeproxy_extra_args")


def _check_mode(probs: Problems, mode: NetworkMode, version: KubeVersion, runtime: str) -> None:
    minor = version.minor_key
    if minor < mode.since:
        others = [m.name for m in MODES if m.since <= minor and runtime in m.runtimes]
        alternatives = f"{', '.join(others[:-1])} or {others[-1]}" if len(others) > 1 else others[0]
        probs.add("network.mode", f"{mode.name} needs {mode.since_why}; {version} has none: use {alternatives}, "
                  f"or bundle {fmt(mode.since)} or newer")
    if runtime not in mode.runtimes:
        probs.add("network.mode", f"{mode.name} runs with {' or '.join(mode.runtimes)} only, and {version} "
                  f"runs with {runtime} here: set node.runtime, or choose another network.mode")


def _check_cluster_network(probs: Problems, cfg: Config, mode: NetworkMode, version: KubeVersion) -> None:
    """A network the cluster runs on the node: the Windows build and containerd its DaemonSets need,
    the API server address its manifests name, and every image they run pinned by digest."""
    cluster = mode.cluster
    if cluster is None:
        if cfg.images.offline:
            probs.add("images.offline", f"{mode.name}: the node runs this network itself and its cluster manifests "
                      "run no image: remove images.offline")
        return
    build = cfg.node.windows_build
    if build < cluster.windows_build:
        newer = [name for name, b in WINDOWS_BUILDS.items() if b >= cluster.windows_build]
        probs.add("node.windows_version", f"{mode.name}: {cluster.windows_why}; {cfg.node.windows_version} is "
                  f"build {build}: set node.windows_version to one of {', '.join(newer)}")
    if cfg.node.bundle_runtime:
        pinned = cfg.input_section(CONTAINERD).version
        have = _major_minor(pinned)
        if have is not None and have < cluster.containerd_min:
            probs.add(f"{CONTAINERD}.version", f"{mode.name} needs containerd {fmt(cluster.containerd_min)} or newer "
                      f"({cluster.containerd_why}); the bundled containerd is {pinned}: set {CONTAINERD}.version "
                      f"to v{fmt(cluster.containerd_min)}.0 or newer")
    named = mode.default_network_name(cfg.network.vxlan_vni)
    if cfg.network.network_name != named:
        probs.add("network.network_name", f"{mode.name}: the cluster's CNI names the HNS network {named} itself (and "
                  f"kube-proxy and the CNI config must name the same), not {cfg.network.network_name}: remove "
                  f"network.network_name or set it to {named}")
    if not cfg.network.control_plane_ip:
        probs.add("network.control_plane_ip", f"{mode.name}: the cluster manifests of the bundle name the API "
                  "server's address (its DaemonSets reach it before the service network works): set it to the "
                  "control plane's address (the API server's port is network.api_server_port)")
    flannel = cluster_images.flannel_version((s.name, s.version) for s in cfg.kit)
    wants = cluster_images.wanted(mode, version, cfg.images.registry, flannel, cfg.images.offline)
    if cfg.images.offline and not cluster_images.built_offline(mode, offline=True):
        probs.add("images.offline", f"{mode.name}: the bundle builds no image of this network's (it builds "
                  "kube-proxy's, which the flannel-hostprocess and calico modes run as a DaemonSet; the CNI's own "
                  "images are its project's): remove images.offline, and mirror the images for nodes without "
                  "registry access (images.registry)")
    missing = cluster_images.unpinned(wants, cfg.images.pins)
    if missing and not cfg.options.allow_unpinned:
        probs.add("images.pins", f"{mode.name} runs images not pinned by digest: {', '.join(missing)}; add each as "
                  "repository:tag@sha256:<digest> to images.pins (or pass --allow-unpinned to name them by tag)")


def _major_minor(text: str) -> Minor | None:
    parts = text.removeprefix("v").split(".")
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1])


def _check_networks(probs: Problems, cfg: Config, mode: NetworkMode) -> ipaddress.IPv4Network | None:
    net = cfg.network
    for key in ("cluster_cidr", "service_cidr"):
        network = ipaddress.ip_network(getattr(net, key))
        if network.version != 4:
            probs.add(f"network.{key}", f"{network} is IPv6; the Windows scripts support IPv4 networks only")
            return None
    switch = switch_network(cfg)
    if switch is None:
        shown = ", ".join(str(c) for c in SWITCH_NETWORK_CANDIDATES)
        probs.add("network.cluster_cidr", f"network.cluster_cidr / network.service_cidr: together they cover "
                  f"every range the node scripts can use for the small vSwitch network ({shown}); narrow one of them")
    fixed = mode.vxlan_port_fixed
    if fixed is not None and net.vxlan_port != fixed.port:
        probs.add("network.vxlan_port", f"{fixed.who} accepts port {fixed.port} only (not {net.vxlan_port}); "
                  f"set it to {fixed.port} here and in {fixed.also_in}")
    vni = mode.vxlan_vni_fixed
    if vni is not None and net.vxlan_vni != vni.port:
        probs.add("network.vxlan_vni", f"{vni.who} is {vni.port} on Windows nodes (not {net.vxlan_vni}); "
                  f"set it to {vni.port} here and in {vni.also_in}")
    # The vSwitch network is an Overlay network too on these nodes (_hns.ps1.j2), with its own VSID.
    if mode.hns_type == OVERLAY and net.vxlan_vni == SWITCH_NETWORK_VSID:
        probs.add("network.vxlan_vni", f"{SWITCH_NETWORK_VSID} is taken by the vSwitch network start-kubelet.ps1 "
                  "creates; use another VNI (4096 is the usual one)")
    return switch


def switch_network(cfg: Config) -> ipaddress.IPv4Network | None:
    """The first vSwitch-creation network clear of the cluster and service ranges (None: none is)."""
    taken = [ipaddress.ip_network(cfg.network.cluster_cidr), ipaddress.ip_network(cfg.network.service_cidr)]
    return next((c for c in SWITCH_NETWORK_CANDIDATES if not any(c.overlaps(t) for t in taken)), None)


def label_allowed(key: str) -> bool:
    prefix = key.split("/", 1)[0] if "/" in key else ""
    if not (prefix == "kubernetes.io" or prefix.endswith((".kubernetes.io", "k8s.io"))):
        return True
    if key in ALLOWED_K8S_LABELS:
        return True
    return any(prefix == ns or prefix.endswith("." + ns) for ns in ALLOWED_K8S_NAMESPACES)


# --------------------------------------------------------------------------- extra arguments


def check_extra_args(probs: Problems, component: str, extra: tuple[str, ...], minor: Minor, runtime: str,
                     key: str) -> None:
    """Refuse extra arguments whose flag the table knows and this minor/runtime does not accept."""
    table = TABLES[component]
    for i, text in enumerate(extra):
        flag, _, value = text.partition("=")
        entry = table.get(flag)
        where = f"{key}[{i}]"
        if entry is not None and not entry.allows(minor, runtime):
            reason = f" ({entry.why})" if entry.why else ""
            probs.add(where, f"{component} {fmt(minor)} with {runtime} does not accept {flag}{reason}; "
                      "remove it from the list")
        elif flag == "--feature-gates":
            _check_gates(probs, component, value, minor, where)


def _check_gates(probs: Problems, component: str, value: str, minor: Minor, where: str) -> None:
    """Refuse feature gates this minor does not know, and WinOverlay=false once it is locked."""
    for item in filter(None, value.split(",")):
        name, _, setting = item.partition("=")
        gate = GATES.get(name)
        if gate is not None and not (gate.since <= minor and (gate.until is None or minor < gate.until)):
            probs.add(where, f"{component} {fmt(minor)} does not know the feature gate {name} ({gate.why}); remove it")
        elif name == "WinOverlay" and setting.lower() == "false" and minor >= WIN_OVERLAY_LOCKED:
            probs.add(where, f"WinOverlay is locked to true from {fmt(WIN_OVERLAY_LOCKED)}: kube-proxy {fmt(minor)} "
                      "exits on WinOverlay=false; remove it")
