"""How verify reports: what matters first, every file named, and exit 2 for a path that does not exist."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
from pack_fixtures import flip, make_inputs

from builder import cli
from builder.bundle import pack

pytestmark = pytest.mark.go


@pytest.fixture
def bundle(tmp_path: Path, windows_exe: Path) -> Path:
    inputs = make_inputs(tmp_path, windows_exe)
    return pack.pack(inputs.cfg, inputs.built, inputs.sdn, inputs.rendered)


def add_directory_entries_and_flip(path: Path) -> None:
    """As a tool that re-zips a folder would: directory entries first, and one file changed."""
    tmp = path.with_suffix(".new")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for folder in ("k/", "k/cni/", "k/cni/config/"):
            dst.writestr(zipfile.ZipInfo(folder, date_time=(2023, 1, 1, 0, 0, 0)), b"")
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, flip(data, 5000) if info.filename == "k/kubelet.exe" else data)
    shutil.move(tmp, path)


def test_hash_mismatch_comes_before_directory_entry_noise(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_directory_entries_and_flip(bundle)
    assert cli.main(["verify", str(bundle)]) == 8
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("PROBLEM: ")]
    assert lines[0].startswith(f"PROBLEM: {bundle.name}: kubelet.exe: sha256 ")
    assert "does not match" in lines[0]
    noise = [i for i, line in enumerate(lines) if "directory or symlink entry" in line]
    assert len(noise) == 3 and min(noise) > 0
    # each directory entry is reported once, not again as unlisted in SHA256SUMS and the manifest
    assert not [line for line in lines if "k/cni/ is not listed" in line]
    assert not [line for line in lines if "unsafe" in line]
    # every line names its file: the zip, or a file beside it
    stem = bundle.name.removesuffix(".zip")
    assert all(line.startswith(f"PROBLEM: {stem}") for line in lines)


def test_every_bundle_is_named(bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "copy" / bundle.name
    other.parent.mkdir()
    shutil.copy2(bundle, other)
    add_directory_entries_and_flip(other)
    assert cli.main(["verify", str(bundle), str(other)]) == 8
    assert f"error: {bundle.name}, {other.name}: " in capsys.readouterr().err  # the count, where errors go


def test_a_path_that_does_not_exist_is_a_usage_error(tmp_path: Path, bundle: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "nope.zip"
    assert cli.main(["verify", str(bundle), str(missing)]) == 2
    assert f"no such bundle: {missing}" in caplog.text
    assert cli.main(["verify", "--dist", str(tmp_path / "no-dist")]) == 2
    assert "--dist: " in caplog.text
