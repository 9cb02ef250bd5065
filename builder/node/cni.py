"""The CNI network config, built as data and serialized as JSON (never by text templating).

Three shapes, by network mode and runtime:
- `wincni.exe` (Microsoft SDN), L2Bridge, for host-gw and l3 with docker: the seed's shape
  (ipam subnet and route gateway, DNS, `AdditionalArgs` endpoint policies).
- `win-bridge` (containernetworking/plugins), L2Bridge, for host-gw and l3 with containerd.
- `win-overlay` (containernetworking/plugins), VXLAN, for overlay.

The node's own pod subnet and management address are only known on the node: the shipped file
leaves `ipam.subnet` empty and start-kubelet.ps1 fills it in (as data, with ConvertFrom-Json)
before kubelet starts.
"""

from __future__ import annotations

import json
from typing import Any

from ..config import Config
from ..errors import RenderError

Json = dict[str, Any]

CONFIG_DIR = "cni/config"


def plugin_for(mode: str, runtime: str) -> str:
    """The CNI plugin binary name (without .exe for the containernetworking ones)."""
    if mode == "overlay":
        return "win-overlay"
    if mode in ("host-gw", "l3"):
        return "wincni.exe" if runtime == "docker" else "win-bridge"
    msg = f"network.mode: {mode!r} has no CNI plugin; use host-gw, l3 or overlay"
    raise RenderError(msg)


def config_dest(cfg: Config) -> str:
    """Where the config lives inside the bundle's k/ folder (and under install_dir on the node)."""
    return f"{CONFIG_DIR}/{cfg.network.network_name}.conf"


def endpoint_policies(cluster_cidr: str, service_cidr: str, mgmt_subnet: str | None = None,
                      mgmt_ip: str | None = None, *, l2bridge: bool = True) -> list[Json]:
    """OutBoundNAT with its exception list, and ROUTE policies with NeedEncap.

    Traffic to pods and services is not NATed; service traffic and (L2Bridge) traffic to the
    host's own address is encapsulated so that it reaches kube-proxy's load balancers.
    """
    exceptions = [cluster_cidr, service_cidr]
    if mgmt_subnet:
        exceptions.append(mgmt_subnet)
    values: list[Json] = [
        {"Type": "OutBoundNAT", "ExceptionList": exceptions},
        {"Type": "ROUTE", "DestinationPrefix": service_cidr, "NeedEncap": True},
    ]
    if l2bridge and mgmt_ip:
        values.append({"Type": "ROUTE", "DestinationPrefix": f"{mgmt_ip}/32", "NeedEncap": True})
    return [{"Name": "EndpointPolicy", "Value": v} for v in values]


def build(cfg: Config, runtime: str) -> Json:
    """The CNI network config for this configuration and runtime, as plain data."""
    net = cfg.network
    plugin = plugin_for(net.mode, runtime)
    dns = {"Nameservers": [net.dns_service_ip], "Search": [net.dns_suffix]}
    policies = endpoint_policies(net.cluster_cidr, net.service_cidr, l2bridge=net.mode != "overlay")
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
    conf: Json = {
        "cniVersion": "0.2.0",
        "name": net.network_name,
        "type": plugin,
        "capabilities": {"portMappings": True, "dns": True},
        # win-bridge and win-overlay take the gateway from the subnet themselves.
        "ipam": {"type": "host-local", "subnet": ""},
        "dns": dns,
        "policies": [{"name": p["Name"], "value": p["Value"]} for p in policies],
    }
    return conf


def to_json(conf: Json) -> str:
    """Stable, ASCII-only JSON text (keys in the order built, two-space indent, final newline)."""
    return json.dumps(conf, indent=2, ensure_ascii=True) + "\n"
