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
- the runtimes and Kubernetes minors it supports, and the firewall ports it opens beyond the node's own;
- for a mode whose network the cluster runs as HostProcess DaemonSets (`cluster`): which CNI's
  manifests the bundle carries, the folders that CNI's Windows installer writes to (containerd must
  read the same ones), and the containerd and Windows builds it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError
from .kit_inputs import CNI, FLANNEL
from .runtimes import CONTAINERD, DOCKER, RUNTIMES

Minor = tuple[int, int]

# The HNS network types the pods sit on, and the encapsulation an Overlay network uses.
L2BRIDGE = "L2Bridge"
OVERLAY = "Overlay"
TRANSPARENT = "Transparent"  # Antrea's HNS network, with the OVS extension on its vSwitch
VXLAN = "vxlan"
GENEVE = "geneve"

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
    """A value the mode's other side accepts alone: network.vxlan_port (or vxlan_vni) must be it."""

    port: int
    who: str  # what accepts it alone
    also_in: str  # where else the operator sets it


@dataclass(frozen=True)
class KubeProxy:
    """kube-proxy in this mode."""

    on_node: bool = True  # the bundle runs it (a script, a service); False: the cluster runs it
    source_vip: bool = False  # --source-vip: an address of the node's pod subnet (HNS Overlay networks)
    win_overlay_gate: bool = False  # --feature-gates=WinOverlay=true until the gate is locked to true
    # Not on the node: the bundle's cluster manifests run it as a HostProcess DaemonSet (`daemonset`),
    # or the CNI's own agent replaces it (`replaced_by` says which).
    daemonset: bool = False
    replaced_by: str = ""
    # With a source VIP in a DaemonSet: the HNS endpoint the CNI creates whose address it is ("": one
    # address is reserved from the node's pod subnet with host-local, as on the node).
    source_vip_endpoint: str = ""


@dataclass(frozen=True)
class CniDirs:
    """The host folders a cluster-installed CNI's Windows installer writes its plugins and its network
    config to; containerd's CRI plugin (bin_dir, conf_dir) must read the same ones."""

    bin: str
    conf: str
    log: str = ""  # the CNI's log folder, where its manifests name one


@dataclass(frozen=True)
class ClusterNetwork:
    """A network the cluster runs on the node as HostProcess DaemonSets, from the bundle's k/cluster/."""

    cni: str  # whose manifests: CNI_FLANNEL, CNI_CALICO or CNI_ANTREA (builder/node/cluster.py builds each)
    backend: str  # flannel's Backend.Type, Calico's Windows networking backend, Antrea's tunnel type
    dirs: CniDirs
    containerd_min: Minor  # the oldest containerd (major, minor) the DaemonSets run on
    containerd_why: str
    windows_build: int  # the oldest Windows build
    windows_why: str
    ovs: bool = False  # the CNI's Open vSwitch runs on the node (Hyper-V, the OVS driver's signature)


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
    vxlan_vni_fixed: FixedPort | None = None  # the one VNI the routes' owner accepts
    cluster: ClusterNetwork | None = None  # set: the cluster runs the network (pod_network_by, cni_by: cluster)

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

# Whose manifests a cluster-run network takes (builder/node/cluster.py has one builder for each).
CNI_FLANNEL = "flannel-daemonset"
CNI_CALICO = "calico-operator"
CNI_ANTREA = "antrea-agent"
# HostProcess pods run the cluster's network on the node: GA in Kubernetes 1.26.
_HOSTPROCESS = (1, 26)
_HOSTPROCESS_WHY = "HostProcess containers (GA in 1.26), which run the cluster's network DaemonSets on the node"
# containerd 1.7 mounts a HostProcess pod's volumes and service account token at their own paths on
# the host (Antrea v2.7.0 Install-WindowsCNI.ps1 relies on it; hcsshim's bind filter), and imports
# images built on the HostProcess base image.
_CONTAINERD_HPC = (1, 7)
_CONTAINERD_HPC_WHY = "HostProcess pods get their volumes and service account token on the host from containerd 1.7"
_WS2019 = 17763
_WS2019_WHY = "HostProcess containers need Windows Server 2019 (build 17763) or newer"
# Where each CNI's Windows installer writes: sig-windows-tools' flannel DaemonSet (CNI_BIN_PATH,
# CNI_CONFIG_PATH) and Install-Containerd.ps1's defaults, Antrea v2.7.0's Install-WindowsCNI.ps1, and
# the Tigera operator's Windows defaults for vanilla Kubernetes (DefaultWindowsCNIDirectories).
_OPT_CNI = CniDirs(bin="C:\\opt\\cni\\bin", conf="C:\\etc\\cni\\net.d")
_CALICO_DIRS = CniDirs(bin="C:\\opt\\cni\\bin", conf="C:\\etc\\cni\\net.d", log="C:\\var\\log\\calico\\cni")


def _hostprocess(cni: str, backend: str, dirs: CniDirs, *, ovs: bool = False) -> ClusterNetwork:
    return ClusterNetwork(cni=cni, backend=backend, dirs=dirs, containerd_min=_CONTAINERD_HPC,
                          containerd_why=_CONTAINERD_HPC_WHY, windows_build=_WS2019, windows_why=_WS2019_WHY, ovs=ovs)


def _cluster_run(name: str, hns_type: str, plugin: str, network_name: str, kube_proxy: KubeProxy,
                 cluster: ClusterNetwork, **fields: Any) -> NetworkMode:
    """A row whose network the cluster runs: containerd only, from the HostProcess minor on."""
    return NetworkMode(name=name, hns_type=hns_type, cni_plugin=MappingProxyType({CONTAINERD: plugin}),
                       network_name=network_name, routes_by=ROUTES_CLUSTER, pod_network_by=BY_CLUSTER,
                       cni_by=BY_CLUSTER, kube_proxy=kube_proxy, runtimes=(CONTAINERD,), since=_HOSTPROCESS,
                       since_why=_HOSTPROCESS_WHY, cluster=cluster, **fields)

# The cluster's kube-proxy DaemonSet: on an overlay it needs a source VIP (and WinOverlay before 1.34).
_DS_PROXY = KubeProxy(on_node=False, daemonset=True)
_DS_OVERLAY_PROXY = KubeProxy(on_node=False, daemonset=True, source_vip=True, win_overlay_gate=True)
# Calico's Windows VXLAN: Felix's defaults (FelixConfiguration vxlanVNI 4096, vxlanPort 4789).
_CALICO_VNI = FixedPort(4096, "Calico's Windows VXLAN (FelixConfiguration vxlanVNI)",
                        "the cluster's FelixConfiguration")
_CALICO_PORT = FixedPort(4789, "Calico's Windows VXLAN (FelixConfiguration vxlanPort)",
                         "the cluster's FelixConfiguration")
_BGP = FirewallPort(name="bgp", protocol="TCP", why="BGP between the nodes (Calico's confd and BGP peers)", port=179)
# Antrea's network requirements (docs/network-requirements.md, v2.7.0): Geneve, and the agent's own
# ports (10349 is antrea-controller's, which runs on Linux nodes only).
_ANTREA_PORTS = (
    FirewallPort(name="geneve", protocol="UDP", why="Geneve between the nodes (Antrea's tunnel)", port=6081),
    FirewallPort(name="antrea-agent-api", protocol="TCP", why="antrea-agent's API (antctl, support bundles)",
                 port=10350),
    FirewallPort(name="antrea-memberlist-tcp", protocol="TCP", why="Antrea's memberlist (Egress, node health)",
                 port=10351),
    FirewallPort(name="antrea-memberlist-udp", protocol="UDP", why="Antrea's memberlist (Egress, node health)",
                 port=10351),
)

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
    # The cluster runs flannel (sig-windows-tools' HostProcess DaemonSet, before 729ae7c) and kube-proxy;
    # the CNI plugin is flannel's (flannel.exe, named like the project), delegating to Microsoft's
    # sdnoverlay / sdnbridge.
    _cluster_run("flannel-hostprocess-vxlan", OVERLAY, FLANNEL, "flannel.{vni}", _DS_OVERLAY_PROXY,
                 _hostprocess(CNI_FLANNEL, VXLAN, _OPT_CNI), encapsulation=VXLAN,
                 vxlan_port_fixed=_FLANNEL_VXLAN_PORT, firewall=(_VXLAN_PORT,)),
    _cluster_run("flannel-hostprocess-host-gw", L2BRIDGE, FLANNEL, "cbr0", _DS_PROXY,
                 _hostprocess(CNI_FLANNEL, "host-gw", _OPT_CNI)),
    # Calico for Windows, installed by the Tigera operator (Installation windowsDataplane: HNS); kube-proxy
    # as sig-windows-tools' Calico DaemonSet runs it (network Calico; on VXLAN the source VIP is the
    # address of the host endpoint Calico_ep).
    _cluster_run("calico-vxlan", OVERLAY, "calico", "Calico",
                 KubeProxy(on_node=False, daemonset=True, source_vip=True, win_overlay_gate=True,
                           source_vip_endpoint="Calico_ep"),
                 _hostprocess(CNI_CALICO, VXLAN, _CALICO_DIRS), encapsulation=VXLAN, vxlan_port_fixed=_CALICO_PORT,
                 vxlan_vni_fixed=_CALICO_VNI, firewall=(_VXLAN_PORT,)),
    _cluster_run("calico-bgp", L2BRIDGE, "calico", "Calico", _DS_PROXY,
                 _hostprocess(CNI_CALICO, "windows-bgp", _CALICO_DIRS), firewall=(_BGP,)),
    # Antrea's Windows agent and its OVS daemons as HostProcess pods (antrea-windows-with-ovs.yml,
    # v2.7.0); AntreaProxy with proxyAll takes over kube-proxy's work, so none runs on Windows nodes.
    _cluster_run("antrea", TRANSPARENT, "antrea", "antrea-hnsnetwork",
                 KubeProxy(on_node=False, replaced_by="AntreaProxy (proxyAll)"),
                 _hostprocess(CNI_ANTREA, GENEVE, _OPT_CNI, ovs=True), encapsulation=GENEVE, firewall=_ANTREA_PORTS),
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
