"""What the node operator gets besides the start scripts: install.ps1, join-node.ps1, README.txt, samples/.

Scripts and the guide go through `render`'s one jinja2 environment (every value a PowerShell
literal, undefined names are errors). The samples are Kubernetes objects built here as data and
written with a `yaml.SafeDumper` (no anchors), never by text templating, so that no value can
change their shape.

Image choice follows process isolation's rule: a container image must be built for the host's
own Windows build (a 2025 host also runs 2022 images). `node.windows_version` therefore picks
the pause image (see `render.default_pause_image`) and the tags of every sample image.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from . import flags, render
from .artifacts import BuildResult, RenderedFile
from .config import WINDOWS_BUILDS, Config, NodeSection, runtime_for
from .kversion import KubeVersion

SAMPLES = "samples"
KUBEADM_PORT = 6443
# Hosts of this build also run images of another build with process isolation.
RUNS_ALSO: dict[int, tuple[int, ...]] = {26100: (20348,)}  # Windows Server 2025 runs 2022 images
# Before 1809 the images were published on Docker Hub as microsoft/...; from 1809 on MCR.
MCR_FROM_BUILD = 17763
SAMPLE_HOST_PATH = "C:\\k-sample-data"
# Multi-arch pause images: one entry per Windows build, picked by the runtime, so whether one
# starts depends on the entries of its tag, not on the bundle's target.
MULTI_ARCH_PAUSE = ("registry.k8s.io/pause", "k8s.gcr.io/pause", "mcr.microsoft.com/k8s/core/pause")


# --------------------------------------------------------------------------- images


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
    return node.pause_image or render.default_pause_image(node.windows_version, node.windows_build, version)


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
    body = yaml.dump_all(list(objects), Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                        explicit_start=True, width=4096)
    return head + body


class _Dumper(yaml.SafeDumper):
    """Writes a value shared by two places twice, never as a YAML anchor and alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


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


# --------------------------------------------------------------------------- context, files


ArgsFn = Callable[..., list[flags.Arg]]


def service_args(fn: ArgsFn, cfg: Config, version: KubeVersion, runtime: str) -> list[Any]:
    """A component's arguments when it runs as a Windows service (`--windows-service`)."""
    return [render.arg_code(a) for a in fn(version, runtime, cfg, service=True)]


def context(cfg: Config, version: KubeVersion, runtime: str) -> dict[str, Any]:
    """`render.context` plus what install.ps1, join-node.ps1 and README.txt need."""
    ctx = render.context(cfg, version, runtime)
    ctx.update(host_check_context(cfg.node, version))
    net = cfg.network
    minor = version.minor_key
    services = flags.has_flag("kubelet", "--windows-service", minor, runtime)
    cp = net.control_plane_ip or ""
    ctx.update({
        "min_build": cfg.node.min_build,
        "kubeadm": "kubeadm" in cfg.kubernetes.components,
        "components": list(cfg.kubernetes.components),
        "runtime_service": "docker" if runtime == "docker" else "containerd",
        "runtime_pipe": "\\\\.\\pipe\\docker_engine" if runtime == "docker" else "\\\\.\\pipe\\containerd-containerd",
        "cri_socket": flags.DOCKER_ENDPOINT if runtime == "docker" else flags.CONTAINERD_ENDPOINT,
        "services_supported": services,
        "kubelet_service_args": service_args(flags.kubelet_args, cfg, version, runtime) if services else [],
        "kubeproxy_service_args": service_args(flags.kubeproxy_args, cfg, version, runtime) if services else [],
        "service_logs": flags.has_flag("kubelet", "--log-dir", minor, runtime),
        "control_plane_endpoint": f"{cp}:{KUBEADM_PORT}" if cp else "",
        "images": dataclasses.asdict(images_for(cfg.node.windows_version)),
        "sample_files": list(samples(cfg, version)),
        "sample_host_path": SAMPLE_HOST_PATH,
        "lim": limitations(version, cfg.node, kubeadm="kubeadm" in cfg.kubernetes.components),
        "minor": list(minor),
    })
    return ctx


def render_node_files(cfg: Config, git_version: str, built: BuildResult | None) -> list[RenderedFile]:
    """install.ps1, join-node.ps1 (with kubeadm), README.txt and samples/*.yaml for the bundle's k/ folder."""
    del built  # the version is all these files need from the build
    version = render.parse_version(git_version)
    runtime = runtime_for(cfg.node, version)
    render.check_config(cfg, version, runtime)
    ctx = context(cfg, version, runtime)
    names = [("install.ps1", "script")]
    if ctx["kubeadm"]:
        names.append(("join-node.ps1", "script"))
    names.append(("README.txt", "doc"))
    files = [RenderedFile(dest=n, data=render.to_bytes(n, render.render_template(f"{n}.j2", ctx)), kind=k)
             for n, k in names]
    for dest, objects in samples(cfg, version).items():
        text = sample_yaml(dest, objects, version, cfg.node.windows_version)
        files.append(RenderedFile(dest=dest, data=render.to_bytes(dest, text), kind="sample"))
    return files
