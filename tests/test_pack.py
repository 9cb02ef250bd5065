"""pack: reproducible bytes, the zip's structure, real unzip tools, kill-safety, --force."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import pytest
from pack_fixtures import EPOCH, Inputs, make_inputs

from builder.artifacts import RenderedFile
from builder.bundle import manifest as mf
from builder.bundle import pack
from builder.errors import PackError

STEM = "kubernetes-windows-node-v1.37.0-1"


@pytest.fixture
def inputs(tmp_path: Path, windows_exe: Path) -> Inputs:
    return make_inputs(tmp_path, windows_exe)


def do_pack(i: Inputs, codec: pack.Codec | None = None) -> Path:
    return pack.pack(i.cfg, i.built, i.sdn, i.rendered, codec=codec)


def test_two_packs_of_the_same_inputs_are_byte_identical(inputs: Inputs, tmp_path: Path) -> None:
    first = do_pack(inputs)
    other = inputs.with_options(dist=tmp_path / "dist2")
    second = do_pack(other)
    assert first.name == f"{STEM}.zip"
    assert first.read_bytes() == second.read_bytes()
    for name in (f"{STEM}.zip.sha256", f"{STEM}.spdx.json", f"{STEM}.intoto.json", "SHA256SUMS"):
        assert (first.parent / name).read_bytes() == (second.parent / name).read_bytes(), name


def test_zip_structure_is_fixed(inputs: Inputs) -> None:
    path = do_pack(inputs)
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        assert zf.comment == b""
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert names == [
        "k/README.txt", "k/SHA256SUMS", "k/cni/config/l2bridge.conf", "k/cni/wincni.exe", "k/helper.psm1",
        "k/hns.psm1", "k/kube-proxy.exe", "k/kubelet.exe", "k/manifest.json", "k/start-kubelet.ps1",
    ]
    expected_time = time.gmtime(EPOCH)[:6]
    for info in infos:
        assert info.create_system == 3
        assert info.extra == b""
        assert info.comment == b""
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.date_time == (*expected_time[:5], expected_time[5] // 2 * 2)
        local = raw[info.header_offset : info.header_offset + 30]
        assert struct.unpack("<H", local[28:30])[0] == 0  # no extra field in the local header either
        assert struct.unpack("<H", local[6:8])[0] == 0  # no flags: no data descriptor, plain ASCII names
        mode = info.external_attr >> 16
        assert mode == (0o100755 if info.filename.endswith(".exe") else 0o100644), info.filename


def test_manifest_names_every_input(inputs: Inputs) -> None:
    path = do_pack(inputs)
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read(mf.MANIFEST))
        sums = zf.read(mf.SUMS).decode()
        data = {i.filename: zf.read(i) for i in zf.infolist()}
    assert manifest["schema"] == "k8s-windows-bundle/manifest/v1"
    assert manifest["bundle"] == {"name": "kubernetes-windows-node", "version": "v1.37.0-1", "revision": 1}
    k = manifest["kubernetes"]
    assert (k["gitVersion"], k["commit"], k["treeState"], k["source"]) == ("v1.37.0", "a" * 40, "clean", "build")
    assert k["binaries"]["kubelet"]["sha256"] == hashlib.sha256(data["k/kubelet.exe"]).hexdigest()
    assert set(k["binaries"]["kubelet"]) == {"origin", "sha256", "publishedChecksums"}
    assert manifest["go"] == {"version": "1.25.5"}
    assert manifest["sdn"] == {"repo": "microsoft/SDN", "commit": "b" * 40, "url": inputs.sdn.url,
                               "archiveSha256": "c" * 64}
    assert manifest["config"] == inputs.cfg.to_dict()
    assert manifest["configDigest"] == inputs.cfg.digest()
    assert manifest["compressor"]["name"] == pack.default_codec().name
    assert manifest["compressor"]["version"] == pack.default_codec().version
    files = {f["path"]: f for f in manifest["files"]}
    assert set(files) == set(data) - {mf.MANIFEST, mf.SUMS}
    for name, f in files.items():
        assert f["size"] == len(data[name])
        assert f["sha256"] == hashlib.sha256(data[name]).hexdigest()
        assert f["mode"] == ("0755" if name.endswith(".exe") else "0644")
    assert files["k/helper.psm1"]["origin"] == "sdn"
    assert files["k/start-kubelet.ps1"]["origin"] == "generated"
    assert files["k/kubelet.exe"]["origin"] == "kubernetes"
    listed = {line.split("  ")[1]: line.split("  ")[0] for line in sums.splitlines()}
    assert set(listed) == {n.removeprefix("k/") for n in data} - {"SHA256SUMS"}


@pytest.mark.parametrize("tool", [["unzip", "-t"], ["bsdtar", "-tf"], ["7z", "t"]], ids=lambda t: t[0])
def test_real_clients_accept_the_bundle(inputs: Inputs, tool: list[str]) -> None:
    path = do_pack(inputs)
    proc = subprocess.run([*tool, str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if tool[0] == "bsdtar":
        assert "k/kubelet.exe" in proc.stdout.splitlines()


def test_unzip_gives_back_the_inputs_with_modes(inputs: Inputs, tmp_path: Path) -> None:
    path = do_pack(inputs)
    out = tmp_path / "out"
    subprocess.run(["unzip", "-q", str(path), "-d", str(out)], check=True)
    assert (out / "k/kubelet.exe").read_bytes() == inputs.built.binaries[0].path.read_bytes()
    assert (out / "k/start-kubelet.ps1").read_bytes() == inputs.rendered[0].data
    assert (out / "k/kubelet.exe").stat().st_mode & 0o777 == 0o755
    assert (out / "k/helper.psm1").stat().st_mode & 0o777 == 0o644
    # The bundle's own SHA256SUMS checks out with the standard tool, inside the unpacked k/.
    proc = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out / "k", capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(": OK") == 9


def test_sidecars_and_dist_sums_pass_sha256sum(inputs: Inputs) -> None:
    path = do_pack(inputs)
    dist = path.parent
    for sums in ("SHA256SUMS", f"{STEM}.zip.sha256"):
        proc = subprocess.run(["sha256sum", "-c", sums], cwd=dist, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = [line.split("  ")[1] for line in (dist / "SHA256SUMS").read_text().splitlines()]
    assert listed == sorted([f"{STEM}.intoto.json", f"{STEM}.spdx.json", f"{STEM}.zip", f"{STEM}.zip.sha256"])
    sbom = json.loads((dist / f"{STEM}.spdx.json").read_text())
    assert sbom["spdxVersion"] == "SPDX-2.3"
    assert {p["name"] for p in sbom["packages"]} == {"kubernetes-windows-node", "kubernetes", "microsoft/SDN"}
    assert {f["fileName"] for f in sbom["files"]} >= {"./k/kubelet.exe", "./k/helper.psm1", "./k/start-kubelet.ps1"}
    prov = json.loads((dist / f"{STEM}.intoto.json").read_text())
    assert prov["_type"] == "https://in-toto.io/Statement/v1"
    assert prov["predicateType"] == "https://slsa.dev/provenance/v1"
    zip_sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert prov["subject"] == [{"name": f"{STEM}.zip", "digest": {"sha256": zip_sha}}]
    deps = {d["name"]: d for d in prov["predicate"]["buildDefinition"]["resolvedDependencies"]}
    assert deps["kubernetes"]["digest"] == {"gitCommit": "a" * 40}
    assert deps["sdn"]["digest"]["gitCommit"] == "b" * 40
    assert deps["go"]["uri"].endswith("go1.25.5")
    assert prov["predicate"]["buildDefinition"]["externalParameters"]["configDigest"] == inputs.cfg.digest()


def test_dist_sums_cover_every_bundle_in_dist(inputs: Inputs, windows_exe: Path, tmp_path: Path) -> None:
    do_pack(inputs)
    older = make_inputs(tmp_path / "older", windows_exe, dist=inputs.dist, git_version="v1.36.2")
    do_pack(older)
    listed = [line.split("  ")[1] for line in (inputs.dist / "SHA256SUMS").read_text().splitlines()]
    assert f"{STEM}.zip" in listed
    assert "kubernetes-windows-node-v1.36.2-1.zip" in listed
    assert len(listed) == 8
    proc = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=inputs.dist, capture_output=True, check=False)
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("cfg_epoch", "built_epoch", "expected"),
    [(1_600_000_000, EPOCH, 1_600_000_000), (None, EPOCH, EPOCH), (None, None, pack.DEFAULT_EPOCH),
     (0, None, pack.ZIP_EPOCH_MIN)],
)
def test_timestamps_come_from_source_date_epoch(inputs: Inputs, cfg_epoch: int | None, built_epoch: int | None,
                                                expected: int) -> None:
    import dataclasses

    cfg = dataclasses.replace(inputs.cfg, bundle=dataclasses.replace(inputs.cfg.bundle, source_date_epoch=cfg_epoch))
    built = dataclasses.replace(inputs.built, source_date_epoch=built_epoch)
    path = pack.pack(cfg, built, inputs.sdn, inputs.rendered)
    with zipfile.ZipFile(path) as zf:
        stamp = zf.infolist()[0].date_time
    t = time.gmtime(expected)
    assert stamp == (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec // 2 * 2)
    assert pack.source_date_epoch(cfg, built) == expected


def test_same_bundle_again_is_left_as_is(inputs: Inputs) -> None:
    path = do_pack(inputs)
    before = path.stat()
    do_pack(inputs)
    after = path.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_different_bundle_needs_force(inputs: Inputs) -> None:
    path = do_pack(inputs)
    old = path.read_bytes()
    changed = inputs.with_rendered([*inputs.rendered, RenderedFile("extra.ps1", b"Write-Output 1\n")])
    with pytest.raises(PackError, match="--force"):
        do_pack(changed)
    assert path.read_bytes() == old
    assert not [p for p in inputs.dist.iterdir() if p.name.startswith(".")]
    do_pack(changed.with_options(force=True))
    with zipfile.ZipFile(path) as zf:
        assert "k/extra.ps1" in zf.namelist()
    proc = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=inputs.dist, capture_output=True, check=False)
    assert proc.returncode == 0


class Boom(Exception):
    pass


def test_failure_mid_write_leaves_nothing(inputs: Inputs) -> None:
    real = pack.default_codec()
    calls = []

    def failing(data: bytes, window: bytes, last: bool) -> bytes:
        calls.append(1)
        if len(calls) == 3:
            raise Boom
        return real.compress(data, window, last)

    codec = pack.Codec(real.name, real.version, real.level, True, failing)
    with pytest.raises(Boom):
        do_pack(inputs, codec=codec)
    assert list(inputs.dist.iterdir()) == []


def test_input_changed_since_checked_is_refused(inputs: Inputs) -> None:
    inputs.built.binaries[0].path.write_bytes(b"MZ changed after the build checked it")
    with pytest.raises(PackError, match="changed after they were checked"):
        do_pack(inputs)
    assert list(inputs.dist.iterdir()) == []


@pytest.mark.parametrize("dest", ["../evil.ps1", "a\\b.ps1", "CON.txt", "x/./y", "trailing."])
def test_unsafe_names_are_refused(inputs: Inputs, dest: str) -> None:
    with pytest.raises(PackError, match="cannot pack"):
        do_pack(inputs.with_rendered([RenderedFile(dest, b"x")]))


def test_names_differing_by_case_are_refused(inputs: Inputs) -> None:
    with pytest.raises(PackError, match="case-insensitive"):
        do_pack(inputs.with_rendered([RenderedFile("Kubelet.exe", b"MZ")]))


KILL_CHILD = """
import sys
from pathlib import Path
sys.path[:0] = [{repo!r}, {tests!r}]
from builder.bundle import pack
from pack_fixtures import make_inputs
i = make_inputs(Path({root!r}), Path({exe!r}))
real = pack.ZipWriter.write
def write(self, data):
    real(self, data)
    print("mid-write", flush=True)
    sys.stdin.readline()  # block here until killed
pack.ZipWriter.write = write
pack.pack(i.cfg, i.built, i.sdn, i.rendered)
"""


def test_kill_mid_write_leaves_no_bundle(tmp_path: Path, windows_exe: Path, repo_root: Path) -> None:
    code = KILL_CHILD.format(repo=str(repo_root), tests=str(repo_root / "tests"), root=str(tmp_path),
                             exe=str(windows_exe))
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "mid-write"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    dist = tmp_path / "dist"
    left = [p.name for p in dist.iterdir()]
    assert not [n for n in left if not n.startswith(".")], left  # a temp file at most, never the bundle
    do_pack(make_inputs(tmp_path, windows_exe))
    assert sorted(p.name for p in dist.iterdir()) == sorted(
        [f"{STEM}.zip", f"{STEM}.zip.sha256", f"{STEM}.spdx.json", f"{STEM}.intoto.json", "SHA256SUMS"])


@pytest.mark.parametrize(("make", "module"), [(pack.codec_zlib, "zlib"), (pack.codec_zlib_ng, "zlib_ng"),
                                             (pack.codec_isal, "isal"), (pack.codec_libdeflate, "deflate"),
                                             (lambda: pack.codec_libdeflate(6, piece=0), "deflate")])
def test_every_codec_writes_a_valid_multi_piece_stream(tmp_path: Path, make: object, module: str) -> None:
    # Every candidate is installed with the tests (the `bench` extra): a missing one fails here.
    codec = make()  # type: ignore[operator]
    rng = random.Random(7)
    words = [bytes(rng.randrange(256) for _ in range(rng.randrange(3, 40))) for _ in range(500)]
    size = 3 * (codec.piece or pack.CHUNK) + 12345  # three whole pieces and a short last one
    big = b"".join(rng.choice(words) for _ in range(size // 10))[:size]
    members = [pack.bytes_member("k/big.bin", "generated", big), pack.bytes_member("k/empty.txt", "generated", b""),
               pack.bytes_member("k/small.txt", "generated", b"hello\n")]
    out = tmp_path / "t.zip"
    with out.open("wb") as f:
        pack.write_members(f, members, codec, EPOCH, workers=2)
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        assert zf.read("k/big.bin") == big
        assert zf.read("k/empty.txt") == b""
        assert zf.read("k/small.txt") == b"hello\n"


def exe_members(tmp_path: Path, exe: Path, copies: list[int]) -> list[pack.Member]:
    """File members made of a real Windows executable, `n` copies each (plus its index, so none are alike)."""
    members = []
    for i, n in enumerate(copies):
        path = tmp_path / f"m{i}.exe"
        data = exe.read_bytes() * n + bytes([i])
        path.write_bytes(data)
        members.append(pack._file_member(f"k/m{i}.exe", "kubernetes", path, hashlib.sha256(data).hexdigest()))
    return [*members, pack.bytes_member("k/a.ps1", "generated", b"Write-Output 1\n" * 500),
            pack.bytes_member("k/empty.txt", "generated", b"")]


def test_chosen_codec_bytes_do_not_depend_on_workers_or_budget(tmp_path: Path, windows_exe: Path) -> None:
    members = exe_members(tmp_path, windows_exe, [3, 1, 2, 1])
    codec = pack.default_codec()
    outputs = {}
    # 1 thread or 4; members two at a time, or one at a time (a budget every member exceeds).
    for workers, budget in [(1, pack.MEMORY_BUDGET), (4, pack.MEMORY_BUDGET), (4, 1)]:
        out = tmp_path / f"{workers}-{budget}.zip"
        with out.open("wb") as f:
            pack.write_members(f, members, codec, EPOCH, workers=workers, budget=budget)
        outputs[workers, budget] = out.read_bytes()
    assert len(set(outputs.values())) == 1
    with zipfile.ZipFile(tmp_path / f"1-{pack.MEMORY_BUDGET}.zip") as zf:
        assert zf.testzip() is None
        assert zf.read("k/m0.exe") == windows_exe.read_bytes() * 3 + b"\x00"


def test_compression_holds_no_more_than_its_memory_budget(tmp_path: Path, windows_exe: Path) -> None:
    """Python's own allocation tracer sees the members read and libdeflate's output buffers."""
    import tracemalloc

    members = exe_members(tmp_path, windows_exe, [2] * 6)
    size = members[0].size
    budget = 2 * 2 * size + 1000  # two members compressing at once, with their output buffers

    def peak(workers: int, budget: int) -> int:
        tracemalloc.start()
        try:
            with (tmp_path / "t.zip").open("wb") as f:
                pack.write_members(f, members, pack.default_codec(), EPOCH, workers=workers, budget=budget)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert peak(4, budget) <= budget + 1024 * 1024  # the rest: the zip's directory, the pool, digests
    # The tracer does see more when the budget allows it: four threads and eight members read ahead.
    assert peak(4, 100 * budget) > 1.5 * budget


def test_sbom_is_valid_spdx_2_3(inputs: Inputs) -> None:
    """Checked by the SPDX project's own validator (spdx-tools), not by our reading of the spec."""
    parse_anything = pytest.importorskip("spdx_tools.spdx.parser.parse_anything")
    validator = pytest.importorskip("spdx_tools.spdx.validation.document_validator")
    path = do_pack(inputs)
    document = parse_anything.parse_file(str(path.with_name(f"{STEM}.spdx.json")))
    messages = validator.validate_full_spdx_document(document, "SPDX-2.3")
    assert [m.validation_message for m in messages] == []
    assert len(document.files) == 8


def test_provenance_is_a_valid_in_toto_statement(inputs: Inputs) -> None:
    """Parsed strictly (unknown fields fail) by the in-toto attestation project's own protobufs."""
    json_format = pytest.importorskip("google.protobuf.json_format")
    statement = pytest.importorskip("in_toto_attestation.v1.statement")
    provenance_pb2 = pytest.importorskip("in_toto_attestation.predicates.provenance.v1.provenance_pb2")
    path = do_pack(inputs)
    data = json.loads(path.with_name(f"{STEM}.intoto.json").read_text())
    stmt = statement.Statement.copy_from_pb(json_format.ParseDict(data, statement.spb.Statement()))
    stmt.validate()
    predicate = json_format.ParseDict(data["predicate"], provenance_pb2.Provenance())
    assert predicate.build_definition.build_type == "urn:k8s-windows-bundle:buildtype:bundle:v1"
    assert {d.name for d in predicate.build_definition.resolved_dependencies} >= {"kubernetes", "sdn", "go"}


def test_stale_temps_of_dead_runs_are_removed(inputs: Inputs) -> None:
    inputs.dist.mkdir(parents=True)
    dead = inputs.dist / ".SHA256SUMS.999999999.abcd1234.tmp"  # no such pid: its run was killed
    mine = inputs.dist / f".{STEM}.zip.{os.getpid()}.efgh5678.tmp"  # a live run's: not ours to touch
    dead.write_bytes(b"half")
    mine.write_bytes(b"busy")
    do_pack(inputs)
    assert not dead.exists()
    assert mine.exists()


def test_a_failing_sbom_leaves_dist_as_it_was(inputs: Inputs, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SBOM and provenance are made before the zip is moved into place: no zip without its sidecars."""
    def broken(*_args: object, **_kw: object) -> object:
        msg = "SBOM generation failed"
        raise PackError(msg)

    monkeypatch.setattr(mf, "build_sbom", broken)
    with pytest.raises(PackError, match="SBOM generation failed"):
        do_pack(inputs)
    assert sorted(p.name for p in inputs.cfg.options.dist.iterdir() if p.name != ".gitkeep") == []


def test_joined_libdeflate_pieces_decode_whatever_bits_the_last_byte_has_free() -> None:
    import deflate

    from builder.bundle import splice

    rng = random.Random(11)
    free_bits = set()
    for n in range(300):
        pieces = [rng.randbytes(rng.randrange(0, 50)) * rng.randrange(1, 80) + rng.randbytes(rng.randrange(1, 9))
                  for _ in range(3)]
        streams = [deflate.deflate_compress(p, 6) for p in pieces]
        header, end = splice.final_block(streams[0])
        assert header <= end <= 8 * len(streams[0])
        free_bits.add(8 * len(streams[0]) - end)
        joined = b"".join([splice.continuable(streams[0]), splice.continuable(streams[1]), streams[2]])
        assert zlib.decompress(joined, -15) == b"".join(pieces), n
    assert free_bits == set(range(8))  # every way a stream can end within its last byte was joined


def test_a_damaged_piece_is_refused_not_joined() -> None:
    import deflate

    from builder.bundle import splice

    stream = deflate.deflate_compress(b"the same words again and again " * 1000, 6)
    with pytest.raises(PackError, match="does not decode"):
        splice.final_block(stream[: len(stream) // 2])
