"""Rendering the node scripts: grammar, golden files, values, safety, and the pipeline contract.

Golden files live in tests/golden/<mode>-<minor>/; regenerate them after a reviewed change with
`UPDATE_GOLDEN=1 python -m pytest tests/test_render.py -k golden` and review the diff.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import pytest

from builder import cli, psparse
from builder.artifacts import RenderedFile
from builder.config import Config, KubernetesSection, NetworkSection, NodeSection, check_for_version
from builder.errors import ConfigError, RenderError
from builder.kversion import KubeVersion
from builder.node import cni, images, render

GOLDEN = Path(__file__).resolve().parent / "golden"
MODES = ("host-gw", "l3", "overlay", "flannel-vxlan", "flannel-host-gw")
OVERLAY = ("overlay", "flannel-vxlan")
FLANNEL = ("flannel-vxlan", "flannel-host-gw")
MINORS = range(9, 38)
# Goldens hold every file of the bundle, kubeadm included (join-node.ps1), per flow: each network mode
# at a few minors, and a containerd shipped in the bundle (node.bundle_runtime).
GOLDEN_CASES = [("host-gw", m, False) for m in (9, 23, 26, 37)] + [("l3", m, False) for m in (9, 23, 37)] + [
    ("overlay", m, False) for m in (14, 23, 37)] + [("flannel-vxlan", m, False) for m in (23, 37)] + [
    ("flannel-host-gw", m, False) for m in (26, 37)] + [("host-gw", 37, True), ("flannel-vxlan", 30, True)]


def config(mode: str = "host-gw", components: tuple[str, ...] | None = None, **node: object) -> Config:
    """A representative configuration: non-default values everywhere, so that each one shows."""
    net = NetworkSection(
        mode=mode,
        cluster_cidr="10.200.0.0/16",
        service_cidr="10.100.0.0/16",
        dns_service_ip="10.100.0.10",
        dns_suffix="svc.prod.example",
        cluster_domain="prod.example",
        network_name="winnet",
        nic_name="Ethernet 2",
        control_plane_ip="192.168.10.5",
        vxlan_vni=4097,
        vxlan_port=4789,
    )
    fields: dict[str, object] = {
        "install_dir": "D:\\kube",
        "labels": (("example.com/pool", "win"),),
        "kubelet_extra_args": ("--max-pods=60",),
        "kubeproxy_extra_args": ("--v=3",),
        "windows_version": "ltsc2019",
        "kubeconfig": "kubeconfig",
    }
    fields.update(node)
    kube = KubernetesSection(components=components) if components else KubernetesSection()
    return Config(kubernetes=kube, network=net, node=NodeSection(**fields))  # type: ignore[arg-type]


def render_case(mode: str, minor: int, components: tuple[str, ...] | None = None,
                **node: object) -> dict[str, RenderedFile]:
    files = render.render_bundle(config(mode, components, **node), f"v1.{minor}.0")
    return {f.dest: f for f in files}


def text(f: RenderedFile) -> str:
    return f.data.decode("ascii")


def valid_cases() -> list[tuple[str, int, str | None]]:
    """Every mode at every minor, with each runtime the minor allows (None: the default)."""
    out: list[tuple[str, int, str | None]] = []
    for mode in MODES:
        for minor in MINORS:
            if mode in OVERLAY and minor < 14:
                continue
            out.append((mode, minor, None))
            if 18 <= minor < 24:
                out.append((mode, minor, "containerd"))
    return out


# --------------------------------------------------------------------------- grammar, encoding


@pytest.mark.parametrize(("mode", "minor", "runtime"), valid_cases())
def test_every_script_parses_in_every_mode_and_minor(mode: str, minor: int, runtime: str | None) -> None:
    files = render_case(mode, minor, runtime=runtime)
    scripts = [f for f in files.values() if f.dest.endswith(".ps1")]
    # start-kubelet, start-kubeproxy and install; AddRoutes with host-gw (no kubeadm: no join-node)
    assert sorted(f.dest for f in scripts) == sorted(
        ["start-kubelet.ps1", "start-kubeproxy.ps1", "install.ps1", *(["AddRoutes.ps1"] if mode == "host-gw" else []),
         *(["start-flanneld.ps1"] if mode in FLANNEL else [])])
    for f in scripts:
        assert psparse.parse_errors(text(f)) == [], f.dest
    for f in files.values():
        body = f.data
        assert body.isascii()
        assert b"\n" not in body.replace(b"\r\n", b""), f"{f.dest}: bare LF"
        assert b"\r" not in body.replace(b"\r\n", b""), f"{f.dest}: bare CR"
    conf = json.loads(files[cni.TEMPLATE].data)
    assert conf["name"] == "winnet"


def test_overlay_before_1_14_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"network\.mode"):
        render_case("overlay", 13)


def test_non_ascii_is_refused() -> None:
    with pytest.raises(RenderError, match=r"x\.ps1: line 2 .*U\+2019"):
        render.to_bytes("x.ps1", "ok\n$a = 'it\u2019s'\n")
    assert render.to_bytes("x.ps1", "a\nb\r\n") == b"a\r\nb\r\n"


# --------------------------------------------------------------------------- golden files


WITH_KUBEADM = ("kubelet", "kube-proxy", "kubectl", "kubeadm")


@pytest.mark.parametrize(("mode", "minor", "bundled"), GOLDEN_CASES)
def test_golden(mode: str, minor: int, bundled: bool) -> None:
    folder = GOLDEN / (f"{mode}-1.{minor}" + ("-bundled-containerd" if bundled else ""))
    files = render_case(mode, minor, WITH_KUBEADM, bundle_runtime=bundled,
                        runtime="containerd" if bundled else None)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        render.write_files(list(files.values()), folder)
    kept = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert kept == sorted(files), "the set of generated files changed: UPDATE_GOLDEN=1 and review"
    for dest, f in files.items():
        assert f.data == (folder / dest).read_bytes(), f"{dest} differs from {folder / dest}: review, UPDATE_GOLDEN=1"


# --------------------------------------------------------------------------- values and flags


def test_cluster_values_are_param_defaults() -> None:
    kubelet = text(render_case("host-gw", 37)["start-kubelet.ps1"])
    for line in (
        "$InstallDir = 'D:\\kube',",
        "$ClusterCidr = '10.200.0.0/16',",
        "$ServiceCidr = '10.100.0.0/16',",
        "$KubeDnsServiceIp = '10.100.0.10',",
        "$DnsSuffix = 'svc.prod.example',",
        "$ClusterDomain = 'prod.example',",
        "$NetworkName = 'winnet',",
        "$InterfaceName = 'Ethernet 2',",
        "$Kubeconfig = 'kubeconfig',",
        "$NodeLabels = 'example.com/pool=win',",
    ):
        assert line in kubelet
    param_block = kubelet.split("Param(", 1)[1].split("\r\n)\r\n", 1)[0]
    assert "[string] $ClusterCidr = " in param_block


def test_one_network_name_flows_everywhere() -> None:
    for minor in (13, 14, 37):
        files = render_case("host-gw", minor)
        kubelet, proxy = text(files["start-kubelet.ps1"]), text(files["start-kubeproxy.ps1"])
        assert "$NetworkName = 'winnet'," in kubelet
        assert "$NetworkName = 'winnet'," in proxy
        assert "$CniConfigPath = Join-Path $CniConfDir ($NetworkName + '.conf')" in kubelet
        assert json.loads(files[cni.TEMPLATE].data)["name"] == "winnet"
        if minor >= 14:
            assert "('--network-name=' + $NetworkName)" in proxy
            assert "KUBE_NETWORK" not in proxy
        else:
            assert "$env:KUBE_NETWORK = $NetworkName" in proxy
            assert "'--network-name=" not in proxy


def test_cni_config_is_where_kubelet_looks() -> None:
    files = render_case("host-gw", 23)
    kubelet = text(files["start-kubelet.ps1"])
    # Shipped as a template; the live file is written to <install>\cni\conf, outside the bundle's files.
    assert cni.TEMPLATE == "cni/cni-config.template.json" and cni.TEMPLATE in files
    assert not any(d.startswith("cni/conf/") for d in files)
    assert "$CniBinDir = Join-Path $InstallDir 'cni'" in kubelet
    assert "$CniTemplatePath = Join-Path $InstallDir 'cni\\cni-config.template.json'" in kubelet
    assert "$CniConfDir = Join-Path $InstallDir 'cni\\conf'" in kubelet
    assert "('--cni-conf-dir=' + $CniConfDir)" in kubelet
    assert "('--cni-bin-dir=' + $CniBinDir)" in kubelet


def test_windows_flags_and_string_array_start() -> None:
    for minor in (9, 23, 37):
        files = render_case("l3", minor)
        kubelet = text(files["start-kubelet.ps1"])
        for arg in ("'--resolv-conf='", "'--cgroups-per-qos=false'", "'--enforce-node-allocatable='"):
            assert f"\r\n    {arg}\r\n" in kubelet
        assert "& $KubeletExe @kubeletArgs" in kubelet
        assert "& $KubeProxyExe @kubeproxyArgs" in text(files["start-kubeproxy.ps1"])


def test_version_specific_flags_in_the_scripts() -> None:
    k = {m: text(render_case("host-gw", m)["start-kubelet.ps1"]) for m in (23, 24, 25, 26, 34, 35)}
    p = {m: text(render_case("overlay", m)["start-kubeproxy.ps1"]) for m in (25, 26, 33, 34)}
    assert "--network-plugin" in k[23] and "--network-plugin" not in k[24]
    assert "--docker-endpoint" in k[23] and "--container-runtime-endpoint" in k[24]
    assert "--log-dir" in k[25] and "--log-dir" not in k[26] and "--logtostderr" not in k[26]
    assert "--log-dir" in p[25] and "--log-dir" not in p[26]
    assert "('--pod-infra-container-image=' + $PauseImage)" in k[34] and "$PauseImage = " in k[34]
    assert "('--pod-infra-container-image=" not in k[35] and "$PauseImage" not in k[35]
    assert "WinOverlay=true" in p[33] and "WinOverlay" not in p[34]


def test_extra_args_come_last_as_literals() -> None:
    kubelet = text(render_case("host-gw", 37)["start-kubelet.ps1"])
    assert kubelet.index("$kubeletArgs += @('--max-pods=60')") > kubelet.index("$kubeletArgs = @(")
    assert "$kubeproxyArgs += @('--v=3')" in text(render_case("host-gw", 37)["start-kubeproxy.ps1"])


def test_removed_flag_in_extra_args_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"node\.kubelet_extra_args\[0\].*--log-dir"):
        render_case("host-gw", 26, kubelet_extra_args=("--log-dir=D:/logs",))
    render_case("host-gw", 25, kubelet_extra_args=("--log-dir=D:/logs",))


def test_hyperv_isolation_only_where_the_gate_exists() -> None:
    kubelet = text(render_case("host-gw", 20, isolation="hyperv")["start-kubelet.ps1"])
    assert "'--feature-gates=HyperVContainer=true'" in kubelet
    with pytest.raises(ConfigError, match=r"node\.isolation"):
        render_case("host-gw", 21, isolation="hyperv")
    with pytest.raises(ConfigError, match=r"node\.isolation"):
        render_case("host-gw", 9, isolation="hyperv")


def test_docker_from_1_24_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"node\.runtime"):
        render_case("host-gw", 24, runtime="docker")


@pytest.mark.parametrize(("label", "minor", "ok"), [
    ("kubernetes.io/role", 15, True),
    ("kubernetes.io/role", 16, False),
    ("node-role.kubernetes.io/worker", 16, False),
    ("node.kubernetes.io/pool", 16, True),
    ("x.kubelet.kubernetes.io/a", 37, True),
    ("topology.kubernetes.io/zone", 37, True),
    ("example.com/role", 37, True),
])
def test_restricted_labels_from_1_16(label: str, minor: int, ok: bool) -> None:
    labels = ((label, "a"),)
    if ok:
        render_case("host-gw", minor, labels=labels)
    else:
        with pytest.raises(ConfigError, match=re.escape(f"node.labels.{label}")):
            render_case("host-gw", minor, labels=labels)


@pytest.mark.parametrize(("windows", "minor", "image"), [
    ("ltsc2016", 9, "kubeletwin/pause"),
    ("1709", 12, "kubeletwin/pause"),
    ("ltsc2019", 13, "kubeletwin/pause"),
    ("ltsc2019", 14, "mcr.microsoft.com/k8s/core/pause:1.2.0"),
    ("1909", 20, "mcr.microsoft.com/k8s/core/pause:1.2.0"),
    ("ltsc2019", 21, "registry.k8s.io/pause:3.4.1"),
    ("ltsc2019", 30, "registry.k8s.io/pause:3.9"),
    ("20H2", 30, "registry.k8s.io/pause:3.4.1"),
    ("ltsc2022", 23, "registry.k8s.io/pause:3.6"),
    ("ltsc2022", 34, "registry.k8s.io/pause:3.9"),
    ("ltsc2025", 34, "registry.k8s.io/pause:3.10.2"),
])
def test_pause_image_by_era(windows: str, minor: int, image: str) -> None:
    node = NodeSection(windows_version=windows)
    assert images.default_pause_image(windows, node.windows_build, KubeVersion(1, minor, 0)) == image
    kubelet = text(render_case("host-gw", minor, windows_version=windows)["start-kubelet.ps1"])
    assert f"$PauseImage = '{image}'," in kubelet


def test_configured_pause_image_wins() -> None:
    kubelet = text(render_case("host-gw", 30, pause_image="registry.example/pause:1")["start-kubelet.ps1"])
    assert "$PauseImage = 'registry.example/pause:1'," in kubelet


def test_no_hard_coded_install_path() -> None:
    for mode in MODES:
        for f in render_case(mode, 37).values():
            if f.kind != "script":
                continue  # README.txt shows the operator `Expand-Archive ... -DestinationPath C:\`
            code = [ln for ln in text(f).split("\r\n") if not ln.lstrip().startswith("#")]
            assert not any(re.search(r"c:\\k\b", ln, re.IGNORECASE) for ln in code), f.dest
            assert "helper.psm1" not in "\n".join(code), f.dest


# --------------------------------------------------------------------------- CNI config


def test_wincni_l2bridge_shape() -> None:
    conf = json.loads(render_case("host-gw", 23)[cni.TEMPLATE].data)
    assert conf["type"] == "wincni.exe"
    assert conf["master"] == "Ethernet 2"
    assert conf["ipam"] == {"environment": "azure", "subnet": "", "routes": [{"GW": ""}]}
    assert conf["dns"] == {"Nameservers": ["10.100.0.10"], "Search": ["svc.prod.example"]}
    nat, route, node_route = conf["AdditionalArgs"]
    # The empty entries are the node's own subnet and address, filled in on the node.
    assert nat == {"Name": "EndpointPolicy",
                   "Value": {"Type": "OutBoundNAT", "ExceptionList": ["10.200.0.0/16", "10.100.0.0/16", ""]}}
    assert route["Value"] == {"Type": "ROUTE", "DestinationPrefix": "10.100.0.0/16", "NeedEncap": True}
    assert node_route["Value"] == {"Type": "ROUTE", "DestinationPrefix": "", "NeedEncap": True}


def test_win_bridge_and_win_overlay_shapes() -> None:
    bridge = json.loads(render_case("l3", 30)[cni.TEMPLATE].data)
    for mode in OVERLAY:
        overlay = json.loads(render_case(mode, 30)[cni.TEMPLATE].data)
        assert overlay["type"] == "win-overlay"
        assert overlay["ipam"] == {"type": "host-local", "subnet": ""}
        assert overlay["policies"][1]["value"]["NeedEncap"] is True
    assert bridge["type"] == "win-bridge"
    # .1 is the network's, .2 the host endpoint win-bridge routes through: the node fills these in.
    assert bridge["ipam"] == {"type": "host-local", "subnet": "", "rangeStart": "", "gateway": ""}
    kubelet = text(render_case("l3", 30)["start-kubelet.ps1"])
    assert "$conf.ipam.gateway = Get-PodGateway $PodCidr 2" in kubelet
    assert "$conf.ipam.rangeStart = Get-PodGateway $PodCidr 3" in kubelet
    assert bridge["policies"][0]["value"]["ExceptionList"] == ["10.200.0.0/16", "10.100.0.0/16", ""]
    assert bridge["policies"][1]["value"]["NeedEncap"] is True


@pytest.mark.parametrize("mode", OVERLAY)
def test_overlay_nats_all_but_cluster_and_service(mode: str) -> None:
    """Defect 5: on overlay only the cluster and service ranges are exempt from OutBoundNAT."""
    conf = json.loads(render_case(mode, 30)[cni.TEMPLATE].data)
    nat = [p["value"] for p in conf["policies"] if p["value"]["Type"] == "OutBoundNAT"]
    assert nat == [{"Type": "OutBoundNAT", "ExceptionList": ["10.200.0.0/16", "10.100.0.0/16"]}]
    routes = [p["value"]["DestinationPrefix"] for p in conf["policies"] if p["value"]["Type"] == "ROUTE"]
    assert routes == ["10.100.0.0/16"]


def test_cni_policies_have_one_owner() -> None:
    pol = cni.endpoint_policies("10.1.0.0/16", "10.2.0.0/16", l2bridge=True)
    assert [p["Value"]["Type"] for p in pol] == ["OutBoundNAT", "ROUTE", "ROUTE"]
    assert pol[0]["Value"]["ExceptionList"] == ["10.1.0.0/16", "10.2.0.0/16", ""]
    assert pol[2]["Value"]["DestinationPrefix"] == ""
    assert len(cni.endpoint_policies("10.1.0.0/16", "10.2.0.0/16", l2bridge=False)) == 2
    # The node script fills in values; it builds no policy of its own.
    for mode in MODES:
        kubelet = text(render_case(mode, 30)["start-kubelet.ps1"])
        assert "Type = 'OutBoundNAT'" not in kubelet and "New-EndpointPolicy" not in kubelet


# --------------------------------------------------------------------------- AddRoutes, install


def test_addroutes_only_for_host_gw() -> None:
    assert "AddRoutes.ps1" in render_case("host-gw", 37)
    assert "AddRoutes.ps1" not in render_case("l3", 37)
    assert "AddRoutes.ps1" not in render_case("overlay", 37)


def test_addroutes_skips_nodes_without_podcidr_and_stops_without_adapter() -> None:
    script = text(render_case("host-gw", 37)["AddRoutes.ps1"])
    assert "if (-not $cidr -or $cidr -eq '<none>') {" in script
    assert "skipping node ${name}: its podCIDR is <none>" in script
    assert "no virtual adapter '$vnicName' is up" in script
    assert "exit 1" in script
    assert "$ControlPlaneIp = '192.168.10.5'," in script
    assert "$kubectlArgs = @('--kubeconfig', $KubeconfigPath, 'get', 'nodes', '-o', 'json')" in script


def test_one_pass_renders_every_output_of_the_table() -> None:
    """One render stage: the table decides what is written, the CNI config and samples come as data."""
    files = render_case("l3", 37)
    optional = ("AddRoutes.ps1", "join-node.ps1", "start-flanneld.ps1")
    wanted = {o.dest for o in render.OUTPUTS if o.dest not in optional}
    assert wanted <= set(files)
    assert not set(optional) & set(files)  # l3, no kubeadm component, no flannel
    assert cni.TEMPLATE in files and any(d.startswith("samples/") for d in files)


# --------------------------------------------------------------------------- safety of the templates


def test_hostile_values_stay_literals() -> None:
    cfg = config()
    ctx = render.context(check_for_version(cfg, KubeVersion(1, 37, 0)))
    ctx["nic_name"] = "Eth'; Stop-Computer; '"
    ctx["cluster_cidr"] = "$(Stop-Computer)"
    out = render.render_template("start-kubelet.ps1.j2", ctx)
    assert "$InterfaceName = 'Eth''; Stop-Computer; ''',\n" in out
    assert "$ClusterCidr = '$(Stop-Computer)',\n" in out
    assert psparse.parse_errors(out) == []
    ctx["nic_name"] = "Eth\u2019; Stop-Computer; \u2018"
    out = render.render_template("start-kubelet.ps1.j2", ctx)
    assert "$InterfaceName = 'Eth\u2019\u2019; Stop-Computer; \u2018\u2018'," in out
    with pytest.raises(RenderError, match="ASCII"):
        render.to_bytes("start-kubelet.ps1", out)


def test_missing_template_value_is_an_error() -> None:
    ctx = render.context(check_for_version(config(), KubeVersion(1, 37, 0)))
    del ctx["cluster_cidr"]
    with pytest.raises(RenderError, match="cluster_cidr"):
        render.render_template("start-kubelet.ps1.j2", ctx)


def test_bad_version_is_a_render_error() -> None:
    with pytest.raises(RenderError, match=r"1\.37"):
        render.render_bundle(config(), "1.37")


# --------------------------------------------------------------------------- writing, CLI


def test_write_files_is_atomic_and_refuses_escapes(tmp_path: Path) -> None:
    files = [RenderedFile("a.ps1", b"x\r\n"), RenderedFile("cni/config/n.conf", b"{}\r\n")]
    render.write_files(files, tmp_path)
    assert (tmp_path / "a.ps1").read_bytes() == b"x\r\n"
    assert (tmp_path / "cni" / "config" / "n.conf").read_bytes() == b"{}\r\n"
    assert sorted(p.name for p in tmp_path.rglob(".*")) == []  # no temp files left
    for bad in ("../x.ps1", "/abs.ps1", "a/../../x", "a\\b.ps1", ""):
        with pytest.raises(RenderError, match="not a plain relative path"):
            render.write_files([RenderedFile(bad, b"")], tmp_path)
    assert not (tmp_path.parent / "x.ps1").exists()


def test_cli_render_writes_the_scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bundle.yaml").write_text(
        "kubernetes:\n  source: release\n  version: v1.23.4\n"
        "network:\n  mode: host-gw\n  cluster_cidr: 10.200.0.0/16\n  network_name: winnet\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert cli.main(["render", "--out", str(out)]) == 0
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    scripts = ["AddRoutes.ps1", cni.TEMPLATE, "install.ps1", "start-kubelet.ps1", "start-kubeproxy.ps1"]
    assert [n for n in names if not n.startswith("samples/") and n != "README.txt"] == scripts
    assert any(n.startswith("samples/") for n in names)
    assert b"$ClusterCidr = '10.200.0.0/16'," in (out / "start-kubelet.ps1").read_bytes()
    assert b"'--network-plugin=cni'" in (out / "start-kubelet.ps1").read_bytes()


def test_render_leaves_the_config_it_was_given_as_it_was() -> None:
    """Rendering resolves values (runtime, pause image, network name) without writing them back."""
    cfg = config()
    before = cfg.to_dict()
    render.render_bundle(cfg, "v1.23.0")
    assert cfg.to_dict() == before and cfg.node.runtime is None and cfg.node.pause_image is None


def test_switch_network_range_stays_clear_of_the_cluster() -> None:
    cfg = config()
    # The seed's own example pod network covers upstream's 192.168.255.0/30: another range is taken.
    moved = dataclasses.replace(cfg, network=dataclasses.replace(cfg.network, cluster_cidr="192.168.0.0/16"))
    kubelet = text({f.dest: f for f in render.render_bundle(moved, "v1.30.0")}["start-kubelet.ps1"])
    assert "-AddressPrefix '172.31.255.252/30' -Gateway '172.31.255.253'" in kubelet
    every = dataclasses.replace(cfg, network=dataclasses.replace(
        cfg.network, cluster_cidr="0.0.0.0/1", service_cidr="128.0.0.0/1", dns_service_ip="128.0.0.10"))
    with pytest.raises(ConfigError, match=r"network\.cluster_cidr: .*network\.service_cidr: .*narrow one"):
        render.render_bundle(every, "v1.30.0")
    ov = config("overlay")
    bad = dataclasses.replace(ov, network=dataclasses.replace(ov.network, vxlan_vni=9999))
    with pytest.raises(ConfigError, match=r"network\.vxlan_vni"):
        render.render_bundle(bad, "v1.30.0")


def test_l2bridge_gets_a_bridge_endpoint_overlay_does_not() -> None:
    for mode in ("host-gw", "l3"):
        kubelet = text(render_case(mode, 30)["start-kubelet.ps1"])
        assert "\r\nAdd-BridgeEndpoint $PodCidr\r\n" in kubelet
        assert "New-HNSNetwork -Type L2Bridge -Name $NetworkName" in kubelet
    kubelet = text(render_case("overlay", 30)["start-kubelet.ps1"])
    assert "Add-BridgeEndpoint" not in kubelet
    assert "-SubnetPolicies @(@{ Type = 'VSID'; VSID = $VxlanVni })" in kubelet
    assert "[int] $VxlanVni = 4097," in kubelet
    assert "-AddressPrefix '192.168.255.0/30' -Gateway '192.168.255.1'" in kubelet


def test_no_variable_followed_by_a_colon() -> None:
    # PowerShell reads "$name: x" as a drive-qualified variable and refuses it ("':' was not followed
    # by a valid variable name character"); tree-sitter does not notice, so this test does.
    for mode in MODES:
        for f in render_case(mode, 37).values():
            if f.dest.endswith(".ps1"):
                assert re.findall(r"\$[A-Za-z_][A-Za-z0-9_]*:(?![A-Za-z_])", text(f)) == [], f.dest
