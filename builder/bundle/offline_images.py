"""images.offline: the HostProcess images the bundle builds from what it carries, on the pinned base.

The base (`cluster_images.HOSTPROCESS_BASE`, pinned by digest in `images.pins`) is pulled once into
the cache, `<cache>/images/base/<digest hex>/`, an OCI layout folder with every blob verified; it is
reused while it verifies and, with --offline, refused when it is not there. Each image of
`cluster_images.built_offline` is built by `hostprocess.build_archive` into
`<cache>/images/built/<version>/<role>.tar` from the bundle's own verified files, in the layout its
DaemonSet runs (`cluster_images.CLUSTER_IMAGES`): kube-proxy's from kube-proxy.exe and SDN's
hns.psm1. The archives go into the bundle as `k/images/<role>.tar`; install.ps1 imports them into
containerd's `k8s.io` namespace, and the DaemonSets name them `name@sha256:<manifest digest>` with
`imagePullPolicy: IfNotPresent`, so a node without registry access still starts them.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import oci
from ..artifacts import IMAGES_DIR, BuildResult, SdnResult
from ..config import Config, cluster_images, mode_for
from ..errors import BuildError, ConfigError, FetchError
from ..fsutil import atomic_write
from ..kversion import KubeVersion
from . import hostprocess as hp

log = logging.getLogger(__name__)


# The image's own entrypoint. The DaemonSet runs its ConfigMap's start script instead (its command);
# this one runs kube-proxy.exe with the container's arguments, as sig-windows-tools' image does.
KUBE_PROXY_START = (b"# kube-proxy in a HostProcess container. The kube-proxy-windows DaemonSet runs the start\r\n"
                    b"# script of its ConfigMap; this entrypoint runs kube-proxy.exe with the container's\r\n"
                    b"# arguments.\r\n"
                    b"$ErrorActionPreference = 'Stop'\r\n"
                    b"& (Join-Path $env:CONTAINER_SANDBOX_MOUNT_POINT 'kube-proxy\\kube-proxy.exe') @args\r\n"
                    b"exit $LASTEXITCODE\r\n")


@dataclass(frozen=True)
class OfflineImage:
    """One image built into the bundle: its role, how the manifests name it, and its archive."""

    role: str
    # registry/repository:tag@sha256:<manifest digest>: pinned like every image of the manifests (containerd
    # drops the tag of a reference that has both, and finds the image by the digest it was imported under)
    reference: str
    dest: str  # images/<role>.tar, in k/
    archive: Path
    sha256: str


def base_reference(cfg: Config) -> str:
    """The base image as pinned (images.registry applied): repository:tag@sha256:..."""
    row = cluster_images.IMAGES_BY_ROLE[cluster_images.HOSTPROCESS_BASE]
    wanted = cluster_images.wanted_row(row, cfg.images.registry, {})  # its tag takes no values
    return cluster_images.references([wanted], cfg.images.pins)[row.role]


# Pulls the image a reference pins into an OCI layout folder (sources.registry.RegistryClient.pull, which
# the pipeline hands over: the sources are this layer's neighbours, not below it).
Pull = Callable[[oci.ImageRef, Path], object]


def pull_base(cfg: Config, pull: Pull | None = None) -> hp.BaseImage:
    """The pinned base image from the cache, or pulled into it with `pull` (each blob verified)."""
    text = base_reference(cfg)
    try:
        ref = oci.parse_ref(text)
    except ValueError as err:
        raise ConfigError(f"images.pins: the HostProcess base image {err}") from None
    if ref.digest is None:
        msg = (f"images.offline: the HostProcess base image {text} is not pinned by digest: add it to images.pins "
               "(fetch --update-pins resolves it)")
        raise ConfigError(msg)
    layout = cfg.options.cache_dir / "images" / "base" / ref.digest.removeprefix("sha256:")
    if (layout / "index.json").is_file():
        try:
            return hp.load_base(layout)
        except FetchError as err:
            log.warning("images: the cached base image is damaged (%s); pulling it again", err)
    if cfg.options.offline or pull is None:
        msg = (f"offline: the HostProcess base image {text} is not in the cache ({layout}); run once without "
               "--offline to pull it")
        raise FetchError(msg)
    tmp = layout.with_name(layout.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        pull(ref, tmp)
        base = hp.load_base(tmp)  # every blob checked before it takes the cache's name
        shutil.rmtree(layout, ignore_errors=True)
        tmp.rename(layout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dataclasses.replace(base, layout=layout)


def build_images(cfg: Config, built: BuildResult, sdn: SdnResult, base: hp.BaseImage,
                 source_date_epoch: int) -> list[OfflineImage]:
    """Each image the bundle builds for this version's manifests, from its verified files."""
    version = KubeVersion.parse(built.git_version)
    roles = [row.role for row in cluster_images.built_offline(mode_for(cfg.network.mode), cfg.images.offline)]
    folder = cfg.options.cache_dir / "images" / "built" / built.git_version
    out = []
    for role in roles:
        if role != cluster_images.KUBE_PROXY_IMAGE:  # cluster_images.BUILT_OFFLINE names no other
            msg = f"images.offline: no recipe for the image {role}"
            raise BuildError(msg)
        kube_proxy = next((b.path for b in built.binaries if b.name == "kube-proxy"), None)
        hns = next((f.path for f in sdn.files if f.dest == "hns.psm1"), None)
        if kube_proxy is None or hns is None:
            msg = "images.offline: kube-proxy's image needs kube-proxy.exe and SDN's hns.psm1 in the bundle"
            raise ConfigError(msg)
        start = folder / "kube-proxy-start.ps1"
        atomic_write(start, KUBE_PROXY_START)
        spec = hp.ImageSpec(cluster_images.local_name(role, version),
                            (hp.ImageFile("kube-proxy/kube-proxy.exe", kube_proxy),
                             hp.ImageFile("kube-proxy/hns.psm1", hns),
                             hp.ImageFile("kube-proxy/start.ps1", start)),
                            "kube-proxy/start.ps1", "kube-proxy.exe and SDN's hns.psm1 of the bundle")
        image = hp.build_archive(spec, base, folder / f"{role}.tar", source_date_epoch=source_date_epoch)
        log.info("images: built %s@%s (%s)", image.name, image.manifest_digest, image.archive)
        out.append(OfflineImage(role, f"{image.name}@{image.manifest_digest}", f"{IMAGES_DIR}/{role}.tar",
                                image.archive, image.archive_sha256))
    return out
