"""images.offline: kube-proxy's HostProcess image built into the bundle from its own files, on a base
pulled from a real registry on loopback (tests/fake_registry.py), named by digest in the DaemonSet,
checked by verify and read back by skopeo."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cluster_support import cluster_config
from fake_registry import FakeRegistry, Pushed, hostprocess_base
from pack_fixtures import make_inputs, with_binaries

from builder import oci
from builder.artifacts import BuildResult, SdnResult
from builder.bundle import offline_images, pack, verify
from builder.bundle.hostprocess import BaseImage
from builder.config import Config, cluster_images
from builder.config.model import ImagesSection
from builder.errors import ConfigError, FetchError
from builder.http import Net, RetryPolicy
from builder.node import render
from builder.sources.registry import RegistryClient

VERSION = "v1.30.0"


def offline_config(tmp_path: Path, registry: str, pins: tuple[str, ...], offline_run: bool = False) -> Config:
    cfg = cluster_config("calico-vxlan")
    options = dataclasses.replace(cfg.options, dist=tmp_path / "dist", cache_dir=tmp_path / "cache",
                                  offline=offline_run)
    return dataclasses.replace(cfg, images=ImagesSection(registry=registry, pins=pins, offline=True), options=options)


def puller() -> offline_images.Pull:
    """What the pipeline hands pull_base: the registry client's pull, here without retries."""
    def pull(ref: oci.ImageRef, layout: Path) -> None:
        with RegistryClient(Net(policy=RetryPolicy(attempts=1))) as client:
            client.pull(ref, layout)

    return pull


@pytest.fixture
def registry() -> Iterator[tuple[FakeRegistry, Pushed]]:
    with FakeRegistry() as reg:
        yield reg, hostprocess_base(reg)


@dataclasses.dataclass(frozen=True)
class Built:
    cfg: Config
    built: BuildResult
    sdn: SdnResult
    base: BaseImage
    images: list[offline_images.OfflineImage]


def build(tmp_path: Path, windows_exe: Path, registry: tuple[FakeRegistry, Pushed]) -> Built:
    """The base pulled from the registry, and kube-proxy's image built from the fixture's binaries."""
    reg, pushed = registry
    cfg = offline_config(tmp_path, reg.host, (pushed.pinned,))
    base = offline_images.pull_base(cfg, puller())
    inputs = make_inputs(tmp_path, windows_exe, git_version=VERSION)
    built = with_binaries(inputs.built, "kubectl", "kubeadm")
    images = offline_images.build_images(cfg, built, inputs.sdn, base, pack.source_date_epoch(cfg, built))
    return Built(cfg, built, inputs.sdn, base, images)


def test_kube_proxy_image_is_built_into_the_bundle_and_named_by_digest(tmp_path: Path, windows_exe: Path,
                                                                         registry: tuple[FakeRegistry, Pushed]) -> None:
    b = build(tmp_path, windows_exe, registry)
    cfg, built, images = b.cfg, b.built, b.images
    assert [i.role for i in images] == [cluster_images.KUBE_PROXY_IMAGE]
    image = images[0]
    local = f"{cluster_images.LOCAL_REGISTRY}/{cluster_images.KUBE_PROXY_IMAGE}:{VERSION}@sha256:"
    assert image.reference.startswith(local)

    rendered = render.render_bundle(cfg, VERSION, {image.role: image.reference})
    zip_path = pack.pack(cfg, built, b.sdn, rendered, images=images)
    assert verify.check_zip(zip_path).problems == []
    with zipfile.ZipFile(zip_path) as zf:
        archive = zf.read(f"k/{image.dest}")
        daemonset = next(o for o in yaml.safe_load_all(zf.read("k/cluster/kube-proxy-windows.yaml"))
                         if o and o["kind"] == "DaemonSet")
        manifest = json.loads(zf.read("k/manifest.json"))
    container = daemonset["spec"]["template"]["spec"]["containers"][0]
    assert (container["image"], container["imagePullPolicy"]) == (image.reference, "IfNotPresent")
    entry = next(e for e in manifest["files"] if e["path"] == f"k/{image.dest}")
    assert entry["origin"] == "image"
    # The archive's index names the manifest the DaemonSet pins, under the name containerd stores it by.
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.extractfile("index.json")
        assert member is not None
        index = json.loads(member.read())
    digests = {m["digest"] for m in index["manifests"]}
    assert image.reference.split("@", 1)[1] in digests
    # A real OCI tool reads it.
    skopeo = shutil.which("skopeo")
    assert skopeo, "install skopeo (apt-get install skopeo)"
    path = tmp_path / "image.tar"
    path.write_bytes(archive)
    info = subprocess.run([skopeo, "--insecure-policy", "inspect", f"oci-archive:{path}:{VERSION}"],
                          capture_output=True, text=True, check=True, timeout=60).stdout
    assert (json.loads(info)["Digest"], json.loads(info)["Os"]) == (image.reference.split("@", 1)[1], "windows")
    # The same inputs give the same image.
    again = offline_images.build_images(cfg, built, b.sdn, b.base, pack.source_date_epoch(cfg, built))
    assert again[0].reference == image.reference


Registry = tuple[FakeRegistry, Pushed]


def test_a_manifest_that_names_another_digest_is_reported(tmp_path: Path, windows_exe: Path,
                                                         registry: Registry) -> None:
    b = build(tmp_path, windows_exe, registry)
    wrong = b.images[0].reference[:-8] + "00000000"
    zip_path = pack.pack(b.cfg, b.built, b.sdn, render.render_bundle(b.cfg, VERSION, {b.images[0].role: wrong}),
                         images=b.images)
    problems = verify.check_zip(zip_path).problems
    assert any(f"names the image {wrong}, which no image archive of the bundle holds" in p for p in problems)


def test_the_base_comes_from_the_cache_and_offline_needs_it_there(tmp_path: Path, registry: Registry) -> None:
    reg, pushed = registry
    cfg = offline_config(tmp_path, reg.host, (pushed.pinned,), offline_run=True)
    with pytest.raises(FetchError, match=r"offline: the HostProcess base image .* is not in the cache"):
        offline_images.pull_base(cfg)
    online = dataclasses.replace(cfg, options=dataclasses.replace(cfg.options, offline=False))
    first = offline_images.pull_base(online, puller())
    again = offline_images.pull_base(cfg)
    assert again.manifest_digest == first.manifest_digest
    unpinned = dataclasses.replace(cfg, images=dataclasses.replace(cfg.images, pins=()))
    with pytest.raises(ConfigError, match="is not pinned by digest"):
        offline_images.pull_base(unpinned)
