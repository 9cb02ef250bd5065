"""Fail fast: every problem that can be found in seconds stops the run before the tree's `make` runs.

The tree is the test Kubernetes tree with a Makefile that first writes a marker file, so "make
did not run" is a fact on disk, not a guess. The one run that passes every check proves the
marker is written when make runs.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import GoSeed
from fake_dlk8s import publish
from httpserver import serve
from kit_fixture import CNI_TREE, dirhash_by_sha256sum, local_cni_release, source_targz
from kube_tree import build_env, make_tree
from sdn_fixture import write_sdn_archive

from builder import cli

pytestmark = pytest.mark.go

COMMIT = "0123456789abcdef0123456789abcdef01234567"
MARKER = "MAKE_RAN"


def marked_tree(path: Path, *, with_git: bool = True) -> Path:
    tree = make_tree(path, with_git=False)
    makefile = tree / "Makefile"
    makefile.write_text(makefile.read_text().replace("all:\n", f"all:\n\ttouch {MARKER}\n"))
    if with_git:
        return make_tree_git(tree)
    return tree


def make_tree_git(tree: Path) -> Path:
    from kube_tree import TAG, git

    git(tree, "init", "-q", "-b", "main")
    (tree / ".gitignore").write_text((tree / ".gitignore").read_text() + f"{MARKER}\n")
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "-m", "test tree")
    git(tree, "tag", TAG)
    return tree


def write_config(tmp_path: Path, extra: dict[str, Any] | None = None, sdn: dict[str, Any] | None = None) -> Path:
    if sdn is None:
        _archive, sdn = write_sdn_archive(tmp_path, COMMIT)
    # containerd-era versions take the CNI plugins: a pinned release on a local mirror.
    data: dict[str, Any] = {"sdn": sdn, "cni": local_cni_release(tmp_path / "cni"), **(extra or {})}
    path = tmp_path / "bundle.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def run(tmp_path: Path, tree: Path | None, *more: str, monkeypatch: pytest.MonkeyPatch,
        env: dict[str, str] | None = None) -> int:
    for key, value in (env or build_env()).items():
        monkeypatch.setenv(key, value)
    argv = ["bundle", "--config", str(tmp_path / "bundle.yaml"), "--cache-dir", str(tmp_path / "cache")]
    if tree is not None:
        argv += ["--kube-root", str(tree)]
    if "--dist" not in more:
        argv += ["--dist", str(tmp_path / "dist")]
    return cli.main([*argv, *more])


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return marked_tree(tmp_path / "kubernetes")


def assert_no_make(tree: Path) -> None:
    assert not (tree / MARKER).exists(), "make ran before the problem was reported"
    assert not (tree / "_output").exists()


def test_a_good_run_passes_every_check_and_runs_make(tmp_path: Path, tree: Path,
                                                     monkeypatch: pytest.MonkeyPatch, go_seed: GoSeed) -> None:
    go_seed.into(tmp_path / "cache")
    write_config(tmp_path)
    assert run(tmp_path, tree, monkeypatch=monkeypatch) == 0
    assert (tree / MARKER).is_file()


@pytest.mark.parametrize("where", ["file", "inside-file"])
def test_dist_that_is_not_a_folder(tmp_path: Path, tree: Path, monkeypatch: pytest.MonkeyPatch,
                                   caplog: pytest.LogCaptureFixture, where: str) -> None:
    write_config(tmp_path)
    blocker = tmp_path / "dist-file"
    blocker.write_text("not a folder")
    dist = blocker if where == "file" else blocker / "sub"
    assert run(tmp_path, tree, "--dist", str(dist), monkeypatch=monkeypatch) == 2
    assert "--dist: " in caplog.text and "not a folder" in caplog.text
    assert_no_make(tree)
    assert not (tmp_path / "cache").exists(), "the cache was written before the problem was reported"


def test_unsupported_release_version_is_refused_before_any_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    with serve({}) as srv:
        write_config(tmp_path, {"kubernetes": {"release_url": srv.url("/release")}})
        assert run(tmp_path, None, "--kube-version", "v1.99.0", monkeypatch=monkeypatch) == 2
        assert srv.requests == []
    assert "v1.99.0 is outside the versions these scripts know" in caplog.text
    assert not (tmp_path / "cache").exists()


CONFIG_ERRORS = [
    ("unsupported tree version", {"kubernetes": {"version": "v1.99.0"}}, "outside the versions"),
    ("extra arg the version lacks", {"node": {"kubelet_extra_args": ["--allow-privileged=true"]}},
     "node.kubelet_extra_args"),
    ("network the scripts cannot use", {"network": {"cluster_cidr": "fd00:10::/48", "service_cidr": "fd00:20::/108",
                                                    "dns_service_ip": "fd00:20::a"}}, "network.cluster_cidr"),
    ("runtime the version lacks", {"node": {"runtime": "docker"}}, "node.runtime"),
    ("docker with a network the cluster runs", {"kubernetes": {"version": "v1.23.0"}, "node": {"runtime": "docker"},
                                                "network": {"mode": "antrea", "control_plane_ip": "192.0.2.10"}},
     "network.mode: antrea runs with containerd only"),
    ("a minor before HostProcess with a network the cluster runs", {
        "kubernetes": {"version": "v1.25.0"}, "network": {"mode": "calico-vxlan", "control_plane_ip": "192.0.2.10"}},
     "network.mode: calico-vxlan needs HostProcess containers (GA in 1.26)"),
]


@pytest.mark.parametrize(("what", "extra", "names"), CONFIG_ERRORS, ids=[c[0] for c in CONFIG_ERRORS])
def test_version_dependent_config_errors_stop_before_make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture, what: str,
                                                          extra: dict[str, Any], names: str) -> None:
    # A tree without .git (a source tarball) takes its version from kubernetes.version.
    tree = marked_tree(tmp_path / "kubernetes", with_git=False)
    extra = {**extra, "kubernetes": {"version": "v1.37.0", **extra.get("kubernetes", {})}}
    write_config(tmp_path, extra)
    assert run(tmp_path, tree, monkeypatch=monkeypatch) == 2
    assert names in caplog.text
    assert_no_make(tree)
    assert not (tmp_path / "dist").exists() and not (tmp_path / "cache").exists()


def test_missing_build_command_stops_before_make(tmp_path: Path, tree: Path, monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    write_config(tmp_path)
    # A PATH with everything the build uses but rsync.
    shim = tmp_path / "bin"
    shim.mkdir()
    env = build_env()
    for tool in ("make", "bash", "git", "go", "gofmt", "env", "touch", "date", "mkdir", "dirname", "cat"):
        found = shutil.which(tool, path=env["PATH"])
        if found:
            (shim / tool).symlink_to(found)
    env["PATH"] = str(shim)
    assert run(tmp_path, tree, monkeypatch=monkeypatch, env=env) == 3
    assert "needs rsync, not found on PATH" in caplog.text
    assert "apt-get install rsync" in caplog.text
    assert_no_make(tree)


def test_a_tree_that_is_not_kubernetes_is_not_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    other = tmp_path / "other-project"
    other.mkdir()
    (other / "Makefile").write_text(f"all:\n\ttouch {MARKER}\n")
    write_config(tmp_path, {"kubernetes": {"version": "v1.37.0"}})
    assert run(tmp_path, other, monkeypatch=monkeypatch) == 2
    assert "does not look like a Kubernetes source tree (no hack/lib/version.sh or cmd/kubelet)" in caplog.text
    assert not (other / MARKER).exists()


def test_a_component_the_tree_lacks_stops_before_make(tmp_path: Path, tree: Path, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    shutil.rmtree(tree / "cmd/kubeadm")
    write_config(tmp_path, {"kubernetes": {"components": ["kubelet", "kube-proxy", "kubectl", "kubeadm"]}})
    assert run(tmp_path, tree, monkeypatch=monkeypatch) == 2
    assert "kubernetes.components: the tree" in caplog.text and "has no cmd/kubeadm" in caplog.text
    assert_no_make(tree)


def test_unreachable_sdn_stops_before_make(tmp_path: Path, tree: Path, monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    with serve({}) as srv:  # every path answers 404
        _archive, sdn = write_sdn_archive(tmp_path, COMMIT)
        sdn["url"] = srv.url(f"/microsoft/SDN/archive/{COMMIT}.zip")
        write_config(tmp_path, sdn=sdn)
        assert run(tmp_path, tree, monkeypatch=monkeypatch) == 5
    assert "404" in caplog.text
    assert_no_make(tree)
    assert not (tmp_path / "dist").exists()


def test_check_command_runs_every_check_and_builds_nothing(tmp_path: Path, tree: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.INFO, logger="builder")
    write_config(tmp_path)
    for key, value in build_env().items():
        monkeypatch.setenv(key, value)
    argv = ["check", "--config", str(tmp_path / "bundle.yaml"), "--cache-dir", str(tmp_path / "cache"),
            "--kube-root", str(tree), "--dist", str(tmp_path / "dist")]
    assert cli.main(argv) == 0
    found = capsys.readouterr().out  # the findings are the result
    assert "ok for v1.37.0" in found
    assert "check: SDN microsoft/SDN@0123456789ab: 4 files verified" in found
    assert_no_make(tree)
    assert not (tmp_path / "dist").exists()
    caplog.clear()
    write_config(tmp_path, {"node": {"kubelet_extra_args": ["--allow-privileged"]}})
    assert cli.main(argv) == 2
    assert "node.kubelet_extra_args[0]: kubelet 1.37 with containerd does not accept --allow-privileged" in caplog.text


def test_check_asks_the_release_for_each_binary_without_downloading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.INFO, logger="builder")
    with serve({}) as srv:
        url = publish(srv, "v1.37.0", b"MZ not really an executable")
        write_config(tmp_path, {"kubernetes": {"release_url": url}})
        argv = ["check", "--config", str(tmp_path / "bundle.yaml"), "--cache-dir", str(tmp_path / "cache")]
        assert cli.main([*argv, "--kube-version", "v1.37.0"]) == 0
        assert "official binaries: all 3 are published at" in capsys.readouterr().out
        assert {r.method for r in srv.requests} == {"HEAD"}
        assert cli.main([*argv, "--kube-version", "v1.37.0", "--kube-version", "v1.36.1"]) == 5
    assert "kubernetes.release_url: these binaries cannot be reached" in caplog.text
    assert "/release/v1.36.1/bin/windows/amd64/kubelet.exe: HTTP 404" in caplog.text
    assert not (tmp_path / "cache/release").exists()


def test_a_cni_source_that_cannot_be_built_stops_the_run_before_make(tmp_path: Path, tree: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """The node kit's build (seconds) runs before the tree's make (minutes), so its problem costs no make."""
    src = tmp_path / "cni-src"
    shutil.copytree(CNI_TREE, src, ignore=shutil.ignore_patterns("vendor"))
    archive = tmp_path / "plugins-v1.9.1.tar.gz"
    archive.write_bytes(source_targz("v1.9.1", src))
    write_config(tmp_path)
    path = tmp_path / "bundle.yaml"
    data = yaml.safe_load(path.read_text())
    data["cni"] = {"source": "build", "version": "v1.9.1", "url": str(archive), "h1": dirhash_by_sha256sum(src)}
    path.write_text(yaml.safe_dump(data))
    assert run(tmp_path, tree, monkeypatch=monkeypatch) == 3
    assert "has no vendor/modules.txt" in caplog.text
    assert_no_make(tree)
    assert not (tmp_path / "dist").exists()
