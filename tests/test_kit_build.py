"""The node kit end to end: CNI plugins really cross-compiled from a source archive, zip inputs."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from httpserver import serve
from kit_fixture import CNI_TREE, dirhash_by_sha256sum, exe, sha512, source_targz, targz
from kube_tree import build_env
from sdn_fixture import make_sdn_archive, sdn_config

from builder import config
from builder.errors import FetchError
from builder.pe import file_pe_problem
from builder.sources import inputs, kit
from builder.sources.inputs import InputSpec, Take

pytestmark = pytest.mark.go

COMMIT = "242fb0c3190dbb08d7f9406727be18322218e537"
V = "v1.9.1"
SRC = f"/containernetworking/plugins/archive/refs/tags/{V}.tar.gz"
H1 = dirhash_by_sha256sum(CNI_TREE)


def load(tmp_path: Path, base: str, **cni: Any) -> config.Config:
    doc = {"kubernetes": {"source": "release", "version": "v1.30.0"},
           "sdn": sdn_config(COMMIT, base + f"/sdn/{COMMIT}.zip"),
           "cni": {"url": base + "/containernetworking/plugins/archive/refs/tags/{version}.tar.gz", "h1": H1, **cni}}
    path = tmp_path / "bundle.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return config.load(config.Overrides(config=path, cache_dir=tmp_path / "cache"), {}, tmp_path)


def test_cni_plugins_are_cross_compiled_from_the_pinned_source_archive(tmp_path, net):
    with serve({SRC: source_targz(V), f"/sdn/{COMMIT}.zip": make_sdn_archive(COMMIT)}) as srv:
        cfg = load(tmp_path, srv.base)
        cni = cfg.input_section("cni")
        assert cni.source == "build" and cni.version == V  # the defaults
        fetched = kit.fetch_all(cfg, "v1.30.0", net=net)
    built = kit.finish(cfg, fetched, build_env())
    (cni,) = built
    assert cni.name == "cni-plugins" and cni.h1 == H1 and cni.licence == "Apache-2.0"
    assert [f.dest for f in cni.files] == ["cni/win-bridge.exe", "cni/win-overlay.exe", "cni/host-local.exe"]
    for f in cni.files:
        assert file_pe_problem(f.path) is None
        # upstream's stamp: -X .../pkg/utils/buildversion.BuildVersion=<tag>
        assert V.encode() in f.path.read_bytes()
        assert str(tmp_path).encode() not in f.path.read_bytes(), "-trimpath: no local path in the binary"
    log = tmp_path / "cache/logs/cni-build.log"
    assert "-mod=vendor" in log.read_text().splitlines()[0]
    # No-op rebuild: same sources, Go and flags -> no go build, outputs re-hashed and reused.
    log.unlink()
    again = kit.finish(cfg, fetched, build_env())
    assert not log.exists()
    assert [f.sha256 for f in again[0].files] == [f.sha256 for f in cni.files]


def test_a_regenerated_source_archive_with_the_same_files_still_verifies(tmp_path, net):
    other_bytes = targz({f"plugins-1.9.1/{p.relative_to(CNI_TREE).as_posix()}": p.read_bytes()
                         for p in sorted(CNI_TREE.rglob("*"), reverse=True) if p.is_file()})
    assert other_bytes != source_targz(V)
    with serve({SRC: other_bytes, f"/sdn/{COMMIT}.zip": make_sdn_archive(COMMIT)}) as srv:
        fetched = kit.fetch_all(load(tmp_path, srv.base), "v1.30.0", net=net)
    assert fetched.kit[0].h1 == H1
    assert (fetched.kit[0].tree / "vendor/modules.txt").is_file()  # type: ignore[operator]


def test_a_source_archive_with_other_files_fails_its_h1_pin(tmp_path, net):
    changed = targz({"plugins-1.9.1/go.mod": b"module github.com/containernetworking/plugins\n\ngo 1.24\n",
                     "plugins-1.9.1/evil.go": b"package main\n"})
    with serve({SRC: changed, f"/sdn/{COMMIT}.zip": make_sdn_archive(COMMIT)}) as srv:
        cfg = load(tmp_path, srv.base)
        with pytest.raises(FetchError, match=rf"cni: cni-plugins {V}: its files \(content digest h1\) .* pin is {H1}"):
            kit.fetch_all(cfg, "v1.30.0", net=net)
    assert not (tmp_path / "cache/inputs/cni-plugins").exists() or not [
        p for p in (tmp_path / "cache/inputs/cni-plugins").iterdir() if not p.name.startswith(".")]


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def test_a_zip_input_with_a_sha512_file_beside_it(tmp_path, net):
    data = _zip({"tool.exe": exe("tool"), "README.md": b"x"})
    with serve({"/r/tool.zip": data, "/r/tool.zip.sha512": f"{sha512(data)}  tool.zip\n".encode()}) as srv:
        spec = InputSpec(name="tool", key="tool", kind=inputs.kind_of(srv.url("/r/tool.zip"), "file"),
                         url=srv.url("/r/tool.zip"), version="v1", takes=(Take("tool.exe", "bin/tool.exe"),),
                         checksums=(".sha256", ".sha512"))
        (got,), missing = inputs.fetch_inputs([spec], tmp_path / "cache", offline=False, net=net)
    assert spec.kind == "zip" and missing == []
    assert got.files["bin/tool.exe"][0].read_bytes() == exe("tool")
    assert got.published == ((srv.url("/r/tool.zip") + ".sha512", sha512(data)),)


def test_a_hostile_zip_member_is_refused(tmp_path, net):
    info = zipfile.ZipInfo("tool.exe")
    info.create_system, info.external_attr = 3, (0o120777 << 16)  # a symlink entry
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with serve({"/r/tool.zip": buf.getvalue()}) as srv:
        spec = InputSpec(name="tool", key="tool", kind="zip", url=srv.url("/r/tool.zip"), version="v1",
                         takes=(Take("tool.exe", "tool.exe", "ab" * 32),))
        with pytest.raises(FetchError, match="is a symlink"):
            inputs.fetch_inputs([spec], tmp_path / "cache", offline=False, net=net)
    assert not [p for p in (tmp_path / "cache/inputs/tool").iterdir() if not p.name.startswith(".")]


def test_a_zip_source_archive_has_the_same_content_digest(tmp_path, net):
    data = _zip({f"plugins-1.9.1/{p.relative_to(CNI_TREE).as_posix()}": p.read_bytes()
                 for p in sorted(CNI_TREE.rglob("*")) if p.is_file()})
    with serve({f"/src/{V}.zip": data, f"/sdn/{COMMIT}.zip": make_sdn_archive(COMMIT)}) as srv:
        cfg = load(tmp_path, srv.base, url=srv.base + "/src/{version}.zip")
        (cni,) = kit.fetch_all(cfg, "v1.30.0", net=net).kit
    assert cni.spec.kind == "zip" and cni.h1 == H1
