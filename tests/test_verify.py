"""verify: a clean bundle passes; every kind of tampering with the zip or the files beside it is reported."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from pack_fixtures import flip, make_inputs, rewrite_zip

from builder.artifacts import RenderedFile
from builder.bundle import pack, verify
from builder.errors import VerifyError

STEM = "kubernetes-windows-node-v1.37.0-1"


@pytest.fixture
def bundle(tmp_path: Path, windows_exe: Path) -> Path:
    i = make_inputs(tmp_path, windows_exe)
    return pack.pack(i.cfg, i.built, i.sdn, i.rendered)


def problems_of(zip_path: Path) -> str:
    return "\n".join(verify.check_dist(zip_path.parent))


def test_clean_bundle_passes(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify.check_dist(bundle.parent) == []
    verify.verify_dist(bundle.parent)
    verify.verify_zips([bundle])
    assert capsys.readouterr().out == f"{bundle.parent}: OK\n{bundle.name}: OK\n"


def test_upstream_sdn_module_is_not_grammar_checked_but_generated_scripts_are(bundle: Path) -> None:
    from pack_fixtures import HELPER_PSM1

    from builder.psparse import parse_errors

    # The fixture's SDN module really does trip the grammar; verify must still pass it.
    assert parse_errors(HELPER_PSM1)
    assert verify.check_dist(bundle.parent) == []


def test_exe_byte_flipped_with_valid_crc(bundle: Path) -> None:
    rewrite_zip(bundle, lambda n, d: flip(d, 5000) if n == "k/kubelet.exe" else d)
    text = problems_of(bundle)
    assert "k/kubelet.exe: sha256" in text
    assert "does not match k/manifest.json" in text
    assert "does not match k/SHA256SUMS" in text
    assert f"{STEM}.zip.sha256" in text
    assert "SHA256SUMS" in text


def test_raw_byte_flipped_in_the_compressed_exe(bundle: Path) -> None:
    data = bytearray(bundle.read_bytes())
    import zipfile

    with zipfile.ZipFile(bundle) as zf:
        info = zf.getinfo("k/kubelet.exe")
    start = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    data[start] ^= 0xFF
    bundle.write_bytes(bytes(data))
    text = problems_of(bundle)
    assert "k/kubelet.exe: cannot be read back" in text


def test_exe_that_is_not_pe32_plus(tmp_path: Path, windows_exe: Path) -> None:
    i = make_inputs(tmp_path, windows_exe, kubelet=b"MZ" + b"\0" * 200)
    path = pack.pack(i.cfg, i.built, i.sdn, i.rendered)
    problems = verify.check_dist(path.parent)
    assert len(problems) == 1
    assert "k/kubelet.exe: not a PE32+ x86-64 executable" in problems[0]


def test_script_byte_flipped(bundle: Path) -> None:
    rewrite_zip(bundle, lambda n, d: flip(d, 3) if n == "k/start-kubelet.ps1" else d)
    text = problems_of(bundle)
    assert "k/start-kubelet.ps1: sha256" in text


def test_generated_script_that_does_not_parse(tmp_path: Path, windows_exe: Path) -> None:
    i = make_inputs(tmp_path, windows_exe)
    bad = i.with_rendered([*i.rendered, RenderedFile("broken.ps1", b"function f { if ($x) {\n")])
    path = pack.pack(bad.cfg, bad.built, bad.sdn, bad.rendered)
    problems = verify.check_dist(path.parent)
    assert problems
    assert all("k/broken.ps1: does not parse" in p for p in problems)


def test_generated_json_that_does_not_load(tmp_path: Path, windows_exe: Path) -> None:
    i = make_inputs(tmp_path, windows_exe)
    bad = i.with_rendered([RenderedFile("cni/config/l2bridge.conf", b"{not json")])
    path = pack.pack(bad.cfg, bad.built, bad.sdn, bad.rendered)
    assert ["not valid JSON" in p for p in verify.check_dist(path.parent)] == [True]


def test_manifest_byte_flipped(bundle: Path) -> None:
    def change(name: str, data: bytes) -> bytes:
        return data.replace(b'"revision": 1', b'"revision": 2') if name == "k/manifest.json" else data

    rewrite_zip(bundle, change)
    text = problems_of(bundle)
    assert "manifest.json: sha256" in text
    assert "does not match k/SHA256SUMS" in text
    assert "the file name does not match its manifest" in text


def test_manifest_broken_json(bundle: Path) -> None:
    rewrite_zip(bundle, lambda n, d: d[:-20] if n == "k/manifest.json" else d)
    assert "k/manifest.json is not valid JSON" in problems_of(bundle)


def test_member_added(bundle: Path) -> None:
    rewrite_zip(bundle, lambda n, d: d, add={"k/evil.ps1": b"Invoke-Evil\n"})
    text = problems_of(bundle)
    assert "k/evil.ps1 is not listed in k/manifest.json" in text
    assert "evil.ps1 is not listed in k/SHA256SUMS" in text


def test_member_removed(bundle: Path) -> None:
    rewrite_zip(bundle, lambda n, d: None if n == "k/hns.psm1" else d)
    text = problems_of(bundle)
    assert "k/manifest.json lists k/hns.psm1, which is missing" in text
    assert "k/SHA256SUMS lists hns.psm1, which is missing" in text


@pytest.mark.parametrize("name", ["evil.ps1", "k/../evil.ps1", "k/a\\b.ps1", "k/Kubelet.exe"])
def test_unsafe_member_added(bundle: Path, name: str) -> None:
    rewrite_zip(bundle, lambda n, d: d, add={name: b"x"})
    text = problems_of(bundle)
    assert "unsafe or misplaced member" in text or "same file on Windows" in text


def test_manifest_and_sums_removed(bundle: Path) -> None:
    rewrite_zip(bundle, lambda n, d: None if n in ("k/manifest.json", "k/SHA256SUMS") else d)
    text = problems_of(bundle)
    assert "k/manifest.json is missing" in text
    assert "k/SHA256SUMS is missing" in text


def test_zip_sidecar_tampered(bundle: Path) -> None:
    side = bundle.with_name(bundle.name + ".sha256")
    side.write_text("0" * 64 + f"  {bundle.name}\n")
    text = problems_of(bundle)
    assert f"does not match {bundle.name}.sha256" in text
    assert f"{bundle.name}.sha256: sha256" in text  # and dist/SHA256SUMS no longer matches it


def test_zip_sidecar_missing(bundle: Path) -> None:
    bundle.with_name(bundle.name + ".sha256").unlink()
    text = problems_of(bundle)
    assert f"{bundle.name}.sha256 is missing" in text
    assert "SHA256SUMS lists" in text


def test_dist_sums_tampered(bundle: Path) -> None:
    sums = bundle.parent / "SHA256SUMS"
    lines = sums.read_text().splitlines()
    lines[0] = "f" * 64 + lines[0][64:]
    sums.write_text("\n".join([*lines[1:], lines[0], "garbage line"]) + "\n")
    text = problems_of(bundle)
    assert "does not match SHA256SUMS" in text
    assert "not a '<sha256>  <name>' line" in text


def test_dist_sums_missing_a_new_file(bundle: Path) -> None:
    (bundle.parent / "notes.txt").write_text("added later\n")
    assert "notes.txt is not listed in SHA256SUMS" in problems_of(bundle)


def test_dist_sums_missing(bundle: Path) -> None:
    (bundle.parent / "SHA256SUMS").unlink()
    assert verify.check_dist(bundle.parent) == ["SHA256SUMS is missing"]


def _edit_json(path: Path, edit: object) -> None:
    data = json.loads(path.read_text())
    edit(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))


def test_sbom_tampered(bundle: Path) -> None:
    sbom = bundle.with_name(f"{STEM}.spdx.json")

    def edit(d: dict) -> None:  # type: ignore[type-arg]
        d["files"][0]["checksums"][1]["checksumValue"] = "0" * 64
        d["packages"][0]["checksums"][0]["checksumValue"] = "1" * 64

    _edit_json(sbom, edit)
    text = problems_of(bundle)
    assert f"does not match {STEM}.spdx.json" in text
    assert f"{STEM}.spdx.json: the bundle's SHA256" in text
    assert f"{STEM}.spdx.json: sha256" in text  # dist/SHA256SUMS


def test_sbom_broken(bundle: Path) -> None:
    bundle.with_name(f"{STEM}.spdx.json").write_text("{")
    assert f"{STEM}.spdx.json is not readable JSON" in problems_of(bundle)


def test_provenance_tampered(bundle: Path) -> None:
    prov = bundle.with_name(f"{STEM}.intoto.json")

    def edit(d: dict) -> None:  # type: ignore[type-arg]
        d["subject"][0]["digest"]["sha256"] = "0" * 64
        d["predicate"]["buildDefinition"]["externalParameters"]["configDigest"] = "sha256:" + "0" * 64
        d["predicate"]["buildDefinition"]["resolvedDependencies"][1]["digest"]["gitCommit"] = "e" * 40

    _edit_json(prov, edit)
    text = problems_of(bundle)
    assert f"{STEM}.intoto.json: subject" in text
    assert f"{STEM}.intoto.json: configDigest does not match" in text
    assert f"{STEM}.intoto.json: the SDN commit does not match" in text


def test_provenance_missing(bundle: Path) -> None:
    bundle.with_name(f"{STEM}.intoto.json").unlink()
    assert f"{STEM}.intoto.json is missing" in problems_of(bundle)


def test_verify_prints_every_problem_and_fails(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rewrite_zip(bundle, lambda n, d: None if n == "k/hns.psm1" else d, add={"k/evil.ps1": b"x"})
    with pytest.raises(VerifyError, match="problem\\(s\\) found") as err:
        verify.verify_dist(bundle.parent)
    out = capsys.readouterr().out
    assert err.value.exit_code == 8
    assert out.count("PROBLEM:") == len(verify.check_dist(bundle.parent)) >= 4
    assert f"{out.count('PROBLEM:')} problem(s)" in str(err.value)
    assert "hns.psm1" in out
    assert "evil.ps1" in out


def test_verify_zips_on_a_lone_download_skips_absent_sidecars(bundle: Path, tmp_path: Path) -> None:
    lone = tmp_path / "download" / bundle.name
    lone.parent.mkdir()
    lone.write_bytes(bundle.read_bytes())
    verify.verify_zips([lone])
    lone.write_bytes(lone.read_bytes()[:-100])
    with pytest.raises(VerifyError):
        verify.verify_zips([lone])


def test_empty_or_missing_dist(tmp_path: Path) -> None:
    assert "does not exist" in verify.check_dist(tmp_path / "nope")[0]
    assert "holds no bundle" in verify.check_dist(tmp_path)[0]


def test_renamed_zip_is_reported(bundle: Path) -> None:
    renamed = bundle.with_name("kubernetes-windows-node-v1.37.1-1.zip")
    bundle.rename(renamed)
    assert "the file name does not match its manifest" in "\n".join(verify.check_zip(renamed).problems)


def test_sidecars_without_their_bundle(bundle: Path) -> None:
    bundle.rename(bundle.with_name("moved-away.bin"))
    text = problems_of(bundle)
    assert "holds no bundle" in text
    other = bundle.parent / "other"
    other.mkdir()
    for name in ("x.zip", f"{STEM}.spdx.json"):
        (other / name).write_bytes(b"")
    assert f"{STEM}.spdx.json describes {STEM}.zip, which is not in" in "\n".join(verify.check_dist(other))


def test_oversized_json_member_is_refused_not_loaded(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify, "MAX_PARSED", 10)
    assert "too large for a script or JSON file" in problems_of(bundle)


def test_cli_verify_fails_on_a_tampered_bundle(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from builder import cli

    assert cli.main(["verify", str(bundle)]) == 0
    rewrite_zip(bundle, lambda n, d: flip(d, 100) if n == "k/kube-proxy.exe" else d)
    assert cli.main(["verify", str(bundle)]) == 8
    assert "k/kube-proxy.exe: sha256" in capsys.readouterr().out


def _kit_bundle(tmp_path: Path, exe: Path, plugins: tuple[str, ...], *, kubectl: bool = True) -> Path:
    """A containerd-era (v1.36) bundle rendered for real, with the CNI plugins given as a kit input."""
    import dataclasses

    from builder.artifacts import FetchedFile, FetchedInput
    from builder.config import Config, KubernetesSection, NetworkSection, Options
    from builder.node import render

    i = make_inputs(tmp_path, exe, git_version="v1.36.0")
    kubectl_exe = dataclasses.replace(i.built.binaries[0], name="kubectl")
    built = dataclasses.replace(i.built, binaries=(*i.built.binaries, *([kubectl_exe] if kubectl else [])))
    cfg = Config(kubernetes=KubernetesSection(components=("kubelet", "kube-proxy", "kubectl")),
                 network=NetworkSection(mode="host-gw", network_name="l2bridge", control_plane_ip="10.0.0.4"),
                 options=Options(dist=tmp_path / "dist", cache_dir=tmp_path / "cache"))
    files = tuple(FetchedFile(f"{p}.exe", f"cni/{p}.exe", exe, i.built.binaries[0].sha256) for p in plugins)
    cni = FetchedInput(name="cni-plugins", version="v1.9.1", url="https://example.invalid/cni.tgz?...",
                       kind="tar.gz", archive_sha256="d" * 64, files=files, licence="Apache-2.0")
    return pack.pack(cfg, built, i.sdn, render.render_bundle(cfg, "v1.36.0"), inputs=[cni])


def test_a_containerd_bundle_holds_every_plugin_its_cni_config_names(tmp_path: Path, windows_exe: Path) -> None:
    good = _kit_bundle(tmp_path / "good", windows_exe, ("win-bridge", "win-overlay", "host-local"))
    assert verify.check_dist(good.parent) == []
    with zipfile.ZipFile(good) as zf:
        conf = json.loads(zf.read("k/cni/cni-config.template.json"))
        manifest = json.loads(zf.read("k/manifest.json"))
    assert verify.cni_plugin_types(conf) == ["win-bridge", "host-local"]
    sdn, cni = manifest["inputs"]
    assert sdn["name"] == "sdn" and sdn["licence"] == "MIT"
    assert cni["url"] == "https://example.invalid/cni.tgz?..." and cni["version"] == "v1.9.1"
    assert [f["dest"] for f in cni["files"]] == ["cni/win-bridge.exe", "cni/win-overlay.exe", "cni/host-local.exe"]
    assert {e["path"]: e["origin"] for e in manifest["files"]}["k/cni/host-local.exe"] == "input:cni-plugins"
    sbom = json.loads(good.with_suffix(".spdx.json").read_text())
    pkg = next(p for p in sbom["packages"] if p["name"] == "cni-plugins")
    assert pkg["licenseDeclared"] == "Apache-2.0" and pkg["downloadLocation"] == cni["url"]

    bad = _kit_bundle(tmp_path / "bad", windows_exe, ("win-bridge", "win-overlay"))
    text = "\n".join(verify.check_dist(bad.parent))
    assert "names the CNI plugin 'host-local', but k/cni/host-local.exe is not in the bundle" in text



def test_a_script_starting_an_exe_the_bundle_lacks_fails(tmp_path: Path, windows_exe: Path) -> None:
    bad = _kit_bundle(tmp_path, windows_exe, ("win-bridge", "win-overlay", "host-local"), kubectl=False)
    assert "starts kubectl.exe, but k/kubectl.exe is not in the bundle" in problems_of(bad)
