"""What fetching the SDN scripts adds to `bundle` once the cache is warm.

A GitHub-shaped archive (the three taken files at about their real sizes plus filler) is served
by a loopback HTTP server; one cold `fetch_sdn` fills a fresh cache, then `fetch_sdn` runs
in-process against the warm cache. Goal: the median warm fetch takes at most 0.2 s. The cold
fetch is reported beside it as the comparison.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import random
import statistics
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ..config import Config, SdnFile, SdnSection
from ..sources import sdn as fetch

GOAL_SECONDS = 0.2
WARM_RUNS = 15
COMMIT = "b" * 40
# Sizes close to the real files at the default commit; wincni.exe dominates the hashing.
SIZES = {"Kubernetes/windows/helper.psm1": 40_000, "Kubernetes/windows/hns.psm1": 25_000,
         "Kubernetes/windows/cni/wincni.exe": 6_000_000}
FILLER = 200  # other files of the repository, which fetch must not read


def make_archive(rng: random.Random) -> tuple[bytes, tuple[SdnFile, ...]]:
    files = {path: rng.randbytes(size) for path, size in SIZES.items()}
    files.update({f"docs/page{i}.md": rng.randbytes(2000) for i in range(FILLER)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in sorted(files.items()):
            zf.writestr(f"SDN-{COMMIT}/{path}", data)
        zf.comment = COMMIT.encode()
    pins = tuple(SdnFile(p, hashlib.sha256(files[p]).hexdigest(), p.rsplit("/", 1)[-1]) for p in SIZES)
    return buf.getvalue(), pins


@contextmanager
def loopback(body: bytes) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{{repo}}/archive/{{commit}}.zip"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run(cfg: Config, env: Mapping[str, str]) -> tuple[bool, list[str]]:
    body, pins = make_archive(random.Random(3))  # noqa: S311  (filler bytes, not secrets)
    with tempfile.TemporaryDirectory(prefix="fetch-bench-") as tmp, loopback(body) as url:
        sdn = SdnSection(commit=COMMIT, url=url, files=pins)
        bench = dataclasses.replace(cfg, sdn=sdn, options=dataclasses.replace(
            cfg.options, cache_dir=Path(tmp) / "cache", offline=False, allow_unpinned=False))
        start = time.perf_counter()
        fetch.fetch_sdn(bench)
        cold = time.perf_counter() - start
        warm = []
        for _ in range(WARM_RUNS):
            start = time.perf_counter()
            fetch.fetch_sdn(bench)
            warm.append(time.perf_counter() - start)
    median = statistics.median(warm)
    ok = median <= GOAL_SECONDS
    lines = [
        f"fetch_sdn, warm cache: median {median * 1000:.1f} ms, max {max(warm) * 1000:.1f} ms over {WARM_RUNS} runs "
        f"(goal: median <= {GOAL_SECONDS * 1000:.0f} ms) {'MET' if ok else 'NOT MET'}",
        f"fetch_sdn, cold cache over loopback HTTP: {cold * 1000:.1f} ms for a {len(body) / 2**20:.1f} MiB archive "
        f"(comparison: warm is {cold / median if median else float('inf'):.0f}x faster)",
    ]
    return ok, lines
