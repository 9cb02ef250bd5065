"""The kept Go build cache and the `go` the tree's build runs: same bundle bytes from any folder,
any cache, any home, cold, warm or damaged cache; old trees' own cache folder and path flags."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import GoSeed
from kit_fixture import local_cni_release
from kube_tree import build_env, make_tree
from sdn_fixture import write_sdn_archive

from builder import cli
from builder.errors import BuildError
from builder.sources import gocache, toolchain

COMMIT = "0123456789abcdef0123456789abcdef01234567"
GIB = 2**30


# --------------------------------------------------------------------------- the cache folder


def test_one_folder_per_minor_go_version_and_platform(tmp_path: Path) -> None:
    a = gocache.for_build(tmp_path, "v1.20.2", "1.21.13", "windows/amd64", {})
    assert a.path == tmp_path / "go-build" / "v1.20-go1.21.13-windows-amd64"
    assert gocache.for_build(tmp_path, "v1.20.15-rc.0", "1.21.13", "windows/amd64", {}).path == a.path
    assert gocache.for_build(tmp_path, "v1.21.0", "1.21.13", "windows/amd64", {}).path != a.path
    assert a.max_bytes == gocache.DEFAULT_MAX


def test_size_limit_from_the_environment(tmp_path: Path) -> None:
    assert gocache.max_size({"K8SWB_GO_CACHE_MAX": "8GiB"}) == 8 * GIB
    assert gocache.max_size({"K8SWB_GO_CACHE_MAX": "500MiB"}) == 500 * 2**20
    with pytest.raises(BuildError, match=r"K8SWB_GO_CACHE_MAX='lots' is not a size; write it like 2GiB"):
        gocache.max_size({"K8SWB_GO_CACHE_MAX": "lots"})


def _entries(folder: Path, count: int, size: int) -> list[Path]:
    """Go-cache-shaped entries (`<2 hex>/<hash>-d`), the first one the least recently used."""
    out = []
    for n in range(count):
        path = folder / f"{n:02x}" / f"{n:064x}-d"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
        os.utime(path, (1_000_000 + n, 1_000_000 + n))
        out.append(path)
    (folder / "README").write_text("This directory holds cached build artifacts from the Go build system.\n")
    return out


def test_trim_removes_the_least_recently_used_until_it_fits(tmp_path: Path) -> None:
    entries = _entries(tmp_path, 10, 1000)
    assert gocache.trim(tmp_path, 6500) == 4000
    assert [p.exists() for p in entries] == [False] * 4 + [True] * 6
    assert (tmp_path / "README").exists()
    assert gocache.trim(tmp_path, 6500) == 0


def test_a_build_holding_the_cache_keeps_it_from_being_trimmed(tmp_path: Path) -> None:
    cache = gocache.GoCache(tmp_path / "go-build" / "v1.37-go1.25.5-windows-amd64", max_bytes=1)
    _entries(cache.path, 3, 100)
    other = os.open(cache.lock_path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(other, fcntl.LOCK_SH)  # another build is running
        with gocache.in_use(cache):
            pass
        assert gocache.size(cache.path) == 300
    finally:
        os.close(other)
    with gocache.in_use(cache):  # the last one out trims
        pass
    assert gocache.size(cache.path) == 0


# --------------------------------------------------------------------------- the `go` shim


def test_the_shim_adds_trimpath_drops_folder_flags_and_sets_the_cache(tmp_path: Path) -> None:
    real = tmp_path / "realgo" / "bin" / "go"
    real.parent.mkdir(parents=True)
    real.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "GOCACHE=$GOCACHE" "$@"\n')
    real.chmod(0o755)
    shim = toolchain.write_shim(tmp_path / "cache", toolchain.Toolchain(tmp_path / "realgo", (1, 25, 5)),
                                tmp_path / "kept")

    def run(*args: str) -> list[str]:
        env = {**os.environ, "GOCACHE": "/tree/_output/local/go/cache"}  # what an old tree's script exports
        return subprocess.run([str(shim / "go"), *args], check=True, capture_output=True, text=True,
                              env=env).stdout.splitlines()

    # v1.20's golang.sh: -gcflags and its value as two arguments, the tree's folder in both flags.
    assert run("install", "-installsuffix", "static", "-gcflags", " -trimpath=/src/k 8s", "-asmflags",
               "-trimpath=/src/k", "-ldflags", "-s -w -X 'a.b=c d'", "./cmd/kubelet") == [
        f"GOCACHE={tmp_path / 'kept'}", "install", "-trimpath", "-installsuffix", "static", "-gcflags", "  8s",
        "-asmflags", "", "-ldflags", "-s -w -X 'a.b=c d'", "./cmd/kubelet"]
    # Later trees: `all=` patterns, the value joined to the flag, other gcflags kept.
    assert run("build", "-gcflags=all=-trimpath=/src/k/_output/local/go/src/k8s.io/kubernetes -N -l",
               "-asmflags=all=-trimpath=/src/k", "./cmd/x")[1:] == [
        "build", "-trimpath", "-gcflags=all= -N -l", "-asmflags=all=", "./cmd/x"]
    # Commands that build nothing pass through untouched.
    assert run("env", "GOROOT")[1:] == ["env", "GOROOT"]
    assert run("version")[1:] == ["version"]


# --------------------------------------------------------------------------- bundles, built for real


def _config(tmp_path: Path) -> Path:
    _archive, sdn = write_sdn_archive(tmp_path, COMMIT)
    cni = local_cni_release(tmp_path / "cni")
    path = tmp_path / "bundle.yaml"
    path.write_text(yaml.safe_dump({"sdn": sdn, "cni": cni}))
    return path


def _toolchain_in(cache: Path) -> dict[str, str]:
    """A copy of the test Go in `cache` (as the tool installs one: a GOROOT of its own, at a path of its
    own) and an environment whose PATH has no other go."""
    real = toolchain.inspect_go("go", build_env())
    assert real is not None
    entry = cache / "go" / f"go{toolchain.show(real.version)}"
    shutil.copytree(real.goroot, entry / "go", symlinks=True, copy_function=os.link)
    toolchain.record_tree(entry)
    env = build_env()
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not shutil.which("go", path=p))
    return env


def _bundle(tmp_path: Path, tree: Path, cache: Path, dist: Path, home: Path, env: dict[str, str],
            monkeypatch: pytest.MonkeyPatch) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    for key in list(os.environ):
        monkeypatch.delenv(key)
    for key, value in {**env, "HOME": str(home)}.items():
        monkeypatch.setenv(key, value)
    argv = ["bundle", "--config", str(tmp_path / "bundle.yaml"), "--kube-root", str(tree), "--cache-dir", str(cache),
            "--dist", str(dist)]
    assert cli.main(argv) == 0
    (zip_path,) = dist.glob("*.zip")
    return zip_path


def _old_tree(tree: Path) -> Path:
    """The test tree made to build as trees up to about v1.22 do: its own Go build cache forced inside
    _output/, no Go -trimpath, and its folder (KUBE_ROOT, from `pwd -P`) in -gcflags and -asmflags."""
    script = tree / "hack/make-rules/build.sh"
    text = script.read_text()
    text = text.replace('KUBE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)',
                        'KUBE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)')
    text = text.replace("kube::golang::setup_env\n",
                        'kube::golang::setup_env\nexport GOCACHE="${KUBE_ROOT}/_output/local/go/cache"\n')
    text = text.replace('trimpath=-trimpath\n', 'trimpath=""\n')
    text = text.replace('-gcflags "${gcflags}"', '-gcflags "${gcflags} -trimpath=${KUBE_ROOT}" '
                                                 '-asmflags "-trimpath=${KUBE_ROOT}"')
    assert text.count("-trimpath=${KUBE_ROOT}") == 2
    script.write_text(text)
    subprocess.run(["git", "-C", str(tree), "commit", "-q", "-am", "build as older trees do"], check=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "GIT_AUTHOR_DATE": "2026-08-26T12:00:00Z",
                        "GIT_COMMITTER_DATE": "2026-08-26T12:00:00Z"})
    return tree


@pytest.mark.go
@pytest.mark.parametrize("generation", ["new", "old"])
def test_same_bundle_from_two_folders_two_caches_two_homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           generation: str, go_std_seed: GoSeed) -> None:
    """Each cache holds only the standard library (the cold build is the test below): every package of
    the tree is compiled, and every binary linked, in each folder."""
    _config(tmp_path)
    zips, folders = [], []
    for n, parent in enumerate(("one", "elsewhere/two")):
        tree = make_tree(tmp_path / parent / "kubernetes")
        if generation == "old":
            _old_tree(tree)
        cache = go_std_seed.into(tmp_path / f"cache-{n}")
        env = _toolchain_in(cache)  # the toolchain's paths differ too
        zips.append(_bundle(tmp_path, tree, cache, tmp_path / f"dist-{n}", tmp_path / f"home-{n}", env, monkeypatch))
        folders += [str(tree), str(tree.resolve()), str(cache), str(tmp_path / f"home-{n}")]
        # The build ran with the kept cache: the folder an old tree forces is a link to it.
        kept = cache / "go-build" / "v1.37-go1.25.5-windows-amd64"
        assert gocache.size(kept) > 0
        assert (tree / gocache.FORCED).resolve() == kept.resolve()
    assert zips[0].read_bytes() == zips[1].read_bytes()
    with zipfile.ZipFile(zips[0]) as zf:
        exes = [zf.read(n) for n in zf.namelist() if n.endswith(".exe")]
    assert len(exes) >= 3
    for data in exes:  # no folder of this machine reached any executable
        assert not [f for f in folders if f.encode() in data]
        assert str(tmp_path).encode() not in data


def _damage(folder: Path) -> int:
    """What a crash, a full disk or a half-restored CI cache leaves: outputs cut short, index entries
    overwritten (every third entry: what a crash leaves is a part), stray files. Returns how many entries
    were damaged."""
    damaged = 0
    for entry in sorted(folder.glob("??/*"))[::3]:
        if entry.name.endswith("-d"):
            data = entry.read_bytes()
            entry.write_bytes(data[: len(data) // 2])
        else:
            entry.write_bytes(b"garbage\n" * 3)
        damaged += 1
    (folder / "00" / "stray-tmp").write_bytes(b"\x00" * 100)
    return damaged


@pytest.mark.go
def test_cold_warm_and_damaged_go_cache_give_the_same_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path)
    cache = tmp_path / "cache"
    kept = cache / "go-build" / "v1.37-go1.25.5-windows-amd64"
    env = build_env()
    zips = []
    for n in range(3):  # cold, warm, damaged: each a fresh checkout (no _output/, no no-op stamp to reuse)
        tree = make_tree(tmp_path / f"checkout-{n}" / "kubernetes")
        shutil.rmtree(cache / "build", ignore_errors=True)
        if n == 2:
            assert _damage(kept) > 10
        before = sorted(p.name for p in kept.glob("??/*")) if kept.is_dir() else []
        zips.append(_bundle(tmp_path, tree, cache, tmp_path / f"dist-{n}", tmp_path / "home", env, monkeypatch))
        after = sorted(p.name for p in kept.glob("??/*"))
        if n == 1:  # the packages came from the kept cache: only the link steps' few entries are new
            assert len(set(after) - set(before)) < len(before) / 10, "the warm build did not use the kept cache"
    assert zips[0].read_bytes() == zips[1].read_bytes() == zips[2].read_bytes()


def test_a_cache_folder_the_tree_already_has_is_left_alone(tmp_path: Path) -> None:
    own = tmp_path / "tree" / gocache.FORCED
    own.mkdir(parents=True)
    (own / "README").write_text("the tree's own\n")
    gocache.link_forced_folder(tmp_path / "tree", tmp_path / "kept")
    assert not own.is_symlink()
    assert (own / "README").read_text() == "the tree's own\n"
    gocache.link_forced_folder(tmp_path / "fresh", tmp_path / "kept")
    assert (tmp_path / "fresh" / gocache.FORCED).readlink() == tmp_path / "kept"
