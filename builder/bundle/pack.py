"""Pack the bundle: one reproducible zip under `k/`, with its checksums, SBOM and provenance beside it.

The zip is written by hand rather than with `zipfile` so that every byte is ours to fix
(sorted entries, fixed times and modes, no extra fields) and so that members are compressed
on every core. A member is cut into pieces of a fixed size, each compressed in a worker thread,
and the pieces are joined into one ordinary deflate stream per member, as pigz does: the zlib-like
benchmark candidates prime each piece with the 32 KiB before it and end it with a sync flush; the
pinned compressor, libdeflate, compresses each piece alone and `splice` makes its stream
continuable. The pieces are fixed by the input alone (never by the thread count, the memory
budget or the machine), so the bytes depend only on the inputs and the pinned compressor.
"""

from __future__ import annotations

import calendar
import collections
import dataclasses
import hashlib
import logging
import os
import struct
import tempfile
import time
import zlib
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from .. import __version__
from ..artifacts import (
    UNBOUND_FILES_DIGEST,
    BuildResult,
    FetchedInput,
    RenderedFile,
    SdnResult,
    bundle_stem,
    snapshot_id,
)
from ..config import Config
from ..errors import PackError
from ..fsutil import atomic_write, temp_prefix
from ..hashing import sha256_file
from . import manifest as mf
from . import splice
from .offline_images import OfflineImage

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # the zlib-like candidates' piece (each primed with the window before it)
PIECE = 4 << 20  # the pinned compressor's piece: no priming, so larger (0.03% larger than whole members)
WINDOW = 32 * 1024
ZIP_EPOCH_MIN = calendar.timegm((1980, 1, 1, 0, 0, 0))  # the earliest time a zip entry can hold
ZIP_EPOCH_MAX = calendar.timegm((2107, 12, 31, 23, 59, 58))
DEFAULT_EPOCH = ZIP_EPOCH_MIN
ZIP_LIMIT = 0xFFFFFFFF  # no zip64: a Windows node bundle is far below 4 GiB
MADE_BY_UNIX = 3 << 8 | 20  # create_system 3 (Unix, so modes are kept), zip spec 2.0
NEEDED = 20
DEFLATED = 8


# --------------------------------------------------------------------------- compressors


Compress = Callable[[bytes, bytes, bool], bytes]  # (data, the 32 KiB before it, last piece?) -> raw deflate


@dataclass(frozen=True)
class Codec:
    """A deflate compressor. Its name, version, level and piece size are recorded in manifest.json."""

    name: str
    version: str
    level: int
    piece: int  # bytes per piece; 0: the whole member is one piece
    compress: Compress

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "level": self.level, "format": "deflate",
                "chunkSize": self.piece or None}


def _zlib_like(module: Any, level: int) -> Compress:
    def compress(data: bytes, window: bytes, last: bool) -> bytes:
        if window:
            c = module.compressobj(level, module.DEFLATED, -15, 8, module.Z_DEFAULT_STRATEGY, window)
        else:
            c = module.compressobj(level, module.DEFLATED, -15, 8)
        out: bytes = c.compress(data) + c.flush(module.Z_FINISH if last else module.Z_SYNC_FLUSH)
        return out

    return compress


def codec_zlib(level: int = 6) -> Codec:
    return Codec("zlib", zlib.ZLIB_RUNTIME_VERSION, level, CHUNK, _zlib_like(zlib, level))


def codec_zlib_ng(level: int = 6) -> Codec:
    from importlib.metadata import version

    from zlib_ng import zlib_ng

    return Codec("zlib-ng", f"{version('zlib-ng')} (zlib-ng {zlib_ng.ZLIBNG_VERSION})", level, CHUNK,
                 _zlib_like(zlib_ng, level))


def codec_isal(level: int = 2) -> Codec:
    from importlib.metadata import version

    from isal import isal_zlib

    return Codec("isal", version("isal"), level, CHUNK, _zlib_like(isal_zlib, level))


# The libdeflate each release of the `deflate` package compiles in (its CHANGELOG): recorded in
# manifest.json, since libdeflate's output is fixed per libdeflate version.
BUNDLED_LIBDEFLATE = {"0.9.0": "1.25"}


def codec_libdeflate(level: int = 6, piece: int = PIECE) -> Codec:
    """libdeflate on each piece alone (`piece` 0: each member whole); pieces joined by `splice`."""
    from importlib.metadata import version

    import deflate

    def compress(data: bytes, window: bytes, last: bool) -> bytes:
        # A bytearray; file.write takes it as it is, and copying 100 MB to bytes would cost memory.
        out = deflate.deflate_compress(data, level)
        return cast(bytes, out if last else splice.continuable(out))

    installed = version("deflate")
    bundled = BUNDLED_LIBDEFLATE.get(installed)
    described = f"{installed} (libdeflate {bundled})" if bundled else installed
    return Codec("libdeflate", described, level, piece, compress)


# Chosen by measurement: `nox -s bench -- --only pack` (builder/bench/pack_bench.py), each candidate
# against Info-ZIP `zip -6 -X -r` in the same run, on two payloads of real windows/amd64 executables:
# the bench payload (340 MB: one of 100 MB, six of 28 to 46 MB, four of 3 to 5 MB, the scripts) and
# one shaped like a real v1.20 bundle (one member over half the bytes). The figures are in README
# "Performance". libdeflate-6 in pieces is the only candidate at or under Info-ZIP's size on both,
# within the 200 MB peak, and the only one whose output is promised the same on every CPU: its
# author says it "is deterministic for a particular version" (ebiggers/libdeflate#400), while
# zlib-ng does not guarantee bit-identical output across platforms (zlib-ng/zlib-ng#795) and the
# system zlib differs between distributions. Pieces keep both cores busy on a payload whose largest
# member is most of it (one member per thread left one core idle while kubelet.exe compressed). The
# speed goal (6x Info-ZIP on 2 cores) is out of its reach: libdeflate-6 compresses about 3.5 to 4
# times as fast as zlib-6 per core, and finding each piece's final block costs a decode (about a
# quarter of the compression time). The level and piece size are fixed here, never derived from the
# machine (core count, memory), so the bytes are the same everywhere.
PINNED = ("deflate", "0.9.0")
LEVEL = 6


def default_codec() -> Codec:
    """The pinned compressor. A different installed version still works, but its bytes may differ."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version(PINNED[0])
        codec = codec_libdeflate(LEVEL)
    except (ImportError, PackageNotFoundError) as err:
        msg = f"the bundle's compressor {PINNED[0]} is not installed: pip install '{PINNED[0]}=={PINNED[1]}'"
        raise PackError(msg) from err
    if installed != PINNED[1]:
        log.warning("%s %s is installed, not the pinned %s: the zip's bytes will differ from a pinned build",
                    PINNED[0], installed, PINNED[1])
    return codec


def default_workers() -> int:
    return max(1, min(4, len(os.sched_getaffinity(0))))


# --------------------------------------------------------------------------- members


@dataclass(frozen=True)
class Member:
    path: str  # "k/..."
    mode: int
    origin: str
    source: Path | bytes
    sha256: str  # what the earlier stage checked; packing re-hashes and must agree
    size: int


def _file_member(path: str, origin: str, source: Path, sha256: str) -> Member:
    try:
        size = source.stat().st_size
    except OSError as err:
        msg = f"cannot pack {path}: {source} is unreadable ({err}); rerun the stage that produced it"
        raise PackError(msg) from err
    return Member(path, mf.mode_for(path), origin, source, sha256, size)


@dataclass(frozen=True)
class Signed:
    """What signing did (builder.bundle.sign): the members to pack, each signed file's sha256 before
    signing, and the manifest's `signing` record."""

    members: list[Member]
    unsigned: dict[str, str]
    info: dict[str, Any]


class MemberSigner(Protocol):
    def sign(self, members: Sequence[Member], epoch: int) -> Signed: ...


def bytes_member(path: str, origin: str, data: bytes, mode: int | None = None) -> Member:
    return Member(path, mf.mode_for(path) if mode is None else mode, origin, data,
                  hashlib.sha256(data).hexdigest(), len(data))


def collect_members(built: BuildResult, sdn: SdnResult, rendered: Sequence[RenderedFile],
                    inputs: Sequence[FetchedInput] = (), images: Sequence[OfflineImage] = ()) -> list[Member]:
    """Every payload member (all but manifest.json and SHA256SUMS), checked for safe, unique names."""
    members = [_file_member(f"{mf.TOP}/{b.filename}", mf.ORIGIN_KUBERNETES, b.path, b.sha256) for b in built.binaries]
    members += [_file_member(f"{mf.TOP}/{f.dest}", mf.ORIGIN_SDN, f.path, f.sha256) for f in sdn.files]
    members += [_file_member(f"{mf.TOP}/{f.dest}", i.origin, f.path, f.sha256) for i in inputs for f in i.files]
    members += [bytes_member(f"{mf.TOP}/{r.dest}", mf.ORIGIN_GENERATED, r.data) for r in rendered]
    members += [_file_member(f"{mf.TOP}/{i.dest}", mf.ORIGIN_IMAGE, i.archive, i.sha256) for i in images]
    problems: list[str] = []
    seen: dict[str, str] = {}
    for m in members:
        problem = mf.name_problem(m.path)
        if problem:
            problems.append(problem)
        if m.path in (mf.MANIFEST, mf.SUMS):
            problems.append(f"{m.path} is reserved for the bundle's own manifest and checksums")
        folded = m.path.lower()  # Windows file names ignore case
        if folded in seen:
            problems.append(f"{m.path} ({m.origin}) collides with {seen[folded]} on a case-insensitive file system")
        seen[folded] = f"{m.path} ({m.origin})"
    if problems:
        msg = "cannot pack these members:\n  " + "\n  ".join(problems) + "\nrename them (bundle dest paths)"
        raise PackError(msg)
    return sorted(members, key=lambda m: m.path)


def bind_install(member: Member, digest: str) -> Member:
    """install.ps1 with the digest of every other manifest entry in place of the unbound one render wrote."""
    data = member.source if isinstance(member.source, bytes) else member.source.read_bytes()
    marker = f"'{UNBOUND_FILES_DIGEST}'".encode("ascii")
    found = data.count(marker)
    if found == 0:
        return member  # not an install.ps1 this tool rendered: there is nothing to bind
    if found != 1:
        msg = (f"cannot bind {member.path} to the manifest: it holds the unbound digest {found} times, "
               "not once; render it again (nox -s render)")
        raise PackError(msg)
    return bytes_member(member.path, member.origin, data.replace(marker, f"'{digest}'".encode("ascii")), member.mode)


def sign_and_bind(payload: list[Member], signer: MemberSigner | None,
                  epoch: int) -> tuple[list[Member], dict[str, str], dict[str, Any] | None]:
    """Every member signed (Authenticode, builder.bundle.sign) and install.ps1 bound to the others: those
    are signed first, install.ps1 gets their digest, then it is signed. The members, each signed file's
    sha256 before signing, and the manifest's signing record."""
    others = [m for m in payload if m.path != mf.INSTALL]
    install = [m for m in payload if m.path == mf.INSTALL]
    unsigned: dict[str, str] = {}
    info = None
    if signer is not None and others:
        signed = signer.sign(others, epoch)
        others, info = signed.members, signed.info
        unsigned.update(signed.unsigned)
    if install:
        install = [bind_install(install[0], mf.files_digest((m.path, m.sha256) for m in others))]
        if signer is not None:
            signed = signer.sign(install, epoch)
            install, info = signed.members, signed.info
            unsigned.update(signed.unsigned)
    return sorted([*others, *install], key=lambda m: m.path), unsigned, info


# --------------------------------------------------------------------------- zip writing


def dos_datetime(epoch: int) -> tuple[int, int]:
    t = time.gmtime(min(max(epoch, ZIP_EPOCH_MIN), ZIP_EPOCH_MAX))
    return (t.tm_year - 1980) << 9 | t.tm_mon << 5 | t.tm_mday, t.tm_hour << 11 | t.tm_min << 5 | t.tm_sec // 2


@dataclass
class Digests:
    """What reading a member while packing found: checked against what the manifest says."""

    sha256: Any = field(default_factory=hashlib.sha256)
    sha1: Any = field(default_factory=hashlib.sha1)
    crc: int = 0
    size: int = 0

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        self.sha1.update(data)
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)


class ZipWriter:
    """Local headers, data and central directory, nothing else: no extra fields, no comment."""

    def __init__(self, out: BinaryIO, epoch: int) -> None:
        self.out = out
        self.date, self.time = dos_datetime(epoch)
        self.central: list[bytes] = []
        self._start = 0
        self._name = b""

    def _header(self, crc: int, csize: int, usize: int) -> bytes:
        return struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", NEEDED, 0, DEFLATED, self.time, self.date,
                           crc, csize, usize, len(self._name), 0) + self._name

    def begin(self, name: str) -> None:
        self._name = name.encode("ascii")
        self._start = self.out.tell()
        self.out.write(self._header(0, 0, 0))  # sizes are patched in `end`

    def write(self, data: bytes) -> None:
        self.out.write(data)

    def end(self, mode: int, crc: int, usize: int) -> None:
        data_start = self._start + 30 + len(self._name)
        csize = self.out.tell() - data_start
        if max(csize, usize, self._start) > ZIP_LIMIT:
            msg = f"{self._name.decode()} does not fit in a zip without zip64 (over 4 GiB); the bundle is too large"
            raise PackError(msg)
        self.out.seek(self._start)
        self.out.write(self._header(crc, csize, usize))
        self.out.seek(0, os.SEEK_END)
        attrs = (0o100000 | mode) << 16  # a regular file with its Unix mode
        self.central.append(struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", MADE_BY_UNIX, NEEDED, 0, DEFLATED, self.time, self.date,
            crc, csize, usize, len(self._name), 0, 0, 0, 0, attrs, self._start) + self._name)

    def finish(self) -> None:
        start = self.out.tell()
        for entry in self.central:
            self.out.write(entry)
        size = self.out.tell() - start
        n = len(self.central)
        self.out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n, n, size, start, 0))


def _chunks(source: Path | bytes, size: int) -> Iterator[bytes]:
    if isinstance(source, bytes):
        yield from (source[i : i + size] for i in range(0, len(source), size))
        return
    try:
        with source.open("rb") as f:
            while data := f.read(size):
                yield data
    except OSError as err:
        msg = f"cannot read {source} while packing: {err}"
        raise PackError(msg) from err


def _pieces(member: Member, piece: int) -> Generator[tuple[bytes, bytes, bool]]:
    """(data, window, last) for each piece of a member, read one at a time (no piece read ahead: the
    memory budget counts what is held); an empty member is one empty piece."""
    window = b""
    done = 0
    for data in _chunks(member.source, piece):
        done += len(data)
        last = done >= member.size
        yield data, window, last
        if last:
            return
        window = data[-WINDOW:]
    yield b"", window, True  # an empty member, or a file shorter than checked (its digest then disagrees)


# What compression may allocate at once, in bytes: a piece's input and output buffer while it is
# compressed (libdeflate's buffer is the input's size plus a little; RSS counts only what it
# writes there, about 40% for executables), then its output until written. A piece larger than
# this runs with nothing else held. The budget only decides when a piece starts, never what it
# becomes, so the bytes do not depend on it. 175 MB is the 200 MB peak goal less the interpreter's
# 25 MB. The pinned 4 MiB pieces never reach it (2 x workers pieces in flight hold some tens of MB);
# it bounds the benchmark's whole-member candidate, where a 100 MB kubelet.exe compresses alone.
MEMORY_BUDGET = 175_000_000


def _estimate(size: int) -> int:
    return 2 * size


@dataclass(frozen=True)
class _Job:
    member: Member
    future: Future[bytes]
    first: bool
    last: bool
    estimate: int  # what it holds until compressed

    def held(self) -> int:
        """What it holds now: its estimate while compressing, its output once compressed."""
        f = self.future
        return len(f.result()) if f.done() and not f.cancelled() and f.exception() is None else self.estimate


class _InFlight:
    """Pieces submitted and not yet written, oldest first, within a job count and the memory budget."""

    def __init__(self, writer: ZipWriter, digests: dict[str, Digests], max_jobs: int, budget: int) -> None:
        self.writer, self.digests = writer, digests
        self.max_jobs, self.budget = max_jobs, budget
        self.jobs: collections.deque[_Job] = collections.deque()

    def make_room(self, need: int) -> None:
        """Write or wait for pieces until one more piece holding `need` bytes fits."""
        while self.jobs and (len(self.jobs) >= self.max_jobs
                             or sum(j.held() for j in self.jobs) + need > self.budget):
            if self.jobs[0].future.done() or len(self.jobs) >= self.max_jobs:
                self._write_oldest()
            else:  # a later piece finishing frees its input too
                wait([j.future for j in self.jobs if not j.future.done()], return_when=FIRST_COMPLETED)

    def add(self, job: _Job) -> None:
        self.jobs.append(job)

    def drain(self) -> None:
        while self.jobs:
            self._write_oldest()

    def _write_oldest(self) -> None:
        job = self.jobs[0]
        data = job.future.result()
        self.jobs.popleft()
        if job.first:
            self.writer.begin(job.member.path)
        self.writer.write(data)
        if job.last:
            d = self.digests[job.member.path]
            self.writer.end(job.member.mode, d.crc, d.size)


def write_members(out: BinaryIO, members: Sequence[Member], codec: Codec, epoch: int,
                  workers: int | None = None, budget: int = MEMORY_BUDGET) -> dict[str, Digests]:
    """Write the whole zip to `out`; return what was read of each member."""
    workers = workers or default_workers()
    writer = ZipWriter(out, epoch)
    digests = {m.path: Digests() for m in members}
    flight = _InFlight(writer, digests, 2 * workers, budget)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for member in members:
            if codec.piece:
                _submit_pieces(pool, flight, member, codec)
            else:  # read, hashed and compressed in one worker thread, so the main thread never waits on it
                flight.make_room(_estimate(member.size))
                future = pool.submit(_whole, member, digests[member.path], codec)
                flight.add(_Job(member, future, True, True, _estimate(member.size)))
        flight.drain()
    writer.finish()
    return digests


def _whole(member: Member, digests: Digests, codec: Codec) -> bytes:
    data = b"".join(_chunks(member.source, max(member.size, 1)))  # one read, unless the file grew
    digests.update(data)
    return codec.compress(data, b"", True)


def _submit_pieces(pool: ThreadPoolExecutor, flight: _InFlight, member: Member, codec: Codec) -> None:
    """A member in pieces: read and hashed here in order, each piece compressed in the pool."""
    pieces = _pieces(member, codec.piece)
    first = True
    last = False
    while not last:
        flight.make_room(_estimate(min(codec.piece, member.size)))  # before the piece is read
        data, window, last = next(pieces)
        flight.digests[member.path].update(data)
        flight.add(_Job(member, pool.submit(codec.compress, data, window, last), first, last,
                        _estimate(len(data))))
        first = False
    pieces.close()


# --------------------------------------------------------------------------- files in dist/


def source_date_epoch(cfg: Config, built: BuildResult) -> int:
    for value in (cfg.bundle.source_date_epoch, built.source_date_epoch):
        if value is not None:
            return min(max(value, ZIP_EPOCH_MIN), ZIP_EPOCH_MAX)
    return DEFAULT_EPOCH


def remove_stale_temps(dist: Path) -> None:
    """Remove temp files (`.<name>.<pid>.<random>.tmp`) left in dist/ by a run that was killed."""
    for tmp in dist.glob(".*.tmp"):
        parts = tmp.name.removesuffix(".tmp").rsplit(".", 2)
        if len(parts) == 3 and parts[1].isdigit() and not _alive(int(parts[1])):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_temp(dist: Path, name: str, fill: Callable[[BinaryIO], Any]) -> tuple[Path, Any]:
    """Run `fill` on a new temp file beside `dist/name`; remove it on any failure, even Ctrl-C."""
    fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(name), suffix=".tmp", dir=dist)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            result = fill(f)
            f.flush()
            os.fsync(f.fileno())
        tmp.chmod(0o644)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, result


def write_dist_sums(dist: Path, known: dict[str, str] | None = None) -> None:
    """Rewrite dist/SHA256SUMS over every file there (other versions' bundles too).

    `known` holds hashes just computed for files this run wrote, so they are not read twice."""
    known = known or {}
    atomic_write(dist / "SHA256SUMS",
                 mf.sums_text((p.name, known.get(p.name) or sha256_file(p)) for p in mf.dist_files(dist)))


def _place(tmp: Path, final: Path, force: bool, new: str) -> None:
    """Move the new zip (sha256 `new`) into place. Same bytes: keep the old file untouched.

    The caller removes `tmp` when it was not moved."""
    if final.exists():
        if sha256_file(final) == new:
            log.info("%s is unchanged", final.name)
            return
        if not force:
            msg = (f"{final} already exists with different content; pass --force to replace it, "
                   "or raise bundle.revision (--revision N) to keep both")
            raise PackError(msg)
        log.info("replacing %s (--force)", final.name)
    os.replace(tmp, final)


# --------------------------------------------------------------------------- the stage


def pack(cfg: Config, built: BuildResult, sdn: SdnResult, rendered: list[RenderedFile],
         codec: Codec | None = None, signer: MemberSigner | None = None,
         inputs: Sequence[FetchedInput] = (), images: Sequence[OfflineImage] = ()) -> Path:
    """Write `dist/<stem>.zip` and its sidecars; return the zip's path."""
    codec = codec or default_codec()
    stem = bundle_stem(cfg.bundle.name, built.git_version, cfg.bundle.revision,
                       snapshot_id(built.git_commit) if cfg.options.snapshot else "")
    dist = cfg.options.dist
    dist.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(dist)
    epoch = source_date_epoch(cfg, built)
    payload, unsigned, info = sign_and_bind(collect_members(built, sdn, rendered, inputs, images), signer, epoch)
    entries = [mf.FileEntry(m.path, m.size, m.mode, m.sha256, m.origin, unsigned_sha256=unsigned.get(m.path, ""))
               for m in payload]
    records = [{"path": f"{mf.TOP}/{i.dest}", "reference": i.reference, "role": i.role} for i in images]
    manifest = mf.build_manifest(cfg, built, sdn, entries, codec.describe(), info, inputs, records)
    manifest_member = bytes_member(mf.MANIFEST, mf.ORIGIN_GENERATED, mf.json_bytes(manifest))
    sums = mf.sums_text([(m.path.removeprefix(f"{mf.TOP}/"), m.sha256) for m in [*payload, manifest_member]])
    members = sorted([*payload, manifest_member, bytes_member(mf.SUMS, mf.ORIGIN_GENERATED, sums)],
                     key=lambda m: m.path)
    final = dist / f"{stem}.zip"
    tmp, digests = write_temp(dist, final.name, lambda f: write_members(f, members, codec, epoch))
    try:
        _check_read(members, digests)
        zip_sha = sha256_file(tmp)
        entries = [dataclasses.replace(e, sha1=digests[e.path].sha1.hexdigest()) for e in entries]
        # Made before the zip is moved into place: a failure here leaves dist/ as it was.
        sidecars = sidecar_files(stem, manifest, entries, zip_sha, epoch)
        _place(tmp, final, cfg.options.force or cfg.options.snapshot, zip_sha)  # a snapshot is remade at will
    finally:
        tmp.unlink(missing_ok=True)  # gone already once moved into place
    for name, data in sidecars.items():
        atomic_write(dist / name, data)
    write_dist_sums(dist, {final.name: zip_sha})
    return final


def _check_read(members: Sequence[Member], digests: dict[str, Digests]) -> None:
    problems = []
    for m in members:
        d = digests[m.path]
        if d.size != m.size or d.sha256.hexdigest() != m.sha256:
            where = m.source if isinstance(m.source, Path) else m.path
            problems.append(f"{where}: read {d.size} bytes with sha256 {d.sha256.hexdigest()}, "
                            f"expected {m.size} bytes with sha256 {m.sha256}")
    if problems:
        msg = ("inputs changed after they were checked:\n  " + "\n  ".join(problems)
               + "\nrerun the bundle so that build and fetch check them again")
        raise PackError(msg)


def sidecar_files(stem: str, manifest: dict[str, Any], entries: Sequence[mf.FileEntry],
                  zip_sha: str, epoch: int) -> dict[str, bytes]:
    """The files written beside `<stem>.zip`: its checksum, SBOM and provenance, by name."""
    name = f"{stem}.zip"
    return {
        f"{name}.sha256": mf.sums_text([(name, zip_sha)]),
        f"{stem}.spdx.json": mf.json_bytes(mf.build_sbom(manifest, entries, name, zip_sha, epoch, __version__)),
        f"{stem}.intoto.json": mf.json_bytes(mf.build_provenance(manifest, name, zip_sha, __version__, epoch)),
    }
