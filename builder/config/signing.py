"""The `signing:` section: where the key is, never the key or its password.

Validation is in two steps. `section_signing` checks the keys' shapes (every command). When a
bundle is going to be made, `resolve_identity` opens the certificate (a PKCS#12 file needs its
password, read from the environment variable the section names) so that a wrong password or a
missing file fails before the long build, and so that the signer's thumbprint is known to the
render stage, which bakes it into install.ps1.

No message here prints a password, a PIN or key material: only key names, file names and the
name of the environment variable.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..http import redact_url, url_problem
from .model import SigningSection
from .validate import Problems, Section, _url_problem, check, env_names

KNOWN = ("enabled", "pkcs12", "certificate", "key", "pkcs11_uri", "pkcs11_module", "password_env",
         "timestamp_url", "signing_time", "tool_env")
_SECRET_KEY_RE = re.compile(r"pass|pin|secret|private|credential", re.IGNORECASE)
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_SECRET_URI_RE = re.compile(r"[;?&]pin-value=", re.IGNORECASE)
_PEM_RE = re.compile(r"-----BEGIN ")


def section_signing(probs: Problems, raw: Any, base: Path) -> SigningSection:
    data = dict(raw) if isinstance(raw, dict) else raw
    if isinstance(data, dict):
        for key in [k for k in data if _SECRET_KEY_RE.search(str(k)) and k != "password_env"]:
            probs.add(f"signing.{key}", "secrets are never part of the configuration: put the password or PIN in "
                      "an environment variable and name that variable in signing.password_env; remove this key")
            del data[key]
    s = Section(probs, "signing", data, KNOWN)
    for key, value in s.data.items():
        if isinstance(value, str) and _PEM_RE.search(value):
            probs.add(f"signing.{key}", "holds PEM data; give the path of a file instead (key material is never "
                      "part of the configuration)")
            s.data[key] = None
    d = SigningSection()

    def path(key: str) -> Path | None:
        value = s.text(key, None, "a file path")
        return None if value is None else (base / value)

    env_name = s.data.get("password_env")
    if env_name is not None and not (isinstance(env_name, str) and _ENV_NAME_RE.match(env_name)):
        # The value is not echoed: a password pasted here by mistake must not reach the log.
        probs.add("signing.password_env", "must be the NAME of an environment variable (like SIGNING_PASSWORD), "
                  "not the password itself")
        env_name = None
    uri = s.text("pkcs11_uri", None, "a pkcs11: URI")
    if uri is not None and _SECRET_URI_RE.search(uri):
        probs.add("signing.pkcs11_uri", "holds pin-value; remove it and put the PIN in the environment variable "
                  "named by signing.password_env")
        uri = None
    check(probs, "signing.pkcs11_uri", uri, lambda v: None if v.startswith("pkcs11:") else "must start with pkcs11:")
    url = s.text("timestamp_url", None, "an http(s) URL")
    # Plain http is usual for a timestamp authority (its answer is signed); credentials are refused as in
    # any URL here, since osslsigncode's command line, and so the log, carries it.
    check(probs, "signing.timestamp_url", url,
          lambda v: (url_problem(v, allow_insecure_http=True) if re.match(r"^https?://", v) and not _url_problem(v)
                     else f"{redact_url(v)!r} must be an http(s) URL"))
    when = s.get("signing_time", int, None, "a Unix time (seconds)")
    check(probs, "signing.signing_time", when, lambda v: None if v >= 0 else "must be >= 0")
    section = SigningSection(
        enabled=s.get("enabled", bool, d.enabled, "true or false"), pkcs12=path("pkcs12"),
        certificate=path("certificate"), key=path("key"), pkcs11_uri=uri, pkcs11_module=path("pkcs11_module"),
        password_env=env_name, timestamp_url=url, signing_time=when, tool_env=env_names(probs, s, "tool_env"))
    if section.password_env and section.password_env in section.tool_env:
        probs.add("signing.tool_env", f"names {section.password_env}, the password's variable: the password "
                  "reaches osslsigncode on its standard input, never through its environment")
    if section.enabled:
        _check_kind(probs, section)
    return section


def _check_kind(probs: Problems, s: SigningSection) -> None:
    kinds = [k for k, on in (("pkcs12", s.pkcs12), ("key", s.key), ("pkcs11_uri", s.pkcs11_uri)) if on]
    if len(kinds) != 1:
        probs.add("signing", "give exactly one of pkcs12 (with password_env), certificate + key, or "
                  f"certificate + pkcs11_uri; got {', '.join(kinds) or 'none'}")
        return
    if s.pkcs12 is not None:
        if s.certificate is not None:
            probs.add("signing.certificate", "a PKCS#12 file holds the certificate; remove certificate")
        if s.password_env is None:
            probs.add("signing.password_env", "a PKCS#12 file needs a password: name its environment variable")
    elif s.certificate is None:
        probs.add("signing.certificate", "give the signer's PEM certificate (and its chain) for key or pkcs11_uri")


def kind(s: SigningSection) -> str:
    return "pkcs12" if s.pkcs12 is not None else "pkcs11" if s.pkcs11_uri else "pem"


def password(s: SigningSection, env: Mapping[str, str]) -> str | None:
    """The password or PIN from the environment; None when the section names no variable."""
    if s.password_env is None:
        return None
    value = env.get(s.password_env)
    if value is None:
        msg = (f"signing.password_env: the environment variable {s.password_env} is not set; "
               "export it with the signing password (never put it in bundle.yaml)")
        raise ConfigError(msg)
    return value


def resolve_identity(s: SigningSection, env: Mapping[str, str]) -> SigningSection:
    """The section with the signer's thumbprint and subject, read from its certificate.

    Opens the key as well when it can (PKCS#12, PEM), so a wrong password fails now."""
    if not s.enabled:
        return s
    for key, p in (("pkcs12", s.pkcs12), ("certificate", s.certificate), ("key", s.key),
                   ("pkcs11_module", s.pkcs11_module)):
        if p is not None and not p.is_file():
            msg = f"signing.{key}: {p.name} does not exist or is not a file ({p.parent})"
            raise ConfigError(msg)
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12
    except ImportError as err:
        msg = "signing needs the cryptography package: pip install 'k8s-windows-bundle[sign]'"
        raise ConfigError(msg) from err
    secret = password(s, env)
    pw = secret.encode() if secret else None
    if s.pkcs12 is not None:
        try:
            _, cert, _ = pkcs12.load_key_and_certificates(s.pkcs12.read_bytes(), pw)
        except ValueError:
            cert = None
        if cert is None:
            msg = (f"signing.pkcs12: cannot open {s.pkcs12.name} with the password in ${s.password_env}: "
                   "wrong password, or not a PKCS#12 file with a certificate")
            raise ConfigError(msg) from None
    else:
        assert s.certificate is not None
        cert = _pem_signer(s, x509, serialization, pw)
    der = cert.public_bytes(serialization.Encoding.DER)
    thumbprint = hashlib.sha1(der).hexdigest().upper()  # noqa: S324 (Windows' Thumbprint is SHA-1 by definition)
    return dataclasses.replace(s, thumbprint=thumbprint, subject=cert.subject.rfc4514_string())


def _pem_signer(s: SigningSection, x509: Any, serialization: Any, pw: bytes | None) -> Any:
    """The certificate of the PEM file that matches the key (the first one for a PKCS#11 key)."""
    assert s.certificate is not None
    try:
        certs = x509.load_pem_x509_certificates(s.certificate.read_bytes())
    except ValueError:
        certs = []
    if not certs:
        msg = f"signing.certificate: {s.certificate.name} holds no PEM certificate"
        raise ConfigError(msg)
    if s.key is None:
        return certs[0]
    try:
        key = serialization.load_pem_private_key(s.key.read_bytes(), pw)
    except (ValueError, TypeError):
        msg = (f"signing.key: cannot open {s.key.name}: not a PEM private key, or its password "
               f"(${s.password_env or 'not set: name it in signing.password_env'}) is wrong")
        raise ConfigError(msg) from None
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    for cert in certs:
        if cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo) == public:
            return cert
    msg = f"signing.certificate: no certificate in {s.certificate.name} belongs to the key in {s.key.name}"
    raise ConfigError(msg)
