"""The images the cluster manifests of a bundle run: one frozen record per image, and their pins.

A manifest under k/cluster/ names an image only through this table: its role, its default
repository (with the registry host), the rule that gives its tag for a Kubernetes version, which
networks need it, and what the manifests run from it (the layout an image built for the role must
have). bundle.yaml's `images` section pins each reference by digest (`repository:tag@sha256:...`)
and may move every repository under one private registry (`images.registry`).

The seam for whatever resolves digests (`fetch --update-pins`) and builds images offline:
`to_resolve` lists the (repository, tag) pairs a configuration needs; `references` gives the
manifest builder each role's reference, pinned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from ..kversion import KubeVersion
from .kit_inputs import FLANNEL, kit_input
from .modes import CNI_ANTREA, CNI_FLANNEL, NetworkMode, mode_for

if TYPE_CHECKING:
    from .model import Config

# The Antrea release whose Windows manifest (antrea-windows-with-ovs.yml) the bundle's follows.
ANTREA_VERSION = "v2.7.0"

KUBE_PROXY_IMAGE = "kube-proxy-windows"
FLANNEL_IMAGE = "flannel-windows"
ANTREA_IMAGE = "antrea-windows"

# What needs an image besides a CNI's own manifests: the kube-proxy DaemonSet; with images.offline, the
# images the bundle builds itself need their base.
NEEDED_BY_KUBE_PROXY = "kube-proxy-daemonset"
NEEDED_OFFLINE = "offline-images"
HOSTPROCESS_BASE = "hostprocess-base"
# The roles the bundle builds itself with images.offline, from what it carries (kube-proxy.exe, SDN's
# hns.psm1): flannel's image needs flannel's own CNI plugin and Microsoft's sdnoverlay/sdnbridge, and
# Calico's and Antrea's are their projects' builds, none of which the bundle carries.
BUILT_OFFLINE = (KUBE_PROXY_IMAGE,)
# The registry host of the images the bundle builds: never pulled (imported on the node), named with a
# host so that containerd does not read the name as Docker Hub's.
LOCAL_REGISTRY = "k8s-windows-bundle.local"


@dataclass(frozen=True)
class ClusterImage:
    role: str
    repository: str  # the default, with its registry host
    # {kubernetes}: the bundle's version (v1.37.0); {flannel_version}: the flannel input's; {antrea_version}
    tag: str
    needed_by: str  # a cluster CNI (modes.CNI_*), or NEEDED_BY_KUBE_PROXY
    # What the manifests run from the image, below $env:CONTAINER_SANDBOX_MOUNT_POINT: an image built
    # for the role must hold these paths.
    layout: tuple[str, ...]
    why: str


CLUSTER_IMAGES: tuple[ClusterImage, ...] = (
    # sig-windows-tools builds kube-proxy HostProcess images per Kubernetes release (hostprocess/calico,
    # build-kube-proxy-images.yml); kube-proxy.exe and SDN's hns.psm1 sit in kube-proxy/.
    ClusterImage(role=KUBE_PROXY_IMAGE, repository="docker.io/sigwindowstools/kube-proxy",
                 tag="{kubernetes}-calico-hostprocess", needed_by=NEEDED_BY_KUBE_PROXY,
                 layout=("kube-proxy/kube-proxy.exe", "kube-proxy/hns.psm1"),
                 why="kube-proxy for Windows, on the HostProcess base image"),
    # sig-windows-tools' flannel image (hostprocess/flannel/flanneld/Dockerfile before 729ae7c, which
    # removed it: upstream publishes no new tags): flanneld.exe, and the CNI plugins flannel's config
    # delegates to (flannel.exe, sdnoverlay.exe, sdnbridge.exe, host-local.exe) in cni/.
    ClusterImage(role=FLANNEL_IMAGE, repository="docker.io/sigwindowstools/flannel",
                 tag="{flannel_version}-hostprocess",
                 needed_by=CNI_FLANNEL,
                 layout=("flannel/flanneld.exe", "cni/flannel.exe", "cni/sdnoverlay.exe", "cni/sdnbridge.exe",
                         "cni/host-local.exe"),
                 why="flanneld for Windows and its CNI plugins, on the HostProcess base image"),
    # Antrea's release image (hack/release/prepare-assets.sh: IMG_NAME antrea/antrea-windows, IMG_TAG
    # the release): the agent and CNI in k/antrea/, OVS in openvswitch/.
    ClusterImage(role=ANTREA_IMAGE, repository="docker.io/antrea/antrea-windows", tag="{antrea_version}",
                 needed_by=CNI_ANTREA,
                 layout=("k/antrea/bin/antrea-agent.exe", "k/antrea/cni/antrea.exe", "k/antrea/cni/host-local.exe",
                         "k/antrea/Install-OVS.ps1", "openvswitch/usr/sbin/ovs-vswitchd.exe"),
                 why="antrea-agent, its CNI plugin and Open vSwitch for Windows"),
    # The HostProcess base image (microsoft/windows-host-process-containers-base-image): what the bundle's
    # own images are built on with images.offline. Its layers are carried byte for byte.
    ClusterImage(role=HOSTPROCESS_BASE,
                 repository="mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image",
                 tag="v1.0.0", needed_by=NEEDED_OFFLINE, layout=(),
                 why="the HostProcess base image the bundle's own images are built on (images.offline)"),
)
IMAGES_BY_ROLE: Mapping[str, ClusterImage] = MappingProxyType({i.role: i for i in CLUSTER_IMAGES})

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
# repository[:tag]@sha256:<64 hex>, the repository with its registry host (a port allowed).
PIN_RE = re.compile(r"^(?P<repository>[a-z0-9][a-z0-9.-]*(?::[0-9]+)?(?:/[a-z0-9][a-z0-9._-]*)+)"
                    r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127})@(?P<digest>sha256:[0-9a-f]{64})$")
REGISTRY_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*(?::[0-9]+)?(?:/[a-z0-9][a-z0-9._-]*)*$")


@dataclass(frozen=True)
class Wanted:
    """One image a bundle's manifests run: its role and what to pull (the registry setting applied)."""

    role: str
    repository: str
    tag: str

    @property
    def name(self) -> str:
        return f"{self.repository}:{self.tag}"


def needed(mode: NetworkMode, offline: bool = False) -> tuple[ClusterImage, ...]:
    """The rows a network mode's manifests pull (none for a mode the bundle runs on the node); with
    `offline`, the ones the bundle builds are left out, and their base is in."""
    if mode.cluster is None:
        return ()
    wants = {mode.cluster.cni, *((NEEDED_BY_KUBE_PROXY,) if mode.kube_proxy.daemonset else ())}
    rows = tuple(i for i in CLUSTER_IMAGES if i.needed_by in wants)
    built = built_offline(mode, offline, rows)
    if built:
        return (*(i for i in rows if i not in built), IMAGES_BY_ROLE[HOSTPROCESS_BASE])
    return rows


def built_offline(mode: NetworkMode, offline: bool,
                  rows: tuple[ClusterImage, ...] | None = None) -> tuple[ClusterImage, ...]:
    """The rows the bundle builds itself (images.offline), in place of pulling them: of `rows`, the rows the
    mode's manifests run (`needed(mode)` when not given)."""
    if not offline:
        return ()
    return tuple(i for i in (needed(mode) if rows is None else rows) if i.role in BUILT_OFFLINE)


def local_name(role: str, version: KubeVersion) -> str:
    """The name a built image is imported under on the node: registry/repository:tag."""
    return f"{LOCAL_REGISTRY}/{role}:{version}"


def relocated(repository: str, registry: str) -> str:
    """The repository under a private registry: its own registry host replaced by `registry`."""
    if not registry:
        return repository
    host, _, path = repository.partition("/")
    return f"{registry.rstrip('/')}/{path}" if "." in host or ":" in host else f"{registry.rstrip('/')}/{repository}"


def wanted_row(row: ClusterImage, registry: str, values: Mapping[str, str]) -> Wanted:
    """One row as pulled: its repository under `registry`, its tag for `values` ({kubernetes}, ...)."""
    return Wanted(row.role, relocated(row.repository, registry), row.tag.format(**values))


def wanted(mode: NetworkMode, version: KubeVersion, registry: str, flannel_version: str,
           offline: bool = False) -> tuple[Wanted, ...]:
    """What one bundle pulls, by role: its manifests' images (with `offline`, the base of those it builds)."""
    values = {"kubernetes": str(version), "flannel_version": flannel_version, "antrea_version": ANTREA_VERSION}
    return tuple(wanted_row(i, registry, values) for i in needed(mode, offline))


def flannel_version(kit: Iterable[tuple[str, str]]) -> str:
    """The flannel input's configured version ((section, version) pairs), else its default."""
    return dict(kit).get(FLANNEL, kit_input(FLANNEL).version)


def parse_pin(text: str) -> tuple[str, str, str] | None:
    """`repository:tag@sha256:<hex>` as (repository, tag, digest); None when it is not one."""
    m = PIN_RE.match(text)
    return (m["repository"], m["tag"], m["digest"]) if m else None


def pins_by_name(pins: Iterable[str]) -> dict[str, str]:
    """repository:tag -> digest, from the pinned references of bundle.yaml (already validated)."""
    out: dict[str, str] = {}
    for pin in pins:
        parsed = parse_pin(pin)
        if parsed is not None:
            out[f"{parsed[0]}:{parsed[1]}"] = parsed[2]
    return out


def references(wants: Iterable[Wanted], pins: Iterable[str]) -> dict[str, str]:
    """Each role's reference for the manifests: repository:tag@digest, or repository:tag when unpinned."""
    digests = pins_by_name(pins)
    return {w.role: f"{w.name}@{digests[w.name]}" if w.name in digests else w.name for w in wants}


def unpinned(wants: Iterable[Wanted], pins: Iterable[str]) -> list[str]:
    digests = pins_by_name(pins)
    return [w.name for w in wants if w.name not in digests]


def to_resolve(cfg: Config, versions: Iterable[str]) -> list[tuple[str, str]]:
    """Every (repository, tag) the configured bundles' manifests pull, once each, sorted: what a
    digest resolver looks up (for `images.pins`) and an offline image build makes."""
    mode = mode_for(cfg.network.mode)
    flannel = flannel_version((s.name, s.version) for s in cfg.kit)
    found = {(w.repository, w.tag) for v in versions
             for w in wanted(mode, KubeVersion.parse(v), cfg.images.registry, flannel, cfg.images.offline)}
    return sorted(found)
