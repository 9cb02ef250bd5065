"""A tree without .git (a source archive) whose build generates files inside it: reproducible, and no-op.

The tree's Makefile does what the real one does before compiling: code generation writes
zz_generated.* beside the sources and stamps into .make/ and _tmp/, each time with new content.
"""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import GoSeed
from kit_fixture import local_cni_release
from kube_tree import build_env, make_tree
from sdn_fixture import write_sdn_archive

from builder import cli, config
from builder.errors import ConfigError
from builder.sources import build

pytestmark = pytest.mark.go

COMMIT = "0123456789abcdef0123456789abcdef01234567"
VERSION = "v1.37.0"
ARCHIVE_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z: every file's time, as unpacking an archive keeps it

GENERATE = (
    "\tmkdir -p .make _tmp\n"
    "\tdate +%s%N > .make/generated.stamp\n"
    "\tdate +%s%N > _tmp/scratch\n"
    "\tprintf '// Code generated at %s. DO NOT EDIT.\\npackage node\\n' \"$$(date +%s%N)\""
    " > pkg/node/zz_generated.deepcopy.go\n"
)


def archive_tree(path: Path) -> Path:
    tree = make_tree(path, with_git=False)
    makefile = tree / "Makefile"
    makefile.write_text(makefile.read_text().replace("all:\n", "all:\n" + GENERATE))
    for dirpath, _dirs, files in os.walk(tree):
        for name in files:
            os.utime(Path(dirpath) / name, (ARCHIVE_TIME, ARCHIVE_TIME))
    return tree


def bundle(tmp_path: Path, tree: Path, cache: str, dist: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in build_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    argv = ["bundle", "--config", str(tmp_path / "bundle.yaml"), "--kube-root", str(tree),
            "--cache-dir", str(tmp_path / cache), "--dist", str(tmp_path / dist)]
    assert cli.main(argv) == 0
    (zip_path,) = (tmp_path / dist).glob("*.zip")
    return zip_path


def test_gitless_tree_builds_the_same_bytes_and_the_third_run_makes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, go_std_seed: GoSeed) -> None:
    tree = archive_tree(tmp_path / "kubernetes-src")
    _archive, sdn = write_sdn_archive(tmp_path, COMMIT)
    cni = local_cni_release(tmp_path / "cni")  # containerd era: the CNI plugins, pinned, from a local mirror
    (tmp_path / "bundle.yaml").write_text(yaml.safe_dump({"kubernetes": {"version": VERSION}, "sdn": sdn, "cni": cni}))

    first = bundle(tmp_path, tree, go_std_seed.into(tmp_path / "cache1", VERSION).name, "dist1", monkeypatch)
    generated = tree / "pkg/node/zz_generated.deepcopy.go"
    stamp_one = generated.read_text()
    # A second, independent build (its own cache, with the standard library only: every package of the
    # tree is compiled again, and make runs again and regenerates).
    go_std_seed.into(tmp_path / "cache2", VERSION)
    second = bundle(tmp_path, tree, "cache2", "dist2", monkeypatch)
    assert generated.read_text() != stamp_one, "the fixture's code generation did not run again"
    assert (tmp_path / "cache2/logs/make.log").is_file()
    assert first.read_bytes() == second.read_bytes()

    with zipfile.ZipFile(first) as zf:
        kubelet = zf.read("k/kubelet.exe")
        dates = {i.date_time for i in zf.infolist()}
    # The binaries' buildDate and every zip member's time are the archive's time.
    assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ARCHIVE_TIME)).encode() in kubelet
    assert dates == {time.gmtime(ARCHIVE_TIME)[:6]}

    # Third run on the second cache: what the build generated does not count as a change.
    (tmp_path / "cache2/logs/make.log").unlink()
    third = bundle(tmp_path, tree, "cache2", "dist2", monkeypatch)
    assert not (tmp_path / "cache2/logs/make.log").exists(), "make ran again although no source changed"
    assert third.read_bytes() == first.read_bytes()

    # A real source change is seen (and moves the tree's time).
    main = tree / "cmd/kubelet/main.go"
    main.write_text(main.read_text() + "\n// changed\n")
    fourth = bundle(tmp_path, tree, "cache2", "dist4", monkeypatch)
    assert (tmp_path / "cache2/logs/make.log").exists()
    assert fourth.read_bytes() != first.read_bytes()


def test_generated_paths() -> None:
    for rel in ("_output/local/bin/windows/amd64/kubelet.exe", ".make/x", "_tmp/y",
                "pkg/apis/core/v1/zz_generated.conversion.go", "test/e2e/generated/bindata.go"):
        assert build.generated(rel), rel
    for rel in ("cmd/kubelet/app/server.go", "hack/lib/version.sh", "pkg/output/x.go", "Makefile"):
        assert not build.generated(rel), rel


def test_tree_time_ignores_what_the_build_writes(tmp_path: Path) -> None:
    (tmp_path / "a.go").write_text("package a\n")
    os.utime(tmp_path / "a.go", (1000, 1000))
    (tmp_path / "_output").mkdir()
    (tmp_path / "_output/new").write_text("x")
    (tmp_path / "zz_generated.deepcopy.go").write_text("x")
    assert build.tree_time(tmp_path) == 1000


def _load(tmp_path: Path, env: dict[str, str], text: str = "") -> config.Config:
    (tmp_path / "bundle.yaml").write_text(text)
    return config.load(config.Overrides(config=tmp_path / "bundle.yaml", needs_source=False), env, tmp_path)


def test_source_date_epoch_environment_wins(tmp_path: Path) -> None:
    assert _load(tmp_path, {}, "bundle:\n  source_date_epoch: 5\n").bundle.source_date_epoch == 5
    cfg = _load(tmp_path, {"SOURCE_DATE_EPOCH": "1700000000"}, "bundle:\n  source_date_epoch: 5\n")
    assert cfg.bundle.source_date_epoch == 1_700_000_000
    with pytest.raises(ConfigError, match=r"SOURCE_DATE_EPOCH: 'yesterday' \(environment\) must be a Unix time"):
        _load(tmp_path, {"SOURCE_DATE_EPOCH": "yesterday"})
