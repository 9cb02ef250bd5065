"""Secrets kept from child processes (an allowlisted environment, a build HOME without credentials, names a
configuration hides travelling with its run), and the other guards that span modules."""

from __future__ import annotations

import dataclasses
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import GoSeed
from kube_tree import build_env, git, make_tree

from builder import cli, config, run
from builder.errors import ConfigError
from builder.report import Reporter
from builder.sources import build
from builder.sources.toolchain import Toolchain, parse_go_version

CANARY = "canary-7f3a9c"
# Every secret-shaped variable a release engineer's shell or a CI runner may hold, and names no
# pattern would call secret (a signing PIN's own name, an agent socket, a registry login).
SECRETS = {
    name: CANARY
    for name in ("GH_TOKEN", "GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                 "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GITHUB_PAT", "GH_PAT", "CI_JOB_JWT", "CI_JOB_TOKEN",
                 "DOCKER_AUTH_CONFIG", "NPM_AUTH", "NPM_CONFIG__AUTH", "SSH_AUTH_SOCK", "COSIGN_PASSWORD", "SIGN_PASS",
                 "KUBEADM_JOIN_TOKEN", "VAULT_TOKEN", "CODESIGN_PIN", "ACME_DEPLOY_KEY", "NETRC")
}


def _leaks(text: str) -> list[str]:
    return [name for name in SECRETS if f"{name}=" in text] if CANARY in text else []


def test_a_child_gets_an_allowlist_never_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LC_CTYPE", "C.UTF-8")
    out = run.call(["env"], env=dict(os.environ))  # this process's environment, filtered
    assert "PATH=" in out and "HOME=" in out and "LC_CTYPE=C.UTF-8" in out
    assert _leaks(out) == []
    run.call_logged(["env"], log_path=tmp_path / "env.log",
                    env={**os.environ, "GOFLAGS": "-mod=vendor", "SOME_TOOL_SETTING": "x"})
    logged = (tmp_path / "env.log").read_text()
    assert _leaks(logged) == []
    assert "GOFLAGS=-mod=vendor" in logged  # a build variable passes
    assert "SOME_TOOL_SETTING" not in logged  # anything not allowed stays here, secret-shaped or not


def test_names_a_caller_keeps_pass_but_an_allowed_prefix_never_lets_a_secret_by() -> None:
    env = {"PATH": "/bin", "PIP_INDEX_URL": "https://mirror/simple", "PIP_AUTH_TOKEN": CANARY, "MY_PROXY": "p",
           "LC_SECRET": CANARY}
    assert run.child_env(env) == {"PATH": "/bin"}
    assert run.child_env(env, run.PIP_VARS) == {"PATH": "/bin", "PIP_INDEX_URL": "https://mirror/simple"}
    assert run.child_env(env, ("MY_PROXY",)) == {"PATH": "/bin", "MY_PROXY": "p"}


def test_the_signature_checks_child_gets_the_filtered_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`verify`'s osslsigncode calls run outside run.call (a non-zero exit is an answer there), yet filtered too."""
    from builder.bundle import sign

    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SOFTHSM2_CONF", "/etc/softhsm2.conf")  # a PKCS#11 module's own setting passes
    code, out = sign._run("env", dict(os.environ), [])
    assert code == 0 and "PATH=" in out and "SOFTHSM2_CONF=" in out
    assert _leaks(out) == []


def test_a_variable_the_configuration_names_reaches_the_build_and_the_signer(tmp_path: Path) -> None:
    (tmp_path / "bundle.yaml").write_text("kubernetes:\n  build_env: [GOPROXY_MIRROR, HOME]\n"
                                          "signing:\n  tool_env: [YUBIHSM_PKCS11_CONF]\n")
    cfg = config.load(config.Overrides(needs_source=False), {}, tmp_path)
    assert cfg.kubernetes.build_env == ("GOPROXY_MIRROR", "HOME")
    assert cfg.signing.tool_env == ("YUBIHSM_PKCS11_CONF",)
    go = Toolchain(tmp_path / "go", parse_go_version("go1.25.5") or (1, 25, 5))
    tree = build.TreeVersion("v1.37.0", None, "archive", None)
    base = {"PATH": "/bin", "HOME": str(tmp_path / "real-home"), "GOPROXY_MIRROR": "m", "GH_TOKEN": CANARY}
    env = run.child_env(build.make_env(base, go, cfg.kubernetes, tree, 0, tmp_path / "empty"), cfg.kubernetes.build_env)
    assert env["GOPROXY_MIRROR"] == "m" and env["HOME"] == base["HOME"]  # HOME named: the real one
    assert "GH_TOKEN" not in env


@pytest.mark.parametrize("text", ["kubernetes:\n  build_env: [GH_TOKEN]\n",
                                  "kubernetes:\n  build_env: ['ghp_0123456789 abc']\n",
                                  "signing:\n  password_env: PIN\n  tool_env: [PIN]\n"])
def test_the_configuration_cannot_hand_a_secret_to_a_child(tmp_path: Path, text: str) -> None:
    (tmp_path / "bundle.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        config.load(config.Overrides(needs_source=False), {}, tmp_path)
    assert err.value.exit_code == 2
    assert "ghp_0123456789" not in str(err.value)


@pytest.mark.go
def test_the_trees_makefile_sees_no_secret_and_no_credentials_in_its_home(tmp_path: Path, go_seed: GoSeed) -> None:
    # A Kubernetes tree runs its own scripts: this one's Makefile writes its environment and HOME's files out.
    go_seed.into(tmp_path / "cache")
    tree = make_tree(tmp_path / "kubernetes")
    makefile = tree / "Makefile"
    dump = tmp_path / "make-env.txt"
    makefile.write_text(makefile.read_text().replace(
        "all:\n", f"all:\n\tenv > {dump}\n\tls -A \"$$HOME\" >> {dump}\n\tcat ~/.netrc >> {dump} 2>&1 || true\n", 1))
    git(tree, "commit", "-q", "-am", "dump the environment")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text(f"machine mirror.example login me password {CANARY}\n")
    (home / ".netrc").chmod(stat.S_IRUSR | stat.S_IWUSR)
    env = {**build_env(), **SECRETS, "HOME": str(home)}
    cfg = config.load(config.Overrides(kube_root=tree, cache_dir=tmp_path / "cache", dist=tmp_path / "dist"),
                      env, tmp_path)
    build.build(cfg, env)
    seen = dump.read_text()
    assert "PATH=" in seen  # the dump ran
    assert CANARY not in seen
    assert f"HOME={home}\n" not in seen
    # Go's build cache is the one the tool keeps per minor, in its cache: never found through HOME.
    assert f"GOCACHE={tmp_path / 'cache' / 'go-build'}" in seen


def _fake_release_env(project: Path, dump: Path) -> None:
    """The release environment's python and command, as scripts that write the environment they got."""
    bin_dir = project / ".nox" / "release" / "bin"
    bin_dir.mkdir(parents=True)
    for name, tag in (("python", "pip"), ("k8s-windows-bundle", "tool")):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\necho '--- {tag}' >> {dump}\nenv >> {dump}\n")
        script.chmod(0o755)


def test_the_release_sessions_pip_gets_no_secret_but_the_command_gets_what_it_needs(
        tmp_path: Path, repo_root: Path) -> None:
    project = tmp_path / "project"
    (project / "builder").mkdir(parents=True)
    for rel in ("noxfile.py", "pyproject.toml", "builder/__init__.py", "builder/run.py", "builder/errors.py"):
        (project / rel).write_bytes((repo_root / rel).read_bytes())
    dump = tmp_path / "env.txt"
    _fake_release_env(project, dump)
    env = {**os.environ, **SECRETS}
    subprocess.run([sys.executable, "-m", "nox", "--noxfile", str(project / "noxfile.py"), "-s", "check"],
                   env=env, check=True, capture_output=True, cwd=project)
    pip_part, tool_part = dump.read_text().split("--- tool")
    assert "--- pip" in pip_part and "PATH=" in pip_part
    assert _leaks(pip_part) == []  # pip (and the build backend it runs) never sees a token or password
    assert "GH_TOKEN=" in tool_part  # the command itself needs the token to publish


@dataclasses.dataclass
class _Recorder:
    """Stands in for nox's Session: records the environment each command of a session is given."""

    posargs: list[str]
    cache_dir: Path
    calls: list[tuple[tuple[str, ...], dict[str, object]]] = dataclasses.field(default_factory=list)

    def install(self, *args: str, **kw: object) -> None:
        self.calls.append((("pip", "install", *args), kw))

    def run(self, *args: str, **kw: object) -> None:
        self.calls.append((args, kw))


@pytest.fixture(scope="module")
def noxfile() -> ModuleType:
    import importlib.util

    spec = importlib.util.spec_from_file_location("noxfile_under_test", Path(__file__).parent.parent / "noxfile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["tests", "bench", "lint"])
def test_the_developer_sessions_children_get_no_secret(tmp_path: Path, noxfile: ModuleType, name: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Their pip installs need the package index, so nox's Session is recorded here, not run."""
    for var, value in SECRETS.items():
        monkeypatch.setenv(var, value)
    session = _Recorder([], tmp_path)
    getattr(noxfile, name)(session)
    assert session.calls
    for args, kw in session.calls:
        assert kw.get("include_outer_env") is False, args
        given = kw.get("env")
        assert isinstance(given, dict) and "PATH" in given, args
        assert _leaks("\n".join(f"{k}={v}" for k, v in given.items())) == [], args


@pytest.mark.go
def test_a_pin_the_configuration_names_never_reaches_make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         go_seed: GoSeed) -> None:
    """A signing PIN whose name looks like nothing secret, named by the configuration and so kept from
    every child of the run, even one the configuration asks to pass it to, through the command line."""
    go_seed.into(tmp_path / "cache")
    tree = make_tree(tmp_path / "kubernetes")
    makefile = tree / "Makefile"
    dump = tmp_path / "make-env.txt"
    makefile.write_text(makefile.read_text().replace("all:\n", f"all:\n\tenv > {dump}\n", 1))
    git(tree, "commit", "-q", "-am", "dump the environment")
    (tmp_path / "bundle.yaml").write_text("kubernetes:\n  build_env: [CODESIGN_PIN]\n"
                                          "signing:\n  password_env: CODESIGN_PIN\n")
    for name, value in {**build_env(), **SECRETS, "CODESIGN_PIN": CANARY}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    # The build asks for the variable by name, yet the signing PIN stays out: what a run hides wins.
    assert cli.main(["build", "--kube-root", str(tree), "--cache-dir", str(tmp_path / "cache")]) == 0
    seen = dump.read_text()
    assert "PATH=" in seen  # the dump ran
    assert _leaks(seen) == []


def test_the_names_a_configuration_hides_travel_with_its_run(tmp_path: Path) -> None:
    """A password_env whose name looks like nothing secret (no _PASSWORD suffix) is kept from the run's
    children even where a caller keeps it; loading the configuration changes nothing for any other
    environment (no process-wide state)."""
    (tmp_path / "bundle.yaml").write_text("signing:\n  password_env: CODESIGN_PIN\n")
    env = {**os.environ, "CODESIGN_PIN": CANARY}
    cfg = config.load(config.Overrides(needs_source=False), env, tmp_path)
    ctx = cli.context(Reporter(), env, cfg)
    assert ctx.hidden == {"CODESIGN_PIN"}
    out = run.call(["env"], env=ctx.child_env(), keep=("CODESIGN_PIN",))
    assert "PATH=" in out and CANARY not in out
    assert run.child_env(env, ("CODESIGN_PIN",))["CODESIGN_PIN"] == CANARY  # another run, without that configuration
