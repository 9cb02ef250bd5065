"""The node operator's files: install.ps1, join-node.ps1, README.txt and samples/ for several targets."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from pack_fixtures import make_inputs, rewrite_zip, with_binaries

from builder import config as config_mod
from builder import psparse
from builder.artifacts import UNBOUND_FILES_DIGEST, RenderedFile
from builder.bundle import pack, verify
from builder.config import WINDOWS_BUILDS, Config, KubernetesSection, NetworkSection, NodeSection, check_for_version
from builder.errors import ConfigError, PackError
from builder.kversion import KubeVersion
from builder.node import images, render, samples

# A token a real operator would pass to join-node.ps1: it must never reach a built file.
CANARY = "canary.tok3ncanary00001"
CANARY_HASH = "sha256:" + "c4" * 32


def cfg_for(mode: str = "host-gw", windows: str = "ltsc2022", *, kubeadm: bool = True, **node_kw: Any) -> Config:
    net = NetworkSection(mode=mode, network_name="vxlan0" if mode == "overlay" else "l2bridge",
                         control_plane_ip="192.168.10.5")
    comps = ("kubelet", "kube-proxy", "kubectl") + (("kubeadm",) if kubeadm else ())
    return Config(kubernetes=KubernetesSection(components=comps), network=net,
                  node=NodeSection(windows_version=windows, **node_kw))


def render_files(version: str, mode: str = "host-gw", windows: str = "ltsc2022", **kw: Any) -> dict[str, RenderedFile]:
    return {f.dest: f for f in node_files(render.render_bundle(cfg_for(mode, windows, **kw), version))}


def node_files(files: list[RenderedFile]) -> list[RenderedFile]:
    """The operator's files of a rendered bundle: all but the start scripts and the CNI config."""
    starts = ("start-kubelet.ps1", "start-kubeproxy.ps1", "AddRoutes.ps1")
    return [f for f in files if f.dest not in starts and not f.dest.startswith("cni/")]


def text(f: RenderedFile) -> str:
    return f.data.decode("ascii").replace("\r\n", "\n")


TARGETS = [
    ("v1.9.0", "host-gw", "1709"), ("v1.9.0", "l3", "ltsc2016"), ("v1.10.3", "host-gw", "1803"),
    ("v1.13.0", "l3", "1709"), ("v1.14.0", "overlay", "ltsc2019"), ("v1.16.2", "host-gw", "1809"),
    ("v1.20.0", "overlay", "ltsc2019"), ("v1.23.4", "l3", "ltsc2022"), ("v1.24.0", "host-gw", "ltsc2022"),
    ("v1.30.1", "overlay", "ltsc2022"), ("v1.37.0", "host-gw", "ltsc2025"), ("v1.37.0", "l3", "20H2"),
]


# --------------------------------------------------------------------------- every file, every target


@pytest.mark.parametrize(("version", "mode", "windows"), TARGETS)
def test_scripts_parse_and_files_are_ascii_crlf(version: str, mode: str, windows: str) -> None:
    files = render_files(version, mode, windows)
    assert sorted(files) == ["README.txt", "install.ps1", "join-node.ps1", render.NODE_FUNCTIONS,
                             "samples/daemonset.yaml", "samples/emptydir-pod.yaml", "samples/hostpath-pod.yaml",
                             "samples/iis.yaml", "uninstall.ps1", "upgrade.ps1"]
    for dest, f in files.items():
        assert b"\n" not in f.data.replace(b"\r\n", b""), dest
        f.data.decode("ascii")
        if dest.endswith(".ps1"):
            assert psparse.parse_errors(text(f)) == [], dest
            assert f.kind == "script"
    assert files["README.txt"].kind == "doc"
    assert files["samples/iis.yaml"].kind == "sample"


def test_join_node_only_with_kubeadm() -> None:
    assert "join-node.ps1" not in render_files("v1.37.0", kubeadm=False)
    assert "join-node.ps1" in render_files("v1.37.0", kubeadm=True)


def test_host_check_snippet_is_one_include_for_start_kubelet() -> None:
    """The line start-kubelet.ps1.j2 will include renders and parses with render.context + host_check_context."""
    cfg = cfg_for(windows="ltsc2019")
    version = KubeVersion(1, 30, 0)
    ctx = render.context(check_for_version(cfg, version))
    ctx.update(images.host_check_context(cfg.node, version))
    out = render.environment().from_string('$x = 1\n{% include "_host_check.ps1.j2" %}\n').render(ctx)
    assert psparse.parse_errors(out) == []


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize(("windows", "servercore", "iis"), [
    ("1709", "microsoft/windowsservercore:1709", "microsoft/iis:windowsservercore-1709"),
    ("ltsc2016", "microsoft/windowsservercore:ltsc2016", "microsoft/iis:windowsservercore-ltsc2016"),
    ("1803", "microsoft/windowsservercore:1803", "microsoft/iis:windowsservercore-1803"),
    ("1809", "mcr.microsoft.com/windows/servercore:1809",
     "mcr.microsoft.com/windows/servercore/iis:windowsservercore-1809"),
    ("ltsc2019", "mcr.microsoft.com/windows/servercore:ltsc2019",
     "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2019"),
    ("ltsc2022", "mcr.microsoft.com/windows/servercore:ltsc2022",
     "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"),
    ("ltsc2025", "mcr.microsoft.com/windows/servercore:ltsc2025",
     "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2025"),
])
def test_images_follow_the_windows_version(windows: str, servercore: str, iis: str) -> None:
    imgs = images.images_for(windows)
    assert (imgs.servercore, imgs.iis) == (servercore, iis)


def test_every_known_windows_version_has_images() -> None:
    """Each version's images sit in its era's registry: Docker Hub before 1809, MCR from 1809."""
    for windows, build in WINDOWS_BUILDS.items():
        imgs = images.images_for(windows)
        registry = "mcr.microsoft.com/windows/" if build >= 17763 else "microsoft/"
        assert imgs.servercore.startswith(registry) and imgs.iis.startswith(registry), windows
        assert imgs.tag in imgs.servercore and imgs.tag in imgs.iis


def test_host_check_runs_2022_images_on_2025_hosts_only() -> None:
    v = KubeVersion(1, 37, 0)
    assert images.host_check_context(NodeSection(windows_version="ltsc2022"), v)["host_run_builds"] == [20348, 26100]
    assert images.host_check_context(NodeSection(windows_version="ltsc2025"), v)["host_run_builds"] == [26100]
    assert images.host_check_context(NodeSection(windows_version="1709"), v)["host_run_builds"] == [16299]
    names = images.host_check_context(NodeSection(), v)["host_known_builds"]
    assert names["17763"] == "1809" and names["26100"] == "ltsc2025"


def test_pause_image_reuses_the_render_default_and_the_override() -> None:
    v = KubeVersion(1, 9, 0)
    assert images.pause_image(NodeSection(windows_version="1709"), v) == "kubeletwin/pause"
    # Built on the node from its own base image: it always matches, so it is not in the warning list.
    assert "kubeletwin/pause" not in images.target_images(NodeSection(windows_version="1709"), v)
    v37 = KubeVersion(1, 37, 0)
    expected = images.default_pause_image("ltsc2025", 26100, v37)
    assert images.pause_image(NodeSection(windows_version="ltsc2025"), v37) == expected
    # Multi-arch: whether it starts depends on its entries, so it gets its own warning line.
    ctx = images.host_check_context(NodeSection(windows_version="ltsc2025"), v37)
    assert ctx["host_multi_arch_pause"] == expected and expected not in ctx["host_target_images"]
    custom = NodeSection(windows_version="ltsc2025", pause_image="registry.example/pause:9")
    assert images.target_images(custom, v37)[0] == "registry.example/pause:9"
    assert images.host_check_context(custom, v37)["host_multi_arch_pause"] == ""
    checked = check_for_version(cfg_for(windows="ltsc2022", pause_image="registry.example/pause:9"), v37)
    assert render.context(checked)["pause_image"] == "registry.example/pause:9"


# --------------------------------------------------------------------------- samples


def load_samples(files: dict[str, RenderedFile]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for dest, f in files.items():
        if dest.startswith("samples/"):
            assert "&id" not in text(f), f"{dest} uses YAML anchors"
            docs += [d for d in yaml.safe_load_all(text(f)) if d is not None]
    return docs


def pod_specs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d["spec"] if d["kind"] == "Pod" else d["spec"]["template"]["spec"] for d in docs if d["kind"] != "Service"]


@pytest.mark.parametrize(("version", "windows", "selector", "tag"), [
    ("v1.9.0", "1709", "beta.kubernetes.io/os", "1709"),
    ("v1.13.0", "ltsc2016", "beta.kubernetes.io/os", "ltsc2016"),
    ("v1.14.0", "ltsc2019", "kubernetes.io/os", "ltsc2019"),
    ("v1.18.0", "1809", "kubernetes.io/os", "1809"),
    ("v1.37.0", "ltsc2022", "kubernetes.io/os", "ltsc2022"),
    ("v1.37.0", "ltsc2025", "kubernetes.io/os", "ltsc2025"),
])
def test_samples_match_version_and_windows(version: str, windows: str, selector: str, tag: str) -> None:
    docs = load_samples(render_files(version, windows=windows))
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["DaemonSet", "Deployment", "Pod", "Pod", "Service"]
    for d in docs:
        expected = "apps/v1" if d["kind"] in ("Deployment", "DaemonSet") else "v1"
        assert d["apiVersion"] == expected
    for spec in pod_specs(docs):
        assert spec["nodeSelector"] == {selector: "windows"}
        for c in spec["containers"]:
            assert c["image"].endswith((f":{tag}", f"-{tag}")), c["image"]
    for d in docs:
        if d["kind"] in ("Deployment", "DaemonSet"):
            assert d["spec"]["selector"]["matchLabels"] == d["spec"]["template"]["metadata"]["labels"]
    service = next(d for d in docs if d["kind"] == "Service")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]


def test_hostpath_and_emptydir_samples() -> None:
    docs = load_samples(render_files("v1.37.0"))
    hostpath = next(d for d in docs if d["metadata"].get("name") == "hostpath-sample")
    assert hostpath["spec"]["volumes"][0]["hostPath"]["path"] == "C:\\k-sample-data"
    assert hostpath["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] == "C:\\data"
    emptydir = next(d for d in docs if d["metadata"].get("name") == "emptydir-sample")
    assert emptydir["spec"]["volumes"] == [{"name": "cache", "emptyDir": {}}]
    assert len(emptydir["spec"]["containers"]) == 2


def test_hyperv_isolation_annotates_sample_pods() -> None:
    docs = load_samples(render_files("v1.17.0", windows="ltsc2019", isolation="hyperv"))
    annotated = [d for d in docs if d["kind"] == "Pod"] + [
        d["spec"]["template"] for d in docs if d["kind"] in ("Deployment", "DaemonSet")]
    for obj in annotated:
        assert obj["metadata"]["annotations"] == {"experimental.windows.kubernetes.io/isolation-type": "hyperv"}
    assert "annotations" not in json.dumps(load_samples(render_files("v1.17.0", windows="ltsc2019")))


# --------------------------------------------------------------------------- install.ps1


def assigned_vars(script: str) -> set[str]:
    return set(re.findall(r"^\s*\$([A-Za-z]+) = ", script, re.MULTILINE)) | set(
        re.findall(r"\[string\] \$([A-Za-z]+)", script))


def test_hostile_values_stay_literals_in_install() -> None:
    cfg = cfg_for()
    v = KubeVersion(1, 37, 0)
    ctx = render.context(check_for_version(cfg, v))
    ctx["nic_name"] = "Eth'; Stop-Computer; '"
    ctx["install_dir"] = "C:\\k\u2019; Stop-Computer; \u2018"
    out = render.render_template("install.ps1.j2", ctx)
    assert "$InterfaceName = 'Eth''; Stop-Computer; '''" in out
    assert "$InstallDir = 'C:\\k\u2019\u2019; Stop-Computer; \u2018\u2018'" in out
    assert psparse.parse_errors(out) == []


# --------------------------------------------------------------------------- join-node.ps1


@pytest.mark.parametrize("version", ["v1.23.0", "v1.37.0"])
def test_join_node_takes_secrets_only_at_run_time(version: str) -> None:
    """The token and CA hash are run-time parameters that reach kubeadm in a private file, never argv."""
    script = text(render_files(version)["join-node.ps1"])
    params = set(re.findall(r"\] \[string\] \$(\w+)", script.split("\n)\n", 1)[0]))
    assert {"Token", "CaCertHash"} <= params
    assert "--token" not in script and "--discovery-token-ca-cert-hash" not in script


def test_config_refuses_a_token_key(tmp_path: Path) -> None:
    (tmp_path / "bundle.yaml").write_text(f"node:\n  join_token: {CANARY}\n", encoding="utf-8")
    overrides = config_mod.Overrides(config=tmp_path / "bundle.yaml")
    with pytest.raises(ConfigError, match=r"node\.join_token: secrets are never part") as err:
        config_mod.load(overrides, {}, tmp_path)
    assert CANARY not in str(err.value)


def scan(data: bytes, where: str) -> None:
    for needle in (CANARY, CANARY.split(".")[1], CANARY_HASH[7:]):
        assert needle.encode() not in data, f"{needle} found in {where}"


def test_token_canary_reaches_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, windows_exe: Path) -> None:
    env = {"KUBEADM_TOKEN": CANARY, "TOKEN": CANARY, "JOIN_TOKEN": CANARY, "KUBEADM_CA_HASH": CANARY_HASH}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    # The operator pasted the join command into the config as a comment: comments carry nothing.
    (tmp_path / "bundle.yaml").write_text(
        f"# kubeadm join 192.168.10.5:6443 --token {CANARY} --discovery-token-ca-cert-hash {CANARY_HASH}\n"
        "kubernetes:\n  source: release\n  version: v1.37.0\n"
        "  components: [kubelet, kube-proxy, kubectl, kubeadm]\n"
        "network:\n  control_plane_ip: 192.168.10.5\n",
        encoding="utf-8")
    cfg = config_mod.load(config_mod.Overrides(config=tmp_path / "bundle.yaml"), dict(env), tmp_path)
    rendered = render.render_bundle(cfg, "v1.37.0")
    for f in rendered:
        scan(f.data, f.dest)
    inputs = make_inputs(tmp_path / "pack", windows_exe)
    zip_path = pack.pack(inputs.cfg, inputs.built, inputs.sdn, rendered)
    with zipfile.ZipFile(zip_path) as zf:
        for name in zf.namelist():
            scan(zf.read(name), f"{zip_path.name}:{name}")
    for side in zip_path.parent.iterdir():
        if side.is_file():
            scan(side.read_bytes(), side.name)


def packed_node_bundle(tmp_path: Path, windows_exe: Path) -> Path:
    """The fixture's binaries and SDN files with this tool's real node scripts, packed."""
    inputs = make_inputs(tmp_path, windows_exe)
    built = with_binaries(inputs.built, "kubeadm", "kubectl")
    return pack.pack(inputs.cfg, built, inputs.sdn, node_files(render.render_bundle(cfg_for(), "v1.37.0")))


def bound_digest(install: bytes) -> str:
    found = re.findall(rb"^\$FilesDigest = '([0-9a-f]{64})'\r$", install, re.MULTILINE)
    assert len(found) == 1
    return found[0].decode()


def test_install_ps1_holds_the_digest_of_every_other_file_of_its_manifest(tmp_path: Path, windows_exe: Path) -> None:
    """The manifest cannot list install.ps1's hash inside install.ps1: the digest covers every other entry, as
    install.ps1 recomputes it ('<sha256>  <path>' and LF per entry, in the manifest's order)."""
    zip_path = packed_node_bundle(tmp_path, windows_exe)
    with zipfile.ZipFile(zip_path) as zf:
        manifest = json.loads(zf.read("k/manifest.json"))
        digest = bound_digest(zf.read("k/install.ps1"))
    lines = "".join(f"{e['sha256']}  {e['path']}\n" for e in manifest["files"] if e["path"] != "k/install.ps1")
    assert digest == hashlib.sha256(lines.encode()).hexdigest()
    assert verify.check_zip(zip_path).problems == []
    # A manifest changed after packing (an entry dropped, and its file with it) no longer matches install.ps1.
    manifest["files"] = [e for e in manifest["files"] if e["path"] != "k/README.txt"]
    changed = json.dumps(manifest, indent=2, sort_keys=True).encode()
    rewrite_zip(zip_path, lambda n, d: None if n == "k/README.txt" else changed if n == "k/manifest.json" else d)
    problems = verify.check_zip(zip_path).problems
    want = "k/install.ps1: its files digest does not match k/manifest.json: the manifest was changed after packing"
    assert [p for p in problems if p.endswith(want)] != []


def test_a_rendered_install_ps1_is_packed_bound_or_not_at_all(tmp_path: Path, windows_exe: Path) -> None:
    """render writes the unbound digest once; a script holding it twice cannot be bound and is refused."""
    rendered = render.render_bundle(cfg_for(), "v1.37.0")
    install = next(f for f in rendered if f.dest == "install.ps1")
    assert bound_digest(install.data) == UNBOUND_FILES_DIGEST
    twice = dataclasses.replace(install, data=install.data + f"# '{UNBOUND_FILES_DIGEST}'\r\n".encode())
    inputs = make_inputs(tmp_path, windows_exe)
    with pytest.raises(PackError, match="holds the unbound digest 2 times"):
        pack.pack(inputs.cfg, inputs.built, inputs.sdn, [twice])
    assert list(inputs.cfg.options.dist.glob("*.zip")) == []


def test_packed_bundle_lists_every_member_for_install(tmp_path: Path, windows_exe: Path) -> None:
    """In a real zip, every member but manifest.json and SHA256SUMS is in the manifest install.ps1 checks."""
    inputs = make_inputs(tmp_path, windows_exe)
    built = with_binaries(inputs.built, "kubeadm", "kubectl")
    mine = node_files(render.render_bundle(cfg_for(), "v1.37.0"))
    zip_path = pack.pack(inputs.cfg, built, inputs.sdn, mine + inputs.rendered[:2])
    assert verify.check_zip(zip_path).problems == []  # the generated scripts pass the bundle check too
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("k/manifest.json"))
        script = zf.read("k/install.ps1").decode("ascii")
        listed = {e["path"]: e for e in manifest["files"]}
        assert set(listed) == names - {"k/manifest.json", "k/SHA256SUMS"}
        mine_paths = {"k/install.ps1", "k/join-node.ps1", "k/README.txt", "k/samples/iis.yaml", "k/kubelet.exe"}
        assert mine_paths <= set(listed)
        # The path rule install.ps1 applies accepts every path the manifest lists (none is skipped).
        rule = re.search(r"\$path -notmatch '([^']+)'", script)
        assert rule is not None
        for path, entry in listed.items():
            assert re.fullmatch(rule.group(1), path), path
            data = zf.read(path)
            assert entry["size"] == len(data)
            assert entry["sha256"] == hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- README.txt


@pytest.mark.parametrize(("version", "present", "absent"), [
    ("v1.9.0", ["secret_volumes", "statefulset", "hpa", "hyperv_none", "node_to_service", "os_matching"],
     ["hyperv_alpha"]),
    ("v1.11.0", ["statefulset", "hyperv_alpha", "node_to_service"], ["secret_volumes"]),
    ("v1.14.0", ["hyperv_alpha", "node_to_service"], ["statefulset", "hpa"]),
    ("v1.21.0", ["hyperv_none", "os_matching", "local_nodeport"], ["hyperv_alpha", "statefulset", "node_to_service"]),
])
def test_readme_limitations_apply_to_the_version(version: str, present: list[str], absent: list[str]) -> None:
    windows = "1803" if version == "v1.11.0" else "ltsc2019"
    lim = samples.limitations(KubeVersion.parse(version), NodeSection(windows_version=windows), kubeadm=True)
    assert [p for p in present if not lim[p]] == []
    assert [a for a in absent if lim[a]] == []


def test_secret_volumes_need_1803_hosts_even_after_1_11() -> None:
    assert samples.limitations(KubeVersion(1, 12, 0), NodeSection(windows_version="1709"))["secret_volumes"]
    assert not samples.limitations(KubeVersion(1, 12, 0), NodeSection(windows_version="1803"))["secret_volumes"]


@pytest.mark.parametrize(("version", "mode"), [("v1.9.0", "host-gw"), ("v1.24.0", "l3"), ("v1.37.0", "overlay")])
def test_readme_shows_values_as_text_not_as_powershell(version: str, mode: str) -> None:
    """README.txt is read, not run: no value comes out as a PowerShell literal ('x', @(...))."""
    cfg = cfg_for(mode)
    files = {f.dest: f for f in render.render_bundle(cfg, version)}
    readme = text(files["README.txt"])
    header = readme.split("1. BEFORE YOU START")[0]
    assert f"Network mode .......... {mode}\n" in header
    assert "Components ............ kubelet, kube-proxy, kubectl, kubeadm\n" in header
    assert "@(" not in readme
    values = [cfg.network.cluster_cidr, cfg.network.network_name, cfg.node.install_dir, cfg.node.kubeconfig]
    for value in values:
        assert value in readme and f"'{value}'" not in readme, value
    assert "-NodeLabels ......... (none)\n" in readme  # no label: no '' for the operator to puzzle over


def test_install_path_rule_refuses_escapes() -> None:
    script = text(render_files("v1.37.0")["install.ps1"])
    rule = re.search(r"\$path -notmatch '([^']+)'", script)
    assert rule is not None
    for bad in ("../x.exe", "k/../x.exe", "k/a\\b.exe", "C:/x.exe", "k/.hidden", "k//x", "k/", "x/kubelet.exe"):
        assert re.search(rule.group(1), bad) is None, bad
    for good in ("k/kubelet.exe", "k/cni/config/l2bridge.conf", "k/samples/iis.yaml"):
        assert re.search(rule.group(1), good) is not None, good


def test_hostpath_type_only_where_served() -> None:
    def host_path(version: str, windows: str) -> dict[str, Any]:
        docs = load_samples(render_files(version, windows=windows))
        pod = next(d for d in docs if d["metadata"].get("name") == "hostpath-sample")
        return dict(pod["spec"]["volumes"][0]["hostPath"])

    assert host_path("v1.9.0", "1709") == {"path": "C:\\k-sample-data"}
    assert host_path("v1.10.0", "1709") == {"path": "C:\\k-sample-data", "type": "DirectoryOrCreate"}


def test_kubeadm_before_1_16_is_a_stated_limitation() -> None:
    node = NodeSection(windows_version="ltsc2019")
    assert samples.limitations(KubeVersion(1, 15, 0), node, kubeadm=True)["kubeadm_early"]
    assert not samples.limitations(KubeVersion(1, 16, 0), node, kubeadm=True)["kubeadm_early"]
    assert not samples.limitations(KubeVersion(1, 15, 0), node, kubeadm=False)["kubeadm_early"]
