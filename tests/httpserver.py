"""A small HTTP server on 127.0.0.1 for tests: fake mirrors, fake dl.k8s.io, fake GitHub archives.

Usage::

    from httpserver import Fail, Reply, serve

    with serve({"/a.zip": data}) as srv:          # a route table: path -> bytes or handler
        srv.route("/b", lambda req: Reply(404, b"no such thing"))
        srv.fail("/a.zip", Fail.status(500), Fail.status(429, retry_after="7"))
        url = srv.url("/a.zip")                    # http://127.0.0.1:<port>/a.zip
        ...
        assert [r.status for r in srv.requests] == [500, 429, 200]

API
- `serve(routes=None) -> LoopbackServer`: a context manager; the server runs in a thread on
  127.0.0.1 with a free port (port 0) and stops, with every handler thread, on exit.
- `LoopbackServer.route(path, target, *, headers=None, ranges=True)`: `target` is bytes (served
  with 200, Content-Length and, unless `ranges=False`, `Range: bytes=a-b` / `a-` answered with 206,
  and 416 for a range past the end) or a handler `(Request) -> Reply`. `headers` are added to
  every answer of a bytes route (e.g. an ETag); an `If-Range` that matches neither its ETag nor
  its Last-Modified gets the whole body (200), as a real server does after the file changed.
  The path is matched without its query string; `route` again replaces the target.
- `LoopbackServer.fail(path, *failures)`: queue scripted failures; each request to `path` takes
  the next one, and once the queue is empty the route answers normally. Failures:
    `Fail.status(code, body=b"", retry_after=None)` answer this status (e.g. 500, or 429 with
        Retry-After);
    `Fail.drop(after)` send the headers and `after` bytes of the real body, then reset the
        connection (TCP RST): a connection dropped mid-body;
    `Fail.short(after)` send the full Content-Length but only `after` bytes, then close cleanly;
    `Fail.stall(after=0, seconds=5.0)` send the headers and `after` bytes (or, with
        `before_headers=True`, nothing), then go silent for up to `seconds` (cut short when the
        server stops): for read-timeout tests with a client timeout well below `seconds`;
    `Fail.trickle(seconds)` send the headers, then the body one byte every `seconds` (until the
        server stops): a server slow enough that no read ever times out.
- `LoopbackServer.requests`: every request in arrival order, as `Request(method, path, headers,
  status)`; `status` is what was answered (or the failure kind's status). `srv.hits(path)` counts.
- `LoopbackServer.base`: `http://127.0.0.1:<port>`; `srv.url(path)` joins it.
HEAD is answered like GET, without the body; POST like GET, its body read and dropped. Nothing leaves
the loopback interface.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    status: int = 0


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Fail:
    kind: str  # status, drop, short, stall, trickle
    code: int = 200
    body: bytes = b""
    after: int = 0
    seconds: float = 5.0
    before_headers: bool = False
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def status(cls, code: int, body: bytes = b"", retry_after: str | None = None) -> Fail:
        headers = (("Retry-After", retry_after),) if retry_after is not None else ()
        return cls("status", code=code, body=body, headers=headers)

    @classmethod
    def drop(cls, after: int) -> Fail:
        return cls("drop", after=after)

    @classmethod
    def short(cls, after: int) -> Fail:
        return cls("short", after=after)

    @classmethod
    def stall(cls, after: int = 0, seconds: float = 5.0, *, before_headers: bool = False) -> Fail:
        return cls("stall", after=after, seconds=seconds, before_headers=before_headers)

    @classmethod
    def trickle(cls, seconds: float) -> Fail:
        return cls("trickle", seconds=seconds)


Handler = Callable[[Request], Reply]


@dataclass
class _Route:
    target: bytes | Handler
    headers: dict[str, str]
    ranges: bool
    failures: deque[Fail] = field(default_factory=deque)


class LoopbackServer:
    def __init__(self) -> None:
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.requests: list[Request] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, target: bytes | Handler, *, headers: Mapping[str, str] | None = None,
              ranges: bool = True) -> None:
        with self._lock:
            self._routes[path] = _Route(target, dict(headers or {}), ranges)

    def fail(self, path: str, *failures: Fail) -> None:
        with self._lock:
            self._routes[path].failures.extend(failures)

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path.split("?")[0] == path)

    def _take(self, path: str) -> tuple[_Route | None, Fail | None]:
        with self._lock:
            route = self._routes.get(path)
            if route is None:
                return None, None
            return route, (route.failures.popleft() if route.failures else None)

    def _record(self, req: Request) -> None:
        with self._lock:
            self.requests.append(req)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


@contextlib.contextmanager
def serve(routes: Mapping[str, bytes | Handler] | None = None) -> Iterator[LoopbackServer]:
    srv = LoopbackServer()
    for path, target in (routes or {}).items():
        srv.route(path, target)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


_RANGE_RE = re.compile(r"bytes=(\d+)-(\d*)$")


def _make_handler(srv: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean; srv.requests is the record

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._serve(head=False)

        def _serve(self, *, head: bool) -> None:
            req = Request(self.command, self.path, dict(self.headers.items()))
            srv._record(req)
            route, failure = srv._take(self.path.split("?")[0])
            if route is None:
                req.status = 404
                self._send(Reply(404, b"not found\n"), head)
                return
            reply = route.target(req) if callable(route.target) else self._bytes_reply(route, req)
            if failure is not None and failure.kind == "status":
                req.status = failure.code
                self._send(Reply(failure.code, failure.body, dict(failure.headers)), head)
            elif failure is not None:
                req.status = reply.status
                self._broken(reply, failure)
            else:
                req.status = reply.status
                self._send(reply, head)

        def _bytes_reply(self, route: _Route, req: Request) -> Reply:
            assert isinstance(route.target, bytes)
            data = route.target
            headers = {"Content-Type": "application/octet-stream", **route.headers}
            asked = req.headers.get("Range")
            if route.ranges:
                headers["Accept-Ranges"] = "bytes"
            match = _RANGE_RE.match(asked or "")
            if_range = req.headers.get("If-Range")
            stale = if_range is not None and if_range not in (headers.get("ETag"), headers.get("Last-Modified"))
            if not route.ranges or asked is None or stale:
                return Reply(200, data, headers)
            if match is None or int(match.group(1)) >= len(data):
                return Reply(416, b"", {**headers, "Content-Range": f"bytes */{len(data)}"})
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return Reply(206, data[start:end + 1], headers)

        def _head(self, reply: Reply, length: int) -> None:
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(length))
            self.end_headers()

        def _send(self, reply: Reply, head: bool) -> None:
            self._head(reply, len(reply.body))
            if not head:
                self.wfile.write(reply.body)

        def _broken(self, reply: Reply, failure: Fail) -> None:
            self.close_connection = True
            if failure.kind == "stall" and failure.before_headers:
                srv.stopping.wait(failure.seconds)
                return
            self._head(reply, len(reply.body))
            if failure.kind == "trickle":
                for i in range(len(reply.body)):
                    if srv.stopping.wait(failure.seconds):
                        return
                    try:
                        self.wfile.write(reply.body[i:i + 1])
                        self.wfile.flush()
                    except OSError:
                        return  # the client gave up
                return
            self.wfile.write(reply.body[:failure.after])
            self.wfile.flush()
            if failure.kind == "drop":
                # SO_LINGER with a zero timeout makes close() send RST: an abrupt reset, not an EOF.
                # Closed here, the socket goes before socketserver's shutdown(SHUT_WR) could send a FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            elif failure.kind == "stall":
                srv.stopping.wait(failure.seconds)

    return _Handler
