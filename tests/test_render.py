"""Rendering the node scripts: grammar, golden files, values, safety, and the pipeline contract.

The goldens (tests/golden/<flow>/) are the one place the generated text is pinned; the other tests
check behaviour: what is refused, what the templates are given, the data files' shapes.
`UPDATE_GOLDEN=1 python -m pytest tests/test_render.py -k golden` rewrites the goldens and then
fails, so that a regenerated golden is always a reviewed diff (git diff tests/golden) and never a pass.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import pytest
from cluster_support import daemonset_scripts, pinned

from builder import cli, psparse
from builder import config as config_mod
from builder.artifacts import RenderedFile
from builder.config import (
    NETWORK_MODES,
    Config,
    KubernetesSection,
    NetworkSection,
    NodeSection,
    check_for_version,
    mode_for,
)
from builder.config.rules import switch_network
from builder.errors import ConfigError, RenderError
from builder.kversion import KubeVersion
from builder.node import cni, images, render

GOLDEN = Path(__file__).resolve().parent / "golden"
MODES = NETWORK_MODES
CLUSTER_MODES = [m for m in config_mod.MODES if m.cluster is not None]
OVERLAY = ("overlay", "flannel-vxlan")
FLANNEL = ("flannel-vxlan", "flannel-host-gw")
MINORS = range(9, 38)
# Goldens hold every file of the bundle, kubeadm included (join-node.ps1), per flow: each network mode
# at a few minors, and a containerd shipped in the bundle (node.bundle_runtime).
GOLDEN_CASES = [("host-gw", m, False) for m in (9, 23, 26, 37)] + [("l3", m, False) for m in (9, 23, 37)] + [
    ("overlay", m, False) for m in (14, 23, 37)] + [("flannel-vxlan", m, False) for m in (23, 37)] + [
    ("flannel-host-gw", m, False) for m in (26, 37)] + [("host-gw", 37, True), ("flannel-vxlan", 30, True)] + [
    # The networks the cluster runs, at HostProcess GA (1.26) and three later minors.
    (m.name, minor, False) for m in CLUSTER_MODES for minor in (26, 30, 34, 37)]
# Flows beside the network modes, each a folder of its own: the options no mode flow above sets.
GOLDEN_VARIANTS: dict[str, tuple[str, int, dict[str, object], dict[str, object]]] = {
    # Hyper-V isolation (docker, 1.10 to 1.20), a configured pause image, a pod range that moves the
    # vSwitch network off 192.168.255.0/30, and no control-plane address (join-node.ps1 asks for it).
    "l3-1.20-hyperv-docker": ("l3", 20, {"cluster_cidr": "192.168.0.0/16", "control_plane_ip": None},
                              {"isolation": "hyperv", "runtime": "docker", "pause_image": "registry.example/pause:1"}),
    # Without kubeadm: no join-node.ps1, and install.ps1 and README.txt for the scripts and services only.
    "host-gw-1.24-without-kubeadm": ("host-gw", 24, {}, {"components": ("kubelet", "kube-proxy", "kubectl")}),
    # images.offline with the bundled containerd: install.ps1 imports kube-proxy's image, which the
    # DaemonSet names by its local name (rendered alone; a packed bundle names it by digest).
    "calico-vxlan-1.30-offline-images": ("calico-vxlan", 30, {}, {"images_offline": True, "bundle_runtime": True,
                                                                    "runtime": "containerd"}),
}


def config(mode: str = "host-gw", components: tuple[str, ...] | None = None, network: dict[str, object] | None = None,
           **node: object) -> Config:
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
    fixed_vni = mode_for(mode).vxlan_vni_fixed
    if fixed_vni is not None:  # Calico's Windows VXLAN takes Felix's VNI only
        net = dataclasses.replace(net, vxlan_vni=fixed_vni.port)
    if mode_for(mode).cluster is not None:  # the cluster's CNI names its network itself
        net = dataclasses.replace(net, network_name=mode_for(mode).default_network_name(net.vxlan_vni))
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
    net = dataclasses.replace(net, **(network or {}))  # type: ignore[arg-type]
    return Config(kubernetes=kube, network=net, node=NodeSection(**fields))  # type: ignore[arg-type]


def render_case(mode: str, minor: int, components: tuple[str, ...] | None = None,
                **node: object) -> dict[str, RenderedFile]:
    cfg = pinned(config(mode, components, **node), [f"v1.{minor}.0"])
    files = render.render_bundle(cfg, f"v1.{minor}.0")
    return {f.dest: f for f in files}


def text(f: RenderedFile) -> str:
    return f.data.decode("ascii")


def valid_cases() -> list[tuple[str, int, str | None]]:
    """Every mode at every minor, with each runtime the minor allows (None: the default)."""
    out: list[tuple[str, int, str | None]] = []
    for mode in MODES:
        for minor in MINORS:
            if (1, minor) < mode_for(mode).since:
                continue
            for runtime in (None, "containerd") if 18 <= minor < 24 else (None,):
                runs = runtime or ("docker" if minor < 24 else "containerd")
                if runs in mode_for(mode).runtimes:
                    out.append((mode, minor, runtime))
    return out


# --------------------------------------------------------------------------- grammar, encoding


@pytest.mark.parametrize(("mode", "minor", "runtime"), valid_cases())
def test_every_script_parses_in_every_mode_and_minor(mode: str, minor: int, runtime: str | None) -> None:
    files = render_case(mode, minor, runtime=runtime)
    scripts = [f for f in files.values() if f.dest.endswith(".ps1")]
    # start-kubelet, start-kubeproxy (where the node runs kube-proxy) and install; AddRoutes with host-gw
    # (no kubeadm: no join-node); the functions they share
    on_node = mode_for(mode).kube_proxy.on_node
    assert sorted(f.dest for f in scripts) == sorted(
        [render.NODE_FUNCTIONS, "start-kubelet.ps1", *(["start-kubeproxy.ps1"] if on_node else []), "install.ps1",
         "uninstall.ps1", "upgrade.ps1", *(["AddRoutes.ps1"] if mode == "host-gw" else []),
         *(["start-flanneld.ps1"] if mode in FLANNEL else [])])
    for f in scripts:
        assert psparse.parse_errors(text(f)) == [], f.dest
    for name, script in daemonset_scripts(files).items():
        assert psparse.parse_errors(script) == [], name
    for f in files.values():
        body = f.data
        assert body.isascii()
        assert b"\n" not in body.replace(b"\r\n", b""), f"{f.dest}: bare LF"
        assert b"\r" not in body.replace(b"\r\n", b""), f"{f.dest}: bare CR"
    if mode_for(mode).cluster is not None:
        assert cni.TEMPLATE not in files  # the cluster's DaemonSet writes the CNI config
        return
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
    compare_golden(folder, files)


@pytest.mark.parametrize("name", sorted(GOLDEN_VARIANTS))
def test_golden_variant(name: str) -> None:
    mode, minor, network, node = GOLDEN_VARIANTS[name]
    node = dict(node)
    components = node.pop("components", WITH_KUBEADM)
    offline = bool(node.pop("images_offline", False))
    cfg = config(mode, components, network=network, **node)  # type: ignore[arg-type]
    if offline:
        cfg = dataclasses.replace(cfg, images=dataclasses.replace(cfg.images, offline=True))
    if mode_for(mode).cluster is not None:
        cfg = pinned(cfg, [f"v1.{minor}.0"])
    compare_golden(GOLDEN / name, {f.dest: f for f in render.render_bundle(cfg, f"v1.{minor}.0")})


def compare_golden(folder: Path, files: dict[str, RenderedFile]) -> None:
    """The rendered files equal the golden folder's; with UPDATE_GOLDEN=1, write them there and fail."""
    if os.environ.get("UPDATE_GOLDEN") == "1":
        for old in (p for p in folder.rglob("*") if p.is_file()):
            old.unlink()
        render.write_files(list(files.values()), folder)
        pytest.fail(f"UPDATE_GOLDEN=1 wrote {folder.name}: review the change (git diff tests/golden), commit it, "
                    "and run the tests without UPDATE_GOLDEN")
    kept = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert kept == sorted(files), "the set of generated files changed: UPDATE_GOLDEN=1 and review"
    for dest, f in files.items():
        assert f.data == (folder / dest).read_bytes(), f"{dest} differs from {folder / dest}: review, UPDATE_GOLDEN=1"


def test_update_golden_writes_the_files_and_then_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A regenerated golden is a diff to review, never a pass: the switch writes, then fails."""
    files = render_case("l3", 37)
    (tmp_path / "gone.ps1").write_bytes(b"a file the render no longer makes\r\n")
    monkeypatch.setenv("UPDATE_GOLDEN", "1")
    with pytest.raises(pytest.fail.Exception, match="UPDATE_GOLDEN=1 wrote"):
        compare_golden(tmp_path, files)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == sorted(files)
    monkeypatch.delenv("UPDATE_GOLDEN")
    compare_golden(tmp_path, files)  # what it wrote is what the next run compares against
    (tmp_path / "install.ps1").write_bytes(b"changed\r\n")
    with pytest.raises(AssertionError, match=r"install\.ps1 differs"):
        compare_golden(tmp_path, files)


# --------------------------------------------------------------------------- values and flags


def test_removed_flag_in_extra_args_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"node\.kubelet_extra_args\[0\].*--log-dir"):
        render_case("host-gw", 26, kubelet_extra_args=("--log-dir=D:/logs",))
    render_case("host-gw", 25, kubelet_extra_args=("--log-dir=D:/logs",))


def test_hyperv_isolation_only_where_the_gate_exists() -> None:
    render_case("host-gw", 20, isolation="hyperv")
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
    checked = check_for_version(config("host-gw", windows_version=windows), KubeVersion(1, minor, 0))
    assert render.context(checked)["pause_image"] == image


def test_configured_pause_image_wins() -> None:
    cfg = config("host-gw", pause_image="registry.example/pause:1")
    assert render.context(check_for_version(cfg, KubeVersion(1, 30, 0)))["pause_image"] == "registry.example/pause:1"


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
    assert bridge["policies"][0]["value"]["ExceptionList"] == ["10.200.0.0/16", "10.100.0.0/16", ""]
    assert bridge["policies"][1]["value"]["NeedEncap"] is True


@pytest.mark.parametrize("mode", OVERLAY)
def test_overlay_nats_all_but_cluster_and_service(mode: str) -> None:
    """On an Overlay network only the cluster and service ranges are exempt from OutBoundNAT."""
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


# --------------------------------------------------------------------------- AddRoutes, install


def test_addroutes_only_for_host_gw() -> None:
    assert "AddRoutes.ps1" in render_case("host-gw", 37)
    assert "AddRoutes.ps1" not in render_case("l3", 37)
    assert "AddRoutes.ps1" not in render_case("overlay", 37)


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
    scripts = ["AddRoutes.ps1", cni.TEMPLATE, "install.ps1", render.NODE_FUNCTIONS, "start-kubelet.ps1",
               "start-kubeproxy.ps1", "uninstall.ps1", "upgrade.ps1"]
    assert [n for n in names if not n.startswith("samples/") and n != "README.txt"] == scripts
    assert any(n.startswith("samples/") for n in names)
    # What the command wrote is the render stage's output for the configuration it read.
    cfg = config_mod.load(config_mod.Overrides(config=tmp_path / "bundle.yaml", tree_optional=True), {}, tmp_path)
    for f in render.render_bundle(cfg, "v1.23.4"):
        assert (out / f.dest).read_bytes() == f.data, f.dest


def test_render_leaves_the_config_it_was_given_as_it_was() -> None:
    """Rendering resolves values (runtime, pause image, network name) without writing them back."""
    cfg = config()
    before = cfg.to_dict()
    render.render_bundle(cfg, "v1.23.0")
    assert cfg.to_dict() == before and cfg.node.runtime is None and cfg.node.pause_image is None


def test_switch_network_range_stays_clear_of_the_cluster() -> None:
    cfg = config()
    # The seed's own example pod network covers upstream's 192.168.255.0/30: another range is taken.
    assert str(switch_network(cfg)) == "192.168.255.0/30"
    moved = dataclasses.replace(cfg, network=dataclasses.replace(cfg.network, cluster_cidr="192.168.0.0/16"))
    ctx = render.context(check_for_version(moved, KubeVersion(1, 30, 0)))
    assert (ctx["switch_network_prefix"], ctx["switch_network_gateway"]) == ("172.31.255.252/30", "172.31.255.253")
    every = dataclasses.replace(cfg, network=dataclasses.replace(
        cfg.network, cluster_cidr="0.0.0.0/1", service_cidr="128.0.0.0/1", dns_service_ip="128.0.0.10"))
    with pytest.raises(ConfigError, match=r"network\.cluster_cidr: .*network\.service_cidr: .*narrow one"):
        render.render_bundle(every, "v1.30.0")
    ov = config("overlay")
    bad = dataclasses.replace(ov, network=dataclasses.replace(ov.network, vxlan_vni=9999))
    with pytest.raises(ConfigError, match=r"network\.vxlan_vni"):
        render.render_bundle(bad, "v1.30.0")


def test_no_variable_followed_by_a_colon() -> None:
    # PowerShell reads "$name: x" as a drive-qualified variable and refuses it ("':' was not followed
    # by a valid variable name character"); tree-sitter does not notice, so this test does.
    for mode in MODES:
        files = render_case(mode, 37)
        scripts = {d: text(f) for d, f in files.items() if d.endswith(".ps1")} | daemonset_scripts(files)
        for dest, script in scripts.items():
            assert re.findall(r"\$[A-Za-z_][A-Za-z0-9_]*:(?![A-Za-z_])", script) == [], dest
