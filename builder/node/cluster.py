"""The cluster side of a network the cluster runs on its Windows nodes: the manifests in k/cluster/.

Kubernetes objects built as data (dicts) for one checked configuration and serialized with a
SafeDumper, keys sorted, so the same configuration gives the same bytes. The scripts the
HostProcess containers run sit in ConfigMaps; they are rendered by the caller from
ps_templates/ds-*.ps1.j2 (`ScriptFn`), like every script of the bundle. Images are named only
through the references the caller resolved (`builder.config.cluster_images`).

What each manifest follows (the facts, not the text): sig-windows-tools' flannel and kube-proxy
HostProcess DaemonSets (hostprocess/flannel at 729ae7c^, hostprocess/calico/kube-proxy), the Tigera
operator's Installation API (api/v1 installation_types.go) and its Windows checks, and Antrea's
antrea-windows-with-ovs.yml at v2.7.0.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml

from ..config import VersionedConfig
from ..config.cluster_images import ANTREA_IMAGE, FLANNEL_IMAGE, KUBE_PROXY_IMAGE
from ..config.modes import CNI_ANTREA, CNI_CALICO, CNI_FLANNEL, VXLAN, ClusterNetwork, CniDirs
from . import cni, samples

Obj = dict[str, Any]
# (template, values for it beyond the render context) -> the script's text
ScriptFn = Callable[[str, Mapping[str, Any]], str]

FOLDER = "cluster"
SANDBOX = "$env:CONTAINER_SANDBOX_MOUNT_POINT"
# Where the pods mount the host's CNI folders (hostPath), so that their scripts reach them under the
# sandbox mount point on every host (hcsshim binds a mount at its path where the bind filter exists,
# and always below the sandbox mount point).
CNI_BIN_MOUNT = "/host/opt/cni/bin"
CNI_CONF_MOUNT = "/host/etc/cni/net.d"
KUBE_PROXY_STATE = "C:\\var\\lib\\kube-proxy-windows"
HOSTPROCESS = {"windowsOptions": {"hostProcess": True, "runAsUserName": "NT AUTHORITY\\SYSTEM"}}
CONFIG_HASH = "k8s-windows-bundle/config-sha256"


def sandbox_rel(mount: str, *names: str) -> str:
    """A container path below the sandbox mount point, as the scripts join it (backslashes, no root)."""
    return "\\".join([*mount.strip("/").split("/"), *names])


# --------------------------------------------------------------------------- small builders


def _meta(name: str, namespace: str | None = None, labels: Mapping[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    return meta


def _config_map(name: str, namespace: str, data: Mapping[str, str]) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(name, namespace), "data": dict(data)}


def _field_env(name: str, path: str) -> Obj:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _host_path(name: str, path: str) -> Obj:
    return {"name": name, "hostPath": {"path": path, "type": "DirectoryOrCreate"}}


def _config_volume(name: str, config_map: str) -> Obj:
    return {"name": name, "configMap": {"name": config_map}}


def _mount(name: str, path: str, **extra: Any) -> Obj:
    return {"name": name, "mountPath": path, **extra}


def _powershell(mount: str, script: str, *args: str) -> list[str]:
    """A script of a mounted ConfigMap, run by Windows PowerShell (hcsshim expands the mount point)."""
    return ["powershell.exe", "-NoProfile", "-ExecutionPolicy", "Bypass", "-File",
            f"{SANDBOX}/{mount.strip('/')}/{script}", *args]


def _container(name: str, image: str, command: list[str], mounts: list[Obj], **extra: Any) -> Obj:
    return {"name": name, "image": image, "imagePullPolicy": "IfNotPresent", "command": command,
            "volumeMounts": mounts, **extra}


def _cni_dir_volumes(dirs: CniDirs) -> list[Obj]:
    return [_host_path("cni-bin", dirs.bin), _host_path("cni-conf", dirs.conf)]


def _cni_dir_mounts() -> list[Obj]:
    return [_mount("cni-bin", CNI_BIN_MOUNT), _mount("cni-conf", CNI_CONF_MOUNT)]


def config_hash(*config_maps: Obj) -> str:
    """The digest of the ConfigMaps a pod reads: a change rolls the DaemonSet's pods."""
    text = json.dumps([c["data"] for c in config_maps], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _daemonset(name: str, namespace: str, labels: Mapping[str, str], pod: Obj, config_maps: Sequence[Obj],
               annotations: Mapping[str, str] | None = None) -> Obj:
    """A HostProcess DaemonSet on the Windows nodes: host network, SYSTEM, every taint tolerated."""
    spec: Obj = {
        "securityContext": HOSTPROCESS,
        "hostNetwork": True,
        "nodeSelector": {"kubernetes.io/os": "windows"},
        "priorityClassName": "system-node-critical",
        "tolerations": [{"operator": "Exists"}],
        **pod,
    }
    notes = {CONFIG_HASH: config_hash(*config_maps), **(annotations or {})}
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": _meta(name, namespace, labels),
        "spec": {
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels), "annotations": notes}, "spec": spec},
            "updateStrategy": {"type": "RollingUpdate"},
        },
    }


# --------------------------------------------------------------------------- flannel

FLANNEL_NS = "kube-flannel"
FLANNEL_CFG_MOUNT = "/etc/kube-flannel"  # the cluster's kube-flannel-cfg (net-conf.json)
FLANNEL_WIN_MOUNT = "/etc/kube-flannel-windows"
FLANNEL_CNI_TEMPLATE = "cni-conf.json"
FLANNEL_CNI_FILE = "10-flannel.conf"


def flannel(checked: VersionedConfig, net: ClusterNetwork, images: Mapping[str, str], script: ScriptFn) -> list[Obj]:
    """flannel's Windows DaemonSet, its ConfigMap and RBAC (the Linux side is the cluster's kube-flannel.yml)."""
    cfg = checked.cfg
    name = "flannel-windows"
    labels = {"app": name, "tier": "node"}
    rules = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]},
    ]
    rbac: list[Obj] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, FLANNEL_NS)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": _meta(name),
         "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": _meta(name),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": FLANNEL_NS}]},
    ]
    text = script("ds-flannel.ps1.j2", {
        "flannel_backend_type": net.backend,
        "ds_net_conf": sandbox_rel(FLANNEL_CFG_MOUNT, "net-conf.json"),
        "ds_cni_template": sandbox_rel(FLANNEL_WIN_MOUNT, FLANNEL_CNI_TEMPLATE),
        "ds_cni_bin_mount": sandbox_rel(CNI_BIN_MOUNT),
        "ds_cni_conf_mount": sandbox_rel(CNI_CONF_MOUNT),
        "ds_cni_conf_file": FLANNEL_CNI_FILE,
    })
    windows_cfg = _config_map(f"{name}-cfg", FLANNEL_NS, {
        FLANNEL_CNI_TEMPLATE: cni.to_json(cni.cluster_flannel_conf(cfg)),
        "start.ps1": text,
    })
    api = _api_endpoint(checked)
    container = _container(
        "kube-flannel", images[FLANNEL_IMAGE], _powershell(FLANNEL_WIN_MOUNT, "start.ps1"),
        [_mount("flannel-cfg", FLANNEL_CFG_MOUNT, readOnly=True),
         _mount("flannel-windows-cfg", FLANNEL_WIN_MOUNT, readOnly=True), *_cni_dir_mounts()],
        env=[_field_env("POD_NAME", "metadata.name"), _field_env("POD_NAMESPACE", "metadata.namespace"),
             _field_env("NODE_NAME", "spec.nodeName"),
             # flanneld reaches the API server directly: the service network needs kube-proxy, which
             # needs flannel's network first (flannel-io/flannel#1772).
             {"name": "KUBERNETES_SERVICE_HOST", "value": api[0]},
             {"name": "KUBERNETES_SERVICE_PORT", "value": str(api[1])}],
    )
    pod: Obj = {"serviceAccountName": name, "containers": [container],
           "volumes": [_config_volume("flannel-cfg", "kube-flannel-cfg"),
                       _config_volume("flannel-windows-cfg", windows_cfg["metadata"]["name"]),
                       *_cni_dir_volumes(net.dirs)]}
    return [*rbac, windows_cfg, _daemonset(name, FLANNEL_NS, labels, pod, [windows_cfg])]


def flannel_net_conf(checked: VersionedConfig, net: ClusterNetwork) -> Obj:
    """The net-conf.json the cluster's kube-flannel-cfg must hold for this node (its DaemonSet checks it)."""
    cfg = checked.cfg.network
    backend: Obj = {"Type": net.backend}
    if checked.mode.encapsulation == VXLAN:
        backend.update({"VNI": cfg.vxlan_vni, "Port": cfg.vxlan_port})
    return {"Network": cfg.cluster_cidr, "Backend": backend}


# --------------------------------------------------------------------------- kube-proxy

KUBE_PROXY_NS = "kube-system"
KUBE_PROXY_CFG_MOUNT = "/var/lib/kube-proxy"  # kubeadm's kube-proxy ConfigMap (kubeconfig.conf)
KUBE_PROXY_WIN_MOUNT = "/etc/kube-proxy-windows"
KUBE_PROXY_STATE_MOUNT = "/var/lib/kube-proxy-windows"


def kube_proxy(checked: VersionedConfig, net: ClusterNetwork, images: Mapping[str, str], script: ScriptFn,
               args: Sequence[Any]) -> list[Obj]:
    """kube-proxy as a Windows HostProcess DaemonSet, with kubeadm's kube-proxy ConfigMap and ServiceAccount."""
    proxy = checked.mode.kube_proxy
    reserves = proxy.source_vip and not proxy.source_vip_endpoint
    name = "kube-proxy-windows"
    labels = {"k8s-app": name}
    text = script("ds-kube-proxy.ps1.j2", {
        "ds_kubeconfig": sandbox_rel(KUBE_PROXY_CFG_MOUNT, "kubeconfig.conf"),
        "ds_cni_bin_mount": sandbox_rel(CNI_BIN_MOUNT),
        "ds_state_mount": sandbox_rel(KUBE_PROXY_STATE_MOUNT),
        "ds_kubeproxy_args": list(args),
        "ds_source_vip": proxy.source_vip,
        "source_vip_endpoint": proxy.source_vip_endpoint,
    })
    windows_cfg = _config_map(name, KUBE_PROXY_NS, {"start.ps1": text})
    mounts = [_mount("kube-proxy", KUBE_PROXY_CFG_MOUNT, readOnly=True),
              _mount("kube-proxy-windows", KUBE_PROXY_WIN_MOUNT, readOnly=True)]
    volumes = [_config_volume("kube-proxy", "kube-proxy"), _config_volume("kube-proxy-windows", name)]
    if reserves:
        # host-local (from the CNI's folder) reserves the source VIP in the pods' IPAM store; the
        # reservation is kept on the host across restarts.
        mounts += [_mount("cni-bin", CNI_BIN_MOUNT), _mount("state", KUBE_PROXY_STATE_MOUNT)]
        volumes += [_host_path("cni-bin", net.dirs.bin), _host_path("state", KUBE_PROXY_STATE)]
    container = _container("kube-proxy", images[KUBE_PROXY_IMAGE], _powershell(KUBE_PROXY_WIN_MOUNT, "start.ps1"),
                           mounts, env=[_field_env("NODE_NAME", "spec.nodeName")])
    pod = {"serviceAccountName": "kube-proxy", "containers": [container], "volumes": volumes}
    return [windows_cfg, _daemonset(name, KUBE_PROXY_NS, labels, pod, [windows_cfg])]


# --------------------------------------------------------------------------- Calico


def calico(checked: VersionedConfig, net: ClusterNetwork, registry: str) -> list[Obj]:
    """The Tigera operator's Installation with the Windows dataplane, and the API endpoint it needs."""
    host, port = _api_endpoint(checked)
    endpoint = _config_map("kubernetes-services-endpoint", "tigera-operator",
                           {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": str(port)})
    spec = calico_windows_spec(checked, net)
    bgp = checked.mode.encapsulation != VXLAN
    spec["calicoNetwork"].update({
        "bgp": "Enabled" if bgp else "Disabled",
        # Calico for Windows takes VXLAN or no encapsulation (the operator refuses IPIP).
        "ipPools": [{"cidr": checked.cfg.network.cluster_cidr, "encapsulation": "None" if bgp else "VXLAN",
                     "natOutgoing": "Enabled"}],
    })
    if registry:
        spec["registry"] = registry.rstrip("/") + "/"
    installation = {"apiVersion": "operator.tigera.io/v1", "kind": "Installation", "metadata": _meta("default"),
                    "spec": spec}
    return [endpoint, installation]


def calico_windows_spec(checked: VersionedConfig, net: ClusterNetwork) -> Obj:
    """The Installation fields Calico for Windows needs: what an existing Installation is patched with."""
    dirs = net.dirs
    return {
        "calicoNetwork": {"windowsDataplane": "HNS"},
        "serviceCIDRs": [checked.cfg.network.service_cidr],
        # The operator's own form of the folders: drive-less, on the system drive.
        "windowsNodes": {"cniBinDir": drive_less(dirs.bin), "cniConfigDir": drive_less(dirs.conf),
                         "cniLogDir": drive_less(dirs.log)},
    }


def drive_less(path: str) -> str:
    """C:\\opt\\cni\\bin as /opt/cni/bin."""
    return "/" + path.split(":", 1)[-1].replace("\\", "/").lstrip("/")


# --------------------------------------------------------------------------- Antrea

ANTREA_NS = "kube-system"
ANTREA_CFG_MOUNT = "/etc/antrea"
ANTREA_SCRIPTS_MOUNT = "/var/lib/antrea-windows"
ANTREA_AGENT_CONF = "antrea-agent.conf"
ANTREA_CONFLIST = "antrea-cni.conflist"
ANTREA_CNI_FILE = "10-antrea.conflist"
ANTREA_STEPS = (  # (step, script file, what it does)
    ("install-cni", "install-cni.ps1", "installs the CNI plugin and its config"),
    ("install-ovs", "install-ovs-driver.ps1", "installs the OVS driver"),
    ("ovs", "run-ovs.ps1", "runs the OVS daemons"),
    ("agent", "run-agent.ps1", "runs antrea-agent"),
    ("vmswitch", "vmswitch-extension.ps1", "turns the OVS vSwitch extension on or off"),
)


def antrea(checked: VersionedConfig, net: ClusterNetwork, images: Mapping[str, str], script: ScriptFn) -> list[Obj]:
    """Antrea's Windows agent with its OVS daemons (the Linux side is the same release's antrea.yml)."""
    host, port = _api_endpoint(checked)
    agent_conf = {
        "featureGates": {},
        "trafficEncapMode": "encap",
        "tunnelType": net.backend,
        # proxyAll: AntreaProxy serves every Service on the node, so the agent reaches the API server
        # itself (docs/windows.md: kubeAPIServerOverride must be set).
        "kubeAPIServerOverride": f"https://{host}:{port}",
        "antreaProxy": {"enable": True, "proxyAll": True},
    }
    config = _config_map("antrea-windows-config", ANTREA_NS, {
        ANTREA_AGENT_CONF: yaml.dump(agent_conf, Dumper=_Dumper, sort_keys=True, default_flow_style=False),
        ANTREA_CONFLIST: cni.to_json(cni.agent_conflist(checked.cfg)),
    })
    values = {
        "ds_cni_bin_mount": sandbox_rel(CNI_BIN_MOUNT), "ds_cni_conf_mount": sandbox_rel(CNI_CONF_MOUNT),
        "ds_antrea_conflist": sandbox_rel(ANTREA_CFG_MOUNT, ANTREA_CONFLIST), "ds_cni_conf_file": ANTREA_CNI_FILE,
        "ds_antrea_agent_conf": sandbox_rel(ANTREA_CFG_MOUNT, ANTREA_AGENT_CONF),
    }
    scripts = _config_map("antrea-agent-windows", ANTREA_NS, {
        file: script("ds-antrea.ps1.j2", {**values, "ds_step": step, "ds_step_what": what})
        for step, file, what in ANTREA_STEPS})
    files = {step: file for step, file, _ in ANTREA_STEPS}
    image = images[ANTREA_IMAGE]
    cfg_mount = _mount("antrea-windows-config", ANTREA_CFG_MOUNT, readOnly=True)
    scripts_mount = _mount("antrea-agent-windows", ANTREA_SCRIPTS_MOUNT, readOnly=True)
    requests = {"resources": {"requests": {"cpu": "200m", "memory": "100Mi"}}}

    def run(step: str, *args: str) -> list[str]:
        return _powershell(ANTREA_SCRIPTS_MOUNT, files[step], *args)

    # The labels of Antrea's own Windows DaemonSet: app is the CNI's name.
    labels = {"app": checked.mode.plugin_for(checked.runtime), "component": "antrea-agent"}
    pod = {
        "serviceAccountName": "antrea-agent",
        "initContainers": [
            _container("install-cni", image, run("install-cni"), [cfg_mount, scripts_mount, *_cni_dir_mounts()]),
            _container("install-ovs-driver", image, run("install-ovs"), [scripts_mount]),
        ],
        "containers": [
            _container("antrea-agent", image, run("agent"),
                       [cfg_mount, scripts_mount, _mount("var-log-antrea", "/var/log/antrea")],
                       env=[_field_env("POD_NAME", "metadata.name"), _field_env("POD_NAMESPACE", "metadata.namespace"),
                            _field_env("NODE_NAME", "spec.nodeName")],
                       lifecycle={"postStart": {"exec": {"command": run("vmswitch", "-Extension", "enable")}},
                                  "preStop": {"exec": {"command": run("vmswitch", "-Extension", "disable")}}},
                       **requests),
            _container("antrea-ovs", image, run("ovs"),
                       [scripts_mount, _mount("var-log-antrea", "/var/log/openvswitch", subPath="openvswitch")],
                       **requests),
        ],
        "volumes": [_config_volume("antrea-windows-config", "antrea-windows-config"),
                    _config_volume("antrea-agent-windows", "antrea-agent-windows"),
                    *_cni_dir_volumes(net.dirs), _host_path("var-log-antrea", "C:\\var\\log\\antrea")],
    }
    # As Antrea's own Windows DaemonSet (v2.7.0) annotates its pods.
    inherit = {"microsoft.com/hostprocess-inherit-user": "true"}
    return [config, scripts, _daemonset("antrea-agent-windows", ANTREA_NS, labels, pod, [config, scripts], inherit)]


# --------------------------------------------------------------------------- the files


def _api_endpoint(checked: VersionedConfig) -> tuple[str, int]:
    net = checked.cfg.network
    assert net.control_plane_ip, "config.rules requires network.control_plane_ip for a cluster-run network"
    return net.control_plane_ip, net.api_server_port


def manifest_names(checked: VersionedConfig) -> list[str]:
    """The files of k/cluster/ for this configuration, in the order they are applied."""
    net = checked.mode.cluster
    if net is None:
        return []
    names = {CNI_FLANNEL: "flannel-windows.yaml", CNI_CALICO: "calico-windows.yaml", CNI_ANTREA: "antrea-windows.yaml"}
    out = [f"{FOLDER}/{names[net.cni]}"]
    if checked.mode.kube_proxy.daemonset:
        out.append(f"{FOLDER}/kube-proxy-windows.yaml")
    return out


def manifests(checked: VersionedConfig, images: Mapping[str, str], registry: str, script: ScriptFn,
              kubeproxy_args: Sequence[Any]) -> dict[str, list[Obj]]:
    """Each file of k/cluster/ (by bundle path), in the order the cluster admin applies them."""
    net = checked.mode.cluster
    if net is None:
        return {}
    builders: dict[str, Callable[[], list[Obj]]] = {
        CNI_FLANNEL: lambda: flannel(checked, net, images, script),
        CNI_CALICO: lambda: calico(checked, net, registry),
        CNI_ANTREA: lambda: antrea(checked, net, images, script),
    }
    cni_file, *rest = manifest_names(checked)
    out = {cni_file: builders[net.cni]()}
    for dest in rest:  # the kube-proxy DaemonSet
        out[dest] = kube_proxy(checked, net, images, script, kubeproxy_args)
    return out


def manifest_yaml(dest: str, objects: Sequence[Obj], checked: VersionedConfig) -> str:
    head = (f"# {dest}: generated by k8s-windows-bundle for Kubernetes {checked.version}, network mode "
            f"{checked.mode.name}.\n# Apply it on the cluster before joining the node: kubectl apply -f <this file>\n")
    return head + samples.dump_objects(objects, sort_keys=True, dumper=_Dumper)


class _Dumper(samples.NoAliasDumper):
    """No anchors and aliases; a text of several lines (a script, a config file) as a literal block."""


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _text)
