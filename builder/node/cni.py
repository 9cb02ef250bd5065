"""The CNI network config and flannel's net-conf.json, built as data and serialized as JSON.

This module is the one owner of the CNI endpoint policies. Shapes, by the plugin the network mode's
record names for the runtime (`builder.config.modes`):
- `wincni.exe` (Microsoft SDN), L2Bridge (`AdditionalArgs`).
- `win-bridge` (containernetworking/plugins), L2Bridge.
- `win-overlay` (containernetworking/plugins), HNS Overlay (VXLAN).

The bundle ships the config as a template (`TEMPLATE`, tracked by manifest.json and never changed
on the node). start-kubelet.ps1 fills in only the node's own values (its pod subnet and gateway,
its management subnet and address in the bridge modes, the run-time names) and writes the live
file into `LIVE_DIR`, which no manifest tracks.
"""

from __future__ import annotations

import json
from typing import Any

from ..config import CONTAINERD, Config, mode_for
from ..config.modes import L2BRIDGE, VXLAN
from ..errors import RenderError

Json = dict[str, Any]

TEMPLATE = "cni/cni-config.template.json"
# Under install_dir on the node: the folder kubelet (docker) or containerd reads configs from.
LIVE_DIR = "cni\\conf"
NET_CONF = "flannel/net-conf.json"
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
    mode = mode_for(net.mode)
    plugin = mode.plugin_for(runtime)
    dns = {"Nameservers": [net.dns_service_ip], "Search": [net.dns_suffix]}
    policies = endpoint_policies(net.cluster_cidr, net.service_cidr, l2bridge=mode.hns_type == L2BRIDGE)
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
    if mode.endpoint_mac_prefix:
        conf["endpointMacPrefix"] = mode.endpoint_mac_prefix
    return conf


def net_conf(cfg: Config) -> Json:
    """flannel's net-conf.json for a flannel mode: it must match the cluster's kube-flannel-cfg.

    Windows limits (flannel pkg/backend/vxlan/vxlan_windows.go): VNI 4096 or more, port 4789.
    `Name` is the HNS network flanneld creates; the CNI config and kube-proxy use the same name.
    """
    net = cfg.network
    mode = mode_for(net.mode)
    if not mode.runs_flanneld:
        msg = f"network.mode: {net.mode} does not run flannel"
        raise RenderError(msg)
    backend: Json = {"Type": mode.flannel_backend, "Name": net.network_name}
    if mode.encapsulation == VXLAN:
        backend.update({"VNI": net.vxlan_vni, "Port": net.vxlan_port})
    return {"Network": net.cluster_cidr, "Backend": backend}


def to_json(conf: Json) -> str:
    """Stable, ASCII-only JSON text (keys in the order built, two-space indent, final newline)."""
    return json.dumps(conf, indent=2, ensure_ascii=True) + "\n"


def cluster_flannel_conf(cfg: Config) -> Json:
    """The CNI config template of flannel's Windows DaemonSet: flannel's plugin delegating to Microsoft's
    sdnoverlay (vxlan) or sdnbridge (host-gw), with the HNS v2 policy shapes those plugins read
    (sig-windows-tools' flannel manifests). The DaemonSet's script fills in the node's own values:
    an empty exception is its subnet, an empty prefix its address, the provider address its address."""
    net = cfg.network
    mode = mode_for(net.mode)
    bridge = mode.hns_type == L2BRIDGE
    exceptions = [net.cluster_cidr, net.service_cidr] + ([""] if bridge else [])
    values: list[Json] = [
        {"Type": "OutBoundNAT", "Settings": {"Exceptions": exceptions}},
        {"Type": "SDNROUTE", "Settings": {"DestinationPrefix": net.service_cidr, "NeedEncap": True}},
    ]
    if bridge:
        values.append({"Type": "SDNROUTE", "Settings": {"DestinationPrefix": "", "NeedEncap": True}})
    else:
        values.append({"Type": "ProviderAddress", "Settings": {"ProviderAddress": ""}})
    delegate: Json = {"type": "sdnbridge" if bridge else "sdnoverlay"}
    if bridge:
        # The pods' gateway is the bridge's own endpoint (flannel's host-gw CNI config for containerd).
        delegate["optionalFlags"] = {"forceBridgeGateway": True}
    delegate["AdditionalArgs"] = [{"Name": "EndpointPolicy", "Value": v} for v in values]
    return {
        "cniVersion": "0.3.0",
        "name": net.network_name,
        "type": mode.plugin_for(CONTAINERD),
        "capabilities": {"portMappings": True, "dns": True},
        "delegate": delegate,
    }


def agent_conflist(cfg: Config) -> Json:
    """The CNI config list of a CNI whose agent programs the endpoints itself (Antrea): its plugin with
    host-local IPAM on the node's podCIDR, as antrea-windows-with-ovs.yml (v2.7.0) installs it."""
    plugin = mode_for(cfg.network.mode).plugin_for(CONTAINERD)
    return {"cniVersion": "0.3.0", "name": plugin,
            "plugins": [{"type": plugin, "ipam": {"type": "host-local"}, "capabilities": {"dns": True}}]}
