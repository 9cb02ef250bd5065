"""builder.sources.inputs and kit: pinned inputs over a real loopback HTTP server, hostile archives, pins."""

from __future__ import annotations

import dataclasses
import io
import logging
import random
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from httpserver import serve
from kit_fixture import (
    CNI_TREE,
    cni_release_tgz,
    containerd_tgz,
    crictl_tgz,
    dirhash_by_sha256sum,
    exe,
    sha256,
    targz,
)
from sdn_fixture import make_sdn_archive, sdn_config

from builder import config
from builder.errors import ConfigError, FetchError
from builder.report import Reporter
from builder.sources import inputs, kit
from builder.sources.inputs import InputSpec, Take
from builder.sources.safetar import SafeTar
from builder.sources.safezip import Limits

COMMIT = "242fb0c3190dbb08d7f9406727be18322218e537"
SDN_PATH = f"/sdn/{COMMIT}.zip"
CNI_V, CTD_V, CRI_V, FL_V = "v1.9.1", "v2.3.4", "v1.36.0", "v0.28.9"
CNI_PATH = f"/cni/{CNI_V}/cni-plugins-windows-amd64-{CNI_V}.tgz"
CTD_PATH = f"/ctd/{CTD_V}/containerd-2.3.4-windows-amd64.tar.gz"
CRI_PATH = f"/cri/{CRI_V}/crictl-{CRI_V}-windows-amd64.tar.gz"
FL_PATH = f"/flannel/{FL_V}/flanneld.exe"
FLANNELD = exe("flanneld")


def publish_kit(srv: Any) -> None:
    """Every input as upstream publishes it: checksum files in each project's own format."""
    cni, ctd, cri = cni_release_tgz(CNI_V), containerd_tgz(), crictl_tgz()
    srv.route(SDN_PATH, make_sdn_archive(COMMIT))
    srv.route(CNI_PATH, cni)
    srv.route(CNI_PATH + ".sha256", f"{sha256(cni)}  cni-plugins-windows-amd64-{CNI_V}.tgz\n".encode())
    srv.route(CTD_PATH, ctd)
    srv.route(CTD_PATH + ".sha256sum", f"{sha256(ctd)}  containerd-2.3.4-windows-amd64.tar.gz\n".encode())
    srv.route(CRI_PATH, cri)
    srv.route(CRI_PATH + ".sha256", sha256(cri).encode())  # cri-tools: the bare hex
    srv.route(FL_PATH, FLANNELD)


def kit_doc(base: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "kubernetes": {"source": "release", "version": "v1.30.0"},
        "sdn": sdn_config(COMMIT, base + SDN_PATH),
        "cni": {"source": "release", "version": CNI_V,
                "url": base + "/cni/{version}/cni-plugins-windows-amd64-{version}.tgz"},
        "containerd": {"version": CTD_V, "url": base + "/ctd/{version}/containerd-{bare_version}-windows-amd64.tar.gz"},
        "crictl": {"version": CRI_V, "url": base + "/cri/{version}/crictl-{version}-windows-amd64.tar.gz"},
        "flannel": {"version": FL_V, "url": base + "/flannel/{version}/flanneld.exe", "sha256": sha256(FLANNELD)},
        "node": {"bundle_runtime": True},
    }
    for key, value in extra.items():
        doc[key] = {**doc.get(key, {}), **value}
    return doc


def load(tmp_path: Path, doc: dict[str, Any], text: str | None = None, **overrides: Any) -> config.Config:
    path = tmp_path / "bundle.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(doc), encoding="utf-8")
    return config.load(config.Overrides(config=path, cache_dir=tmp_path / "cache", **overrides), {}, tmp_path)


def cache_files(cfg: config.Config) -> list[str]:
    root = cfg.options.cache_dir / "inputs"
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --------------------------------------------------------------------------- the happy path


def test_every_input_fetched_verified_then_offline_from_the_cache(tmp_path, net, caplog):
    with serve() as srv:
        publish_kit(srv)
        cfg = load(tmp_path, kit_doc(srv.base))
        with caplog.at_level(logging.WARNING):
            got = kit.fetch_all(cfg, "v1.30.0", net=net)
        hits = len(srv.requests)
    by_name = {f.spec.name: f for f in got.kit}
    assert sorted(by_name) == ["cni-plugins", "containerd", "crictl"]  # no flannel: host-gw mode
    assert sorted(by_name["containerd"].files) == ["containerd/containerd-shim-runhcs-v1.exe",
                                                   "containerd/containerd.exe", "containerd/ctr.exe"]
    assert sorted(by_name["cni-plugins"].files) == ["cni/host-local.exe", "cni/win-bridge.exe", "cni/win-overlay.exe"]
    assert by_name["crictl"].files["crictl.exe"][0].read_bytes() == exe("crictl")
    assert by_name["containerd"].published[0][0].endswith(".tar.gz.sha256sum")
    # Unpinned but verified by the published checksum: a warning asking for a pin, not a pass in silence.
    assert "has no pin" in caplog.text and "--update-pins" in caplog.text
    # Second run: the server is gone; --offline reads the cache, re-verified.
    again = kit.fetch_all(load(tmp_path, kit_doc(srv.base), offline=True), "v1.30.0", net=net)
    assert [f.files for f in again.kit] == [f.files for f in got.kit]
    assert hits == 1 + 2 * 3  # the SDN archive, each input and its checksum file, once


def test_offline_with_an_empty_cache_names_every_missing_input(tmp_path, net):
    cfg = load(tmp_path, kit_doc("http://127.0.0.1:9"), offline=True)
    with pytest.raises(FetchError) as err:
        kit.fetch_all(cfg, "v1.30.0", net=net)
    text = str(err.value)
    for name in ("sdn", "cni-plugins", "containerd", "crictl"):
        assert name in text
    assert not (tmp_path / "cache" / "inputs").exists()


def test_the_cache_is_keyed_by_origin_and_re_verified_on_read(tmp_path, net):
    with serve() as srv:
        publish_kit(srv)
        srv.route("/mirror" + CRI_PATH, crictl_tgz())
        srv.route("/mirror" + CRI_PATH + ".sha256", sha256(crictl_tgz()).encode())
        cfg = load(tmp_path, kit_doc(srv.base))
        first = kit.fetch_all(cfg, "v1.30.0", net=net)
        cached = {f.spec.name: f for f in first.kit}["crictl"].files["crictl.exe"][0]
        cached.write_bytes(b"tampered")  # a damaged cache entry is never used
        kit.fetch_all(cfg, "v1.30.0", net=net)
        assert srv.hits(CRI_PATH) == 2
        assert cached.read_bytes() == exe("crictl")
        other = srv.base + "/mirror/cri/{version}/crictl-{version}-windows-amd64.tar.gz"
        mirror = kit_doc(srv.base, crictl={"url": other})
        kit.fetch_all(load(tmp_path, mirror), "v1.30.0", net=net)
        assert srv.hits("/mirror" + CRI_PATH) == 1  # same version, other origin: its own entry
    assert len([p for p in cache_files(cfg) if p.startswith("crictl/") and p.endswith("input.json")]) == 2


# --------------------------------------------------------------------------- bad input


def test_a_pin_mismatch_names_input_member_digests_and_url(tmp_path, net):
    wrong = "ab" * 32
    with serve() as srv:
        publish_kit(srv)
        cfg = load(tmp_path, kit_doc(srv.base, containerd={"sha256": wrong}))
        with pytest.raises(FetchError) as err:
            kit.fetch_all(cfg, "v1.30.0", net=net)
    text = str(err.value)
    assert "containerd" in text and wrong in text and sha256(containerd_tgz()) in text and srv.url(CTD_PATH) in text
    assert not [p for p in cache_files(cfg) if p.startswith("containerd/") and not p.startswith("containerd/.")]


def test_a_member_pin_mismatch_names_the_member(tmp_path, net):
    data = targz({"a.exe": exe("a")})
    spec = InputSpec(name="x", key="x", kind="tar.gz", url="", version="v1", takes=(Take("a.exe", "a.exe", "cd" * 32),))
    with serve({"/x.tgz": data}) as srv:
        spec = dataclasses.replace(spec, url=srv.url("/x.tgz"))
        pattern = rf"x v1: a.exe has .*{sha256(exe('a'))}.*{'cd' * 32}.*{srv.url('/x.tgz')}"
        with pytest.raises(FetchError, match=pattern):
            inputs.fetch_inputs([spec], tmp_path / "cache", offline=False, net=net)


@pytest.mark.parametrize("body", [None, b"not a checksum\n", b"12345  file\n"])
def test_a_missing_or_garbled_checksum_file_is_an_error(tmp_path, net, body):
    with serve() as srv:
        publish_kit(srv)
        if body is None:
            srv.route(CTD_PATH + ".sha256sum", lambda req: __import__("httpserver").Reply(404, b"no"))
        else:
            srv.route(CTD_PATH + ".sha256sum", body)
        cfg = load(tmp_path, kit_doc(srv.base))
        with pytest.raises(FetchError, match="no published checksum" if body is None else "not a sha256 checksum file"):
            kit.fetch_all(cfg, "v1.30.0", net=net)


def test_a_checksum_that_disagrees_is_an_error(tmp_path, net):
    with serve() as srv:
        publish_kit(srv)
        srv.route(CRI_PATH + ".sha256", ("ef" * 32).encode())
        with pytest.raises(FetchError, match=r"crictl.*says efef"):
            kit.fetch_all(load(tmp_path, kit_doc(srv.base)), "v1.30.0", net=net)


def test_missing_members_are_all_listed(tmp_path, net):
    with serve() as srv:
        publish_kit(srv)
        bad = targz({"bin/containerd.exe": exe("c")})
        srv.route(CTD_PATH, bad)
        srv.route(CTD_PATH + ".sha256sum", sha256(bad).encode())
        with pytest.raises(FetchError, match=r"lacks 2 member\(s\): bin/containerd-shim-runhcs-v1.exe, bin/ctr.exe"):
            kit.fetch_all(load(tmp_path, kit_doc(srv.base)), "v1.30.0", net=net)


def test_an_empty_pin_without_a_checksum_file_is_an_error(tmp_path, net):
    with serve() as srv:
        publish_kit(srv)
        cfg = load(tmp_path, kit_doc(srv.base, network={"mode": "flannel-vxlan"}, flannel={"sha256": ""}))
        with pytest.raises(FetchError, match=r"flannel.sha256 is empty: flanneld v0.28.9(.|\n)*--update-pins"):
            kit.fetch_all(cfg, "v1.30.0", net=net)
        assert srv.hits(FL_PATH) == 0  # refused before any download
        # Pinned, it is fetched in a flannel mode (and only there).
        ok = kit.fetch_all(load(tmp_path, kit_doc(srv.base, network={"mode": "flannel-vxlan"})), "v1.30.0", net=net)
    assert "flanneld" in [f.spec.name for f in ok.kit]


# --------------------------------------------------------------------------- hostile archives


def _tar_with(info: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        ok = tarfile.TarInfo("bin/ctr.exe")
        ok.size = 3
        tar.addfile(ok, io.BytesIO(b"abc"))
        info.size = len(data) if info.isreg() else 0
        tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def _entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


HOSTILE = {
    "absolute": (_entry("/etc/passwd"), "is an absolute path"),
    "dotdot": (_entry("bin/../../evil.exe"), "'..' path component"),
    "symlink": (_entry("bin/containerd.exe", tarfile.SYMTYPE, "/etc/passwd"), "is a symlink"),
    "hardlink": (_entry("bin/containerd.exe", tarfile.LNKTYPE, "bin/ctr.exe"), "is a hardlink"),
    "chardev": (_entry("bin/null", tarfile.CHRTYPE), "is a character device"),
    "blockdev": (_entry("bin/sda", tarfile.BLKTYPE), "is a block device"),
    "fifo": (_entry("bin/pipe", tarfile.FIFOTYPE), "is a FIFO"),
    "backslash": (_entry("bin\\evil.exe"), "backslash"),
    "twice": (_entry("BIN/CTR.EXE"), "appears twice"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_tar_members_are_refused_and_nothing_is_cached(tmp_path, net, case):
    info, reason = HOSTILE[case]
    bad = _tar_with(info, b"x" * 5)
    with serve() as srv:
        publish_kit(srv)
        srv.route(CTD_PATH, bad)
        srv.route(CTD_PATH + ".sha256sum", sha256(bad).encode())
        cfg = load(tmp_path, kit_doc(srv.base))
        with pytest.raises(FetchError, match=reason.replace("(", r"\(").replace(".", r"\.")):
            kit.fetch_all(cfg, "v1.30.0", net=net)
    assert not [p for p in cache_files(cfg) if p.startswith("containerd/")]


def test_oversized_members_and_tar_bombs_are_refused(tmp_path):
    big = targz({"big.exe": b"\0" * (3 << 20)})
    path = tmp_path / "big.tgz"
    path.write_bytes(big)
    with pytest.raises(FetchError, match="over the limit"):
        SafeTar(path, source="big", limits=Limits(max_member=1 << 20))
    with pytest.raises(FetchError, match="tar bomb"):
        SafeTar(path, source="big", limits=Limits(max_ratio=100.0, ratio_floor=1 << 20))
    noise = random.Random(1).randbytes(2 << 20)  # does not compress: within every default limit
    path.write_bytes(targz({"big.exe": noise}))
    assert SafeTar(path, source="big").files == {"big.exe": noise}


# --------------------------------------------------------------------------- digests and pins


def test_dirhash_is_gos_h1_as_sha256sum_computes_it(tmp_path):
    assert inputs.dirhash(inputs.tree_digests(CNI_TREE)) == dirhash_by_sha256sum(CNI_TREE)


def test_update_pins_fills_every_input_and_keeps_comments(tmp_path, net, monkeypatch):
    with serve() as srv:
        publish_kit(srv)
        srv.route(f"/src/{CNI_V}.tar.gz", __import__("kit_fixture").source_targz(CNI_V))
        doc = kit_doc(srv.base, network={"mode": "flannel-vxlan"})
        doc["flannel"]["sha256"] = ""
        text = yaml.safe_dump(doc).replace("cni:\n", "cni:  # the CNI plugins\n", 1)
        text = text.replace("flannel:\n", "# flanneld for the flannel modes\nflannel:\n", 1)
        text += "# trailing comment\n"
        cfg = load(tmp_path, doc, text)
        monkeypatch.setattr(kit.sdn, "update_pins", lambda cfg, net=None, reporter=None: 0)  # covered by test_fetch
        out = io.StringIO()
        assert kit.update_pins(cfg, "v1.30.0", net=net, reporter=Reporter(out=out)) == 0
        written = (tmp_path / "bundle.yaml").read_text()
        assert "# the CNI plugins" in written and "# flanneld for the flannel modes" in written
        assert "# trailing comment" in written
        pins = yaml.safe_load(written)
        assert pins["flannel"]["sha256"] == sha256(FLANNELD)
        assert pins["containerd"]["sha256"] == sha256(containerd_tgz())
        assert pins["crictl"]["sha256"] == sha256(crictl_tgz())
        assert pins["cni"]["sha256"] == sha256(cni_release_tgz(CNI_V))
        assert "flannel.sha256" in out.getvalue()
        # A source archive is pinned by its content digest (h1), which a build then requires.
        src = kit_doc(srv.base, cni={"source": "build", "url": srv.base + "/src/{version}.tar.gz"},
                      network={"mode": "flannel-vxlan"})
        del src["cni"]["version"]
        cfg = load(tmp_path, src)
        assert kit.update_pins(cfg, "v1.30.0", net=net, reporter=Reporter(out=out)) == 0
        assert yaml.safe_load((tmp_path / "bundle.yaml").read_text())["cni"]["h1"] == dirhash_by_sha256sum(CNI_TREE)


def test_a_corrupt_download_is_refused_as_no_archive(tmp_path):
    path = tmp_path / "x.tgz"
    path.write_bytes(targz({"a.exe": b"a" * 1000})[:40] + b"\x00garbage" * 50)
    with pytest.raises(FetchError, match="not a readable tar archive"):
        SafeTar(path, source="x")


def test_cli_fetch_offline_names_every_missing_input_then_fetches_them_all(tmp_path, caplog, capsys):
    from builder import cli

    caplog.set_level(logging.INFO)
    with serve() as srv:
        publish_kit(srv)
        doc = kit_doc(srv.base, network={"mode": "flannel-vxlan"})
        path = tmp_path / "bundle.yaml"
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        common = ["--config", str(path), "--cache-dir", str(tmp_path / "cache")]
        assert cli.main(["fetch", "--offline", *common]) == 5
        for name in ("sdn:", "cni-plugins v1.9.1", "flanneld v0.28.9", "containerd v2.3.4", "crictl v1.36.0"):
            assert name in caplog.text, name
        assert srv.requests == []
        assert cli.main(["fetch", *common]) == 0
        assert cli.main(["fetch", "--offline", *common]) == 0
    assert f"{sha256(FLANNELD)}  flanneld v0.28.9" in capsys.readouterr().out  # fetch's result


# --------------------------------------------------------------------------- configuration


def test_kit_config_problems_are_all_reported_with_their_keys(tmp_path):
    text = (
        "kubernetes:\n  source: release\n  version: v1.23.4\n"
        "cni:\n  sha256: nothex\n  h1: h1:short\n  url: https://x/{tag}.tgz\n"
        "flannel:\n  source: build\n"
        "containerd:\n  version: latest\n"
        "node:\n  bundle_runtime: true\n"
    )
    with pytest.raises(ConfigError) as err:
        load(tmp_path, {}, text)
    msg = str(err.value)
    for expected in ("bundle.yaml:5: cni.sha256: 'nothex' must be 64 lower-case hex digits",
                     "cni.h1: 'h1:short' must be a Go dirhash",
                     "cni.url: 'https://x/{tag}.tgz' may use only {version} and {bare_version}",
                     "flannel.source: unknown key; valid keys of flannel: version, url, sha256",
                     "containerd.version: 'latest' must be a release tag like v2.3.4",
                     "node.bundle_runtime: bundles containerd, but v1.23.4 runs docker by default"):
        assert expected in msg, expected


def test_flannel_modes_name_the_network_as_flanneld_does(tmp_path):
    vxlan = load(tmp_path, {"kubernetes": {"source": "release", "version": "v1.36.0"},
                            "network": {"mode": "flannel-vxlan", "vxlan_vni": 4097}})
    assert vxlan.network.network_name == "flannel.4097"
    assert kit.wanted_sections(vxlan, "v1.36.0") == ["cni", "flannel"]
    hostgw = load(tmp_path, {"kubernetes": {"source": "release", "version": "v1.36.0"},
                             "network": {"mode": "flannel-host-gw"}})
    assert hostgw.network.network_name == "cbr0"
    docker_era = load(tmp_path, {"kubernetes": {"source": "release", "versions": ["v1.23.4", "v1.36.0"]}})
    assert kit.wanted_sections(docker_era, "v1.23.4") == []  # wincni.exe from SDN serves docker's l2bridge
    assert kit.wanted_sections(docker_era, None) == ["cni"]  # a fetch of both versions takes the union


def test_case_twins_are_refused_in_taken_members_but_allowed_in_a_source_tree(tmp_path):
    path = tmp_path / "twins.tgz"
    path.write_bytes(targz({"top/vendor/Foo/a.go": b"a", "top/vendor/foo/a.go": b"b"}))
    with pytest.raises(FetchError, match="appears twice"):
        SafeTar(path, source="twins")
    assert len(SafeTar(path, source="twins", fold_case=False).files) == 2
    dup = tmp_path / "dup.tgz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for data in (b"good", b"evil"):  # the same name twice: the later one would win on extraction
            info = tarfile.TarInfo("top/a.go")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    dup.write_bytes(buf.getvalue())
    with pytest.raises(FetchError, match="appears twice"):
        SafeTar(dup, source="dup", fold_case=False)


def test_kit_urls_follow_the_source_url_rules(tmp_path):
    text = ("kubernetes:\n  source: release\n  version: v1.36.0\n"
            "containerd:\n  url: http://mirror.example/{version}/c.tar.gz\n"
            "crictl:\n  url: https://user:secret@mirror.example/{version}/crictl.tar.gz\n")
    with pytest.raises(ConfigError) as err:
        load(tmp_path, {}, text)
    msg = str(err.value)
    assert "containerd.url: http://mirror.example/{version}/c.tar.gz is plain http" in msg
    assert "crictl.url:" in msg and "carries credentials" in msg and "secret" not in msg
    signed = load(tmp_path, {}, "kubernetes:\n  source: release\n  version: v1.36.0\n"
                  "crictl:\n  url: https://mirror.example/{version}/crictl.tar.gz?sig=TOKEN\n")
    assert "TOKEN" not in str(signed.to_dict())


def test_a_kit_url_template_problem_does_not_echo_its_query_string(tmp_path):
    text = ("kubernetes:\n  source: release\n  version: v1.36.0\n"
            "cni:\n  url: https://mirror.example/{tag}.tgz?sig=s3cr3t-token\n")
    with pytest.raises(ConfigError) as err:
        load(tmp_path, {}, text)
    msg = str(err.value)
    assert "cni.url: 'https://mirror.example/{tag}.tgz?...' may use only {version}" in msg
    assert "s3cr3t" not in msg
