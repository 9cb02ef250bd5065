"""Secrets kept from child processes, and other guards that span modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kube_tree import build_env, git, make_tree

from builder import cli, config, run
from builder.report import Reporter

CANARY = "canary-7f3a9c"
SECRETS = {
    "GH_TOKEN": CANARY, "GITHUB_TOKEN": CANARY, "ACTIONS_RUNTIME_TOKEN": CANARY,
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": CANARY, "COSIGN_PASSWORD": CANARY, "SIGN_PASS": CANARY,
    "KUBEADM_JOIN_TOKEN": CANARY, "VAULT_TOKEN": CANARY,
}


@pytest.mark.go
def test_the_trees_makefile_sees_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A Kubernetes tree runs its own scripts: this one's Makefile writes its whole environment out.
    tree = make_tree(tmp_path / "kubernetes")
    makefile = tree / "Makefile"
    dump = tmp_path / "make-env.txt"
    makefile.write_text(makefile.read_text().replace("all:\n", f"all:\n\tenv > {dump}\n", 1))
    git(tree, "commit", "-q", "-am", "dump the environment")
    # A signing PIN whose name looks like nothing secret: the configuration names it, so it is hidden too.
    (tmp_path / "bundle.yaml").write_text("signing:\n  password_env: CODESIGN_PIN\n")
    for name, value in {**build_env(), **SECRETS, "CODESIGN_PIN": CANARY}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["build", "--kube-root", str(tree), "--cache-dir", str(tmp_path / "cache")]) == 0
    seen = dump.read_text()
    assert "PATH=" in seen  # the dump ran
    assert CANARY not in seen
    assert not [name for name in [*SECRETS, "CODESIGN_PIN"] if f"{name}=" in seen]


def test_every_child_gets_the_scrubbed_environment(tmp_path: Path) -> None:
    env = {**os.environ, **SECRETS, "MY_SIGNING_KEY_PW": CANARY}
    out = run.call(["env"], env=run.child_env(env, hidden={"my_signing_key_pw"}))  # a name is matched upper-cased
    assert CANARY not in out and "PATH=" in out
    # Secret-looking names are dropped by the call itself too, from whatever environment it is given.
    run.call_logged(["env"], log_path=tmp_path / "env.log", env={**os.environ, **SECRETS, "OTHER": "kept"})
    logged = (tmp_path / "env.log").read_text()
    assert CANARY not in logged and "OTHER=kept" in logged


def test_the_signature_checks_child_gets_the_scrubbed_environment() -> None:
    """`verify`'s osslsigncode calls run outside run.call (a non-zero exit is an answer there), yet scrubbed too."""
    from builder.bundle import sign

    code, out = sign._run("env", {**os.environ, **SECRETS}, [])
    assert code == 0 and "PATH=" in out
    assert CANARY not in out


def test_the_names_a_configuration_hides_travel_with_its_run(tmp_path: Path) -> None:
    """A password_env whose name looks like nothing secret (no _PASSWORD suffix) is kept from the run's
    children; loading the configuration changes nothing for any other environment (no process-wide state)."""
    (tmp_path / "bundle.yaml").write_text("signing:\n  password_env: CODESIGN_PIN\n")
    env = {**os.environ, "CODESIGN_PIN": CANARY}
    cfg = config.load(config.Overrides(needs_source=False), env, tmp_path)
    ctx = cli.context(Reporter(), env, cfg)
    assert ctx.hidden == {"CODESIGN_PIN"}
    out = run.call(["env"], env=ctx.child_env())
    assert "PATH=" in out and CANARY not in out
    assert run.child_env(env)["CODESIGN_PIN"] == CANARY  # another run, without that configuration
