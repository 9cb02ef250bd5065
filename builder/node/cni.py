"""The CNI network config and flannel's net-conf.json, built as data and serialized as JSON.

This module is the one owner of the CNI endpoint policies. Shapes, by network mode and runtime:
- `wincni.exe` (Microsoft SDN), L2Bridge, for the bridge modes with docker (`AdditionalArgs`).
- `win-bridge` (containernetworking/plugins), L2Bridge, for the bridge modes with containerd.
- `win-overlay` (containernetworking/plugins), HNS Overlay (VXLAN), for the overlay modes.

The bundle ships the config as a template (`TEMPLATE`, tracked by manifest.json and never changed
on the node). start-kubelet.ps1 fills in only the node's own values (its pod subnet and gateway,
its management subnet and address in the bridge modes, the run-time names) and writes the live
file into `LIVE_DIR`, which no manifest tracks.
"""

from __future__ import annotations

import json
from typing import Any

from ..config import Config
from ..errors import RenderError

Json = dict[str, Any]

TEMPLATE = "cni/cni-config.template.json"
# Under install_dir on the node: the folder kubelet (docker) or containerd reads configs from.
LIVE_DIR = "cni\\conf"
NET_CONF = "flannel/net-conf.json"
BRIDGE_MODES = ("host-gw", "l3", "flannel-host-gw")
OVERLAY_MODES = ("overlay", "flannel-vxlan")
FLANNEL_MODES = ("flannel-vxlan", "flannel-host-gw")
# flannel's Windows vxlan backend gives its remote endpoints MACs with this prefix (its default
# MacPrefix); win-overlay must make local endpoints' MACs the same way ("endpointMacPrefix: required
# for vxlan mode", flannel-io/cni-plugin README; containernetworking/plugins win-overlay).
FLANNEL_MAC_PREFIX = "0E-2A"


def plugin_for(mode: str, runtime: str) -> str:
    """The CNI plugin binary name (without .exe for the containernetworking ones)."""
    if mode in OVERLAY_MODES:
        return "win-overlay"
    if mode in BRIDGE_MODES:
        return "wincni.exe" if runtime == "docker" else "win-bridge"
    msg = f"network.mode: {mode!r} has no CNI plugin; use one of {', '.join(BRIDGE_MODES + OVERLAY_MODES)}"
    raise RenderError(msg)


def endpoint_policies(cluster_cidr: str, service_cidr: str, *, l2bridge: bool) -> list[Json]:
    """OutBoundNAT with its exception list, and ROUTE policies with NeedEncap.

    Traffic to pods and services is not NATed; service traffic is encapsulated so that it reaches
    kube-proxy's load balancers. L2Bridge (SDN helper.psm1's l2bridge shape) also exempts the
    node's own subnet and routes the node's own address through the host: both are node values,
    left empty here (an empty ExceptionList entry, an empty DestinationPrefix) for the node to
    fill. Overlay exempts the cluster and service ranges only, as SDN and flannel do: pod traffic
    to hosts of the node's subnet is NATed to the node's address, which those hosts can answer.
    """
    exceptions = [cluster_cidr, service_cidr] + ([""] if l2bridge else [])
    values: list[Json] = [
        {"Type": "OutBoundNAT", "ExceptionList": exceptions},
        {"Type": "ROUTE", "DestinationPrefix": service_cidr, "NeedEncap": True},
    ]
    if l2bridge:
        values.append({"Type": "ROUTE", "DestinationPrefix": "", "NeedEncap": True})
    return [{"Name": "EndpointPolicy", "Value": v} for v in values]


def build(cfg: Config, runtime: str) -> Json:
    """The CNI network config template for this configuration and runtime, as plain data."""
    net = cfg.network
    plugin = plugin_for(net.mode, runtime)
    dns = {"Nameservers": [net.dns_service_ip], "Search": [net.dns_suffix]}
    policies = endpoint_policies(net.cluster_cidr, net.service_cidr, l2bridge=net.mode in BRIDGE_MODES)
    if plugin == "wincni.exe":
        return {
            "cniVersion": "0.2.0",
            "name": net.network_name,
            "type": plugin,
            "master": net.nic_name,
            "capabilities": {"portMappings": True},
            # The route gateway is the pod subnet's .2: the platform reserves .1.
            "ipam": {"environment": "azure", "subnet": "", "routes": [{"GW": ""}]},
            "dns": dns,
            "AdditionalArgs": policies,
        }
    ipam: Json = {"type": "host-local", "subnet": ""}
    if plugin == "win-bridge":
        # win-bridge routes pods via .2 of the subnet (the host's bridge endpoint) and the network
        # holds .1: host-local must hand out neither, so the node sets gateway .2 and rangeStart .3.
        ipam.update({"rangeStart": "", "gateway": ""})
    conf: Json = {
        "cniVersion": "0.2.0",
        "name": net.network_name,
        "type": plugin,
        "capabilities": {"portMappings": True, "dns": True},
        # win-overlay takes the gateway (.1) from the subnet itself.
        "ipam": ipam,
        "dns": dns,
        "policies": [{"name": p["Name"], "value": p["Value"]} for p in policies],
    }
    if net.mode == "flannel-vxlan":
        conf["endpointMacPrefix"] = FLANNEL_MAC_PREFIX
    return conf


def net_conf(cfg: Config) -> Json:
    """flannel's net-conf.json for a flannel mode: it must match the cluster's kube-flannel-cfg.

    Windows limits (flannel pkg/backend/vxlan/vxlan_windows.go): VNI 4096 or more, port 4789.
    `Name` is the HNS network flanneld creates; the CNI config and kube-proxy use the same name.
    """
    net = cfg.network
    if net.mode == "flannel-vxlan":
        backend: Json = {"Type": "vxlan", "Name": net.network_name, "VNI": net.vxlan_vni, "Port": net.vxlan_port}
    elif net.mode == "flannel-host-gw":
        backend = {"Type": "host-gw", "Name": net.network_name}
    else:
        msg = f"network.mode: {net.mode} does not run flannel"
        raise RenderError(msg)
    return {"Network": net.cluster_cidr, "Backend": backend}


def to_json(conf: Json) -> str:
    """Stable, ASCII-only JSON text (keys in the order built, two-space indent, final newline)."""
    return json.dumps(conf, indent=2, ensure_ascii=True) + "\n"
