"""What `nox -s bundle` adds to `python -m builder bundle` when there is nothing to do.

Both run, alternately, the same no-op bundle: the bench tree (`tree.py`) built once, the SDN
archive from a local file, the cache warm, so that neither runs make nor downloads anything.
Goal: the median `nox -s bundle` is at most 1.5 s slower than the median direct command. Needs
the checkout's noxfile.py in the current folder (nox sessions exist only in a checkout).
"""

from __future__ import annotations

import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import yaml

from ..config import Config
from ..errors import BuilderError
from ..run import PIP_VARS, child_env
from . import fetch_bench
from .tree import write_tree

GOAL_SECONDS = 1.5
ROUNDS = 5


def run(cfg: Config, env: Mapping[str, str]) -> tuple[bool, list[str]]:
    noxfile = Path.cwd() / "noxfile.py"
    if not noxfile.is_file():
        return False, [f"not measured: no noxfile.py in {Path.cwd()} (run `nox -s bench` from a checkout)"]
    work = Path(tempfile.mkdtemp(prefix="nox-bench-"))
    try:
        return _measure(noxfile, dict(env), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _setup(work: Path, env: Mapping[str, str]) -> list[str]:
    """A tree, a local SDN archive and a configuration; the bundle arguments that use them."""
    tree = write_tree(work / "kubernetes", env)
    body, pins = fetch_bench.make_archive(random.Random(5))  # noqa: S311  (filler bytes, not secrets)
    archive = work / "sdn.zip"
    archive.write_bytes(body)
    config = {"sdn": {"commit": fetch_bench.COMMIT, "url": str(archive),
                      "files": [{"path": f.path, "sha256": f.sha256, "dest": f.dest} for f in pins]}}
    (work / "bundle.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return ["--config", str(work / "bundle.yaml"), "--kube-root", str(tree), "--cache-dir", str(work / "cache"),
            "--dist", str(work / "dist")]


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    res = subprocess.run(argv, env=child_env(env, PIP_VARS), cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if res.returncode != 0:
        msg = f"{' '.join(argv[:6])} ... failed ({res.returncode}):\n{res.stdout[-2000:]}{res.stderr[-2000:]}"
        raise BuilderError(msg)  # a named failure (exit 1), not a traceback
    return elapsed


def _measure(noxfile: Path, env: dict[str, str], work: Path) -> tuple[bool, list[str]]:
    args = _setup(work, env)
    direct = [sys.executable, "-m", "builder", "bundle", *args]
    via_nox = [sys.executable, "-m", "nox", "--noxfile", str(noxfile), "-s", "bundle", "--", *args]
    # Warm-up: the first direct run builds and packs; the first nox run may create .nox/release.
    _timed(direct, env, noxfile.parent)
    _timed(via_nox, env, noxfile.parent)
    t_direct: list[float] = []
    t_nox: list[float] = []
    for _ in range(ROUNDS):
        t_direct.append(_timed(direct, env, noxfile.parent))
        t_nox.append(_timed(via_nox, env, noxfile.parent))
    m_direct, m_nox = statistics.median(t_direct), statistics.median(t_nox)
    ok = m_nox - m_direct <= GOAL_SECONDS
    return ok, [
        f"no-op bundle, python -m builder bundle: median {m_direct:.2f} s over {ROUNDS} runs",
        f"no-op bundle, nox -s bundle:            median {m_nox:.2f} s over {ROUNDS} runs; "
        f"+{m_nox - m_direct:.2f} s (goal: <= +{GOAL_SECONDS} s) {'OK' if ok else 'MISSED'}",
    ]
