"""Helpers for bundles of the networks the cluster runs: pinned images, and what k/cluster/ holds."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from builder.artifacts import RenderedFile
from builder.config import Config, cluster_images


def fake_digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def pinned(cfg: Config, versions: Iterable[str]) -> Config:
    """The configuration with every image its cluster manifests pull pinned (to a made-up digest)."""
    pins = tuple(f"{repo}:{tag}@{fake_digest(f'{repo}:{tag}')}"
                 for repo, tag in cluster_images.to_resolve(cfg, list(versions)))
    return dataclasses.replace(cfg, images=dataclasses.replace(cfg.images, pins=pins))


def manifests(files: Mapping[str, RenderedFile]) -> dict[str, list[dict[str, Any]]]:
    """Every k/cluster/ manifest of a rendered bundle, parsed back from its bytes."""
    return {dest: [o for o in yaml.safe_load_all(f.data.decode("ascii")) if o]
            for dest, f in files.items() if dest.startswith("cluster/")}


def daemonset_scripts(files: Mapping[str, RenderedFile]) -> dict[str, str]:
    """The PowerShell scripts the manifests' ConfigMaps hold, by '<file>:<ConfigMap>/<key>'."""
    return {f"{dest}:{o['metadata']['name']}/{key}": value
            for dest, objects in manifests(files).items() for o in objects if o["kind"] == "ConfigMap"
            for key, value in o["data"].items() if key.endswith(".ps1")}


def containers(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every container and init container of the DaemonSets among `objects`."""
    out: list[dict[str, Any]] = []
    for o in objects:
        if o["kind"] == "DaemonSet":
            spec = o["spec"]["template"]["spec"]
            out += [*spec.get("initContainers", []), *spec["containers"]]
    return out


def cluster_config(mode: str, **network: Any) -> Config:
    """A configuration of a network the cluster runs: the API server's address, the CNI's network name."""
    from builder.config import KubernetesSection, NetworkSection, mode_for

    net = NetworkSection(mode=mode, control_plane_ip="192.0.2.10", **network)
    net = dataclasses.replace(net, network_name=mode_for(mode).default_network_name(net.vxlan_vni))
    return Config(network=net, kubernetes=KubernetesSection(components=("kubelet", "kube-proxy", "kubectl", "kubeadm")))
