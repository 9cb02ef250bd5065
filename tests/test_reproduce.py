"""`reproduce`: a bundle built again from its provenance, from another checkout, cache and home."""

from __future__ import annotations

import json
import logging
import os
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import GoSeed
from kit_fixture import local_cni_release
from kube_tree import build_env, git, make_tree
from sdn_fixture import write_sdn_archive

from builder import cli, reproduce
from builder.bundle import pack
from builder.errors import ConfigError, VerifyError

COMMIT = "0123456789abcdef0123456789abcdef01234567"
EPOCH = 1_700_000_000


def _run(argv: list[str], home: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    home.mkdir(parents=True, exist_ok=True)
    for key, value in {**build_env(), "HOME": str(home)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    return cli.main(argv)


@pytest.mark.go
def test_a_bundle_reproduces_from_another_checkout_and_a_moved_tree_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str], go_std_seed: GoSeed) -> None:
    _archive, sdn = write_sdn_archive(tmp_path, COMMIT)
    (tmp_path / "bundle.yaml").write_text(yaml.safe_dump({"sdn": sdn, "cni": local_cni_release(tmp_path / "cni")}))
    first = make_tree(tmp_path / "a" / "kubernetes")
    cache_a = go_std_seed.into(tmp_path / "cache-a")
    assert _run(["bundle", "--config", str(tmp_path / "bundle.yaml"), "--kube-root", str(first), "--cache-dir",
                 str(cache_a), "--dist", str(tmp_path / "dist")], tmp_path / "home-a", monkeypatch) == 0
    (published,) = (tmp_path / "dist").glob("*.zip")

    # Someone else: another folder, cache (the standard library only: the tree's packages are compiled
    # again) and home, and no bundle.yaml (the manifest's configuration).
    go_std_seed.into(tmp_path / "cache-b")
    second = make_tree(tmp_path / "elsewhere" / "kubernetes")
    caplog.set_level(logging.INFO)
    argv = ["reproduce", str(published), "--kube-root", str(second), "--cache-dir", str(tmp_path / "cache-b")]
    capsys.readouterr()
    assert _run(argv, tmp_path / "home-b", monkeypatch) == 0
    assert "reproduce: identical" in capsys.readouterr().out  # the result, on stdout

    # A tree at another commit is named before anything is built.
    (second / "cmd/kubelet/main.go").write_text((second / "cmd/kubelet/main.go").read_text() + "\n// fix\n")
    git(second, "commit", "-q", "-am", "a fix")
    caplog.clear()
    os.remove(tmp_path / "cache-b/logs/make.log")
    assert _run(argv, tmp_path / "home-b", monkeypatch) == 2
    assert f"is at commit {git(second, 'rev-parse', 'HEAD')}, the bundle was built at" in caplog.text
    assert not (tmp_path / "cache-b/logs/make.log").exists()


def test_a_bundle_of_another_tool_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"made by k8s-windows-bundle 0\.0\.9, this is .*pip install "
                                        r"k8s-windows-bundle==0\.0\.9"):
        reproduce.check_tool({"tool": {"name": "k8s-windows-bundle", "version": "0.0.9"}})


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with path.open("wb") as f:
        pack.write_members(f, [pack.bytes_member(n, "generated", d) for n, d in sorted(members.items())],
                           pack.default_codec(), EPOCH, workers=1)
    return path


def test_the_first_differing_member_is_named(tmp_path: Path) -> None:
    base = {"k/a.txt": b"a\n", "k/b.exe": b"MZ" + bytes(5000), "k/c.txt": b"c\n"}
    given = _zip(tmp_path / "given.zip", base)
    assert reproduce.first_difference(_zip(tmp_path / "same.zip", base), given).startswith("every member is the same")
    other = _zip(tmp_path / "other.zip", {**base, "k/b.exe": b"MZ" + bytes(4999) + b"\x01", "k/c.txt": b"C\n"})
    assert reproduce.first_difference(other, given) == (
        "k/b.exe: content differs (5002 bytes rebuilt, 5002 in the bundle)")
    more = _zip(tmp_path / "more.zip", {**base, "k/d.txt": b"d\n"})
    assert reproduce.first_difference(more, given) == "k/d.txt: only in the rebuilt bundle"


def test_the_recorded_configuration_is_written_as_bundle_yaml_reads_it() -> None:
    recorded = {"kubernetes": {"pins": [["v1.37.0", "kubelet", "ab" * 32]]}, "node": {"labels": [["a", "b"]]}}
    text = yaml.safe_load(reproduce.config_file_text(recorded))
    assert text == {"kubernetes": {"pins": {"v1.37.0": {"kubelet": "ab" * 32}}}, "node": {"labels": {"a": "b"}}}
    assert json.loads(json.dumps(recorded)) == recorded  # the manifest's own data is left as it was


def test_a_zip_that_is_no_bundle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("k/other.txt", "x")
    with pytest.raises(VerifyError, match="not a bundle of this tool"):
        reproduce.read_manifest(path)
