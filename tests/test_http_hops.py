"""Redirects followed one hop at a time, credentials only for the first origin, and a deadline per download.

The servers are real, on loopback: an https one (a throwaway certificate the session trusts) plays
the mirror, plain http ones play where it points, and each records the Authorization header it got.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import random
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from httpserver import Fail, LoopbackServer, Reply, serve

from builder import http
from builder.errors import FetchError

DATA = random.Random(3).randbytes(50_000)
CANARY = "canary-hop-4d1e"
FAST = (1.0, 0.5)


def _certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextlib.contextmanager
def serve_tls(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LoopbackServer, Path]]:
    """A LoopbackServer speaking https with a fresh self-signed certificate for 127.0.0.1 (trusted through
    the session's `verify`, which requests lets a CA bundle named in the environment override)."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    cert, key = _certificate(folder)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = LoopbackServer()
    srv._httpd.socket = ctx.wrap_socket(srv._httpd.socket, server_side=True)
    srv.base = srv.base.replace("http://", "https://")
    srv.start()
    try:
        yield srv, cert
    finally:
        srv.stop()


@pytest.fixture
def netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A netrc with credentials for every loopback name the tests use (requests reads the file NETRC names)."""
    path = tmp_path / "netrc"
    path.write_text("".join(f"machine {host} login mirror password {CANARY}\n" for host in ("127.0.0.1", "localhost")))
    path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(path))
    return path


def _get(url: str, dest: Path, session: requests.Session, **kw: object) -> str:
    policy = http.RetryPolicy(attempts=2, sleep=lambda s: None)
    return http.download(url, dest, session=session, policy=policy, timeout=FAST, **kw)  # type: ignore[arg-type]


def _auth(srv: LoopbackServer) -> list[str | None]:
    return [r.headers.get("Authorization") for r in srv.requests]


def test_netrc_credentials_go_to_the_first_origin_only_never_to_a_host_a_redirect_names(
        tmp_path: Path, netrc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with (serve_tls(tmp_path, monkeypatch) as (mirror, cert), serve({"/file": DATA}) as other,
          requests.Session() as session):
        session.verify = str(cert)
        # The https mirror sends the client to plain http on this machine (another origin), which
        # sends it back to the mirror: only the mirror's own https hops may carry the netrc password.
        other.route("/hop", lambda req: Reply(302, b"", {"Location": mirror.url("/file")}))
        mirror.route("/file", DATA)
        mirror.route("/start", lambda req: Reply(302, b"", {"Location": other.base.replace("127.0.0.1", "localhost")
                                                            + "/hop"}))
        assert _get(mirror.url("/start"), tmp_path / "out" / "f", session) == http.hashlib.sha256(DATA).hexdigest()
    assert [r.path for r in mirror.requests] == ["/start", "/file"]
    assert all(a is not None and a.startswith("Basic ") for a in _auth(mirror))
    assert _auth(other) == [None]  # main sent localhost's netrc entry here, in cleartext


@pytest.mark.parametrize(("first", "url", "sent"), [
    ("https://mirror.example/a", "https://mirror.example/b", True),
    ("https://mirror.example/a", "https://MIRROR.example:443/b", True),  # the same origin, spelled otherwise
    ("https://mirror.example/a", "https://mirror.example:8443/b", False),  # another port is another origin
    ("https://mirror.example/a", "https://cdn.example/a", False),
    ("http://mirror.example/a", "http://mirror.example/a", False),  # plain http: never, not even to itself
    ("http://127.0.0.1:8080/a", "http://127.0.0.1:8080/b", True),  # stays on this machine
    ("http://127.0.0.1:8080/a", "http://localhost:8080/b", False),
])
def test_credentials_go_over_https_to_the_first_origin_only(first: str, url: str, sent: bool, netrc: Path) -> None:
    with requests.Session() as session:
        prepared = requests.Request("GET", url, headers={"Authorization": "Bearer configured"}).prepare()
        out = http._HopAuth(first, url, session)(prepared)
    assert ("Authorization" in out.headers) == sent


def test_a_hop_is_checked_before_it_is_requested(tmp_path: Path) -> None:
    with serve({"/file": DATA}) as target, serve() as first, requests.Session() as session:
        # Credentials in a redirect's URL would be sent with that very request: refused before it.
        first.route("/start", lambda req: Reply(302, b"", {"Location": target.base.replace(
            "http://", f"http://thief:{CANARY}@") + "/file"}))
        with pytest.raises(FetchError, match="credentials in it") as err:
            _get(first.url("/start"), tmp_path / "out" / "f", session)
    assert err.value.exit_code == 5
    assert target.requests == []
    assert CANARY not in str(err.value)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(("first", "target", "refused"), [
    ("https://mirror.example/a", "http://cdn.example/a", True),  # the TLS downgrade
    ("https://mirror.example/a", "http://127.0.0.1:8080/a", False),  # stays on this machine
    ("https://mirror.example/a", "https://cdn.example/a", False),
    ("http://127.0.0.1:8080/a", "http://cdn.example/a", True),  # a local mirror never sends you out in clear
    ("http://mirror.example/a", "http://cdn.example/a", False),  # plain http was accepted with --allow-insecure-http
    ("https://mirror.example/a", "ftp://mirror.example/a", True),
    ("https://mirror.example/a", "https://u:p@cdn.example/a", True),
])
def test_which_redirects_are_followed(first: str, target: str, refused: bool) -> None:
    assert (http.redirect_problem(first, target) is not None) == refused


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "2130706433", "0x7f.1", "0x7f000001", "0177.0.0.1",
                                  "127.255.255.254", "localhost", "LOCALHOST", "localhost.", "::1",
                                  "[::1]", "::ffff:127.0.0.1", "[::ffff:127.0.0.1]", "0:0:0:0:0:0:0:1"])
def test_every_spelling_of_loopback_is_loopback(host: str) -> None:
    assert http.is_loopback_host(host)


@pytest.mark.parametrize("host", ["127.0.0.1.example.com", "localhost.example.com", "0x80.1", "2130706433x",
                                  "127.0.0.1 evil", "::ffff:10.0.0.1", "10.0.0.1", "example.com", ""])
def test_what_only_looks_like_loopback_is_another_machine(host: str) -> None:
    assert not http.is_loopback_host(host)


def test_a_numeric_spelling_of_loopback_is_a_local_mirror(tmp_path: Path) -> None:
    with serve({"/file": DATA}) as srv, requests.Session() as session:
        url = srv.url("/file").replace("127.0.0.1", "2130706433")
        assert http.url_problem(url) is None  # the same rule as http://127.0.0.1: no --allow-insecure-http
        _get(url, tmp_path / "f", session)
    assert (tmp_path / "f").read_bytes() == DATA


def test_a_server_trickling_a_byte_at_a_time_meets_the_deadline(tmp_path: Path) -> None:
    deadline = http.download_deadline({http.DOWNLOAD_DEADLINE_ENV: "1s"})  # as cli reads it, into Net.deadline
    cache = tmp_path / "cache"
    with serve({"/slow": DATA[:400]}) as srv, requests.Session() as session:
        srv.fail("/slow", Fail.trickle(0.02))  # each byte well inside the read timeout: only a deadline ends it
        start = time.monotonic()
        with pytest.raises(FetchError, match=f"not complete after 1 s.*{http.DOWNLOAD_DEADLINE_ENV}") as err:
            _get(srv.url("/slow"), cache / "slow", session, deadline=deadline)
        elapsed = time.monotonic() - start
    assert err.value.exit_code == 5
    assert elapsed < 1 + FAST[1] + 1.0  # the deadline, at most one read timeout after it, and slack
    assert list(cache.iterdir()) == []  # nothing cached, no partial file


@pytest.mark.parametrize(("raw", "seconds"), [("", 3600.0), ("90", 90.0), ("90s", 90.0), ("30min", 1800.0),
                                              ("2h", 7200.0), ("0.5s", 0.5)])
def test_the_deadline_is_read_from_the_environment(raw: str, seconds: float) -> None:
    assert http.download_deadline({http.DOWNLOAD_DEADLINE_ENV: raw}) == seconds


@pytest.mark.parametrize("raw", ["0", "soon", "-5", "1d"])
def test_a_deadline_that_is_not_a_duration_is_refused(raw: str) -> None:
    with pytest.raises(FetchError, match="not a duration"):
        http.download_deadline({http.DOWNLOAD_DEADLINE_ENV: raw})


def test_the_help_names_the_download_variables() -> None:
    from builder import cli

    assert http.DOWNLOAD_DEADLINE_ENV in cli.ENVIRONMENT and http.MAX_DOWNLOAD_ENV in cli.ENVIRONMENT
