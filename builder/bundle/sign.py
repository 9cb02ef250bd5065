"""Authenticode: sign every script and executable of the bundle with osslsigncode before packing,
and check those signatures again in `verify`.

Measured with osslsigncode 2.9 (README "Signing"): with the same key and certificate, the same
`-time` and no timestamp, signing gives the same bytes every time (RSA PKCS#1 v1.5 is
deterministic, and `-time` fixes the only changing attribute), so a signed bundle is still
reproducible. An RFC 3161 timestamp never is (the authority adds its own time and nonce), so the
manifest also records each file's content before signing, which `verify` checks under the
signature (`osslsigncode remove-signature` gives the unsigned bytes back exactly).

The password or PIN reaches osslsigncode on stdin (`-readpass -`), never on its command line,
which is logged; no message here names it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..config import Config, SigningSection
from ..config.signing import kind, password, resolve_identity
from ..errors import PackError
from ..fsutil import cache_workdir
from ..hashing import sha256_file
from ..http import redact_url
from ..run import SIGN_VARS, call, child_env, format_cmd
from .pack import Member, Signed

log = logging.getLogger(__name__)

SIGNABLE = (".ps1", ".psm1", ".exe")
MIN_VERSION = (2, 5)  # the first osslsigncode that signs PowerShell scripts
INSTALL = "sudo apt-get install osslsigncode (2.5 or later; Debian bookworm-backports and trixie have 2.9)"
DESCRIPTION = "Kubernetes Windows node bundle"
_VERSION_RE = re.compile(r"osslsigncode\s+(\d+)\.(\d+)")


def is_signable(path: str) -> bool:
    return path.lower().endswith(SIGNABLE)


def find_tool(env: Mapping[str, str], error: type[Exception] = PackError) -> tuple[str, str]:
    """osslsigncode's path (on env's PATH) and version; fail with the install command when it is
    missing or too old. `env` is what the child gets: the run's environment without its secrets."""
    tool = shutil.which("osslsigncode", path=env.get("PATH", os.defpath))
    if tool is None:
        msg = f"signing needs osslsigncode, which is not installed: {INSTALL}"
        raise error(msg)
    out = call([tool, "--version"], env=env, what="osslsigncode --version", keep=SIGN_VARS)
    m = _VERSION_RE.search(out)
    if m is None or (int(m.group(1)), int(m.group(2))) < MIN_VERSION:
        found = m.group(0) if m else out.splitlines()[0] if out else "an unknown version"
        msg = f"{found} cannot sign PowerShell scripts; {INSTALL}"
        raise error(msg)
    return tool, f"osslsigncode {m.group(1)}.{m.group(2)}"


class Signer:
    """Signs members with one key. Holds the password in memory only; its repr never shows it."""

    def __init__(self, section: SigningSection, secret: str | None, tool: str, version: str, cache: Path,
                 child_env: Mapping[str, str]) -> None:
        self.section = section
        self._secret = secret
        self.tool = tool
        self.version = version
        self.cache = cache
        self._child_env = child_env

    def __repr__(self) -> str:
        return f"Signer(thumbprint={self.section.thumbprint!r})"

    def key_args(self) -> list[str]:
        s = self.section
        if kind(s) == "pkcs12":
            args = ["-pkcs12", str(s.pkcs12)]
        else:
            args = ["-certs", str(s.certificate), "-key", str(s.key) if s.key is not None else str(s.pkcs11_uri)]
            if s.pkcs11_module is not None:
                args = ["-pkcs11module", str(s.pkcs11_module), *args]
        return [*args, "-readpass", "-"] if self._secret is not None else args

    def _chain_digest(self) -> str:
        """Names the certificates a signature embeds (the same signer may come with another chain)."""
        chain = self.section.pkcs12 or self.section.certificate
        return sha256_file(chain) if chain is not None else self.section.thumbprint

    def sign(self, members: Sequence[Member], epoch: int) -> Signed:
        """Every .ps1/.psm1/.exe signed; the rest as it was."""
        when = self.section.signing_time if self.section.signing_time is not None else epoch
        out: list[Member] = []
        unsigned: dict[str, str] = {}
        for m in members:
            if not is_signable(m.path):
                out.append(m)
                continue
            signed = self._sign_one(m, when)
            unsigned[m.path] = m.sha256
            out.append(dataclasses.replace(m, source=signed, sha256=sha256_file(signed), size=signed.stat().st_size))
        log.info("signed %d files as %s", len(unsigned), self.section.subject)
        info = {"thumbprint": self.section.thumbprint, "subject": self.section.subject,
                "timestamped": self.section.timestamp_url is not None, "signingTime": when, "digest": "sha256",
                "tool": self.version}
        return Signed(out, unsigned, info)

    def _sign_one(self, m: Member, when: int) -> Path:
        """The signed copy in the cache. Deterministic signing (no timestamp) reuses an earlier copy."""
        s = self.section
        key = hashlib.sha256(json.dumps([m.sha256, self._chain_digest(), when, s.timestamp_url, DESCRIPTION,
                                         self.version]).encode()).hexdigest()
        folder = self.cache / "signed" / key
        dest = folder / m.path.rsplit("/", 1)[-1]
        if dest.is_file() and s.timestamp_url is None:
            return dest
        with cache_workdir(folder) as tmp:
            src = m.source if isinstance(m.source, Path) else tmp / dest.name
            if isinstance(m.source, bytes):
                src.write_bytes(m.source)
            out = tmp / ("signed-" + dest.name)
            args = [self.tool, "sign", *self.key_args(), "-h", "sha256", "-n", DESCRIPTION, "-time", str(when)]
            if s.timestamp_url:
                args += ["-ts", s.timestamp_url]
            call([*args, "-in", str(src), "-out", str(out)], env=self._child_env, error=PackError,
                 what=f"signing {m.path}", stdin=self._secret, keep=(*SIGN_VARS, *s.tool_env),
                 redact={s.timestamp_url: redact_url(s.timestamp_url)} if s.timestamp_url else None)
            os.replace(out, dest)
        return dest


def prepare(cfg: Config, env: Mapping[str, str], child_env: Mapping[str, str]) -> Signer | None:
    """The signer for this run, or None when signing is off. Checks the tool and the key first, so a
    missing osslsigncode or a wrong password fails before the build.

    The password comes from `env` (the run's environment); osslsigncode gets `child_env`, which
    lacks it (and every other secret)."""
    s = cfg.signing
    if not s.enabled:
        return None
    tool, version = find_tool(child_env)
    secret = password(s, env)
    if not s.thumbprint:
        s = resolve_identity(s, env)
    return Signer(s, secret, tool, version, cfg.options.cache_dir, child_env)


# --------------------------------------------------------------------------- verify


def check_file(path: Path, name: str, thumbprint: str, unsigned_sha256: str | None, trust_ca: Path | None,
               tool: str, env: Mapping[str, str]) -> list[str]:
    """The problems of one member extracted to `path`: signed, intact, by the recorded signer, and the
    content under the signature is what the manifest says was signed."""
    with tempfile.TemporaryDirectory(prefix="k8swb-sig.") as tmp:
        work = Path(tmp)
        sig = work / "sig.pem"
        if _run(tool, env, ["extract-signature", "-pem", "-in", str(path), "-out", str(sig)])[0] != 0:
            return [f"{name}: is not signed, but the bundle says every script and executable is"]
        ca = trust_ca
        if ca is None:
            ca = work / "roots.pem"
            roots = _embedded_roots(sig.read_bytes())
            if not roots:
                return [f"{name}: its signature carries no root certificate; pass --trust-ca FILE"]
            ca.write_bytes(roots)
        code, out = _run(tool, env, ["verify", "-CAfile", str(ca), "-ignore-timestamp", "-ignore-cdp",
                                "-require-leaf-hash", f"sha1:{thumbprint}", "-in", str(path)])
        problems = []
        if code != 0 or "Signature verification: ok" not in out:
            problems.append(f"{name}: {_why(out, thumbprint, trust_ca)}")
        if unsigned_sha256:
            plain = work / "unsigned"
            if _run(tool, env, ["remove-signature", "-in", str(path), "-out", str(plain)])[0] != 0:
                problems.append(f"{name}: osslsigncode cannot remove its signature to check the content under it")
            elif (found := sha256_file(plain)) != unsigned_sha256 and _without_pe_checksum(plain) != unsigned_sha256:
                problems.append(f"{name}: the content under the signature has sha256 {found}, "
                                f"not the unsignedSha256 of manifest.json ({unsigned_sha256})")
        return problems


def _without_pe_checksum(path: Path) -> str:
    """The sha256 of a PE file with its CheckSum field zeroed. Signing fills the field in and
    `remove-signature` recomputes it for the unsigned bytes, so an upstream file that left it 0
    (Go binaries do) comes back equal in every byte but these four."""
    data = bytearray(path.read_bytes())
    if data[:2] != b"MZ" or len(data) < 0x40:
        return ""
    at = int.from_bytes(data[0x3C:0x40], "little") + 24 + 64  # PE signature + file header, then CheckSum
    if at + 4 > len(data):
        return ""
    data[at : at + 4] = bytes(4)
    return hashlib.sha256(data).hexdigest()


def _run(tool: str, env: Mapping[str, str], args: list[str]) -> tuple[int, str]:
    """Exit code and whole output: here a non-zero exit is an answer (not signed, not valid), not an
    error, and the lines that say why may be anywhere in the output, so `run.call` does not fit; the child
    still gets `run.child_env`, like every other."""
    log.debug("$ %s", format_cmd([tool, *args]))
    proc = subprocess.run([tool, *args], capture_output=True, text=True, errors="replace", check=False,
                          env=child_env(env, SIGN_VARS))
    return proc.returncode, proc.stdout + proc.stderr


def _why(out: str, thumbprint: str, trust_ca: Path | None) -> str:
    if "Leaf hash match: failed" in out:
        subject = re.search(r"Signer #0:\s*\n\s*Subject:\s*(.*)", out)
        who = subject.group(1).strip() if subject else "an unknown signer"
        return f"signed by another certificate ({who}), not the signer {thumbprint} recorded in manifest.json"
    if "MISMATCH" in out:
        return "its signature does not match its content (changed after signing)"
    if trust_ca is not None:
        return f"the signature is not valid or does not chain to {trust_ca.name} (osslsigncode verify failed)"
    return "the signature is not valid (osslsigncode verify failed)"


def _embedded_roots(sig_pem: bytes) -> bytes:
    """The self-signed certificates a signature carries, as PEM: trusting them checks the signature's
    integrity and chain, not who the root is (that is what --trust-ca adds)."""
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    try:
        with warnings.catch_warnings():  # Authenticode's content type makes cryptography fall back to BER
            warnings.simplefilter("ignore")
            certs = pkcs7.load_pem_pkcs7_certificates(sig_pem)
    except ValueError:
        return b""
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs if c.subject == c.issuer)
