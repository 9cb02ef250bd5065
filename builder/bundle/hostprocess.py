"""HostProcess images built offline: verified binaries on the pinned base image, as OCI archives.

The base image (`mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image`) is
read from the OCI layout folder `sources.registry.RegistryClient.pull` wrote; its layers are
carried byte for byte. One layer is added, for windows/amd64, in the form a Windows layer takes
(what hcsshim's `pkg/ociwclayer` imports and BuildKit's `util/winlayers` writes on Linux):
- the top-level folders `Hives` and `Files`, every file and folder of the image under `Files/`,
  each folder entry before what it holds (hcsshim's layer writer creates each path in its parent);
- PAX headers, with the records hcsshim's `backuptar` reads: `MSWINDOWS.fileattr` (16 for a
  folder, 32 for a file), `LIBARCHIVE.creationtime`, and below `Files/` `MSWINDOWS.rawsd`, a
  self-relative security descriptor: owner BUILTIN\\Administrators, group SYSTEM, and for files
  Administrators and SYSTEM full control and Users read and execute (folders also let Users add
  files and folders, and give a creator owner full control of what it adds);
- uncompressed (`application/vnd.oci.image.layer.v1.tar`): its bytes then depend on no compressor
  version, and its diff_id is its digest. The bundle's zip compresses it.
The image config keeps the base's platform (os, architecture, os.version when the base has one)
and runs the start script with Windows PowerShell from `$env:CONTAINER_SANDBOX_MOUNT_POINT`, the
folder where hcsshim mounts a HostProcess container's image (hcsshim replaces that text in the
command line with the folder before it starts the process: `internal/jobcontainers`).

The archive is an OCI image layout as a tar (`oci-layout`, `index.json`, `blobs/sha256/...`) that
`ctr images import` reads (containerd `core/images/archive/importer.go`). index.json names the
manifest twice, by tag and by digest (containerd's `io.containerd.image.name`; the tag also as
`org.opencontainers.image.ref.name`): containerd's CRI finds an image only by a name it was stored
under, so a DaemonSet that references `repository@sha256:...` finds the imported image. Entries are
sorted, owners, modes and times fixed (times from SOURCE_DATE_EPOCH): the same inputs give the same
bytes, and so the same digest.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import struct
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

from .. import oci
from ..errors import ConfigError, FetchError, PackError
from ..fsutil import atomic_write
from ..hashing import sha256_file
from ..oci import Descriptor

SANDBOX = "$env:CONTAINER_SANDBOX_MOUNT_POINT"
# The PATH of upstream's HostProcess images (sig-windows-tools hostprocess/ Dockerfiles): the
# system folders and Windows PowerShell. hcsshim adds the image's folder to it.
WINDOWS_PATH = "C:\\Windows\\system32;C:\\Windows;C:\\WINDOWS\\System32\\WindowsPowerShell\\v1.0\\;"
POWERSHELL = ("powershell.exe", "-NoLogo", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File")
TOOL = "k8s-windows-bundle"

FILE_ATTRIBUTE_DIRECTORY = 16
FILE_ATTRIBUTE_ARCHIVE = 32


# --------------------------------------------------------------------------- security descriptors

def _sid(authority: int, *subs: int) -> bytes:
    return struct.pack("<BB", 1, len(subs)) + authority.to_bytes(6, "big") + struct.pack(f"<{len(subs)}I", *subs)


def _ace(flags: int, mask: int, sid: bytes) -> bytes:
    return struct.pack("<BBHI", 0, flags, 8 + len(sid), mask) + sid  # type 0: ACCESS_ALLOWED_ACE


def _acl(*aces: bytes) -> bytes:
    body = b"".join(aces)
    return struct.pack("<BBHHH", 2, 0, 8 + len(body), len(aces), 0) + body


def _descriptor(owner: bytes, group: bytes, dacl: bytes) -> bytes:
    """A self-relative SECURITY_DESCRIPTOR with a DACL (control SE_SELF_RELATIVE | SE_DACL_PRESENT)."""
    header = 20
    return struct.pack("<BBHIIII", 1, 0, 0x8004, header, header + len(owner), 0,
                       header + len(owner) + len(group)) + owner + group + dacl


ADMINISTRATORS = _sid(5, 32, 544)
USERS = _sid(5, 32, 545)
SYSTEM = _sid(5, 18)
CREATOR_OWNER = _sid(3, 0)
FULL_CONTROL = 0x1F01FF
READ_EXECUTE = 0x1200A9
GENERIC_ALL = 0x10000000
ADD_SUBDIRECTORY = 0x4
ADD_FILE = 0x2
OBJECT_INHERIT, CONTAINER_INHERIT, INHERIT_ONLY = 0x1, 0x2, 0x8

FILE_SD = _descriptor(ADMINISTRATORS, SYSTEM, _acl(
    _ace(0, FULL_CONTROL, ADMINISTRATORS), _ace(0, FULL_CONTROL, SYSTEM), _ace(0, READ_EXECUTE, USERS)))
FOLDER_SD = _descriptor(ADMINISTRATORS, SYSTEM, _acl(
    _ace(OBJECT_INHERIT | CONTAINER_INHERIT, FULL_CONTROL, ADMINISTRATORS),
    _ace(OBJECT_INHERIT | CONTAINER_INHERIT, FULL_CONTROL, SYSTEM),
    _ace(0, FULL_CONTROL, ADMINISTRATORS),
    _ace(OBJECT_INHERIT | CONTAINER_INHERIT | INHERIT_ONLY, GENERIC_ALL, CREATOR_OWNER),
    _ace(OBJECT_INHERIT | CONTAINER_INHERIT, READ_EXECUTE, USERS),
    _ace(CONTAINER_INHERIT, ADD_SUBDIRECTORY, USERS),
    _ace(CONTAINER_INHERIT, ADD_FILE, USERS)))


# --------------------------------------------------------------------------- what an image holds


@dataclass(frozen=True)
class ImageFile:
    path: str  # in the image, from its root, with `/`: "kube-proxy/kube-proxy.exe"
    source: Path


@dataclass(frozen=True)
class ImageSpec:
    """One HostProcess image: its name, its files, and the start script its entrypoint runs."""

    name: str  # registry/repository:tag, with a registry host (a dot, a port or localhost)
    files: tuple[ImageFile, ...]
    start_script: str  # one of the files' paths
    description: str  # one line for the image history


def kube_proxy_image(name: str, kube_proxy_exe: Path, start_script: Path) -> ImageSpec:
    """kube-proxy as sig-windows-tools lays it out: `kube-proxy/kube-proxy.exe` and `kube-proxy/start.ps1`."""
    return ImageSpec(name, (ImageFile("kube-proxy/kube-proxy.exe", kube_proxy_exe),
                            ImageFile("kube-proxy/start.ps1", start_script)),
                     "kube-proxy/start.ps1", "kube-proxy.exe and its start script")


def flannel_image(name: str, flanneld_exe: Path, start_script: Path, cni_plugins: Mapping[str, Path]) -> ImageSpec:
    """flanneld as sig-windows-tools laid it out: `flannel/flanneld.exe`, `flannel/start.ps1`, and the
    CNI plugins under `cni/` (`cni_plugins`: file name -> path, e.g. {"win-overlay.exe": ...})."""
    plugins = tuple(ImageFile(f"cni/{n}", p) for n, p in sorted(cni_plugins.items()))
    return ImageSpec(name, (ImageFile("flannel/flanneld.exe", flanneld_exe),
                            ImageFile("flannel/start.ps1", start_script), *plugins),
                     "flannel/start.ps1", "flanneld.exe, the CNI plugins and the start script")


def entrypoint(start_script: str) -> list[str]:
    """Windows PowerShell running the script from the folder hcsshim mounts the image at."""
    return [*POWERSHELL, f"{SANDBOX}/{start_script}"]


# --------------------------------------------------------------------------- the base image


@dataclass(frozen=True)
class BaseImage:
    """The pinned base as pulled: its manifest, config and layers (OCI media types), all verified."""

    name: str  # the reference it was pulled by: registry/repository:tag@digest
    manifest_digest: str
    config: dict[str, Any]
    layers: tuple[Descriptor, ...]
    layout: Path


def load_base(layout: Path) -> BaseImage:
    """The one image in the OCI layout folder `layout`, every blob checked against its digest.

    FetchError when the folder is not a complete windows/amd64 image (re-run `fetch` to pull it again)."""
    try:
        entries, where = oci.layout_index(layout)
        if len(entries) != 1 or entries[0].media_type not in oci.MANIFEST_TYPES:
            msg = f"{where}: index.json must name exactly one image manifest"
            raise ValueError(msg)
        entry = entries[0]
        manifest = oci.load_json_object(_verified(layout, entry), f"{where}: manifest {entry.digest}")
        config_desc = oci.config_descriptor(manifest, where)
        config = oci.load_json_object(_verified(layout, config_desc), f"{where}: config {config_desc.digest}")
        layers = oci.children(manifest, "layers", where)
    except (ValueError, OSError) as err:
        msg = f"the base image in {layout} cannot be used: {err}; pull it again (fetch)"
        raise FetchError(msg) from None
    diff_ids = (config.get("rootfs") or {}).get("diff_ids")
    problem = ""
    if (config.get("os"), config.get("architecture")) != ("windows", "amd64"):
        problem = f"it is {config.get('os')}/{config.get('architecture')}, not windows/amd64"
    elif not isinstance(diff_ids, list) or len(diff_ids) != len(layers):
        problem = "its config's rootfs.diff_ids do not match its layers"
    elif any(d.media_type not in oci.LAYER_AS_OCI or d.urls for d in layers):
        problem = "it has a layer this tool cannot carry (an unknown or non-distributable media type)"
    for layer in layers:
        if not problem:
            try:
                _check_blob(layout, layer)
            except ValueError as err:
                problem = str(err)
    if problem:
        msg = f"the base image in {layout} cannot be used: {problem}; pull it again (fetch)"
        raise FetchError(msg)
    oci_layers = tuple(Descriptor(oci.LAYER_AS_OCI[d.media_type], d.digest, d.size) for d in layers)
    return BaseImage(entry.annotations.get(oci.REF_NAME, ""), entry.digest, config, oci_layers, layout)


def _verified(layout: Path, desc: Descriptor) -> bytes:
    data = oci.blob_path(layout, desc.digest).read_bytes()
    if len(data) != desc.size or oci.sha256_digest(data) != desc.digest:
        msg = f"blob {desc.digest} does not match its digest and size"
        raise ValueError(msg)
    return data


def _check_blob(layout: Path, desc: Descriptor) -> None:
    path = oci.blob_path(layout, desc.digest)
    try:
        got = _file_sha256(path)
        size = path.stat().st_size
    except OSError as err:
        msg = f"layer {desc.digest} is missing ({err.strerror or err})"
        raise ValueError(msg) from None
    if got != desc.digest or size != desc.size:
        msg = f"layer {desc.digest} does not match its digest and size"
        raise ValueError(msg)


# --------------------------------------------------------------------------- building


@dataclass(frozen=True)
class BuiltImage:
    """An image archive written: where, and the digests a manifest references it by."""

    name: str  # registry/repository:tag
    archive: Path
    manifest_digest: str  # what `repository@sha256:...` pins
    config_digest: str  # containerd's and the kubelet's image ID
    layer_digest: str  # the added layer (uncompressed: also its diff_id)
    archive_sha256: str
    size: int

    @property
    def by_digest(self) -> str:
        return f"{self.name.rsplit(':', 1)[0]}@{self.manifest_digest}"


def build_archive(spec: ImageSpec, base: BaseImage, dest: Path, *, source_date_epoch: int) -> BuiltImage:
    """Write `spec` on `base` as an OCI image archive at `dest` (atomically) and say what it holds.

    ConfigError for a spec that cannot be an image (a bad name or path, a missing file), before
    anything is written; PackError when writing fails."""
    ref = _image_name(spec.name)
    entries = _layer_entries(spec)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(source_date_epoch))
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=dest.parent) as tmp:
            layer_path = Path(tmp) / "layer.tar"
            with layer_path.open("w+b") as out:
                _write_layer(out, entries, source_date_epoch)
            layer = Descriptor(oci.OCI_LAYER, _file_sha256(layer_path), layer_path.stat().st_size)
            config = oci.canonical_json(_config(spec, base, layer.digest, created))
            config_desc = Descriptor(oci.OCI_CONFIG, oci.sha256_digest(config), len(config))
            manifest = oci.canonical_json(_manifest(base, config_desc, layer, created))
            manifest_desc = Descriptor(oci.OCI_MANIFEST, oci.sha256_digest(manifest), len(manifest))
            index = oci.index_document(_named(ref, manifest_desc, base))
            blobs: dict[str, Path | bytes] = {d.digest: oci.blob_path(base.layout, d.digest) for d in base.layers}
            blobs.update({layer.digest: layer_path, config_desc.digest: config, manifest_desc.digest: manifest})
            atomic_write(dest, lambda f: _write_archive(f, blobs, index, source_date_epoch))
    except OSError as err:
        msg = f"cannot write the image archive {dest}: {err.strerror or err}"
        raise PackError(msg) from err
    return BuiltImage(str(ref), dest, manifest_desc.digest, config_desc.digest, layer.digest,
                      _file_sha256(dest)[len("sha256:"):], dest.stat().st_size)


def _image_name(name: str) -> oci.ImageRef:
    try:
        ref = oci.parse_ref(name)
    except ValueError as err:
        raise ConfigError(f"image name {err}") from None
    first, slash, _ = name.partition("/")
    if ref.digest or not ref.tag or not slash or not oci.looks_like_registry(first):
        msg = (f"image name {name!r}: give registry/repository:tag with a registry host (a dot, a port or "
               "localhost), so that containerd does not read it as a Docker Hub name; no digest")
        raise ConfigError(msg)
    return ref


def _layer_entries(spec: ImageSpec) -> list[tuple[str, Path | None]]:
    """The paths below `Files/`, folders first and each before what it holds; None marks a folder."""
    files: dict[str, Path] = {}
    seen: dict[str, str] = {}
    for f in spec.files:
        path = PurePosixPath(f.path)
        bad = (not f.path or f.path != str(path) or path.is_absolute() or ".." in path.parts or "\\" in f.path
               or not f.path.isascii() or any(c in f.path for c in ':*?"<>|') or not f.path.isprintable())
        if bad:
            msg = (f"image {spec.name}: {f.path!r} is not a relative path in the image "
                   "(like a/b.exe: ASCII, no .., no \\ or :)")
            raise ConfigError(msg)
        if f.path.lower() in seen:  # Windows paths do not tell case apart
            msg = f"image {spec.name}: {f.path!r} and {seen[f.path.lower()]!r} are the same path on Windows"
            raise ConfigError(msg)
        if not f.source.is_file():
            msg = f"image {spec.name}: {f.source} (for {f.path}) is not a file"
            raise ConfigError(msg)
        seen[f.path.lower()] = f.path
        files[f.path] = f.source
    if spec.start_script not in files:
        msg = f"image {spec.name}: the start script {spec.start_script!r} is not one of its files"
        raise ConfigError(msg)
    folders = {str(p) for f in files for p in PurePosixPath(f).parents if str(p) != "."}
    clash = sorted(folders & set(files))
    if clash:
        msg = f"image {spec.name}: {clash[0]!r} is both a file and a folder"
        raise ConfigError(msg)
    entries: list[tuple[str, Path | None]] = [(d, None) for d in folders]
    entries += list(files.items())
    return sorted(entries, key=lambda e: PurePosixPath(e[0]).parts)


def _header(name: str, epoch: int, *, folder: bool, size: int = 0, sd: bytes | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if folder else tarfile.REGTYPE
    info.mode = 0o755 if folder else 0o644
    info.size = size
    info.mtime = epoch
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    records = {"MSWINDOWS.fileattr": str(FILE_ATTRIBUTE_DIRECTORY if folder else FILE_ATTRIBUTE_ARCHIVE),
               "LIBARCHIVE.creationtime": str(epoch), "atime": str(epoch), "ctime": str(epoch)}
    if sd is not None:
        records["MSWINDOWS.rawsd"] = base64.b64encode(sd).decode("ascii")
    info.pax_headers = records
    return info


def _write_layer(out: BinaryIO, entries: list[tuple[str, Path | None]], epoch: int) -> None:
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for top in ("Hives", "Files"):
            tar.addfile(_header(top, epoch, folder=True))
        for path, source in entries:
            name = f"Files/{path}"
            if source is None:
                tar.addfile(_header(name, epoch, folder=True, sd=FOLDER_SD))
                continue
            with source.open("rb") as src:
                size = os.fstat(src.fileno()).st_size
                tar.addfile(_header(name, epoch, folder=False, size=size, sd=FILE_SD), src)


def _config(spec: ImageSpec, base: BaseImage, layer_digest: str, created: str) -> dict[str, Any]:
    cfg = base.config
    run = dict(cfg.get("config") or {})
    env = [e for e in (run.get("Env") or []) if isinstance(e, str) and not e.upper().startswith("PATH=")]
    run["Env"] = [*env, f"PATH={WINDOWS_PATH}"]
    run["Entrypoint"] = entrypoint(spec.start_script)
    run.pop("Cmd", None)  # the base's cmd.exe would become the script's arguments
    out: dict[str, Any] = {"created": created, "architecture": cfg["architecture"], "os": cfg["os"]}
    for key in ("os.version", "os.features", "variant"):
        if cfg.get(key):
            out[key] = cfg[key]
    history = [h for h in (cfg.get("history") or []) if isinstance(h, dict)]
    out.update({
        "config": run,
        "rootfs": {"type": "layers", "diff_ids": [*cfg["rootfs"]["diff_ids"], layer_digest]},
        "history": [*history, {"created": created, "created_by": f"{TOOL}: {spec.description}",
                               "comment": "HostProcess image built offline on " + (base.name or "the base image")}],
    })
    return out


def _manifest(base: BaseImage, config: Descriptor, layer: Descriptor, created: str) -> dict[str, Any]:
    notes = {oci.CREATED: created, oci.BASE_DIGEST: base.manifest_digest}
    if base.name:
        notes[oci.BASE_NAME] = base.name.split("@", 1)[0]
    return {"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST, "config": config.to_json(),
            "layers": [d.to_json() for d in (*base.layers, layer)], "annotations": notes}


def _named(ref: oci.ImageRef, manifest: Descriptor, base: BaseImage) -> list[Descriptor]:
    platform = oci.Platform.from_json(base.config)
    by_tag = {oci.CONTAINERD_NAME: str(ref), oci.REF_NAME: ref.tag or ""}
    by_digest = {oci.CONTAINERD_NAME: f"{ref.name}@{manifest.digest}"}
    return [Descriptor(manifest.media_type, manifest.digest, manifest.size, platform, notes)
            for notes in (by_tag, by_digest)]


def _write_archive(out: BinaryIO, blobs: Mapping[str, Path | bytes], index: bytes, epoch: int) -> None:
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in _archive_members(blobs, index):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = epoch, 0, 0, "", ""
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                continue
            info.mode = 0o644
            with _open(data) as src:
                info.size = _size(data)
                tar.addfile(info, src)


def _archive_members(blobs: Mapping[str, Path | bytes], index: bytes) -> Iterator[tuple[str, Path | bytes | None]]:
    members: list[tuple[str, Path | bytes | None]] = [("blobs/", None), ("blobs/sha256/", None),
                                                      (oci.INDEX_FILE, index), (oci.LAYOUT_FILE, oci.layout_marker())]
    members += [(f"blobs/sha256/{oci.digest_hex(d)}", data) for d, data in blobs.items()]
    yield from sorted(members, key=lambda m: m[0])


@contextlib.contextmanager
def _open(data: Path | bytes) -> Iterator[IO[bytes]]:
    if isinstance(data, bytes):
        yield io.BytesIO(data)
    else:
        with data.open("rb") as f:
            yield f


def _size(data: Path | bytes) -> int:
    return len(data) if isinstance(data, bytes) else data.stat().st_size


def _file_sha256(path: Path) -> str:
    return "sha256:" + sha256_file(path)

