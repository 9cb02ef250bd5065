"""The installable tool: a wheel built from the checkout, installed in a new venv, used from another folder.

Offline: the wheel is built without build isolation (setuptools comes from the test environment),
installed with --no-deps, and the new venv sees the test environment's dependencies through a
.pth line (not its .pth files, so an editable install of the checkout stays invisible to it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
from pack_fixtures import make_inputs

from builder.bundle import pack

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.go


def run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for folder in ("builder", "ps_templates"):
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheels")
    res = run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
              "-w", out, src, cwd=src)
    assert res.returncode == 0, res.stdout + res.stderr
    (whl,) = out.glob("k8s_windows_bundle-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the wheel installed; returns its bin folder."""
    venv = tmp_path_factory.mktemp("venv")
    res = run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv)
    assert res.returncode == 0, res.stderr
    py = venv / "bin" / "python"
    res = run(sys.executable, "-m", "pip", "--python", py, "install", "--quiet", "--no-deps", "--no-index", wheel,
              cwd=venv)
    assert res.returncode == 0, res.stdout + res.stderr
    site = Path(run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=venv).stdout.strip())
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "test-env-deps.pth").write_text("".join(f"{d}\n" for d in deps))
    return venv / "bin"


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KUBE_ROOT", "GOPATH")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    return env


def test_wheel_carries_the_templates_and_nothing_of_the_tests(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    templates = sorted(p.name for p in (REPO / "ps_templates").iterdir())
    assert sorted(n.removeprefix("builder/_templates/") for n in names if n.startswith("builder/_templates/")) \
        == templates
    assert "builder/config/schema.py" in names and "builder/bench/__init__.py" in names
    assert not [n for n in names if n.startswith("tests/") or "fixtures" in n]
    assert "k8s-windows-bundle = builder.cli:main" in entry_points


def test_every_package_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "builder").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(found - listed)}"


def test_no_production_code_points_into_tests() -> None:
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "builder").rglob("*.py")
                 if '"tests' in p.read_text() or "'tests" in p.read_text() or "/ \"tests" in p.read_text()]
    assert offenders == []


def test_installed_command_renders_and_verifies_from_another_folder(
        installed: Path, tmp_path: Path, windows_exe: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = clean_env(tmp_path)
    tool = installed / "k8s-windows-bundle"

    where = run(installed / "python", "-c", "import builder; print(builder.__file__)", cwd=work, env=env)
    assert where.stdout.strip().startswith(str(installed.parent)), where.stdout + where.stderr

    version = run(tool, "--version", cwd=work, env=env)
    assert version.returncode == 0 and version.stdout.startswith("k8s-windows-bundle 0.1.0")

    res = run(tool, "render", "--kube-version", "v1.30.0", "--out", "scripts", cwd=work, env=env)
    assert res.returncode == 2 and "k8s-windows-bundle init" in res.stderr  # no bundle.yaml: it says what to do
    res = run(tool, "init", cwd=work, env=env)  # what a pipx user does first
    assert res.returncode == 0 and (work / "bundle.yaml").is_file(), res.stderr
    res = run(tool, "render", "--kube-version", "v1.30.0", "--out", "scripts", cwd=work, env=env)
    assert res.returncode == 0, res.stderr
    script = (work / "scripts/start-kubelet.ps1").read_text(encoding="ascii")
    assert "kubelet.exe" in script and "'10.244.0.0/16'" in script
    assert (work / "scripts/install.ps1").is_file()

    inputs = make_inputs(tmp_path / "bundle", windows_exe)
    zip_path = pack.pack(inputs.cfg, inputs.built, inputs.sdn, inputs.rendered)
    res = run(tool, "verify", zip_path, cwd=work, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "OK" in res.stdout
    res = run(tool, "verify", "--dist", inputs.dist, cwd=work, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
