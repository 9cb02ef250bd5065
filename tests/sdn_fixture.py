"""Archives shaped like GitHub's archive of microsoft/SDN, and the `sdn:` config that points at one.

- `make_sdn_archive(commit, files=None, *, top=None, comment=None) -> bytes`: a zip with one top
  folder `SDN-<commit>/` (directory entries included, as GitHub writes them), the files given
  (paths relative to the top folder; default `DEFAULT_FILES`: helper.psm1, hns.psm1,
  cni/wincni.exe under Kubernetes/windows/ plus a few others) and the commit as zip comment.
- `sdn_config(commit, url, files=None) -> dict`: the `sdn:` section (repo, commit, url, files with
  sha256 and the default dests of builder/config/model.py) for the taken files of `files`.
- `write_sdn_archive(folder, commit) -> (path, sdn dict)`: both at once, for a local archive.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from pathlib import Path
from typing import Any

from builder.config import SDN_FILES_DEFAULT

# (path inside the archive below the top folder, dest in the bundle), as builder/config/model.py has them.
TAKEN: tuple[tuple[str, str], ...] = tuple((path, dest) for path, _sha, dest in SDN_FILES_DEFAULT)

def pe_stub() -> bytes:
    """Headers of a PE32+ x86-64 image and some payload: a stand-in for upstream's wincni.exe.

    The real wincni.exe cannot be fetched here; verify checks only its headers and its hash.
    """
    dos = bytearray(64)
    dos[:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 64)
    coff = struct.pack("<HHIIIHH", 0x8664, 0, 0, 0, 0, 240, 0x22)
    optional = struct.pack("<H", 0x20B) + bytes(238)
    return bytes(dos) + b"PE\0\0" + coff + optional + bytes(range(256)) * 16


DEFAULT_FILES: dict[str, bytes] = {
    "README.md": b"# SDN\nSoftware Defined Networking scripts (test fixture)\n",
    "Kubernetes/windows/helper.psm1": b"function Get-Fixture { 'helper' }\r\nExport-ModuleMember Get-Fixture\r\n",
    "Kubernetes/windows/hns.psm1": b"function Get-HnsNetwork { 'hns' }\r\nExport-ModuleMember Get-HnsNetwork\r\n",
    "Kubernetes/windows/hns.v2.psm1": (b"function New-HnsHostRoutePolicy { 'v2' }\r\n"
                                       b"Export-ModuleMember New-HnsHostRoutePolicy\r\n"),
    "Kubernetes/windows/cni/wincni.exe": pe_stub(),
    "Kubernetes/windows/start-kubelet.ps1": b"param([string]$ClusterCidr = '192.168.0.0/16')\r\n",
    "Kubernetes/windows/cni/config/l2bridge.conf": b'{"cniVersion": "0.2.0", "type": "wincni.exe"}\n',
    "Kubernetes/flannel/l2bridge/start.ps1": b"# flannel l2bridge\r\n",
}

FIXED_TIME = (2020, 1, 2, 3, 4, 6)


def make_sdn_archive(
    commit: str,
    files: dict[str, bytes] | None = None,
    *,
    top: str | None = None,
    comment: bytes | None = None,
) -> bytes:
    files = DEFAULT_FILES if files is None else files
    top = f"SDN-{commit}" if top is None else top
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        folders = {top}
        for path in files:
            parts = path.split("/")
            folders.update(f"{top}/{'/'.join(parts[:i])}" for i in range(1, len(parts)))
        for folder in sorted(folders):
            zf.writestr(zipfile.ZipInfo(folder + "/", FIXED_TIME), b"")
        for path, data in sorted(files.items()):
            info = zipfile.ZipInfo(f"{top}/{path}", FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
        zf.comment = commit.encode() if comment is None else comment
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sdn_config(commit: str, url: str, files: dict[str, bytes] | None = None) -> dict[str, Any]:
    files = DEFAULT_FILES if files is None else files
    return {
        "repo": "microsoft/SDN",
        "commit": commit,
        "url": url,
        "files": [{"path": path, "sha256": sha256(files[path]), "dest": dest} for path, dest in TAKEN],
    }


def write_sdn_archive(folder: Path, commit: str) -> tuple[Path, dict[str, Any]]:
    path = folder / f"SDN-{commit}.zip"
    path.write_bytes(make_sdn_archive(commit))
    return path, sdn_config(commit, str(path))
