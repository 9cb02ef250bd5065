"""builder.sources.safezip: every unsafe archive is refused, never rewritten; only asked-for members are read."""

from __future__ import annotations

import io
import posixpath
import struct
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sdn_fixture import make_sdn_archive

from builder.errors import FetchError
from builder.sources.safezip import Limits, SafeZip, name_problem

COMMIT = "1" * 40
TOP = f"SDN-{COMMIT}"
HELPER = f"{TOP}/Kubernetes/windows/helper.psm1"


def build(entries: list[tuple[str, bytes]], *, comment: bytes = b"", symlinks: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in symlinks:
                info.create_system = 3
                info.external_attr = 0o120777 << 16
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Duplicate name")  # some tests want duplicates
                zf.writestr(info, data)
        zf.comment = comment
    return buf.getvalue()


def open_zip(tmp_path: Path, data: bytes, limits: Limits | None = None) -> SafeZip:
    path = tmp_path / "a.zip"
    path.write_bytes(data)
    return SafeZip(path, source="http://mirror/a.zip", limits=limits)


def refused(tmp_path: Path, data: bytes, match: str, *, read: str | None = None, limits: Limits | None = None) -> str:
    with pytest.raises(FetchError, match=match) as err, open_zip(tmp_path, data, limits) as z:
        z.read(read or HELPER)
    assert "http://mirror/a.zip" in str(err.value)
    return str(err.value)


def test_reads_a_github_shaped_archive(tmp_path):
    with open_zip(tmp_path, make_sdn_archive(COMMIT)) as z:
        assert z.top == TOP
        assert z.comment == COMMIT.encode()
        assert z.read(HELPER).startswith(b"function Get-Fixture")


def test_missing_member_is_named(tmp_path):
    refused(tmp_path, make_sdn_archive(COMMIT), r"has no file 'SDN-1+/nope\.ps1'", read=f"{TOP}/nope.ps1")


def test_a_folder_is_not_a_file(tmp_path):
    refused(tmp_path, make_sdn_archive(COMMIT), "has no file", read=f"{TOP}/Kubernetes")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("/etc/passwd", "absolute path"),
        (f"{TOP}/../../evil.ps1", r"'\.\.' path component"),
        (f"{TOP}/./x", r"'\.' or"),
        (f"{TOP}//x", "empty"),
        (f"{TOP}\\Kubernetes\\evil.ps1", "backslash"),
        ("C:/Windows/evil.ps1", "drive letter"),
        (f"{TOP}/helper.psm1:Zone.Identifier", "NTFS stream"),
        (f"{TOP}/bell\x07.ps1", "control characters"),
        (f"{TOP}/new\nline.ps1", "control characters"),
    ],
)
def test_unsafe_names_anywhere_refuse_the_archive(tmp_path, name, problem):
    data = build([(HELPER, b"ok"), (name, b"evil")])
    message = refused(tmp_path, data, problem)
    assert "archive refused" in message


def test_nul_in_a_name_is_refused_although_zipfile_cuts_it_off(tmp_path):
    # zipfile truncates names at NUL; write a same-length placeholder and patch both headers.
    data = build([(HELPER, b"ok"), (f"{TOP}/evil.ps1X.txt", b"evil")])
    data = data.replace(b"evil.ps1X.txt", b"evil.ps1\x00.txt")
    refused(tmp_path, data, "NUL or control characters")


def test_symlink_member_is_refused(tmp_path):
    data = build([(HELPER, b"/etc/shadow")], symlinks=(HELPER,))
    refused(tmp_path, data, "is a symlink")


def test_symlinked_folder_of_a_member_is_refused(tmp_path):
    folder = f"{TOP}/Kubernetes/windows"
    data = build([(folder, b"/etc"), (HELPER, b"ok")], symlinks=(folder,))
    refused(tmp_path, data, "a folder of .* is a symlink")


def test_symlink_that_is_not_read_does_no_harm(tmp_path):
    data = build([(HELPER, b"ok"), (f"{TOP}/docs/link", b"../README.md")], symlinks=(f"{TOP}/docs/link",))
    with open_zip(tmp_path, data) as z:
        assert z.read(HELPER) == b"ok"


def test_duplicate_names_are_refused(tmp_path):
    data = build([(HELPER, b"first"), (HELPER, b"second")])
    refused(tmp_path, data, "appears twice")


def test_names_differing_only_in_case_are_refused(tmp_path):
    data = build([(HELPER, b"a"), (HELPER.replace("helper", "HELPER"), b"b")])
    refused(tmp_path, data, "differ only in case")


def test_a_folder_differing_only_in_case_is_refused(tmp_path):
    data = build([(HELPER, b"a"), (f"{TOP}/kubernetes/windows/helper.psm1", b"b")])
    refused(tmp_path, data, "'SDN-1+/Kubernetes' and 'SDN-1+/kubernetes' differ only in case")


def test_case_collisions_elsewhere_do_not_block_other_members(tmp_path):
    data = build([(HELPER, b"a"), (f"{TOP}/docs/ReadMe.md", b"b"), (f"{TOP}/docs/README.md", b"c")])
    with open_zip(tmp_path, data) as z:
        assert z.read(HELPER) == b"a"
        with pytest.raises(FetchError, match="differ only in case"):
            z.read(f"{TOP}/docs/README.md")


def test_more_than_one_top_folder_is_refused(tmp_path):
    data = build([(HELPER, b"a"), ("other/x", b"b")])
    refused(tmp_path, data, "exactly one top-level folder, found 2")


def test_a_loose_file_at_the_top_is_refused(tmp_path):
    data = build([(TOP + "/", b""), (HELPER, b"a"), (TOP, b"b")])
    refused(tmp_path, data, "appears twice|exactly one top-level folder")


def test_member_over_the_size_limit_is_refused(tmp_path):
    data = build([(HELPER, b"x" * 5000)])
    refused(tmp_path, data, "5000 bytes uncompressed, over the limit of 4096", limits=Limits(max_member=4096))


def test_compression_bomb_is_refused(tmp_path):
    data = build([(HELPER, bytes(4 * 2**20))])
    refused(tmp_path, data, r"expands \d+ times, over the limit of 100")


def test_total_read_is_bounded(tmp_path):
    other = f"{TOP}/Kubernetes/windows/hns.psm1"
    data = build([(HELPER, b"a" * 600), (other, b"b" * 600)])
    with open_zip(tmp_path, data, Limits(max_read=1000)) as z:
        z.read(HELPER)
        with pytest.raises(FetchError, match="more than 1000 bytes"):
            z.read(other)


def test_archive_over_the_size_limit_is_refused(tmp_path):
    data = make_sdn_archive(COMMIT)
    refused(tmp_path, data, f"is {len(data)} bytes, over the limit of 100", limits=Limits(max_archive=100))


def test_too_many_entries_are_refused(tmp_path):
    data = build([(f"{TOP}/f{i}", b"") for i in range(20)])
    refused(tmp_path, data, "declares 20 entries, over the limit of 10", limits=Limits(max_entries=10))


def test_encrypted_member_is_refused(tmp_path):
    data = bytearray(build([(HELPER, b"secret")]))
    # zipfile will not write an encrypted member: set the flag bit in both headers by hand.
    cd = data.rindex(b"PK\x01\x02")
    data[6] |= 0x1
    data[cd + 8] |= 0x1
    data = bytes(data)
    refused(tmp_path, data, "encrypted")


def test_not_a_zip(tmp_path):
    refused(tmp_path, b"<html>rate limited</html>", "not a readable zip archive")


def test_declared_size_must_match_the_data(tmp_path):
    data = build([(HELPER, b"0123456789")])
    # Claim 11 bytes in the central directory (the local header's size is not what zipfile trusts).
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(HELPER)
    cd = data.rindex(b"PK\x01\x02")
    size_at = cd + 24
    assert int.from_bytes(data[size_at:size_at + 4], "little") == info.file_size
    data = data[:size_at] + (11).to_bytes(4, "little") + data[size_at + 4:]
    refused(tmp_path, data, "damaged|declares 11")


@given(st.lists(st.sampled_from(["a", "..", ".", "", "b\\c", "C:", "x\x00", "/", "ok.ps1"]), min_size=1,
                max_size=6))
def test_accepted_names_always_stay_inside_the_folder(parts):
    name = "/".join(parts)
    if name_problem(name) is None:
        normal = posixpath.normpath(name)
        assert not normal.startswith(("/", ".."))
        assert normal == name.rstrip("/")
        assert "\\" not in name
        assert ":" not in name


# --------------------------------------------------------------------------- limits before parsing


def write_many_entries(path: Path, count: int) -> None:
    """A ZIP64 archive whose central directory really holds `count` minimal (46-byte) entries."""
    header = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    chunk = 100_000
    with path.open("wb") as f:
        for start in range(0, count, chunk):
            f.write(header * min(chunk, count - start))
        size = f.tell()
        record_at = size
        f.write(struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, 0))
        f.write(struct.pack("<4sLQL", b"PK\x06\x07", 0, record_at, 1))
        f.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))


def test_five_million_entries_are_refused_within_a_second_and_100_mb(tmp_path):
    path = tmp_path / "many.zip"
    write_many_entries(path, 5_000_000)
    assert path.stat().st_size > 200 * 2**20
    tracemalloc.start()
    start = time.monotonic()
    try:
        with pytest.raises(FetchError, match="declares 5000000 entries, over the limit of 50000"):
            SafeZip(path, source="https://example/many.zip", limits=Limits(max_archive=2**30))
        elapsed = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        path.unlink()  # 230 MB: not kept among pytest's last runs
    assert elapsed < 1.0
    assert peak < 100 * 2**20


def test_an_understated_entry_count_is_caught_by_counting_the_headers(tmp_path):
    path = tmp_path / "lying.zip"
    write_many_entries(path, 60_000)
    data = bytearray(path.read_bytes())
    record = data.rindex(b"PK\x06\x06")
    struct.pack_into("<2Q", data, record + 24, 10, 10)  # the ZIP64 record now claims 10 entries
    path.write_bytes(bytes(data))
    with pytest.raises(FetchError, match="holds more than 50000 entries"):
        SafeZip(path, source="x")


def test_a_central_directory_over_its_size_limit_is_refused(tmp_path):
    data = build([(f"{TOP}/f{i}", b"") for i in range(20)])
    refused(tmp_path, data, "central directory of \\d+ bytes, over the limit of 100",
            limits=Limits(max_directory=100))


def test_verify_uses_the_same_limits(tmp_path):
    from builder.bundle import verify

    path = tmp_path / "many.zip"
    write_many_entries(path, 60_000)
    start = time.monotonic()
    report = verify.check_zip(path)
    assert time.monotonic() - start < 1.0
    assert report.problems == ["many.zip: archive refused: declares 60000 entries, over the limit of 50000"]
