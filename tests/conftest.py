"""Shared test fixtures. Stage-specific helpers live in their own tests/*.py modules."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
sys.path.insert(0, str(TESTS))

# The tools are checked before the first test, and under CI=true a skip fails the run.
from ci_guard import (  # noqa: E402
    pytest_collection_finish,
    pytest_make_collect_report,
    pytest_runtest_makereport,
    pytest_sessionstart,
)

# Session fixtures several test files use, found by pytest here (one definition each).
from pack_fixtures import windows_exe  # noqa: E402
from sign_fixtures import pki  # noqa: E402

__all__ = [
    "pki",
    "pytest_collection_finish",
    "pytest_make_collect_report",
    "pytest_runtest_makereport",
    "pytest_sessionstart",
    "windows_exe",
]


@pytest.fixture
def repo_root() -> Path:
    return REPO


class Sleeps(list[float]):
    """A RetryPolicy `sleep` that records the delays instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def quick_net(sleeps: Sleeps, *, read: float = 2.0) -> Any:
    """The download settings the loopback tests use: three attempts whose delays are recorded, not
    slept, a clock that stands still, and short timeouts (`read` seconds for a stalled body)."""
    import random

    from builder import http

    policy = http.RetryPolicy(attempts=3, sleep=sleeps, rng=random.Random(1), clock=lambda: 1000.0)
    return http.Net(policy=policy, timeout=(2.0, read))


@pytest.fixture
def net(sleeps: Sleeps) -> Any:
    return quick_net(sleeps)


@pytest.fixture(scope="session")
def release_exes(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Real PE files cross-compiled with Go, one per version (tests/fake_dlk8s.py)."""
    from fake_dlk8s import WindowsExes

    return WindowsExes(tmp_path_factory.mktemp("release-exes"))


@pytest.fixture
def dlk8s(release_exes: Any) -> Iterator[tuple[Any, str]]:
    """A fake dl.k8s.io on 127.0.0.1 publishing v1.36.2 and v1.37.0: (the server, its release URL)."""
    from fake_dlk8s import publish
    from httpserver import serve

    with serve() as srv:
        url = publish(srv, "v1.36.2", release_exes.get("v1.36.2"))
        publish(srv, "v1.37.0", release_exes.get("v1.37.0"))
        yield srv, url


class GoSeed:
    """A Go build cache (windows/amd64) made by one real build of the tool: warm for the test tree
    (`go_seed`), or for the standard library only (`go_std_seed`).

    Go's cache is content-addressed, so a build that starts from it gives the same bytes as a cold
    one (tests/test_gocache.py shows that); it only skips compiling again what it holds. Tests about
    the build's behaviour start from one; the test of a cold, warm and damaged cache starts cold."""

    def __init__(self, kept: Path, go_version: str) -> None:
        self.kept, self.go_version = kept, go_version

    def into(self, cache_dir: Path, version: str = "") -> Path:
        """The tool's cache folder `cache_dir` with this Go cache kept in it for the minor of
        `version` (the test tree's tag by default), as a second run of that minor finds it."""
        import shutil

        from kube_tree import TAG

        from builder.sources import gocache

        kept = gocache.for_build(cache_dir, version or TAG, self.go_version, "windows/amd64", {}).path
        if not kept.exists():
            shutil.copytree(self.kept, kept)
        return cache_dir


def _made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], GoSeed]) -> GoSeed:
    """`make(folder)`, run once for the whole test run: the first xdist worker that asks makes it (the
    others wait on a file lock), and every worker reads what it made."""
    import fcntl
    import json
    import os
    import shutil

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the run's folder, not a worker's
    folder, record = root / name, root / name / "seed.json"
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            seed = make(folder)
            record.write_text(json.dumps({"kept": str(seed.kept), "go": seed.go_version}), encoding="utf-8")
        data = json.loads(record.read_text(encoding="utf-8"))
    return GoSeed(Path(data["kept"]), data["go"])


def _build_seed(folder: Path, tree: Path) -> GoSeed:
    from kube_tree import build_env

    from builder import config
    from builder.sources import build, gocache

    (folder / "bundle.yaml").write_text("", encoding="utf-8")
    overrides = config.Overrides(config=folder / "bundle.yaml", kube_root=tree, cache_dir=folder / "cache",
                                 dist=folder / "dist")
    result = build.build(config.load(overrides, build_env(), folder), build_env())
    (kept,) = [p for p in (folder / "cache" / gocache.FOLDER).iterdir() if p.is_dir()]
    return GoSeed(kept, result.go_version)


@pytest.fixture(scope="session")
def go_std_seed(tmp_path_factory: pytest.TempPathFactory) -> GoSeed:
    """The standard library as the test tree's build compiles it, and none of the tree's packages: a build
    from it compiles and links every package of the tree, in seconds instead of a cold build's ten."""
    from kube_tree import make_tree

    def make(folder: Path) -> GoSeed:
        return _build_seed(folder, make_tree(folder / "kubernetes", note="another package, the same standard library"))

    return _made_once(tmp_path_factory, "go-std-seed", make)


@pytest.fixture(scope="session")
def go_seed(tmp_path_factory: pytest.TempPathFactory, go_std_seed: GoSeed) -> GoSeed:
    """The test tree's every package too, as a build of the same tree in another folder leaves them."""
    from kube_tree import make_tree

    def make(folder: Path) -> GoSeed:
        go_std_seed.into(folder / "cache")
        return _build_seed(folder, make_tree(folder / "kubernetes"))

    return _made_once(tmp_path_factory, "go-seed", make)
