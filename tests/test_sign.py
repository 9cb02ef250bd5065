"""Signing: Authenticode with a real osslsigncode and a throwaway PKI, verify's signature checks, the
node's check, the `signing:` section's refusals, secrets kept out of everything, sigstore offline.

The PKI (a root CA, a code-signing certificate under it, and an unrelated self-signed "other"
signer) is made by the tests with `cryptography`. Nothing here touches the network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import GoSeed
from pack_fixtures import Inputs, make_inputs, rewrite_zip
from sign_fixtures import CANARY, Pki

from builder import config, run
from builder.bundle import pack, sign, verify
from builder.bundle.sigstore_verify import check_bundle
from builder.config.signing import resolve_identity
from builder.errors import ConfigError, PackError
from builder.node import render
from builder.options import Context, Run
from builder.psparse import parse_errors

ENV = {"SIGNING_PASSWORD": CANARY}


def child_env() -> dict[str, str]:
    """What a run hands its stages for their children: its environment (`run.call` keeps the allowlist)."""
    return run.without(os.environ, ())
STEM = "kubernetes-windows-node-v1.37.0-1"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SIGNABLE_IN_FIXTURE = {"k/cni/wincni.exe", "k/helper.psm1", "k/hns.psm1", "k/kube-proxy.exe", "k/kubelet.exe",
                       "k/start-kubelet.ps1"}


# --------------------------------------------------------------------------- a throwaway PKI


def signing_section(pki: Pki, **kw: object) -> config.SigningSection:
    base = {"enabled": True, "pkcs12": pki.p12, "password_env": "SIGNING_PASSWORD"}
    return resolve_identity(config.SigningSection(**{**base, **kw}), ENV)  # type: ignore[arg-type]


def signed_inputs(root: Path, exe: Path, pki: Pki, **kw: object) -> Inputs:
    """The pack fixture's inputs with signing on, and `sdn.files` pinning the fixture's SDN files
    (verify checks a signed SDN file's content before signing against its pin)."""
    i = make_inputs(root, exe)
    pins = tuple(config.SdnFile(f.source_path, f.sha256, f.dest) for f in i.sdn.files)
    cfg = dataclasses.replace(i.cfg, signing=signing_section(pki, **kw), sdn=config.SdnSection(files=pins))
    return dataclasses.replace(i, cfg=cfg)


def pack_signed(i: Inputs) -> Path:
    return pack.pack(i.cfg, i.built, i.sdn, i.rendered, signer=sign.prepare(i.cfg, ENV, child_env()))


@pytest.fixture
def signed(tmp_path: Path, windows_exe: Path, pki: Pki) -> Path:
    return pack_signed(signed_inputs(tmp_path, windows_exe, pki))


# --------------------------------------------------------------------------- secrets never leak


CAPTURED: list[str] = []


@pytest.fixture(autouse=True)
def no_leak(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], pki: Pki,
            tmp_path: Path) -> Iterator[None]:
    """After every test: neither the password nor the private key is in any log record (DEBUG too),
    any output, any error text captured, or any file a test left in its folder (dist/, zips, cache)."""
    caplog.set_level(logging.DEBUG)
    CAPTURED.clear()
    yield
    seen = capsys.readouterr()
    texts = [caplog.text, seen.out, seen.err, *CAPTURED]
    for path in (p for p in tmp_path.rglob("*") if p.is_file() and p.name != "bundle.yaml"):  # bundle.yaml: input
        texts.append(path.read_bytes().decode("latin-1"))
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                texts += [zf.read(n).decode("latin-1") for n in zf.namelist()]
    for text in texts:
        assert CANARY not in text
        assert pki.key_secret not in text


# --------------------------------------------------------------------------- signing and verify


def osslsigncode() -> str:
    tool = shutil.which("osslsigncode")
    if tool is None:
        pytest.fail(f"osslsigncode is not installed: {sign.INSTALL}")
    return tool


def members(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_signed_bundle_verifies(signed: Path, pki: Pki, windows_exe: Path, tmp_path: Path) -> None:
    assert verify.check_dist(signed.parent) == []
    assert verify.check_dist(signed.parent, verify.SignatureOptions(trust_ca=pki.root)) == []
    data = members(signed)
    manifest = json.loads(data["k/manifest.json"])
    assert manifest["signing"] == {"thumbprint": pki.thumbprint, "subject": "CN=Test Code Signing",
                                   "timestamped": False, "signingTime": 1_700_000_000, "digest": "sha256",
                                   "tool": manifest["signing"]["tool"]}
    assert manifest["config"]["signing"]["thumbprint"] == pki.thumbprint
    files = {f["path"]: f for f in manifest["files"]}
    assert {p for p, f in files.items() if f.get("signed")} == SIGNABLE_IN_FIXTURE
    # The pin's digest (before signing) and the shipped digest (after) are both recorded.
    assert files["k/cni/wincni.exe"]["unsignedSha256"] == hashlib.sha256(windows_exe.read_bytes()).hexdigest()
    assert files["k/cni/wincni.exe"]["sha256"] == hashlib.sha256(data["k/cni/wincni.exe"]).hexdigest()
    assert files["k/cni/wincni.exe"]["sha256"] != files["k/cni/wincni.exe"]["unsignedSha256"]
    assert "signed" not in files["k/README.txt"]
    assert b"# SIG # Begin signature block" in data["k/hns.psm1"]
    sbom = json.loads((signed.parent / f"{STEM}.spdx.json").read_bytes())
    comments = {f["fileName"]: f["comment"] for f in sbom["files"]}
    assert "Authenticode-signed" in comments["./k/hns.psm1"] and "signed" not in comments["./k/README.txt"]
    # osslsigncode itself accepts every signed member, chained to the test root.
    for name in SIGNABLE_IN_FIXTURE:
        path = tmp_path / "out" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data[name])
        proc = subprocess.run([osslsigncode(), "verify", "-CAfile", str(pki.root), "-in", str(path)],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, (name, proc.stdout[-500:])
        assert "Signature verification: ok" in proc.stdout


def test_signing_is_deterministic(tmp_path: Path, windows_exe: Path, pki: Pki) -> None:
    """Same key, same -time, no timestamp: two builds with separate caches give the same zip."""
    a = pack_signed(signed_inputs(tmp_path / "a", windows_exe, pki))
    b = pack_signed(signed_inputs(tmp_path / "b", windows_exe, pki))
    assert a.read_bytes() == b.read_bytes()
    # And one file signed twice by osslsigncode directly: the same bytes.
    src = tmp_path / "x.ps1"
    src.write_bytes(b"Write-Output 'hi'\r\n")
    outs = []
    for n in (1, 2):
        out = tmp_path / f"x{n}.ps1"
        subprocess.run([osslsigncode(), "sign", "-certs", str(pki.chain), "-key", str(pki.key), "-readpass", "-",
                        "-h", "sha256", "-time", "1700000000", "-in", str(src), "-out", str(out)],
                       input=CANARY, capture_output=True, text=True, check=True)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and outs[0] != src.read_bytes()


def test_another_signing_time_changes_the_bytes(tmp_path: Path, windows_exe: Path, pki: Pki) -> None:
    a = pack_signed(signed_inputs(tmp_path / "a", windows_exe, pki))
    b = pack_signed(signed_inputs(tmp_path / "b", windows_exe, pki, signing_time=1_700_000_001))
    assert members(a)["k/hns.psm1"] != members(b)["k/hns.psm1"]
    assert json.loads(members(b)["k/manifest.json"])["signing"]["signingTime"] == 1_700_000_001


def test_pem_certificate_and_encrypted_key(tmp_path: Path, windows_exe: Path, pki: Pki) -> None:
    i = signed_inputs(tmp_path, windows_exe, pki, pkcs12=None, certificate=pki.chain, key=pki.key)
    assert i.cfg.signing.thumbprint == pki.thumbprint
    zip_path = pack_signed(i)
    assert verify.check_dist(zip_path.parent, verify.SignatureOptions(trust_ca=pki.root)) == []


def replace_member(zip_path: Path, name: str, data: bytes) -> None:
    """Change one member as an attacker would who also fixes manifest.json and SHA256SUMS, so that
    only the signature checks can catch it."""
    manifest = json.loads(members(zip_path)["k/manifest.json"])
    for f in manifest["files"]:
        if f["path"] == name:
            f["sha256"], f["size"] = hashlib.sha256(data).hexdigest(), len(data)
    man_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"

    def change(member: str, old: bytes) -> bytes:
        if member == name:
            return data
        if member == "k/manifest.json":
            return man_bytes
        if member == "k/SHA256SUMS":
            lines = []
            for line in old.decode().splitlines():
                digest, rel = line.split("  ", 1)
                new = {name: data, "k/manifest.json": man_bytes}.get(f"k/{rel}")
                lines.append(f"{hashlib.sha256(new).hexdigest() if new is not None else digest}  {rel}\n")
            return "".join(lines).encode()
        return old

    rewrite_zip(zip_path, change)


def zip_problems(zip_path: Path, **kw: object) -> str:
    return "\n".join(verify.check_zip(zip_path, verify.SignatureOptions(**kw)).problems)  # type: ignore[arg-type]


def test_tampered_signed_script_fails(signed: Path) -> None:
    script = members(signed)["k/start-kubelet.ps1"]
    replace_member(signed, "k/start-kubelet.ps1", script.replace(b"--v=2", b"--v=9"))
    problems = zip_problems(signed)
    assert "k/start-kubelet.ps1: its signature does not match its content" in problems
    assert "unsignedSha256" in problems  # the content under the signature is not what was signed either
    assert "does not match manifest.json (" not in problems  # the attacker fixed the hashes: only signatures tell


def test_tampered_signed_exe_fails(signed: Path) -> None:
    exe = bytearray(members(signed)["k/kubelet.exe"])
    exe[0x400] ^= 1
    replace_member(signed, "k/kubelet.exe", bytes(exe))
    assert "k/kubelet.exe: its signature does not match its content" in zip_problems(signed)


def test_file_signed_by_another_certificate_fails(signed: Path, pki: Pki, tmp_path: Path) -> None:
    src, out = tmp_path / "hns.psm1", tmp_path / "hns-other.psm1"
    src.write_bytes(b"function New-HnsNetwork { }\n")
    subprocess.run([osslsigncode(), "sign", "-certs", str(pki.other_chain), "-key", str(pki.other_key),
                    "-h", "sha256", "-time", "1700000000", "-in", str(src), "-out", str(out)],
                   capture_output=True, check=True)
    replace_member(signed, "k/hns.psm1", out.read_bytes())
    problems = zip_problems(signed)
    assert "k/hns.psm1: signed by another certificate (/CN=Someone Else)" in problems
    assert pki.thumbprint in problems


def test_signed_sdn_file_must_be_the_pinned_one(tmp_path: Path, windows_exe: Path, pki: Pki) -> None:
    i = make_inputs(tmp_path, windows_exe)  # config.sdn.files: the real upstream pins, not these files
    zip_path = pack_signed(dataclasses.replace(i, cfg=dataclasses.replace(i.cfg, signing=signing_section(pki))))
    assert "k/hns.psm1: its content before signing" in zip_problems(zip_path)
    assert "is not the pinned a8a53ed4fac2e27c" in zip_problems(zip_path)


def test_unsigned_file_in_signed_bundle_fails(signed: Path) -> None:
    replace_member(signed, "k/hns.psm1", b"function New-HnsNetwork { }\n")
    assert "k/hns.psm1: is not signed, but the bundle says every script and executable is" in zip_problems(signed)


def test_untrusted_root_fails_with_trust_ca(signed: Path, pki: Pki) -> None:
    problems = zip_problems(signed, trust_ca=pki.other_chain)
    assert f"does not chain to {pki.other_chain.name}" in problems


def test_unsigned_bundle_fails_when_signatures_are_expected(tmp_path: Path, windows_exe: Path,
                                                            pki: Pki) -> None:
    i = make_inputs(tmp_path, windows_exe)
    zip_path = pack.pack(i.cfg, i.built, i.sdn, i.rendered)
    assert verify.check_dist(zip_path.parent) == []
    assert "says the bundle is not signed, but --trust-ca expects signatures" in zip_problems(zip_path,
                                                                                                trust_ca=pki.root)


def test_verify_cli_takes_trust_ca(signed: Path, pki: Pki, capsys: pytest.CaptureFixture[str]) -> None:
    from builder import cli

    assert cli.main(["verify", "--trust-ca", str(pki.root), str(signed)]) == 0
    assert cli.main(["verify", "--trust-ca", str(pki.other_chain), str(signed)]) == 8
    CAPTURED.append(capsys.readouterr().out)


# --------------------------------------------------------------------------- the tool and the key


def test_missing_or_old_osslsigncode_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                pki: Pki) -> None:
    cfg = config.Config(signing=signing_section(pki), options=config.Options(cache_dir=tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(PackError, match="apt-get install osslsigncode"):
        sign.prepare(cfg, ENV, child_env())
    # A stand-in that only reports an old version (the real 2.9 cannot pretend to be 2.4).
    fake = tmp_path / "bin" / "osslsigncode"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'osslsigncode 2.4, using:'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    with pytest.raises(PackError, match=r"osslsigncode 2\.4 cannot sign PowerShell scripts; sudo apt-get install"):
        sign.prepare(cfg, ENV, child_env())


def test_check_command_checks_the_signer_before_fetching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          pki: Pki) -> None:
    """`check` stops where `bundle` would: at the missing osslsigncode, before any input is fetched
    (offline with an empty cache, a fetch would fail with FetchError instead)."""
    from builder import pipeline

    cfg = config.Config(signing=signing_section(pki), options=config.Options(
        cache_dir=tmp_path / "cache", dist=tmp_path / "dist", offline=True))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(PackError, match="apt-get install osslsigncode"):
        pipeline.check(Run(Context(env={**os.environ, **ENV}), cfg))


def test_wrong_password_fails_before_the_build_without_showing_it(pki: Pki) -> None:
    s = config.SigningSection(enabled=True, pkcs12=pki.p12, password_env="SIGNING_PASSWORD")
    with pytest.raises(ConfigError) as err:
        resolve_identity(s, {"SIGNING_PASSWORD": "wrong-" + CANARY[:6]})
    assert "cannot open cs.p12 with the password in $SIGNING_PASSWORD" in str(err.value)
    assert "wrong-" not in str(err.value)
    with pytest.raises(ConfigError, match="environment variable SIGNING_PASSWORD is not set"):
        resolve_identity(s, {})


def test_signer_repr_hides_the_password(tmp_path: Path, pki: Pki) -> None:
    cfg = config.Config(signing=signing_section(pki), options=config.Options(cache_dir=tmp_path))
    signer = sign.prepare(cfg, ENV, child_env())
    assert signer is not None
    CAPTURED.append(repr(signer))
    CAPTURED.append(repr(vars(signer).keys()))
    assert signer.key_args()[-2:] == ["-readpass", "-"]  # on stdin, not on the logged command line
    assert CANARY not in " ".join(signer.key_args())


# --------------------------------------------------------------------------- configuration


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> config.Config:
    path = tmp_path / "bundle.yaml"
    path.write_text("kubernetes:\n  source: release\n  version: v1.31.0\n" + text, encoding="utf-8")
    return config.load(config.Overrides(config=path, cache_dir=tmp_path / "cache"), env or {}, tmp_path)


def test_signing_section_loads_and_resolves(tmp_path: Path, pki: Pki) -> None:
    shutil.copy(pki.p12, tmp_path / "cs.p12")
    cfg = load(tmp_path, "signing:\n  enabled: true\n  pkcs12: cs.p12\n  password_env: SIGNING_PASSWORD\n"
               "  timestamp_url: http://timestamp.example.org\n", ENV)
    assert cfg.signing.thumbprint == pki.thumbprint and cfg.signing.subject == "CN=Test Code Signing"
    assert cfg.signing.timestamp_url == "http://timestamp.example.org"
    # No path of this machine in what the manifest records of the configuration.
    assert "pkcs12" not in json.dumps(cfg.to_dict()["signing"])
    assert "signing" not in load(tmp_path, "").to_dict()  # off: unsigned bundles keep their config digest


@pytest.mark.parametrize(("text", "expected"), [
    ("  password: hunter2-" + CANARY, "signing.password: secrets are never part of the configuration"),
    ("  pin: '1234'", "signing.pin: secrets are never part of the configuration"),
    ("  password_env: 'not a name " + CANARY + "'", "must be the NAME of an environment variable"),
    ("  pkcs11_uri: 'pkcs11:token=a;object=b?pin-value=" + CANARY + "'", "holds pin-value"),
    ("  key: |\n    -----BEGIN PRIVATE KEY-----\n    " + CANARY + "\n", "holds PEM data"),
    ("  certificate: c.pem", "give exactly one of pkcs12"),
    ("  pkcs12: x.p12", "a PKCS#12 file needs a password"),
    ("  timestamp_url: ftp://tsa", "must be an http(s) URL"),
    ("  timestamp_url: 'https://user:" + CANARY + "@tsa.example/'", "carries credentials (user:password@)"),
    ("  timestamp_url: 'ftp://tsa/?key=" + CANARY + "'", "'ftp://tsa/?...' must be an http(s) URL"),
])
def test_signing_section_refusals(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, "signing:\n  enabled: true\n" + text + "\n")
    assert expected in str(err.value)
    assert "bundle.yaml:" in str(err.value)
    assert CANARY not in str(err.value) and "hunter2" not in str(err.value)


# --------------------------------------------------------------------------- the node's check


def test_node_partial_checks_every_file_against_the_recorded_signer(pki: Pki) -> None:
    cfg = config.Config(signing=signing_section(pki))
    text = render.render_template("_signature_check.ps1.j2", render.signcheck.signature_context(cfg))
    assert f"$expected = '{pki.thumbprint}'" in text
    assert "Get-AuthenticodeSignature -LiteralPath" in text and "$signature.Status -ne 'Valid'" in text
    assert "Test-BundleSignature -Root $PSScriptRoot" in text
    assert parse_errors(text) == []
    off = render.render_template("_signature_check.ps1.j2", render.signcheck.signature_context(config.Config()))
    assert off.strip() == ""


def test_render_context_carries_the_signer(pki: Pki) -> None:
    from builder.kversion import KubeVersion

    cfg = config.Config(signing=signing_section(pki))
    ctx = render.context(config.check_for_version(cfg, KubeVersion.parse("v1.31.0")))
    assert ctx["signing_enabled"] is True and ctx["signing_thumbprint"] == pki.thumbprint


# --------------------------------------------------------------------------- sigstore (offline)


@pytest.fixture
def sigstore_copy(tmp_path: Path) -> Path:
    """sigstore-python's own staging test bundle (Apache-2.0, see tests/fixtures/sigstore/NOTICE.md)."""
    for name in ("bundle_v3.txt", "bundle_v3.txt.sigstore.json"):
        shutil.copy(FIXTURES / "sigstore" / name, tmp_path / name)
    return tmp_path / "bundle_v3.txt"


def staging_root() -> Path:
    import sigstore

    root = Path(sigstore.__file__).parent / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstage.dev" / "trusted_root.json"
    assert root.is_file(), "the sigstore wheel no longer ships the staging trusted root"
    return root


IDENTITY, ISSUER = "william@yossarian.net", "https://github.com/login/oauth"


def test_sigstore_bundle_verifies_offline(sigstore_copy: Path) -> None:
    assert check_bundle(sigstore_copy, IDENTITY, ISSUER, staging_root()) == []


def test_sigstore_refusals(sigstore_copy: Path) -> None:
    assert "does not verify" in " ".join(check_bundle(sigstore_copy, "x@example.org", ISSUER, staging_root()))
    # The production root (the default) did not sign this staging bundle.
    assert "does not verify" in " ".join(check_bundle(sigstore_copy, IDENTITY, ISSUER, None))
    assert "give both" in " ".join(check_bundle(sigstore_copy, IDENTITY, None, None))
    sigstore_copy.write_bytes(sigstore_copy.read_bytes() + b"x")
    assert "does not verify" in " ".join(check_bundle(sigstore_copy, IDENTITY, ISSUER, staging_root()))
    sigstore_copy.with_name("bundle_v3.txt.sigstore.json").unlink()
    assert "bundle_v3.txt.sigstore.json is missing" in " ".join(
        check_bundle(sigstore_copy, IDENTITY, ISSUER, staging_root()))


def test_verify_asks_for_sigstore_only_when_told(signed: Path) -> None:
    opts = verify.SignatureOptions(sigstore_identity="https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1",
                                   sigstore_issuer="https://token.actions.githubusercontent.com")
    assert f"{signed.name}.sigstore.json is missing" in "\n".join(verify.check_dist(signed.parent, opts))
    assert verify.check_dist(signed.parent) == []


def test_publish_sigstore_refuses_outside_github_actions(signed: Path) -> None:
    """Keyless signing needs Fulcio, Rekor and an OIDC token: not testable offline, so only its refusal is."""
    from builder.errors import PublishError
    from builder.publish import sigstore_sign

    with pytest.raises(PublishError, match="id-token: write"):
        sigstore_sign.sign_zips([signed], {})
    assert not sigstore_sign.bundle_path(signed).exists()
    sigstore_sign.bundle_path(signed).write_text("{}")  # a rerun keeps the signature it already has
    assert sigstore_sign.sign_zips([signed], {}) == []


def test_unreachable_timestamp_authority_fails_and_leaves_nothing(tmp_path: Path, windows_exe: Path,
                                                                  pki: Pki) -> None:
    """A timestamp is asked for every signature; one that cannot be had stops the run before the zip."""
    i = signed_inputs(tmp_path, windows_exe, pki, timestamp_url="http://127.0.0.1:9/")
    with pytest.raises(PackError, match=r"signing k/cni/wincni\.exe failed") as err:
        pack_signed(i)
    CAPTURED.append(str(err.value))
    assert "-ts http://127.0.0.1:9/" in str(err.value)
    assert not any(i.dist.iterdir()) if i.dist.exists() else True
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]  # nothing half-written in the cache


SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")  # where Debian's softhsm2 package puts it
PKCS11_INSTALL = "sudo apt-get install softhsm2 libengine-pkcs11-openssl"


def test_pkcs11_key_in_a_token(tmp_path: Path, windows_exe: Path, pki: Pki,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The code-signing key imported into a SoftHSM token, its PIN in the environment: the same
    signatures as the PEM key (measured byte-identical), and a bundle that verifies."""
    from cryptography.hazmat.primitives import serialization

    util = shutil.which("softhsm2-util")
    if util is None or not SOFTHSM_MODULE.is_file():
        pytest.fail(f"the PKCS#11 test needs SoftHSM and the OpenSSL pkcs11 engine: {PKCS11_INSTALL}")
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    key = serialization.load_pem_private_key(pki.key.read_bytes(), CANARY.encode())
    plain = tmp_path / "tokens" / "import.key"
    plain.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
    for args in (["--init-token", "--free", "--label", "sign", "--pin", CANARY, "--so-pin", "5678"],
                 ["--import", str(plain), "--token", "sign", "--label", "codesign", "--id", "01", "--pin", CANARY]):
        subprocess.run([util, *args], capture_output=True, check=True)
    plain.unlink()
    i = signed_inputs(tmp_path / "p11", windows_exe, pki, pkcs12=None, certificate=pki.chain,
                      pkcs11_uri="pkcs11:token=sign;object=codesign;type=private", pkcs11_module=SOFTHSM_MODULE)
    assert i.cfg.signing.thumbprint == pki.thumbprint
    zip_path = pack_signed(i)
    assert verify.check_dist(zip_path.parent, verify.SignatureOptions(trust_ca=pki.root)) == []
    pem = pack_signed(signed_inputs(tmp_path / "pem", windows_exe, pki, pkcs12=None, certificate=pki.chain,
                                    key=pki.key))
    assert members(zip_path)["k/kubelet.exe"] == members(pem)["k/kubelet.exe"]


# --------------------------------------------------------------------------- the whole command


@pytest.mark.go
def test_bundle_command_signs_and_leaks_nothing(tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
                                                 windows_exe: Path, go_seed: GoSeed) -> None:
    """`bundle` with a signing section: a real tree compiled, the SDN archive over loopback HTTP, every
    script and executable signed, `verify --trust-ca` passes; a wrong password stops the run at once,
    writes nothing, and is not shown (the autouse canary check covers output, logs and dist/)."""
    from httpserver import serve
    from kit_fixture import source_targz
    from kube_tree import make_tree
    from sdn_fixture import DEFAULT_FILES, make_sdn_archive, sdn_config
    from test_bundle import CNI_SRC, COMMIT, run_bundle, write_config

    from builder import cli

    tree = make_tree(tmp_path / "kubernetes")
    shutil.copy(pki.p12, tmp_path / "codesign.p12")
    signing = {"enabled": True, "pkcs12": "codesign.p12", "password_env": "SIGNING_PASSWORD"}
    monkeypatch.setenv("SIGNING_PASSWORD", "not-" + CANARY)
    # A real PE for wincni.exe: the fixture's header-only stub has no certificate table to sign into.
    files = {**DEFAULT_FILES, "Kubernetes/windows/cni/wincni.exe": windows_exe.read_bytes()}
    # v1.37 runs containerd: the CNI plugins come from their source archive (test_bundle's config).
    routes = {f"/microsoft/SDN/archive/{COMMIT}.zip": make_sdn_archive(COMMIT, files), CNI_SRC: source_targz("v1.9.1")}
    with serve(routes) as srv:
        url = srv.url(f"/microsoft/SDN/archive/{COMMIT}.zip")
        write_config(tmp_path, url, {"signing": signing, "sdn": sdn_config(COMMIT, url, files)})
        assert run_bundle(tmp_path, tree) == 2
        assert not (tmp_path / "dist").exists() and not (tmp_path / "cache").exists()
        go_seed.into(tmp_path / "cache")
        monkeypatch.setenv("SIGNING_PASSWORD", CANARY)
        assert run_bundle(tmp_path, tree, "-v") == 0
    out = capsys.readouterr()
    CAPTURED.extend([out.out, out.err])
    assert "cannot open codesign.p12 with the password in $SIGNING_PASSWORD" in caplog.text
    assert "not-" + CANARY[:8] not in caplog.text
    (zip_path,) = (tmp_path / "dist").glob("*.zip")
    manifest = json.loads(members(zip_path)["k/manifest.json"])
    signed_files = {f["path"] for f in manifest["files"] if f.get("signed")}
    assert {"k/kubelet.exe", "k/kubectl.exe", "k/hns.psm1", "k/cni/wincni.exe", "k/install.ps1",
            "k/cni/win-bridge.exe"} <= signed_files
    assert manifest["signing"]["thumbprint"] == pki.thumbprint
    assert cli.main(["verify", "--trust-ca", str(pki.root), str(zip_path)]) == 0


def test_signed_bundles_install_checks_signatures_before_anything_is_copied(pki: Pki) -> None:
    """The partial is wired into install.ps1: after the hash check, before -CheckOnly ends and before any copy."""
    cfg = config.Config(signing=signing_section(pki))
    files = {f.dest: f.data.decode("ascii") for f in render.render_bundle(cfg, "v1.31.0")}
    script = files["install.ps1"]
    check = script.index("Test-BundleSignature -Root $PSScriptRoot")
    assert check < script.index("if ($CheckOnly) {") < script.index("Copy-Item")
    assert parse_errors(script) == []
    unsigned = {f.dest: f.data.decode("ascii") for f in render.render_bundle(config.Config(), "v1.31.0")}
    assert "Test-BundleSignature" not in unsigned["install.ps1"]
