"""builder.http.download against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import logging
import random
import socket
import threading
from pathlib import Path

import pytest
import requests
from httpserver import Fail, Reply, serve

from builder import cli, http
from builder.errors import FetchError
from builder.report import Reporter

DATA = random.Random(7).randbytes(300_000)
SHA = hashlib.sha256(DATA).hexdigest()
FAST = (1.0, 0.2)  # connect, read: a stalled server is noticed quickly


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def policy(sleeps: Sleeps) -> http.RetryPolicy:
    return http.RetryPolicy(attempts=4, backoff=1.0, sleep=sleeps, rng=random.Random(1), clock=lambda: 1000.0)


@pytest.fixture
def session() -> requests.Session:
    with http.make_session() as s:
        yield s


def get(url: str, dest: Path, session: requests.Session, policy: http.RetryPolicy, **kw: object) -> str:
    return http.download(url, dest, session=session, policy=policy, timeout=FAST, **kw)  # type: ignore[arg-type]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_download_streams_hashes_and_asks_for_identity(tmp_path, session, policy, sleeps):
    with serve({"/f.bin": DATA}) as srv:
        sha = get(srv.url("/f.bin"), tmp_path / "f.bin", session, policy)
    assert sha == SHA
    assert (tmp_path / "f.bin").read_bytes() == DATA
    assert srv.requests[0].headers["Accept-Encoding"] == "identity"
    assert "k8s-windows-bundle/" in srv.requests[0].headers["User-Agent"]
    assert sleeps.delays == []
    assert leftovers(tmp_path) == ["f.bin"]


def test_500_then_200_retries_with_backoff(tmp_path, session, policy, sleeps):
    with serve({"/f": DATA}) as srv:
        srv.fail("/f", Fail.status(500), Fail.status(503))
        assert get(srv.url("/f"), tmp_path / "f", session, policy) == SHA
    assert [r.status for r in srv.requests] == [500, 503, 200]
    assert len(sleeps.delays) == 2
    assert 1.0 <= sleeps.delays[0] <= 1.5  # first backoff plus at most half of it as jitter
    assert 2.0 <= sleeps.delays[1] <= 3.0


def test_429_waits_as_long_as_retry_after_says(tmp_path, session, policy, sleeps):
    with serve({"/f": DATA}) as srv:
        srv.fail("/f", Fail.status(429, b"slow down", retry_after="7"))
        assert get(srv.url("/f"), tmp_path / "f", session, policy) == SHA
    assert sleeps.delays == [7.0]
    assert srv.hits("/f") == 2


def test_404_is_not_retried_and_shows_the_servers_message(tmp_path, session, policy, sleeps):
    with serve({"/f": DATA}) as srv:
        srv.fail("/f", Fail.status(404, b"Not Found: no archive for\x1b[31m that ref"))
        with pytest.raises(FetchError) as err:
            get(srv.url("/f"), tmp_path / "f", session, policy)
    assert "HTTP 404" in str(err.value)
    assert "no archive for [31m that ref" in str(err.value)  # the escape byte itself is dropped
    assert srv.hits("/f") == 1
    assert sleeps.delays == []
    assert leftovers(tmp_path) == []


def test_403_without_retry_after_is_final(tmp_path, session, policy, sleeps):
    with serve({"/f": lambda req: Reply(403, b"forbidden by policy")}) as srv, pytest.raises(FetchError, match="403"):
        get(srv.url("/f"), tmp_path / "f", session, policy)
    assert srv.hits("/f") == 1
    assert sleeps.delays == []


def test_gives_up_after_the_policys_attempts(tmp_path, session, policy, sleeps):
    with serve({"/f": DATA}) as srv:
        srv.fail("/f", *[Fail.status(502)] * 10)
        with pytest.raises(FetchError, match="failed after 4 attempts: HTTP 502"):
            get(srv.url("/f"), tmp_path / "f", session, policy)
    assert srv.hits("/f") == 4
    assert len(sleeps.delays) == 3
    assert leftovers(tmp_path) == []


def test_dropped_connection_resumes_with_range(tmp_path, session, policy, sleeps):
    with serve() as srv:
        srv.route("/f", DATA, headers={"ETag": '"v1"'})
        srv.fail("/f", Fail.drop(after=100_000))
        assert get(srv.url("/f"), tmp_path / "f", session, policy) == SHA
    first, second = srv.requests
    assert "Range" not in first.headers
    kept = int(second.headers["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < kept <= 100_000
    assert second.headers["If-Range"] == '"v1"'
    assert second.status == 206
    assert (tmp_path / "f").read_bytes() == DATA
    assert len(sleeps.delays) == 1


def test_broken_transfer_starts_over_when_the_server_cannot_resume(tmp_path, session, policy):
    with serve() as srv:
        srv.route("/f", DATA, ranges=False)
        srv.fail("/f", Fail.drop(after=50_000))
        assert get(srv.url("/f"), tmp_path / "f", session, policy) == SHA
    assert [r.status for r in srv.requests] == [200, 200]
    assert "Range" in srv.requests[1].headers
    assert (tmp_path / "f").read_bytes() == DATA


def test_body_shorter_than_content_length_is_detected_and_resumed(tmp_path, session, policy, sleeps):
    with serve({"/f": DATA}) as srv:
        srv.fail("/f", Fail.short(after=1234))
        assert get(srv.url("/f"), tmp_path / "f", session, policy) == SHA
    assert srv.requests[1].headers["Range"] == "bytes=1234-"
    assert len(sleeps.delays) == 1


def test_body_always_short_fails_and_leaves_nothing(tmp_path, session, policy):
    with serve({"/f": DATA}) as srv:
        srv.route("/f", DATA, ranges=False)
        srv.fail("/f", *[Fail.short(after=10)] * 4)
        with pytest.raises(FetchError, match="failed after 4 attempts"):
            get(srv.url("/f"), tmp_path / "f", session, policy)
    assert leftovers(tmp_path) == []


def test_stalled_body_times_out_and_resumes(tmp_path, session, policy, sleeps):
    with serve({"/f": DATA}) as srv:
        srv.fail("/f", Fail.stall(after=5000, seconds=5.0))
        assert get(srv.url("/f"), tmp_path / "f", session, policy) == SHA
    assert srv.requests[1].headers["Range"] == "bytes=5000-"
    assert len(sleeps.delays) == 1


def test_server_silent_before_headers_times_out_and_retries(tmp_path, session, policy, sleeps):
    with serve({"/f": DATA}) as srv:
        srv.fail("/f", Fail.stall(seconds=5.0, before_headers=True))
        assert get(srv.url("/f"), tmp_path / "f", session, policy) == SHA
    assert srv.hits("/f") == 2
    assert len(sleeps.delays) == 1


def test_expected_size_mismatch_is_refused(tmp_path, session, policy):
    with serve({"/f": DATA}) as srv, pytest.raises(FetchError, match=f"expected {len(DATA) + 1}"):
        get(srv.url("/f"), tmp_path / "f", session, policy, expected_size=len(DATA) + 1)
    assert leftovers(tmp_path) == []


def test_credentials_in_the_url_never_reach_the_message(tmp_path, session, policy):
    with serve({"/f": lambda req: Reply(401, b"who are you")}) as srv:
        url = srv.url("/f").replace("http://", "http://me:hunter2@") + "?token=s3cret"
        with pytest.raises(FetchError) as err:
            get(url, tmp_path / "f", session, policy)
    assert "hunter2" not in str(err.value)
    assert "s3cret" not in str(err.value)
    assert "127.0.0.1" in str(err.value)


def test_file_url_and_local_path(tmp_path, session, policy, sleeps):
    src = tmp_path / "src.bin"
    src.write_bytes(DATA)
    assert get(src.as_uri(), tmp_path / "a", session, policy) == SHA
    assert get(str(src), tmp_path / "b", session, policy) == SHA
    assert (tmp_path / "b").read_bytes() == DATA
    with pytest.raises(FetchError, match="cannot read"):
        get(str(tmp_path / "missing.zip"), tmp_path / "c", session, policy)
    assert not (tmp_path / "c").exists()


def test_progress_bar_only_on_a_terminal(tmp_path, session, policy):
    plain = io.StringIO()
    with serve({"/f": DATA}) as srv:
        get(srv.url("/f"), tmp_path / "p", session, policy, progress=Reporter(err=plain).meter("x"))
    assert plain.getvalue() == ""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    with serve({"/f": DATA}) as srv:
        get(srv.url("/f"), tmp_path / "f", session, policy, progress=Reporter(err=stream).meter("SDN"))
    assert f"SDN [{'#' * 30}]" in stream.getvalue()
    assert stream.getvalue().endswith("\r\x1b[K")  # the line is cleared at the end


def test_416_on_resume_starts_over(tmp_path, session, policy, sleeps):
    with serve({"/f": DATA}) as srv:
        srv.fail("/f", Fail.short(after=1000), Fail.status(416))
        assert get(srv.url("/f"), tmp_path / "f", session, policy) == SHA
    assert [r.status for r in srv.requests] == [200, 416, 200]
    assert "Range" not in srv.requests[2].headers
    assert sleeps.delays[1] == 0.0


def test_unreadable_retry_after_falls_back_to_backoff(tmp_path, session, policy, sleeps):
    with serve({"/f": DATA}) as srv:
        srv.fail("/f", Fail.status(503, retry_after="soon-ish"))
        assert get(srv.url("/f"), tmp_path / "f", session, policy) == SHA
    assert 1.0 <= sleeps.delays[0] <= 1.5


def test_a_final_status_is_kept_for_callers(tmp_path, session, policy):
    with serve({}) as srv, pytest.raises(http.HTTPStatusError) as err:
        get(srv.url("/missing"), tmp_path / "f", session, policy)
    assert err.value.status == 404



def test_loopback_server_honours_if_range(session):
    # The fake servers other tests build on must answer as real ones do after a file changed.
    with serve() as srv:
        srv.route("/f", DATA, headers={"ETag": '"v2"'})
        same = session.get(srv.url("/f"), headers={"Range": "bytes=10-", "If-Range": '"v2"'})
        changed = session.get(srv.url("/f"), headers={"Range": "bytes=10-", "If-Range": '"v1"'})
    assert (same.status_code, same.content) == (206, DATA[10:])
    assert (changed.status_code, changed.content) == (200, DATA)


# --------------------------------------------------------------------------- limits and failures


def test_a_declared_length_over_the_cap_is_refused_before_the_body(tmp_path, session, policy, sleeps):
    with serve({"/big": DATA}) as srv, pytest.raises(FetchError, match="larger than the limit of 1000 bytes") as err:
        get(srv.url("/big"), tmp_path / "big", session, policy, max_bytes=1000)
    assert err.value.exit_code == 5
    assert "K8SWB_MAX_DOWNLOAD" in str(err.value)
    assert srv.hits("/big") == 1 and sleeps.delays == []
    assert leftovers(tmp_path) == []


def _serve_without_length(body: bytes) -> tuple[str, threading.Thread, socket.socket]:
    """An HTTP/1.0-style answer with no Content-Length: only a running count can stop it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)

    def answer() -> None:
        conn, _ = sock.accept()
        with conn:
            conn.recv(65536)
            with contextlib.suppress(OSError):
                conn.sendall(b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n" + body)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}/stream", thread, sock


def test_a_body_without_length_is_counted_while_it_streams(tmp_path, session, policy):
    url, thread, sock = _serve_without_length(b"x" * 3_000_000)
    try:
        with pytest.raises(FetchError, match="larger than the limit of 100000 bytes"):
            get(url, tmp_path / "s", session, policy, max_bytes=100_000)
    finally:
        sock.close()
        thread.join(5)
    assert leftovers(tmp_path) == []


def test_local_copies_are_capped_too(tmp_path, session, policy):
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(DATA)
    out = tmp_path / "out"
    with pytest.raises(FetchError, match="larger than the limit"):
        get(str(src / "big"), out / "big", session, policy, max_bytes=1000)
    assert leftovers(out) == []


def test_a_redirect_loop_is_a_fetch_error_not_a_traceback(tmp_path, session, policy, sleeps):
    with serve() as srv:
        srv.route("/loop", lambda req: Reply(302, b"", {"Location": "/loop?sig=SECRET"}))
        with pytest.raises(FetchError, match="too many redirects") as err:
            get(srv.url("/loop"), tmp_path / "f", session, policy, key="sdn.url")
    assert err.value.exit_code == 5
    assert "check sdn.url" in str(err.value)
    assert "SECRET" not in str(err.value)
    assert sleeps.delays == []  # the same loop again would not help
    assert leftovers(tmp_path) == []


def test_a_redirect_to_file_is_refused(tmp_path, session, policy, sleeps):
    with serve() as srv:
        srv.route("/f", lambda req: Reply(302, b"", {"Location": "file:///etc/passwd"}))
        with pytest.raises(FetchError, match="not http\\(s\\) \\(refused\\)") as err:
            get(srv.url("/f"), tmp_path / "f", session, policy)
    assert "/etc/passwd" not in str(err.value)
    assert leftovers(tmp_path) == []


def test_each_retry_is_one_short_line_and_the_hint_names_the_key(tmp_path, session, policy, sleeps, caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again at once: connecting is refused
    url = f"http://127.0.0.1:{port}/release/v1.37.0/kubelet.exe?X-Amz-Signature=SECRET"
    with caplog.at_level(logging.WARNING, logger="builder.http"), pytest.raises(FetchError) as err:
        get(url, tmp_path / "f", session, policy, key="kubernetes.release_url")
    retries = [r.getMessage() for r in caplog.records]
    assert len(retries) == 3
    for line in retries:
        assert "connection refused" in line
        assert len(line) < 160 and "\n" not in line
        assert "HTTPConnectionPool" not in line and "SECRET" not in line
    text = str(err.value)
    assert "connection refused; check kubernetes.release_url" in text
    assert len(text) < 250 and "SECRET" not in text and "Max retries" not in text


def test_url_rules_credentials_and_plain_http():
    assert "credentials" in (http.url_problem("https://me:pw@mirror.example/release") or "")
    assert "pw" not in (http.url_problem("https://me:pw@mirror.example/release") or "pw")
    assert "--allow-insecure-http" in (http.url_problem("http://mirror.example/release") or "")
    assert http.url_problem("http://mirror.example/release", allow_insecure_http=True) is None
    assert http.url_problem("http://127.0.0.1:8080/release") is None
    assert http.url_problem("http://127.8.0.1/release") is None
    assert http.url_problem("http://[::1]:9/release") is None
    assert http.url_problem("https://dl.k8s.io/release?sig=x") is None
    assert http.url_problem("file:///srv/mirror") is None


def test_the_cap_comes_from_the_environment():
    assert http.max_download({}) == http.GiB
    assert http.max_download({"K8SWB_MAX_DOWNLOAD": "2GiB"}) == 2 * http.GiB
    assert http.max_download({"K8SWB_MAX_DOWNLOAD": "700MiB"}) == 700 * 2**20
    with pytest.raises(FetchError, match="not a size"):
        http.max_download({"K8SWB_MAX_DOWNLOAD": "lots"})


def test_the_cap_is_read_at_the_edge_and_travels_with_the_network(tmp_path, session, policy, sleeps):
    net = cli.context(Reporter(), {"K8SWB_MAX_DOWNLOAD": "1KiB"}, downloads=True).net
    assert net.max_download == 1024
    with serve({"/big": DATA}) as srv, pytest.raises(FetchError, match="larger than the limit of 1024 bytes"):
        http.download_if_present(srv.url("/big"), tmp_path / "big", dataclasses.replace(net, policy=policy), session)
    assert leftovers(tmp_path) == []
    assert cli.context(Reporter(), {"K8SWB_MAX_DOWNLOAD": "lots"}).net.max_download == http.MAX_DOWNLOAD  # unread


def test_a_cap_that_is_not_a_size_stops_a_download_command_before_it_starts(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bundle.yaml").write_text("version: 1\n")
    monkeypatch.setenv("K8SWB_MAX_DOWNLOAD", "lots")
    assert cli.main(["fetch", "--cache-dir", str(tmp_path / "cache")]) == 5
    assert "K8SWB_MAX_DOWNLOAD='lots' is not a size" in caplog.text
    assert not (tmp_path / "cache").exists()


def test_remote_text_loses_its_escapes():
    assert http.clean_text("bad\x1b[31m red\x07\nline") == "bad [31m red line"


def test_tls_that_fails_is_final_and_short(tmp_path, session, policy, sleeps):
    with serve({"/f": DATA}) as srv:
        url = srv.url("/f").replace("http://", "https://")  # a plain HTTP server: the handshake fails
        with pytest.raises(FetchError, match="TLS failed") as err:
            get(url, tmp_path / "f", session, policy, key="sdn.url")
    assert sleeps.delays == [] and err.value.exit_code == 5
    assert len(str(err.value)) < 250
    assert leftovers(tmp_path) == []


def test_verbose_logging_never_shows_a_query_string(tmp_path, session, policy, caplog):
    with caplog.at_level(logging.DEBUG), serve({"/f": DATA}) as srv:
        get(srv.url("/f") + "?sig=SECRET", tmp_path / "f", session, policy)
    # without the guard, urllib3 logs `"GET /f?sig=SECRET HTTP/1.1" 200` at debug level
    assert not logging.getLogger("urllib3.connectionpool").isEnabledFor(logging.DEBUG)
    assert "SECRET" not in caplog.text
