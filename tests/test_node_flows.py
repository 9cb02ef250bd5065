"""The node flows' choices: kubeadm's contract, flannel's configuration, the policies of the CNI
config, and the PowerShell each template partial or macro says once.

The rendered text of each flow is pinned by the goldens (test_render.py); the node-contract check
(test_node_contract.py) holds every mode, runtime and minor to the general rules. These tests check
what the goldens cannot show: the choice made for versions and configurations no golden renders.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from builder import config
from builder.artifacts import RenderedFile
from builder.config import Config, KubernetesSection, NetworkSection, NodeSection, check_for_version
from builder.config.flagtable import has_flag, uses_log_runner
from builder.errors import ConfigError
from builder.kversion import KubeVersion
from builder.node import cni, render

KUBEADM = ("kubelet", "kube-proxy", "kubectl", "kubeadm")


def bundle(mode: str = "host-gw", minor: int = 30, *, runtime: str | None = None, bundled: bool = False,
           kubeadm: bool = True, network_name: str = "winnet", labels: bool = True) -> dict[str, RenderedFile]:
    net = NetworkSection(mode=mode, cluster_cidr="10.200.0.0/16", service_cidr="10.100.0.0/16",
                         dns_service_ip="10.100.0.10", network_name=network_name, control_plane_ip="192.168.10.5")
    node = NodeSection(runtime=runtime, bundle_runtime=bundled,
                       labels=(("example.com/pool", "win"),) if labels else ())
    kube = KubernetesSection(components=KUBEADM if kubeadm else ("kubelet", "kube-proxy", "kubectl"))
    cfg = Config(kubernetes=kube, network=net, node=node)
    return {f.dest: f for f in render.render_bundle(cfg, f"v1.{minor}.0")}


def text(files: dict[str, RenderedFile], name: str) -> str:
    return files[name].data.decode("ascii").replace("\r\n", "\n")


# --------------------------------------------------------------------------- 1. containerd and the CNI plugin


# --------------------------------------------------------------------------- 2. and 7. the live CNI config


# --------------------------------------------------------------------------- kubeadm


@pytest.mark.parametrize(("minor", "api"), [((1, 15), "v1beta2"), ((1, 21), "v1beta2"), ((1, 22), "v1beta3"),
                                            ((1, 30), "v1beta3"), ((1, 31), "v1beta4"), ((1, 37), "v1beta4")])
def test_join_configuration_api_follows_the_minor(minor: tuple[int, int], api: str) -> None:
    # v1beta2 is refused from 1.27 and v1beta3 deprecated from 1.31: each minor gets one it reads.
    assert render.join_config_api(minor) == f"kubeadm.k8s.io/{api}"


def test_join_token_never_reaches_a_command_line() -> None:
    join = text(bundle(minor=37), "join-node.ps1")
    assert "--token" not in join
    # The private file gets its owner-only ACL before the token is written into it.
    assert join.index("New-PrivateFile $configFile") < join.index("WriteAllText($configFile")


def test_kubeadm_contract_flags_are_in_the_table() -> None:
    for flag in ("--bootstrap-kubeconfig", "--config", "--cert-dir"):
        assert has_flag("kubelet", flag, (1, 37), "containerd")


@pytest.mark.parametrize(("minor", "bundled", "needs"), [(26, False, True), (30, True, True), (31, False, False),
                                                         (37, True, False)])
def test_kubeadm_before_1_31_finds_crictl(minor: int, bundled: bool, needs: bool) -> None:
    # kubeadm until 1.30 runs crictl.exe for a CRI runtime; its join preflight stops without it
    # (FileExisting-crictl). The bundled runtime ships crictl.exe in the install folder, not on PATH.
    cfg = Config(kubernetes=KubernetesSection(components=KUBEADM), network=NetworkSection(network_name="winnet"),
                 node=NodeSection(bundle_runtime=bundled))
    ctx = render.context(check_for_version(cfg, KubeVersion(1, minor, 0)))
    assert ctx["kubeadm_needs_crictl"] == needs
    assert ctx["bundle_runtime"] == bundled


def test_a_bundle_without_kubectl_is_refused_before_the_build(tmp_path: Path) -> None:
    # start-kubelet.ps1 stops without kubectl.exe (it reads the node's podCIDR with it), also when
    # join-node.ps1 runs it: a configuration without kubectl is refused.
    path = tmp_path / "bundle.yaml"
    path.write_text("kubernetes:\n  components: [kubelet, kube-proxy, kubeadm]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"kubernetes\.components.*must include kubectl"):
        config.load(config.Overrides(config=path), {}, tmp_path)


# --------------------------------------------------------------------------- flannel


def test_flannel_modes_are_configurable_and_name_flannels_network(tmp_path: Path) -> None:
    path = tmp_path / "bundle.yaml"
    for mode, name in (("flannel-vxlan", "flannel.4096"), ("flannel-host-gw", "cbr0")):
        path.write_text(f"kubernetes:\n  source: release\n  version: v1.30.0\nnetwork:\n  mode: {mode}\n",
                        encoding="utf-8")
        cfg = config.load(config.Overrides(config=path, cache_dir=tmp_path / "c"), {}, tmp_path)
        assert cfg.network.network_name == name


def test_flannel_vxlan_bundle() -> None:
    files = bundle("flannel-vxlan", 30)
    assert json.loads(files["flannel/net-conf.json"].data) == {
        "Network": "10.200.0.0/16", "Backend": {"Type": "vxlan", "Name": "winnet", "VNI": 4096, "Port": 4789}}
    conf = json.loads(files[cni.TEMPLATE].data)
    assert conf["type"] == "win-overlay" and conf["name"] == "winnet" and conf["endpointMacPrefix"] == "0E-2A"


def test_flannel_host_gw_bundle() -> None:
    files = bundle("flannel-host-gw", 30)
    assert json.loads(files["flannel/net-conf.json"].data) == {
        "Network": "10.200.0.0/16", "Backend": {"Type": "host-gw", "Name": "winnet"}}
    assert "AddRoutes.ps1" not in files
    assert "endpointMacPrefix" not in json.loads(files[cni.TEMPLATE].data)


def test_flannel_vxlan_needs_port_4789() -> None:
    net = NetworkSection(mode="flannel-vxlan", network_name="flannel.4096", vxlan_port=8472)
    with pytest.raises(ConfigError, match=r"network\.vxlan_port: flannel's Windows vxlan backend accepts port 4789"):
        render.render_bundle(Config(network=net), "v1.30.0")


# --------------------------------------------------------------------------- OutBoundNAT on overlay


@pytest.mark.parametrize("mode", ["overlay", "flannel-vxlan"])
def test_overlay_exempts_only_cluster_and_service_from_nat(mode: str) -> None:
    conf = json.loads(bundle(mode)[cni.TEMPLATE].data)
    nat = next(p["value"] for p in conf["policies"] if p["value"]["Type"] == "OutBoundNAT")
    assert nat["ExceptionList"] == ["10.200.0.0/16", "10.100.0.0/16"]


# --------------------------------------------------------------------------- said once


def test_shared_powershell_is_written_once() -> None:
    """Each shared function is defined in one partial, each shared block in one macro."""
    templates = {p.name: p.read_text(encoding="utf-8") for p in render.TEMPLATES.glob("*.j2")}
    for fn in ("ConvertTo-CommandLine", "Get-NodeAddress", "Get-HnsNetworkByName", "Assert-FilesExist",
               "New-ServiceCommand", "New-SwitchNetwork", "Get-KubeletArgs", "Get-KubeProxyArgs",
               "Register-KubeProxyService", "Stop-OwnProcesses"):
        defining = [n for n, t in templates.items() if f"function {fn}(" in t or f"function {fn} " in t]
        assert len(defining) == 1 and defining[0].startswith("_"), (fn, defining)
    # The blocks several scripts write: only the macros file spells them, or the one partial of node-functions.ps1.
    for block, where in (("New-HNSNetwork ", render.MACROS), ("ConvertFrom-Json).address", render.MACROS),
                         ("+= {{ extra }}", render.MACROS), ("'KUBE_NETWORK=' + $NetworkName", "_services.ps1.j2"),
                         ("Register-NodeService 'kube-proxy'", "_services.ps1.j2")):
        spelling = [n for n, t in templates.items() if block in t]
        assert spelling == [where], (block, spelling)
    shared = templates[render.NODE_FUNCTIONS + ".j2"]
    assert all(f'{{% include "{where}" %}}' in shared for where in ("_services.ps1.j2", "_component_args.ps1.j2"))
    for gone in ("Join-NativeArgs", "Get-ManagementAddress", "Get-PodNetwork "):
        assert not any(gone in t for t in templates.values()), gone


def test_templates_test_the_mode_record_never_the_mode_name() -> None:
    """A new mode is a row and its template parts: no template compares the mode's name."""
    for path in render.TEMPLATES.glob("*.j2"):
        tests = re.findall(r"\{%-?\s*(?:el)?if\s+([^%]*)%\}", path.read_text(encoding="utf-8"))
        assert [t for t in tests if re.search(r"\bmode\b", t)] == [], path.name


def test_logs_go_through_kube_log_runner_from_1_26() -> None:
    assert uses_log_runner((1, 26)) and not uses_log_runner((1, 25))
