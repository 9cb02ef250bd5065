"""Networks the cluster runs on the node (HostProcess DaemonSets): what is refused before any work,
the manifests as Kubernetes objects of the version shipped, the image table and its pins, verify.

The goldens pin the manifests' text; these tests check behaviour: a configuration that cannot work
is a configuration error at its file:line, every manifest validates against the schemas of its
Kubernetes version (kubernetes-validate), and an image named by tag is reported.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cluster_support import cluster_config, containers, fake_digest, manifests, pinned
from pack_fixtures import make_inputs

from builder.bundle import pack, verify
from builder.config import (
    Config,
    NetworkSection,
    Options,
    check_for_version,
    cluster_images,
    load,
)
from builder.config.model import ImagesSection
from builder.config.modes import MODES, mode_for
from builder.errors import ConfigError
from builder.kversion import KubeVersion
from builder.node import cluster, render

CLUSTER_MODES = [m.name for m in MODES if m.cluster is not None]
MINORS = (26, 30, 34, 37)


def write_yaml(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "bundle.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def load_cfg(tmp_path: Path, data: dict[str, Any]) -> Config:
    from builder.config.load import Overrides

    return load(Overrides(config=write_yaml(tmp_path, data), needs_source=False), {}, tmp_path)


def refusal(cfg: Config, version: str) -> str:
    with pytest.raises(ConfigError) as err:
        check_for_version(cfg, KubeVersion.parse(version))
    return str(err.value)


def line_of(path: Path, key: str) -> int:
    """The line bundle.yaml writes `key:` on (the first such line)."""
    lines = path.read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if text.lstrip().startswith(f"{key}:"))


# --------------------------------------------------------------------------- refused before any work

BASE = {"network": {"mode": "calico-vxlan", "control_plane_ip": "192.0.2.10"}}


@pytest.mark.parametrize("mode", CLUSTER_MODES)
def test_docker_is_refused_with_the_mode_line_and_the_fix(tmp_path: Path, mode: str) -> None:
    cfg = load_cfg(tmp_path, {"network": {"mode": mode, "control_plane_ip": "192.0.2.10"},
                              "node": {"runtime": "docker"}})
    text = refusal(cfg, "v1.23.0")
    at = f"bundle.yaml:{line_of(tmp_path / 'bundle.yaml', 'mode')}: network.mode"
    assert f"{at}: {mode} needs HostProcess containers (GA in 1.26)" in text
    assert f"{at}: {mode} runs with containerd only" in text
    assert "or bundle 1.26 or newer" in text


@pytest.mark.parametrize("mode", CLUSTER_MODES)
def test_a_minor_before_hostprocess_is_refused(tmp_path: Path, mode: str) -> None:
    cfg = load_cfg(tmp_path, {"network": {"mode": mode, "control_plane_ip": "192.0.2.10"},
                              "node": {"runtime": "containerd"}})
    text = refusal(cfg, "v1.25.9")
    assert re.search(rf"bundle\.yaml:\d+: network\.mode: {mode} needs HostProcess containers", text)
    # The modes the node runs still work at 1.25: the message names them as the alternative.
    on_node = [m.name for m in MODES if m.cluster is None]
    assert f"use {', '.join(on_node[:-1])} or {on_node[-1]}" in text


def test_a_windows_build_the_cni_does_not_support_is_refused(tmp_path: Path) -> None:
    cfg = load_cfg(tmp_path, {**BASE, "node": {"windows_version": "ltsc2016"}})
    text = refusal(cfg, "v1.30.0")
    line = line_of(tmp_path / "bundle.yaml", "windows_version")
    assert (f"bundle.yaml:{line}: node.windows_version: calico-vxlan: HostProcess containers need Windows Server "
            "2019 (build 17763) or newer; ltsc2016 is build 14393: set node.windows_version to one of 1809,") in text


def test_a_bundled_containerd_older_than_1_7_is_refused(tmp_path: Path) -> None:
    cfg = load_cfg(tmp_path, {**BASE, "node": {"bundle_runtime": True, "runtime": "containerd"},
                              "containerd": {"version": "v1.6.28"}})
    text = refusal(cfg, "v1.30.0")
    line = line_of(tmp_path / "bundle.yaml", "version")
    assert f"bundle.yaml:{line}: containerd.version: calico-vxlan needs containerd 1.7 or newer" in text
    assert "set containerd.version to v1.7.0 or newer" in text
    # The pinned default (2.x) passes that rule.
    ok = load_cfg(tmp_path, {**BASE, "node": {"bundle_runtime": True, "runtime": "containerd"}})
    assert "containerd.version" not in refusal(ok, "v1.30.0")  # only the unpinned images remain


def test_the_manifests_need_the_api_server_address(tmp_path: Path) -> None:
    cfg = pinned(load_cfg(tmp_path, {"network": {"mode": "antrea"}}), ["v1.30.0"])
    assert "network.control_plane_ip: antrea: the cluster manifests of the bundle name the API server's address" \
        in refusal(cfg, "v1.30.0")


def test_the_cnis_own_network_name_is_the_only_one(tmp_path: Path) -> None:
    cfg = load_cfg(tmp_path, {"network": {"mode": "antrea", "control_plane_ip": "192.0.2.10", "network_name": "pods"}})
    assert ("network.network_name: antrea: the cluster's CNI names the HNS network antrea-hnsnetwork itself (and "
            "kube-proxy and the CNI config must name the same), not pods") in refusal(cfg, "v1.30.0")
    default = pinned(load_cfg(tmp_path, {"network": {"mode": "antrea", "control_plane_ip": "192.0.2.10"}}),
                     ["v1.30.0"])
    assert check_for_version(default, KubeVersion(1, 30, 0)).mode.name == "antrea"


def test_calico_takes_felix_vni_and_port_only(tmp_path: Path) -> None:
    cfg = load_cfg(tmp_path, {"network": {**BASE["network"], "vxlan_vni": 5000, "vxlan_port": 4790}})
    text = refusal(cfg, "v1.30.0")
    assert "network.vxlan_vni: Calico's Windows VXLAN (FelixConfiguration vxlanVNI) is 4096" in text
    assert "network.vxlan_port: Calico's Windows VXLAN (FelixConfiguration vxlanPort) accepts port 4789 only" in text


def test_unpinned_images_stop_the_run_and_allow_unpinned_names_them_by_tag(tmp_path: Path,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    cfg = load_cfg(tmp_path, {"network": {"mode": "flannel-hostprocess-vxlan", "control_plane_ip": "192.0.2.10"}})
    text = refusal(cfg, "v1.30.0")
    assert ("images.pins: flannel-hostprocess-vxlan runs images not pinned by digest: "
            "docker.io/sigwindowstools/kube-proxy:v1.30.0-calico-hostprocess, "
            "docker.io/sigwindowstools/flannel:v0.28.9-hostprocess") in text
    loose = dataclasses.replace(cfg, options=dataclasses.replace(cfg.options, allow_unpinned=True))
    files = {f.dest: f for f in render.render_bundle(loose, "v1.30.0")}
    images = [c["image"] for objs in manifests(files).values() for c in containers(objs)]
    assert images and not any("@sha256:" in i for i in images)
    assert "is not pinned by digest (--allow-unpinned)" in caplog.text


def test_bad_pins_are_refused_where_they_are_written(tmp_path: Path) -> None:
    good = f"docker.io/antrea/antrea-windows:v2.7.0@{fake_digest('x')}"
    with pytest.raises(ConfigError) as err:
        load_cfg(tmp_path, {"images": {"registry": "https://r.example", "pins": [
            "docker.io/antrea/antrea-windows:v2.7.0", good, good.replace("@", "@@")]}})
    text = str(err.value)
    assert "images.registry: 'https://r.example' is not a registry" in text
    assert "images.pins[0]: 'docker.io/antrea/antrea-windows:v2.7.0' is not repository:tag@sha256:" in text
    assert "images.pins[2]" in text
    with pytest.raises(ConfigError, match=r"images\.pins\[1\]: pins docker\.io/antrea/antrea-windows:v2\.7\.0 a "
                                          r"second time \(first at images\.pins\[0\]\)"):
        load_cfg(tmp_path, {"images": {"pins": [good, good]}})


# --------------------------------------------------------------------------- the image table and its seam


def test_each_mode_pulls_the_images_its_manifests_run() -> None:
    roles = {m: [i.role for i in cluster_images.needed(mode_for(m))] for m in CLUSTER_MODES}
    assert roles == {
        "flannel-hostprocess-vxlan": [cluster_images.KUBE_PROXY_IMAGE, cluster_images.FLANNEL_IMAGE],
        "flannel-hostprocess-host-gw": [cluster_images.KUBE_PROXY_IMAGE, cluster_images.FLANNEL_IMAGE],
        # The operator renders Calico's own images; the bundle's manifests run kube-proxy only.
        "calico-vxlan": [cluster_images.KUBE_PROXY_IMAGE],
        "calico-bgp": [cluster_images.KUBE_PROXY_IMAGE],
        # AntreaProxy does kube-proxy's work.
        "antrea": [cluster_images.ANTREA_IMAGE],
    }
    assert cluster_images.needed(mode_for("host-gw")) == ()


def test_with_offline_images_the_bundle_builds_kube_proxy_and_pulls_its_base_instead() -> None:
    calico, flannel = mode_for("calico-vxlan"), mode_for("flannel-hostprocess-vxlan")
    assert [i.role for i in cluster_images.needed(calico, offline=True)] == [cluster_images.HOSTPROCESS_BASE]
    assert [i.role for i in cluster_images.needed(flannel, offline=True)] == [cluster_images.FLANNEL_IMAGE,
                                                                              cluster_images.HOSTPROCESS_BASE]
    assert [i.role for i in cluster_images.built_offline(calico, offline=True)] == [cluster_images.KUBE_PROXY_IMAGE]
    assert cluster_images.built_offline(calico, offline=False) == ()
    # The base is pinned like every image pulled: unpinned, the run stops and names it.
    cfg = dataclasses.replace(cluster_config("calico-vxlan"), images=ImagesSection(offline=True))
    text = refusal(cfg, "v1.30.0")
    assert "mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image:v1.0.0" in text
    assert "sigwindowstools/kube-proxy" not in text


@pytest.mark.parametrize(("mode", "why"), [
    ("antrea", "images.offline: antrea: the bundle builds no image of this network's"),
    ("host-gw", "images.offline: host-gw: the node runs this network itself"),
])
def test_offline_images_are_refused_where_the_bundle_builds_none(tmp_path: Path, mode: str, why: str) -> None:
    data: dict[str, Any] = {"network": {"mode": mode, "control_plane_ip": "192.0.2.10"}, "images": {"offline": True}}
    if mode == "antrea":
        data["network"]["network_name"] = mode_for(mode).default_network_name(4096)
    cfg = load_cfg(tmp_path, data)
    text = refusal(pinned(cfg, ["v1.30.0"]), "v1.30.0")
    assert why in text
    assert f"bundle.yaml:{line_of(tmp_path / 'bundle.yaml', 'offline')}" in text


def test_to_resolve_lists_each_repository_and_tag_once_for_every_version() -> None:
    cfg = Config(network=NetworkSection(mode="calico-bgp"), images=ImagesSection(registry="registry.example.com/k8s"))
    assert cluster_images.to_resolve(cfg, ["v1.34.1", "v1.30.2", "v1.34.1"]) == [
        ("registry.example.com/k8s/sigwindowstools/kube-proxy", "v1.30.2-calico-hostprocess"),
        ("registry.example.com/k8s/sigwindowstools/kube-proxy", "v1.34.1-calico-hostprocess"),
    ]
    assert cluster_images.to_resolve(Config(), ["v1.30.0"]) == []


def test_a_private_registry_moves_every_image_and_the_operators(tmp_path: Path) -> None:
    base = dataclasses.replace(cluster_config("calico-vxlan"),
                               images=ImagesSection(registry="registry.example.com:5000/mirror"))
    cfg = pinned(base, ["v1.30.0"])
    files = {f.dest: f for f in render.render_bundle(cfg, "v1.30.0")}
    found = manifests(files)
    images = [c["image"] for objs in found.values() for c in containers(objs)]
    assert images == [f"registry.example.com:5000/mirror/sigwindowstools/kube-proxy:v1.30.0-calico-hostprocess"
                      f"@{fake_digest('registry.example.com:5000/mirror/sigwindowstools/kube-proxy:v1.30.0-calico-hostprocess')}"]
    installation = next(o for o in found["cluster/calico-windows.yaml"] if o["kind"] == "Installation")
    assert installation["spec"]["registry"] == "registry.example.com:5000/mirror/"


# --------------------------------------------------------------------------- the manifests as Kubernetes objects

# The custom resources kubernetes-validate has no schema for, checked against the fields of their
# API as read from upstream (tigera/operator api/v1 installation_types.go: InstallationSpec,
# CalicoNetworkSpec, WindowsNodeSpec; enums WindowsDataplaneOption, BGPOption, EncapsulationType).
INSTALLATION_SPEC = {"calicoNetwork", "serviceCIDRs", "windowsNodes", "registry"}
CALICO_NETWORK = {"bgp": {"Enabled", "Disabled"}, "windowsDataplane": {"HNS", "Disabled"}, "ipPools": None}
IP_POOL = {"cidr", "encapsulation", "natOutgoing"}
WINDOWS_NODES = {"cniBinDir", "cniConfigDir", "cniLogDir", "vxlanMACPrefix", "vxlanAdapter"}


def check_installation(o: dict[str, Any]) -> list[str]:
    spec = o["spec"]
    problems = [f"spec.{k}" for k in set(spec) - INSTALLATION_SPEC]
    net = spec["calicoNetwork"]
    problems += [f"calicoNetwork.{k}={v}" for k, v in net.items()
                 if k not in CALICO_NETWORK or (CALICO_NETWORK[k] and v not in CALICO_NETWORK[k])]
    for pool in net["ipPools"]:
        problems += [f"ipPools[].{k}" for k in set(pool) - IP_POOL]
        if pool["encapsulation"] not in ("VXLAN", "None"):  # what the operator accepts on Windows
            problems.append(f"encapsulation {pool['encapsulation']}")
    problems += [f"windowsNodes.{k}" for k in set(spec["windowsNodes"]) - WINDOWS_NODES]
    if not spec["serviceCIDRs"]:
        problems.append("serviceCIDRs empty: the operator refuses Calico CNI on Windows without them")
    return problems


@pytest.mark.parametrize("minor", MINORS)
@pytest.mark.parametrize("mode", CLUSTER_MODES)
def test_every_manifest_validates_against_its_kubernetes_version(mode: str, minor: int) -> None:
    version = f"1.{minor}.0"
    cfg = pinned(cluster_config(mode), [f"v{version}"])
    files = {f.dest: f for f in render.render_bundle(cfg, f"v{version}")}
    found = manifests(files)
    assert list(found) == cluster.manifest_names(check_for_version(cfg, KubeVersion.parse(f"v{version}")))
    kinds = []
    for dest, objects in found.items():
        for o in objects:
            kinds.append(o["kind"])
            if o["apiVersion"] == "operator.tigera.io/v1":
                assert check_installation(o) == [], dest
                continue
            # strict: no field the schema of this version does not know.
            assert kubernetes_validate.validate(o, version, strict=True) == f"1.{minor}", (dest, o["kind"])
    assert "DaemonSet" in kinds or "Installation" in kinds


def test_the_validation_catches_a_field_the_version_does_not_know() -> None:
    """The check can fail: a DaemonSet with a misspelt pod field does not validate."""
    cfg = pinned(cluster_config("antrea"), ["v1.30.0"])
    files = {f.dest: f for f in render.render_bundle(cfg, "v1.30.0")}
    ds = next(o for o in manifests(files)["cluster/antrea-windows.yaml"] if o["kind"] == "DaemonSet")
    ds["spec"]["template"]["spec"]["hostNetwrk"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(ds, "1.30.0", strict=True)


def test_the_kube_proxy_daemonset_runs_the_versions_flags_and_waits_for_the_cnis_network() -> None:
    for minor, gate in ((30, True), (34, False)):
        cfg = pinned(cluster_config("calico-vxlan"), [f"v1.{minor}.0"])
        files = {f.dest: f for f in render.render_bundle(cfg, f"v1.{minor}.0")}
        cm = next(o for o in manifests(files)["cluster/kube-proxy-windows.yaml"] if o["kind"] == "ConfigMap")
        script = cm["data"]["start.ps1"]
        assert ("'--feature-gates=WinOverlay=true'" in script) == gate  # locked to true from 1.34
        assert "('--source-vip=' + $SourceVip)" in script and "'Calico_ep'" in script
        assert "$NetworkName = 'Calico'" in script


# --------------------------------------------------------------------------- verify


def test_verify_reports_an_image_of_a_manifest_named_by_tag(tmp_path: Path, windows_exe: Path) -> None:
    base = dataclasses.replace(cluster_config("antrea"), options=Options(allow_unpinned=True))
    i = make_inputs(tmp_path, windows_exe)
    for name, cfg in (("pinned", pinned(base, ["v1.37.0"])), ("by-tag", base)):
        rendered = [f for f in render.render_bundle(cfg, "v1.37.0") if f.dest.startswith("cluster/")]
        dist = tmp_path / name
        path = pack.pack(i.with_options(dist=dist).cfg, i.built, i.sdn, [*i.rendered, *rendered])
        problems = verify.check_dist(path.parent)
        if name == "pinned":
            assert problems == []
        else:
            image = f"docker.io/antrea/antrea-windows:{cluster_images.ANTREA_VERSION}"
            assert problems == [f"{path.name}: k/cluster/antrea-windows.yaml: names the image {image}, which is not "
                                "pinned by digest (repository:tag@sha256:...): pin it in bundle.yaml's images.pins "
                                "and rebuild"]
