"""The test run's own guards: missing tools stop it before the first test, and under CI a skip fails it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ci_guard import INSTALL, LIBRARIES, TOOLS, missing_tools

TESTS = Path(__file__).resolve().parent

SAMPLE = """
import pytest

def test_runs():
    assert True

@pytest.mark.skip(reason="no frobnicator here")
def test_skipped():
    pass

@pytest.mark.xfail(reason="known", strict=True)
def test_xfail():
    assert False
"""


def run_pytest(tmp_path: Path, *, ci: str | None, path: str | None = None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(TESTS)
    if ci is not None:
        env["CI"] = ci
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "ci_guard", "-p", "no:cacheprovider", "-q",
                           "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, check=False)


def test_a_skip_is_only_reported_on_a_developer_machine(tmp_path: Path) -> None:
    res = run_pytest(tmp_path, ci=None)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 passed, 1 skipped, 1 xfailed" in res.stdout


@pytest.mark.parametrize("value", ["true", "1"])
def test_a_skip_fails_the_run_under_ci(tmp_path: Path, value: str) -> None:
    res = run_pytest(tmp_path, ci=value)
    assert res.returncode == 1, res.stdout + res.stderr
    assert f"skipped under CI={value}, which fails the run" in res.stdout
    assert "no frobnicator here" in res.stdout
    assert "1 xfailed" in res.stdout  # an expected failure is not a skip


def test_ci_false_is_not_ci(tmp_path: Path) -> None:
    assert run_pytest(tmp_path, ci="false").returncode == 0


def test_missing_tools_stop_the_run_before_the_first_test(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    res = run_pytest(tmp_path, ci=None, path=str(empty))
    assert res.returncode == 4, res.stdout + res.stderr  # a usage error: no test ran
    assert ", ".join(TOOLS) in res.stderr  # every tool named, in one line
    assert f"install: sudo {INSTALL}" in res.stderr
    assert "passed" not in res.stdout


def test_install_command_names_a_package_for_every_tool() -> None:
    command, _, packages = INSTALL.partition("install ")
    assert command == "apt-get "
    named = packages.split()
    assert len(named) == len(set(named)), "a package is named twice"
    assert set(named) == {*TOOLS.values(), *LIBRARIES}
    assert missing_tools(TOOLS, path="") == list(TOOLS)


def test_readme_and_ci_name_the_same_install(repo_root: Path) -> None:
    assert INSTALL in (repo_root / "README.md").read_text()
    ci_run = (repo_root / ".ci/run").read_text()
    for tool, package in TOOLS.items():
        assert f"command -v {tool} " in ci_run and package in ci_run, tool
    for package in LIBRARIES:
        assert f"dpkg -s {package} " in ci_run, package
