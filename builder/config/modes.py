"""The network modes: one frozen record per mode, and the container runtimes they run with.

Every other module asks a mode's record (`mode_for`, `MODES`) instead of comparing its name, and
the templates get flags derived from it (`builder.node.render.context`). Adding a mode is one row
here plus the template parts its fields switch on; README.md ("Development") walks through it.

A row says who does each part of the pod network on a Windows node:
- the HNS network the pods sit on (`hns_type`) and who creates it (`pod_network_by`);
- the CNI plugin per container runtime and who installs it (`cni_by`);
- the encapsulation (`encapsulation`; VXLAN takes network.vxlan_vni and network.vxlan_port);
- who programs the routes to the other nodes' pod subnets (`routes_by`);
- kube-proxy: whether it runs on the node, and what it needs there (a source VIP, the WinOverlay gate);
- the inputs of the node kit it needs whatever the runtime (`inputs`, names of `kit_inputs.KIT_INPUTS`);
- the runtimes and Kubernetes minors it supports, and the firewall ports it opens beyond the node's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..errors import ConfigError
from .kit_inputs import CNI, FLANNEL
from .runtimes import CONTAINERD, DOCKER, RUNTIMES

Minor = tuple[int, int]

# The HNS network types the pods sit on, and the encapsulation an Overlay network uses.
L2BRIDGE = "L2Bridge"
OVERLAY = "Overlay"
VXLAN = "vxlan"

# Who programs the routes to the other nodes' pod subnets.
ROUTES_STATIC = "static"  # the bundle's AddRoutes.ps1, run by the operator when nodes join
ROUTES_NETWORK = "network"  # the physical network (the operator's router): nothing on the node
ROUTES_FLANNELD = "node-flanneld"  # flanneld, run on the node by the bundle
ROUTES_AGENT = "agent"  # the operator's own agent: none is part of the bundle
ROUTES_CLUSTER = "cluster"  # a DaemonSet the cluster runs (HostProcess)
# Who creates the pod HNS network, and who installs the CNI plugin and its config.
BY_SCRIPTS = "scripts"  # the bundle's node scripts
BY_FLANNELD = "node-flanneld"  # flanneld on the node (it creates its backend's network itself)
BY_CLUSTER = "cluster"  # a DaemonSet the cluster runs


@dataclass(frozen=True)
class FirewallPort:
    """An inbound port a mode needs open on the node, beyond kubelet's and kube-proxy's own."""

    name: str  # the rule's name, after k8s-windows-bundle-
    protocol: str  # TCP or UDP
    why: str
    port: int = 0
    port_key: str = ""  # a network.<key> the port is read from instead (vxlan_port)


@dataclass(frozen=True)
class FixedPort:
    """A port the mode's other side accepts alone: network.vxlan_port must be it."""

    port: int
    who: str  # what accepts it alone
    also_in: str  # where else the operator sets it


@dataclass(frozen=True)
class KubeProxy:
    """kube-proxy in this mode."""

    on_node: bool = True  # the bundle runs it (a script, a service); False: the cluster runs it as a DaemonSet
    source_vip: bool = False  # --source-vip: an address of the node's pod subnet (HNS Overlay networks)
    win_overlay_gate: bool = False  # --feature-gates=WinOverlay=true until the gate is locked to true


@dataclass(frozen=True)
class NetworkMode:
    name: str
    hns_type: str  # L2BRIDGE or OVERLAY: the HNS network the pods sit on
    cni_plugin: Mapping[str, str]  # runtime -> the CNI plugin (wincni.exe from SDN; win-* from the cni input)
    network_name: str  # the default HNS network name; {vni} stands for network.vxlan_vni
    routes_by: str
    pod_network_by: str = BY_SCRIPTS
    cni_by: str = BY_SCRIPTS
    encapsulation: str = ""  # "" or VXLAN
    vxlan_port_fixed: FixedPort | None = None  # the one VXLAN port the routes' owner accepts
    flannel_backend: str = ""  # flanneld's backend (net-conf.json's Backend.Type) when flanneld runs on the node
    endpoint_mac_prefix: str = ""  # win-overlay's endpointMacPrefix, where the routes' owner names remote MACs so
    kube_proxy: KubeProxy = field(default_factory=KubeProxy)
    inputs: tuple[str, ...] = ()  # node-kit inputs this mode needs with every runtime
    runtimes: tuple[str, ...] = RUNTIMES
    since: Minor = (1, 9)  # the first Kubernetes minor this mode works with
    since_why: str = ""  # what arrives in that minor, for the error that refuses an older one
    firewall: tuple[FirewallPort, ...] = ()

    def plugin_for(self, runtime: str) -> str:
        return self.cni_plugin[runtime]

    def default_network_name(self, vni: int) -> str:
        return self.network_name.format(vni=vni)

    @property
    def runs_flanneld(self) -> bool:
        """flanneld runs on the node (start-flanneld.ps1, the flanneld task), with net-conf.json."""
        return bool(self.flannel_backend)


_BRIDGE_PLUGINS = MappingProxyType({DOCKER: "wincni.exe", CONTAINERD: "win-bridge"})
_OVERLAY_PLUGINS = MappingProxyType({DOCKER: "win-overlay", CONTAINERD: "win-overlay"})
_VXLAN_PORT = FirewallPort(name="vxlan", protocol="UDP", why="VXLAN between the nodes", port_key="vxlan_port")
_OVERLAY_PROXY = KubeProxy(source_vip=True, win_overlay_gate=True)
# flannel pkg/backend/vxlan/vxlan_windows.go: port 4789 on Windows (the Linux default is 8472).
_FLANNEL_VXLAN_PORT = FixedPort(4789, "flannel's Windows vxlan backend", "the cluster's kube-flannel-cfg")
_WIN_OVERLAY = "kube-proxy's WinOverlay support, added in 1.14"

# The first row is the default mode (network.mode).
MODES: tuple[NetworkMode, ...] = (
    NetworkMode(name="host-gw", hns_type=L2BRIDGE, cni_plugin=_BRIDGE_PLUGINS, network_name="l2bridge",
                routes_by=ROUTES_STATIC),
    NetworkMode(name="l3", hns_type=L2BRIDGE, cni_plugin=_BRIDGE_PLUGINS, network_name="l2bridge",
                routes_by=ROUTES_NETWORK),
    NetworkMode(name="overlay", hns_type=OVERLAY, cni_plugin=_OVERLAY_PLUGINS, network_name="vxlan0",
                routes_by=ROUTES_AGENT, encapsulation=VXLAN, kube_proxy=_OVERLAY_PROXY, inputs=(CNI,),
                since=(1, 14), since_why=_WIN_OVERLAY, firewall=(_VXLAN_PORT,)),
    # flannel's Windows backends name their HNS network flannel.<VNI> (vxlan) and cbr0 (host-gw), and
    # create it themselves. Its vxlan backend gives remote endpoints MACs with the prefix 0E-2A (its
    # default MacPrefix): win-overlay must make local endpoints' MACs the same way ("endpointMacPrefix:
    # required for vxlan mode", flannel-io/cni-plugin README; containernetworking/plugins win-overlay).
    NetworkMode(name="flannel-vxlan", hns_type=OVERLAY, cni_plugin=_OVERLAY_PLUGINS, network_name="flannel.{vni}",
                routes_by=ROUTES_FLANNELD, pod_network_by=BY_FLANNELD, encapsulation=VXLAN,
                vxlan_port_fixed=_FLANNEL_VXLAN_PORT, flannel_backend="vxlan", endpoint_mac_prefix="0E-2A",
                kube_proxy=_OVERLAY_PROXY, inputs=(CNI, FLANNEL), since=(1, 14), since_why=_WIN_OVERLAY,
                firewall=(_VXLAN_PORT,)),
    NetworkMode(name="flannel-host-gw", hns_type=L2BRIDGE, cni_plugin=_BRIDGE_PLUGINS, network_name="cbr0",
                routes_by=ROUTES_FLANNELD, pod_network_by=BY_FLANNELD, flannel_backend="host-gw",
                inputs=(CNI, FLANNEL)),
)
MODES_BY_NAME: Mapping[str, NetworkMode] = MappingProxyType({m.name: m for m in MODES})
NETWORK_MODES = tuple(MODES_BY_NAME)
DEFAULT_MODE = NETWORK_MODES[0]
FLANNEL_MODES = tuple(m.name for m in MODES if m.runs_flanneld)


def mode_for(name: str) -> NetworkMode:
    """The record of a configured network.mode (validated at load; an unknown one is a ConfigError)."""
    mode = MODES_BY_NAME.get(name)
    if mode is None:
        msg = f"network.mode: {name!r} is not a network mode; use one of {', '.join(NETWORK_MODES)}"
        raise ConfigError(msg)
    return mode
