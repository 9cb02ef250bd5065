"""The whole `bundle` command: a real tree compiled, SDN archive over loopback HTTP, a real zip."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import GoSeed
from httpserver import serve
from kit_fixture import CNI_TREE, dirhash_by_sha256sum, source_targz
from kube_tree import TAG, build_env, make_tree
from sdn_fixture import make_sdn_archive, sdn_config

from builder import cli
from builder.pe import pe_problem
from builder.sources import build

pytestmark = pytest.mark.go

COMMIT = "0123456789abcdef0123456789abcdef01234567"
CNI_SRC = "/containernetworking/plugins/archive/refs/tags/v1.9.1.tar.gz"


def write_config(tmp_path: Path, url: str, extra: dict[str, object] | None = None) -> Path:
    data: dict[str, object] = {
        "bundle": {"name": "win-node", "revision": 3},
        "sdn": sdn_config(COMMIT, url),
        # v1.37 runs containerd: the CNI plugins are built from their pinned source archive.
        "cni": {"url": url.rsplit("/microsoft/", 1)[0] + CNI_SRC.replace("v1.9.1", "{version}"),
                "h1": dirhash_by_sha256sum(CNI_TREE)},
        "network": {"mode": "host-gw", "cluster_cidr": "192.168.0.0/16", "service_cidr": "11.0.0.0/8",
                    "dns_service_ip": "11.0.0.10", "control_plane_ip": "10.1.2.3"},
        **(extra or {}),
    }
    path = tmp_path / "bundle.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def run_bundle(tmp_path: Path, tree: Path, *more: str) -> int:
    old = dict(os.environ)
    os.environ.update(build_env())
    try:
        return cli.main(["bundle", "--config", str(tmp_path / "bundle.yaml"), "--kube-root", str(tree),
                         "--cache-dir", str(tmp_path / "cache"), "--dist", str(tmp_path / "dist"), *more])
    finally:
        os.environ.clear()
        os.environ.update(old)


def test_bundle_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, go_seed: GoSeed) -> None:
    go_seed.into(tmp_path / "cache")
    tree = make_tree(tmp_path / "kubernetes")
    routes = {f"/microsoft/SDN/archive/{COMMIT}.zip": make_sdn_archive(COMMIT), CNI_SRC: source_targz("v1.9.1")}
    with serve(routes) as srv:
        write_config(tmp_path, srv.url(f"/microsoft/SDN/archive/{COMMIT}.zip"))
        assert run_bundle(tmp_path, tree) == 0
        assert srv.hits(f"/microsoft/SDN/archive/{COMMIT}.zip") >= 1

    zip_path = tmp_path / "dist" / f"win-node-{TAG}-3.zip"
    assert zip_path.is_file()
    subprocess.run(["unzip", "-tq", str(zip_path)], check=True)
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        assert all(n.startswith("k/") for n in names)
        for exe in ("k/kubelet.exe", "k/kube-proxy.exe", "k/kubectl.exe"):
            data = zf.read(exe)
            assert pe_problem(data[:4096]) is None
            assert TAG.encode() in data
        for exe in ("k/kube-log-runner.exe", "k/cni/win-bridge.exe", "k/cni/win-overlay.exe", "k/cni/host-local.exe"):
            assert pe_problem(zf.read(exe)[:4096]) is None, exe
        for member in ("k/helper.psm1", "k/hns.psm1", "k/cni/wincni.exe", "k/start-kubelet.ps1",
                       "k/start-kubeproxy.ps1", "k/AddRoutes.ps1", "k/install.ps1", "k/README.txt",
                       "k/manifest.json", "k/SHA256SUMS"):
            assert member in names, member
        kubelet_script = zf.read("k/start-kubelet.ps1").decode("ascii")
        assert "'192.168.0.0/16'" in kubelet_script and "'11.0.0.10'" in kubelet_script
        manifest = json.loads(zf.read("k/manifest.json"))
    assert manifest["kubernetes"]["gitVersion"] == TAG
    assert manifest["sdn"]["commit"] == COMMIT
    assert [(i["name"], i["version"], i["h1"]) for i in manifest["inputs"]] == [
        ("sdn", COMMIT, None), ("cni-plugins", "v1.9.1", dirhash_by_sha256sum(CNI_TREE))]
    first = zip_path.read_bytes()
    # verify needs no tree and no configuration: only what is in dist/.
    assert cli.main(["verify", str(zip_path)]) == 0

    # Second run: no network (the server is gone), no make, and the very same bytes; the tree's
    # version is read once (when the run is resolved), not again by the preflight or the build.
    (tmp_path / "cache/logs/make.log").unlink()
    detected: list[str] = []
    real_detect = build.detect_version
    monkeypatch.setattr(build, "detect_version", lambda *a: detected.append(str(a[0])) or real_detect(*a))
    assert run_bundle(tmp_path, tree, "--offline") == 0
    assert detected == [str(tree)]
    assert not (tmp_path / "cache/logs/make.log").exists()
    assert zip_path.read_bytes() == first
    assert not [p for p in (tmp_path / "dist").iterdir() if p.name.startswith(".")], "temp files left in dist/"


def test_bad_config_writes_nothing(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "kubernetes")
    write_config(tmp_path, "http://127.0.0.1:9/none.zip", {"node": {"install_dir": "C:\\k\\..\\Windows"}})
    assert run_bundle(tmp_path, tree) == 2
    assert not (tmp_path / "dist").exists()
    assert not (tmp_path / "cache").exists()
