"""The node kit's external inputs: one frozen record per input, each a section of bundle.yaml.

The loader (`validate.section_input`), the configuration (`Config.kit`), the schema, the fetch
(`builder.sources.kit`) and the bundle's licence list all read these rows; adding an input is one
row here. README.md ("Development") says what a row holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .runtimes import CONTAINERD

CNI = "cni"
FLANNEL = "flannel"

# When an input is part of a bundle.
NEEDED_BY_MODE = "mode"  # the network mode lists it, or the runtime's CNI plugin comes from it
NEEDED_WITH_RUNTIME = "bundle_runtime"  # node.bundle_runtime: true (the bundle ships the container runtime)


@dataclass(frozen=True)
class GoBuild:
    """How an input is built from its source archive: Go main packages, cross-compiled offline."""

    module: str  # the Go module path
    packages: tuple[tuple[str, str], ...]  # (output name, package directory)
    version_stamp: str  # the -X variable set to the tag (upstream's own build stamps it)


@dataclass(frozen=True)
class KitInput:
    name: str  # the section of bundle.yaml
    asset: str  # the name the manifest and the licence list give it
    licence: str  # SPDX identifier
    version: str  # the default version (a tag)
    # source -> URL template; the first is the default source. {version} is the tag (v1.9.1),
    # {bare_version} the tag without its leading "v" (containerd's file names).
    urls: Mapping[str, str]
    takes: tuple[tuple[str, str], ...]  # (path in the release archive, destination under k/)
    checksums: tuple[str, ...] = ()  # suffixes of the checksum files published beside the release asset
    kind: str = "tar.gz"  # what the release URL gives when its name does not say: tar.gz or file
    needed: str = NEEDED_BY_MODE
    provides: tuple[str, ...] = ()  # CNI plugins it ships (a mode's plugin for a runtime names one)
    build: GoBuild | None = None  # with source: build
    # Content digests known for a default version, so that the default bundle builds without a
    # first `--update-pins` (version -> h1 of the source archive).
    known_h1: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.urls)

    @property
    def buildable(self) -> bool:
        return "build" in self.urls


_CNI_PLUGINS = (
    ("win-bridge", "plugins/main/windows/win-bridge"),
    ("win-overlay", "plugins/main/windows/win-overlay"),
    ("host-local", "plugins/ipam/host-local"),
)
_CNI_MODULE = "github.com/containernetworking/plugins"

KIT_INPUTS: tuple[KitInput, ...] = (
    KitInput(
        name=CNI, asset="cni-plugins", licence="Apache-2.0", version="v1.9.1",
        urls=MappingProxyType({
            "build": "https://github.com/containernetworking/plugins/archive/refs/tags/{version}.tar.gz",
            "release": ("https://github.com/containernetworking/plugins/releases/download/{version}/"
                        "cni-plugins-windows-amd64-{version}.tgz"),
        }),
        takes=tuple((f"{p}.exe", f"cni/{p}.exe") for p, _ in _CNI_PLUGINS),
        checksums=(".sha256", ".sha512"),
        provides=tuple(p for p, _ in _CNI_PLUGINS),
        build=GoBuild(module=_CNI_MODULE, packages=_CNI_PLUGINS,
                      version_stamp=f"{_CNI_MODULE}/pkg/utils/buildversion.BuildVersion"),
        # containernetworking/plugins v1.9.1 is commit adc3e6b5b581638afbd194cf2e9319ecbb0151a1; its tree
        # has no .gitattributes (the archive holds every file) and no symlink. The digest was computed
        # over the tag's 1988 files (Go dirhash Hash1 below the archive's top folder).
        known_h1=MappingProxyType({"v1.9.1": "h1:p8Tyl5eca6tIvl1kwL2ZQhHdqOtRQl7qK/Uqhf9a6b4="}),
    ),
    KitInput(
        # flannel publishes the bare executable and no checksum files: only the pin verifies it.
        name=FLANNEL, asset="flanneld", licence="Apache-2.0", version="v0.28.9",
        urls=MappingProxyType({
            "release": "https://github.com/flannel-io/flannel/releases/download/{version}/flanneld.exe",
        }),
        takes=(("flanneld.exe", "flanneld.exe"),), kind="file",
    ),
    KitInput(
        # The input is the runtime of that name, shipped in the bundle.
        name=CONTAINERD, asset=CONTAINERD, licence="Apache-2.0", version="v2.3.4",
        urls=MappingProxyType({
            "release": ("https://github.com/containerd/containerd/releases/download/{version}/"
                        "containerd-{bare_version}-windows-amd64.tar.gz"),
        }),
        takes=(("bin/containerd.exe", "containerd/containerd.exe"),
               ("bin/containerd-shim-runhcs-v1.exe", "containerd/containerd-shim-runhcs-v1.exe"),
               ("bin/ctr.exe", "containerd/ctr.exe")),
        checksums=(".sha256sum",), needed=NEEDED_WITH_RUNTIME,
    ),
    KitInput(
        name="crictl", asset="crictl", licence="Apache-2.0", version="v1.36.0",
        urls=MappingProxyType({
            "release": ("https://github.com/kubernetes-sigs/cri-tools/releases/download/{version}/"
                        "crictl-{version}-windows-amd64.tar.gz"),
        }),
        takes=(("crictl.exe", "crictl.exe"),), checksums=(".sha256", ".sha512"), needed=NEEDED_WITH_RUNTIME,
    ),
)
KIT_BY_NAME: Mapping[str, KitInput] = MappingProxyType({i.name: i for i in KIT_INPUTS})
INPUT_SECTIONS = tuple(KIT_BY_NAME)


def kit_input(name: str) -> KitInput:
    return KIT_BY_NAME[name]


def providing(plugin: str) -> KitInput | None:
    """The input that ships a CNI plugin (None: the plugin comes with the SDN files, like wincni.exe)."""
    return next((i for i in KIT_INPUTS if plugin in i.provides), None)
