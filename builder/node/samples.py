"""The sample workloads (Kubernetes objects as data, written with a SafeDumper, never text-templated)
and the known limitations of each version that README.txt lists.

Sample images follow process isolation's rule: built for the target Windows build (`images`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from ..config import Config, NodeSection
from ..kversion import KubeVersion
from .images import images_for

SAMPLES = "samples"
SAMPLE_HOST_PATH = "C:\\k-sample-data"


# --------------------------------------------------------------------------- samples


def os_selector(version: KubeVersion) -> dict[str, str]:
    # kubernetes.io/os exists from 1.14; older kubelets set only the beta label.
    key = "kubernetes.io/os" if version.minor_key >= (1, 14) else "beta.kubernetes.io/os"
    return {key: "windows"}


def _pod_spec(version: KubeVersion, containers: list[dict[str, Any]],
              volumes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeSelector": os_selector(version), "containers": containers}
    if volumes:
        spec["volumes"] = volumes
    return spec


def _pod_meta(cfg: Config, name: str | None, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A pod's metadata; a pod template's has no name."""
    meta: dict[str, Any] = {"name": name} if name else {}
    if labels:
        meta["labels"] = dict(labels)
    if cfg.node.isolation == "hyperv":
        # The alpha Hyper-V annotation read by kubelet 1.10 to 1.20 (HyperVContainer gate, docker).
        meta["annotations"] = {"experimental.windows.kubernetes.io/isolation-type": "hyperv"}
    return meta


def _loop(script: str) -> list[str]:
    return ["powershell.exe", "-NoProfile", "-Command", script]


def iis_sample(cfg: Config, version: KubeVersion) -> list[dict[str, Any]]:
    labels = {"app": "iis-sample"}
    container = {"name": "iis", "image": images_for(cfg.node.windows_version).iis,
                 "ports": [{"containerPort": 80}]}
    deployment = {
        # apps/v1 is served from 1.9, the oldest version these scripts support (flags.OLDEST).
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "iis-sample", "labels": labels},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                 "template": {"metadata": _pod_meta(cfg, None, labels),
                              "spec": _pod_spec(version, [container])}},
    }
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "iis-sample", "labels": labels},
        "spec": {"type": "NodePort", "selector": labels, "ports": [{"port": 80, "targetPort": 80}]},
    }
    return [deployment, service]


def daemonset_sample(cfg: Config, version: KubeVersion) -> list[dict[str, Any]]:
    labels = {"app": "windows-daemon-sample"}
    container = {"name": "daemon", "image": images_for(cfg.node.windows_version).servercore,
                 "command": _loop("while ($true) { Write-Output (Get-Date); Start-Sleep -Seconds 60 }")}
    template_meta = _pod_meta(cfg, None, labels)
    return [{
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "windows-daemon-sample", "labels": labels},
        "spec": {"selector": {"matchLabels": labels},
                 "template": {"metadata": template_meta, "spec": _pod_spec(version, [container])}},
    }]


def hostpath_sample(cfg: Config, version: KubeVersion) -> list[dict[str, Any]]:
    container = {
        "name": "writer", "image": images_for(cfg.node.windows_version).servercore,
        "command": _loop("while ($true) { Get-Date | Add-Content -Path C:\\data\\sample.log; "
                         "Start-Sleep -Seconds 30 }"),
        "volumeMounts": [{"name": "host-data", "mountPath": "C:\\data"}],
    }
    host_path: dict[str, str] = {"path": SAMPLE_HOST_PATH}
    if version.minor_key >= (1, 10):
        # DirectoryOrCreate makes kubelet create a missing folder. The HostPathType feature is
        # alpha (off) in 1.8 and 1.9, beta from 1.10: on 1.9 README.txt says to create it by hand.
        host_path["type"] = "DirectoryOrCreate"
    volume = {"name": "host-data", "hostPath": host_path}
    return [{"apiVersion": "v1", "kind": "Pod", "metadata": _pod_meta(cfg, "hostpath-sample"),
             "spec": _pod_spec(version, [container], [volume])}]


def emptydir_sample(cfg: Config, version: KubeVersion) -> list[dict[str, Any]]:
    image = images_for(cfg.node.windows_version).servercore
    mount = [{"name": "cache", "mountPath": "C:\\cache"}]
    containers = [
        {"name": "writer", "image": image, "volumeMounts": mount,
         "command": _loop("while ($true) { Get-Date | Set-Content -Path C:\\cache\\now.txt; "
                          "Start-Sleep -Seconds 10 }")},
        {"name": "reader", "image": image, "volumeMounts": mount,
         "command": _loop("while ($true) { Get-Content -Path C:\\cache\\now.txt -ErrorAction SilentlyContinue; "
                          "Start-Sleep -Seconds 10 }")},
    ]
    return [{"apiVersion": "v1", "kind": "Pod", "metadata": _pod_meta(cfg, "emptydir-sample"),
             "spec": _pod_spec(version, containers, [{"name": "cache", "emptyDir": {}}])}]


def samples(cfg: Config, version: KubeVersion) -> dict[str, list[dict[str, Any]]]:
    """Each sample file's objects, by bundle path."""
    return {
        f"{SAMPLES}/iis.yaml": iis_sample(cfg, version),
        f"{SAMPLES}/daemonset.yaml": daemonset_sample(cfg, version),
        f"{SAMPLES}/hostpath-pod.yaml": hostpath_sample(cfg, version),
        f"{SAMPLES}/emptydir-pod.yaml": emptydir_sample(cfg, version),
    }


def sample_yaml(dest: str, objects: Sequence[dict[str, Any]], version: KubeVersion, windows_version: str) -> str:
    head = (f"# {dest}: generated by k8s-windows-bundle for Kubernetes {version}, Windows {windows_version}.\n"
            "# Apply with: kubectl apply -f <this file>\n")
    return head + dump_objects(objects, sort_keys=False)


class NoAliasDumper(yaml.SafeDumper):
    """Writes a value shared by two places twice, never as a YAML anchor and alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_objects(objects: Sequence[dict[str, Any]], *, sort_keys: bool,
                 dumper: type[NoAliasDumper] = NoAliasDumper) -> str:
    """Kubernetes objects as YAML documents, each after `---`, no line folded."""
    return yaml.dump_all(list(objects), Dumper=dumper, sort_keys=sort_keys, default_flow_style=False,
                         explicit_start=True, width=4096)


# --------------------------------------------------------------------------- limitations


def limitations(version: KubeVersion, node: NodeSection, *, kubeadm: bool = False) -> dict[str, bool]:
    """Which of the seed's 1.9 limitations still apply to this version (and target Windows build)."""
    minor = version.minor_key
    build = node.windows_build
    return {
        # kubeadm joins Windows nodes from 1.16 (alpha; beta in 1.18).
        "kubeadm_early": kubeadm and minor < (1, 16),
        # ConfigMap and Secret volume mounts came with 1.11 on Windows Server 1803 (17134) and later.
        "secret_volumes": minor < (1, 11) or build < 17134,
        # 1.14 (Windows GA) lists StatefulSets and Horizontal Pod Autoscaling as supported.
        "statefulset": minor < (1, 14),
        "hpa": minor < (1, 14),
        # Hyper-V isolation: none in 1.9; alpha gate HyperVContainer 1.10 to 1.20 (docker); gone from 1.21.
        "hyperv_none": not (1, 10) <= minor < (1, 21),
        "hyperv_alpha": (1, 10) <= minor < (1, 21),
        # Service cluster IPs unreachable from the node itself: in the Windows docs up to the 1.19
        # era ("Accessing service VIPs from nodes will be available with a future release").
        "node_to_service": minor < (1, 20),
        # Always true: process isolation runs only images of the host's build.
        "os_matching": True,
        # Still listed today: a NodePort is not reachable from the node that serves it.
        "local_nodeport": True,
    }
