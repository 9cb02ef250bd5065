"""Hostile archives are refused quickly and in little memory, measured in a child process.

Each archive is made here, small on disk, and opened by a fresh Python (`_measure`), which
reports the CPU time the refusal took and its peak resident memory (VmHWM): the interpreter and
the module imports count too, so the bound is on the whole process. Before these limits, the
same archives took seconds and gigabytes.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import struct
import subprocess
import sys
import tarfile
import textwrap
import zipfile
import zlib
from pathlib import Path

import pytest
from httpserver import serve

from builder import http
from builder.errors import FetchError
from builder.sources import inputs
from builder.sources.inputs import InputSpec, Take
from builder.sources.safetar import SafeTar
from builder.sources.safezip import SafeZip

MAX_SECONDS = 1.0
MAX_PEAK_MB = 100

_CHILD = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from builder.bundle import verify
    from builder.errors import FetchError
    from builder.sources.safetar import SafeTar
    from builder.sources.safezip import SafeZip
    kind, path = sys.argv[1], Path(sys.argv[2])
    # CPU time, not wall time: other processes on a loaded machine do not count against the archive.
    start = time.process_time()
    refused = ""
    if kind == "verify":
        refused = "\\n".join(verify.check_zip(path).problems)
    else:
        try:
            (SafeZip if kind == "zip" else SafeTar)(path, source="hostile")
        except FetchError as err:
            refused = str(err)
    seconds = time.process_time() - start
    # VmHWM: this process's own peak (getrusage's ru_maxrss keeps the parent's across exec).
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    peak = int(status["VmHWM"].split()[0]) / 1024
    print(json.dumps({"refused": refused, "seconds": seconds, "peak_mb": peak}))
""")


def _measure(kind: str, path: Path) -> dict[str, object]:
    """Open `path` in a new interpreter; its verdict, time and peak memory. A child that runs out
    of its 4 GiB allowance or time counts as not refused (a test of the old code stays bounded)."""
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
    try:
        proc = subprocess.run([sys.executable, "-c", limit + _CHILD, kind, str(path)], capture_output=True,
                              text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return {"refused": "", "seconds": 60.0, "peak_mb": float("inf")}
    if proc.returncode != 0:
        return {"refused": "", "seconds": float("inf"), "peak_mb": float("inf"), "error": proc.stderr[-500:]}
    return dict(json.loads(proc.stdout))


def _assert_refused_fast(kind: str, path: Path, reason: str) -> None:
    got = _measure(kind, path)
    assert reason in str(got["refused"]), got
    assert float(str(got["seconds"])) < MAX_SECONDS, got
    assert float(str(got["peak_mb"])) < MAX_PEAK_MB, got


# --------------------------------------------------------------------------- zips, assembled by hand


def _raw_zip(members: list[tuple[bytes, bytes, int, int]], *, comment: bytes = b"") -> bytes:
    """A zip of (name, deflated data, crc, size) members, written as zipfile reads them."""
    out = io.BytesIO()
    central = []
    for name, data, crc, size in members:
        offset = out.tell()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size, len(name), 0))
        out.write(name + data)
        central.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(data), size,
                                   len(name), 0, 0, 0, 0, 0o644 << 16, offset) + name)
    cd = b"".join(central)
    start = out.tell()
    out.write(cd)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(cd), start, len(comment)))
    out.write(comment)
    return out.getvalue()


def _deflated(data: bytes) -> tuple[bytes, int, int]:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(), zlib.crc32(data), len(data)


def test_one_very_long_deep_name_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "long.zip"
    path.write_bytes(_raw_zip([(b"top/" + b"a/" * 32_500 + b"f", *_deflated(b"x"))]))
    assert path.stat().st_size < 200_000
    _assert_refused_fast("zip", path, "member name of 65005 bytes, over the limit of 1024")
    _assert_refused_fast("verify", path, "over the limit of 1024")


def test_a_name_too_deep_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.zip"
    path.write_bytes(_raw_zip([(b"top/" + b"d/" * 70 + b"f", *_deflated(b"x"))]))
    with pytest.raises(FetchError, match="64 or more folders deep") as err:
        SafeZip(path, source="deep")
    assert err.value.exit_code == 5


def test_a_zip64_decoy_is_refused_before_any_entry_is_read(tmp_path: Path) -> None:
    # The 32-bit end record declares one entry; the ZIP64 record that zipfile reads (the one just
    # before the locator) declares, and the directory holds, 300,000.
    count = 300_000
    header = struct.Struct("<4s6H3L5H2L")
    fixed = header.pack(b"PK\x01\x02", 45, 20, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0)
    entry = b"".join(fixed + b"top/%06d" % i for i in range(count))
    cd_start = 0
    eocd64_at = len(entry)
    eocd64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(entry), cd_start)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, eocd64_at, 1)
    decoy = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 56, len(entry) - 56, 0)
    path = tmp_path / "decoy.zip"
    path.write_bytes(entry + eocd64 + locator + decoy)
    _assert_refused_fast("zip", path, f"declares {count} entries, over the limit of 50000")
    _assert_refused_fast("verify", path, f"declares {count} entries")


def test_verify_keeps_no_text_of_members_the_manifest_does_not_generate(tmp_path: Path) -> None:
    # A hundred .json and .ps1 members of 16 MiB each (zeros: 16 KiB deflated) in a 2 MB zip.
    data, crc, size = _deflated(b"\0" * (16 << 20))
    members = [(b"k/m%03d.%s" % (i, b"json" if i % 2 else b"ps1"), data, crc, size) for i in range(100)]
    path = tmp_path / "bloat.zip"
    path.write_bytes(_raw_zip(members))
    assert path.stat().st_size < 3 << 20
    _assert_refused_fast("verify", path, "k/manifest.json is missing")


def test_verify_holds_generated_text_within_its_budget(tmp_path: Path) -> None:
    # The manifest marks every member generated, and none expands past the bomb ratio (noise).
    data, crc, size = _deflated(random.Random(2).randbytes(3 << 20))
    names = [b"k/s%02d.ps1" % i for i in range(12)]
    manifest = json.dumps({"schema": "x", "files": [{"path": n.decode(), "origin": "generated"} for n in names]})
    members = [(b"k/manifest.json", *_deflated(manifest.encode())), *((n, data, crc, size) for n in names)]
    path = tmp_path / "many.zip"
    path.write_bytes(_raw_zip(members))
    got = _measure("verify", path)
    assert "over the budget" in str(got["refused"]), got
    assert float(str(got["peak_mb"])) < MAX_PEAK_MB, got


# --------------------------------------------------------------------------- tars


def _block_header(name: bytes, size: int, kind: bytes) -> bytes:
    info = tarfile.TarInfo(name.decode())
    info.size, info.type = size, kind
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _tgz_with_header(kind: bytes, size: int) -> bytes:
    """A tar.gz whose first header is `kind` with `size` bytes of content (zeros: it compresses to little)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=1, mtime=0) as gz:
        gz.write(_block_header(b"././@LongLink", size, kind))
        chunk = b"a" * (1 << 20)
        left = size
        while left > 0:
            gz.write(chunk[:left])
            left -= len(chunk)
        gz.write(b"\0" * (-size % 512))
        gz.write(_block_header(b"top/f", 0, tarfile.REGTYPE))
        gz.write(b"\0" * 1024)
    return buf.getvalue()


@pytest.mark.parametrize(("kind", "reason"), [(tarfile.GNUTYPE_LONGNAME, "GNU long name of"),
                                              (tarfile.GNUTYPE_LONGLINK, "GNU long link name of"),
                                              (tarfile.XHDTYPE, "pax header of")])
def test_a_huge_long_name_or_pax_header_is_refused_before_tarfile_reads_it(
        tmp_path: Path, kind: bytes, reason: str) -> None:
    path = tmp_path / "long.tgz"
    path.write_bytes(_tgz_with_header(kind, 200 << 20))
    assert path.stat().st_size < 2 << 20
    _assert_refused_fast("tar", path, reason)


def test_an_ordinary_long_name_and_pax_size_still_read(tmp_path: Path) -> None:
    buf = io.BytesIO()
    long_name = "top/" + "n" * 200 + "/file.bin"
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w",
                                                                             format=tarfile.GNU_FORMAT) as tar:
        for name, data in ((long_name, b"x" * 700), ("top/after", b"y")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "ok.tgz"
    path.write_bytes(buf.getvalue())
    assert SafeTar(path, source="ok").files == {long_name: b"x" * 700, "top/after": b"y"}


# --------------------------------------------------------------------------- a file that is a folder too


def _zip_of(names: list[str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in names:
            zf.writestr(name, b"x")
    return buf.getvalue()


def _tgz_of(names: list[str]) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


@pytest.mark.parametrize("names", [["top/a", "top/a/b"], ["top/a/b", "top/a"]])
def test_an_archive_whose_file_is_another_members_folder_is_refused(tmp_path: Path, names: list[str]) -> None:
    for suffix, data, opener in ((".zip", _zip_of(names), SafeZip), (".tgz", _tgz_of(names), SafeTar)):
        path = tmp_path / f"a{suffix}"
        path.write_bytes(data)
        with pytest.raises(FetchError, match="is a file and also the folder of") as err:
            opener(path, source="clash")
        assert err.value.exit_code == 5


def test_a_source_archive_with_a_file_where_a_folder_goes_is_refused_and_nothing_cached(tmp_path: Path) -> None:
    data = _tgz_of(["plugins-1.0.0/a", "plugins-1.0.0/a/b"])
    with serve({"/src.tar.gz": data}) as srv:
        spec = InputSpec(name="cni-plugins", key="cni", kind="tar.gz", url=srv.url("/src.tar.gz"), version="v1.0.0",
                         takes=(Take("a", "a", ""),), tree=True, sha256=http.hashlib.sha256(data).hexdigest())
        net = http.Net(policy=http.RetryPolicy(attempts=1), timeout=(1.0, 2.0))
        with pytest.raises(FetchError, match="is a file and also the folder of") as err:
            inputs.fetch_inputs([spec], tmp_path / "cache", offline=False, net=net)
    assert err.value.exit_code == 5
    cached = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert cached == []
