"""Archives shaped like the node kit's upstream inputs, and the config sections that point at them.

- `source_targz(version) -> bytes`: tests/fixtures/cni-plugins-tree as GitHub's tag archive
  (`plugins-<version without v>/...`, a pax global header with a commit id, as `git archive` writes).
- `targz(members, *, top=None) -> bytes`: a tar.gz of {name: bytes}; names are written as given
  (`./host-local.exe`, `bin/ctr.exe`), file mode 0644, fixed mtime.
- `cni_release_tgz(version)`, `containerd_tgz()`, `crictl_tgz()`: the release archives' member
  layout (the members each row of builder/config/kit_inputs.py takes), each member a PE32+ stub.
- `sha256(data)`, `sha512(data)`; `dirhash_by_sha256sum(folder)`: Go's h1 computed the way its
  documentation defines it, with the real `sha256sum` tool.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

from sdn_fixture import pe_stub

CNI_TREE = Path(__file__).resolve().parent / "fixtures" / "cni-plugins-tree"
MTIME = 1_700_000_000


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def exe(tag: str) -> bytes:
    """A PE32+ stub that names what it stands for."""
    return pe_stub() + tag.encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, MTIME
    tar.addfile(info, io.BytesIO(data))


def targz(members: dict[str, bytes], *, pax: dict[str, str] | None = None) -> bytes:
    """The same members give the same bytes (gzip's own header time fixed too)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=MTIME) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT, pax_headers=pax or {}) as tar:
        for name, data in members.items():
            _add(tar, name, data)
    return buf.getvalue()


def source_targz(version: str, tree: Path = CNI_TREE) -> bytes:
    top = f"plugins-{version.removeprefix('v')}"
    members = {f"{top}/{p.relative_to(tree).as_posix()}": p.read_bytes()
               for p in sorted(tree.rglob("*")) if p.is_file()}
    return targz(members, pax={"comment": "0123456789abcdef0123456789abcdef01234567"})


def cni_release_tgz(version: str) -> bytes:
    return targz({f"./{n}.exe": exe(f"{n} {version}") for n in ("host-local", "win-bridge", "win-overlay")}
                 | {"./README.md": b"plugins\n", "./LICENSE": b"Apache-2.0\n"})


def containerd_tgz() -> bytes:
    return targz({f"bin/{n}": exe(n) for n in ("containerd.exe", "containerd-shim-runhcs-v1.exe", "ctr.exe",
                                               "containerd-stress.exe")})


def crictl_tgz() -> bytes:
    return targz({"crictl.exe": exe("crictl")})


def dirhash_by_sha256sum(folder: Path) -> str:
    """`sha256sum $(find . -type f | sort) | sha256sum`, as dirhash.Hash1's documentation defines h1."""
    env = {**os.environ, "LC_ALL": "C"}
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    summary = subprocess.run(["sha256sum", "--", *names], cwd=folder, env=env, check=True,
                             capture_output=True).stdout
    return "h1:" + base64.b64encode(hashlib.sha256(summary).digest()).decode()


def local_cni_release(folder: Path, version: str = "v1.9.1") -> dict[str, str]:
    """The `cni:` section of a containerd-era test config: the release tgz on a local mirror, pinned,
    with its published .sha256 beside it (as a mirror must carry)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"cni-plugins-windows-amd64-{version}.tgz"
    data = cni_release_tgz(version)
    path.write_bytes(data)
    (folder / f"{path.name}.sha256").write_text(f"{sha256(data)}  {path.name}\n")
    return {"source": "release", "version": version, "url": str(path), "sha256": sha256(data)}
