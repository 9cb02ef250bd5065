"""Secrets kept from child processes, and the other guards that span modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kube_tree import build_env, git, make_tree

from builder import config, run
from builder.sources import build

CANARY = "canary-7f3a9c"
SECRETS = {
    "GH_TOKEN": CANARY, "GITHUB_TOKEN": CANARY, "ACTIONS_RUNTIME_TOKEN": CANARY,
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": CANARY, "COSIGN_PASSWORD": CANARY, "SIGN_PASS": CANARY,
    "KUBEADM_JOIN_TOKEN": CANARY, "VAULT_TOKEN": CANARY,
}


@pytest.mark.go
def test_the_trees_makefile_sees_no_secret(tmp_path: Path) -> None:
    # A Kubernetes tree runs its own scripts: this one's Makefile writes its whole environment out.
    tree = make_tree(tmp_path / "kubernetes")
    makefile = tree / "Makefile"
    dump = tmp_path / "make-env.txt"
    makefile.write_text(makefile.read_text().replace("all:\n", f"all:\n\tenv > {dump}\n", 1))
    git(tree, "commit", "-q", "-am", "dump the environment")
    env = {**build_env(), **SECRETS}
    cfg = config.load(config.Overrides(kube_root=tree, cache_dir=tmp_path / "cache", dist=tmp_path / "dist"),
                      env, tmp_path)
    build.build(cfg, env)
    seen = dump.read_text()
    assert "PATH=" in seen  # the dump ran
    assert CANARY not in seen
    assert not [name for name in SECRETS if f"{name}=" in seen]


def test_every_child_gets_the_scrubbed_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    run.hide_env("MY_SIGNING_KEY_PW")
    monkeypatch.setenv("MY_SIGNING_KEY_PW", CANARY)
    out = run.call(["env"])  # no env given: this process's environment, scrubbed
    assert CANARY not in out and "PATH=" in out
    run.call_logged(["env"], log_path=tmp_path / "env.log", env={**os.environ, "OTHER": "kept"})
    logged = (tmp_path / "env.log").read_text()
    assert CANARY not in logged and "OTHER=kept" in logged


def test_the_signature_checks_child_gets_the_scrubbed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`verify`'s osslsigncode calls run outside run.call (a non-zero exit is an answer there), yet scrubbed too."""
    from builder.bundle import sign

    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    code, out = sign._run("env", [])
    assert code == 0 and "PATH=" in out
    assert CANARY not in out


def test_the_configured_signing_password_variable_is_kept_from_children(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A password_env whose name looks like nothing secret (no _PASSWORD suffix) is still scrubbed."""
    (tmp_path / "bundle.yaml").write_text("signing:\n  password_env: CODESIGN_PIN\n")
    monkeypatch.setenv("CODESIGN_PIN", CANARY)
    config.load(config.Overrides(needs_source=False), dict(os.environ), tmp_path)
    out = run.call(["env"])
    assert "PATH=" in out and CANARY not in out
