"""A throwaway PKI for the signing tests: a root CA, a code-signing certificate under it (PKCS#12
and PEM, encrypted with CANARY) and an unrelated self-signed one, made once per session."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
from pathlib import Path

import pytest

CANARY = "p12-CANARY-passw0rd-Zq81xWv"


@dataclasses.dataclass(frozen=True)
class Pki:
    root: Path  # ca.pem
    p12: Path  # code-signing key + certificate + root, encrypted with CANARY
    chain: Path  # cs.pem then ca.pem
    key: Path  # cs.key, encrypted with CANARY
    key_secret: str  # a slice of the private key's PEM body: must appear nowhere
    thumbprint: str
    other_chain: Path  # an unrelated self-signed code-signing certificate
    other_key: Path


def _name(cn: str) -> object:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: object, issuer: str, issuer_key: object, *, ca: bool) -> object:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.datetime.now(datetime.UTC)
    b = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))  # type: ignore[arg-type]
         .public_key(key.public_key()).serial_number(x509.random_serial_number())  # type: ignore[attr-defined]
         .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12

    d = tmp_path_factory.mktemp("pki")
    ca_key = rsa.generate_private_key(65537, 2048)
    ca = _cert("Test Root CA", ca_key, "Test Root CA", ca_key, ca=True)
    cs_key = rsa.generate_private_key(65537, 2048)
    cs = _cert("Test Code Signing", cs_key, "Test Root CA", ca_key, ca=False)
    other_key = rsa.generate_private_key(65537, 2048)
    other = _cert("Someone Else", other_key, "Someone Else", other_key, ca=False)
    pem = serialization.Encoding.PEM
    (d / "ca.pem").write_bytes(ca.public_bytes(pem))  # type: ignore[attr-defined]
    (d / "chain.pem").write_bytes(cs.public_bytes(pem) + ca.public_bytes(pem))  # type: ignore[attr-defined]
    enc = serialization.BestAvailableEncryption(CANARY.encode())
    (d / "cs.key").write_bytes(cs_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, enc))
    (d / "cs.p12").write_bytes(pkcs12.serialize_key_and_certificates(
        b"signer", cs_key, cs, [ca], enc))  # type: ignore[arg-type]
    (d / "other.pem").write_bytes(other.public_bytes(pem))  # type: ignore[attr-defined]
    (d / "other.key").write_bytes(other_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    plain = cs_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    der = cs.public_bytes(serialization.Encoding.DER)  # type: ignore[attr-defined]
    return Pki(d / "ca.pem", d / "cs.p12", d / "chain.pem", d / "cs.key", plain.splitlines()[5],
               hashlib.sha1(der).hexdigest().upper(), d / "other.pem", d / "other.key")
