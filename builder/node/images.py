"""Which images a bundle names, by Windows version and Kubernetes era, and the host-build check.

Process isolation starts only images built for the host's own Windows build (a 2025 host also
runs 2022 images), so `node.windows_version` picks the pause image and the sample images' tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import WINDOWS_BUILDS, NodeSection
from ..kversion import KubeVersion

# Hosts of this build also run images of another build with process isolation.
RUNS_ALSO: dict[int, tuple[int, ...]] = {26100: (20348,)}  # Windows Server 2025 runs 2022 images
# Before 1809 the images were published on Docker Hub as microsoft/...; from 1809 on MCR.
MCR_FROM_BUILD = 17763
# Multi-arch pause images: one entry per Windows build, picked by the runtime, so whether one
# starts depends on the entries of its tag, not on the bundle's target.
MULTI_ARCH_PAUSE = ("registry.k8s.io/pause", "k8s.gcr.io/pause", "mcr.microsoft.com/k8s/core/pause")


def default_pause_image(windows_version: str, build: int, version: KubeVersion) -> str:
    """The pause (sandbox) image of the version's era that has an entry for this Windows build.

    1.9 to 1.13: `kubeletwin/pause`, built on the node from its own base image (as are hosts older
    than 1809, for which no published image exists); 2019: `mcr.microsoft.com/k8s/core/pause:1.2.0`;
    from 1.21 the upstream multi-arch image (Windows entries from 3.4.1; ltsc2022 from 3.6;
    3.9 keeps only 1809 and ltsc2022; ltsc2025 from 3.10.2).
    """
    minor = version.minor_key
    if build >= 26100:
        return "registry.k8s.io/pause:3.10.2"
    if build >= 20348:
        return "registry.k8s.io/pause:3.6" if minor < (1, 26) else "registry.k8s.io/pause:3.9"
    if minor < (1, 14) or build < 17763:
        return "kubeletwin/pause"
    if minor < (1, 21):
        return "mcr.microsoft.com/k8s/core/pause:1.2.0"
    if build == 17763 and minor >= (1, 26):
        return "registry.k8s.io/pause:3.9"
    # 1903 to 20H2 (semi-annual channel) and 1809 before 1.26.
    return "registry.k8s.io/pause:3.4.1"


@dataclass(frozen=True)
class Images:
    """Image references for one Windows version."""

    tag: str  # servercore tag: ltsc2022, 1809, 1709, ...
    servercore: str
    iis: str


def images_for(windows_version: str) -> Images:
    """The servercore and IIS images built for this Windows version (the seed's tag rule)."""
    tag = windows_version
    if WINDOWS_BUILDS[windows_version] < MCR_FROM_BUILD:
        # The 2018 names: microsoft/windowsservercore:1709, microsoft/iis:windowsservercore-1709.
        return Images(tag, f"microsoft/windowsservercore:{tag}", f"microsoft/iis:windowsservercore-{tag}")
    return Images(tag, f"mcr.microsoft.com/windows/servercore:{tag}",
                  f"mcr.microsoft.com/windows/servercore/iis:windowsservercore-{tag}")


def pause_image(node: NodeSection, version: KubeVersion) -> str:
    return node.pause_image or default_pause_image(node.windows_version, node.windows_build, version)


def pause_is_local(image: str) -> bool:
    """`kubeletwin/pause` is built on the node from its own base image, so it always matches."""
    return image.split(":", 1)[0] == "kubeletwin/pause"


def pause_is_multi_arch(image: str) -> bool:
    return image.split(":", 1)[0].split("@", 1)[0] in MULTI_ARCH_PAUSE


def target_images(node: NodeSection, version: KubeVersion) -> list[str]:
    """The images this bundle names that are built for the target build only: the samples', and a
    pause image that is neither built on the node nor multi-arch."""
    imgs = images_for(node.windows_version)
    pause = pause_image(node, version)
    single = not (pause_is_local(pause) or pause_is_multi_arch(pause))
    return ([pause] if single else []) + [imgs.servercore, imgs.iis]


def host_check_context(node: NodeSection, version: KubeVersion) -> dict[str, Any]:
    """Values `_host_check.ps1.j2` needs: the target build, which hosts run its images, the images."""
    target = node.windows_build
    pause = pause_image(node, version)
    hosts = sorted({target, *(h for h, runs in RUNS_ALSO.items() if target in runs)})
    names: dict[str, str] = {}
    for name, build in WINDOWS_BUILDS.items():
        names.setdefault(str(build), name)  # 17763: 1809 (listed first), also ltsc2019
    return {
        "host_target_build": target,
        "host_target_windows": node.windows_version,
        "host_run_builds": hosts,
        # Hyper-V isolation (1.10 to 1.20 with docker) runs images of an older build on a newer host.
        "host_hyperv": node.isolation == "hyperv",
        "host_known_builds": names,
        "host_target_images": target_images(node, version),
        "host_multi_arch_pause": pause if pause_is_multi_arch(pause) else "",
    }
