"""The command line as users meet it: --version, help per command, and commands that need no tree."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kube_tree import TAG, make_tree
from sdn_fixture import write_sdn_archive

from builder import __version__, cli
from builder.sources import build

REPO = Path(__file__).resolve().parent.parent
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def help_of(*argv: str) -> str:
    res = subprocess.run([sys.executable, "-m", "builder", *argv, "--help"], capture_output=True, text=True,
                         cwd=REPO, check=True)
    return res.stdout


def test_version_names_the_commit_and_its_date(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    sha, date = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%H %cs"], capture_output=True,
                               text=True, check=True).stdout.split()
    shown = capsys.readouterr().out.strip()
    assert shown.startswith(f"k8s-windows-bundle {__version__} (commit {sha[:12]}")
    assert shown.endswith(f", {date})")


def test_top_help_describes_commands_environment_and_exit_codes() -> None:
    text = help_of()
    for part in ("turns a Windows Server machine into a Kubernetes node", "check ", "schema ", "examples:",
                 "SOURCE_DATE_EPOCH", "GH_TOKEN", "exit codes:", "2  configuration", "8  bundle verification"):
        assert part in text, part


@pytest.mark.parametrize(("command", "has", "lacks"), [
    ("verify", ["--dist", "zips", "--json"], ["--kube-root", "--offline", "--revision", "--force", "--config"]),
    ("render", ["--kube-version", "--out", "--kube-root"], ["--offline", "--force", "--revision", "--draft"]),
    ("publish", ["--draft", "--replace", "--dry-run", "--dist", "--offline", "--notes", "--json"],
     ["--kube-root", "--kube-version", "--force"]),
    ("fetch", ["--update-pins", "--offline", "--allow-unpinned"], ["--force", "--revision", "--draft", "--out"]),
    ("bundle", ["--kube-root", "--kube-version", "--revision", "--force", "--offline"], ["--draft", "--out"]),
    ("check", ["--kube-root", "--kube-version", "--dist"], ["--force", "--draft"]),
])
def test_each_command_lists_only_its_options(command: str, has: list[str], lacks: list[str]) -> None:
    text = help_of(command)
    for opt in has:
        assert opt in text, opt
    for opt in lacks:
        assert opt not in text, opt
    assert "examples:" in text and "exit codes:" in text


def test_every_command_is_dispatched_and_every_option_has_a_typed_field() -> None:
    """A flag added to a command's parser must reach CommandLine (parse would fail on it otherwise)."""
    assert set(cli.DISPATCH) == set(cli.COMMANDS) == set(cli.OPTIONS)
    typed = ({f.name for f in dataclasses.fields(cli.CommandLine)} | set(cli.OVERRIDES) | {"kube_version"}
             | set(cli.INIT_FIELDS))
    commands = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in commands.choices.items():
        dests = {a.dest for a in parser._actions if a.dest != "help"}
        assert dests <= typed, (name, dests - typed)
    line = cli.CommandLine.parse(["bundle", "--kube-version", "v1.37.0", "--kube-version", "v1.36.2", "--force"])
    assert line.overrides.kube_versions == ("v1.37.0", "v1.36.2") and line.overrides.force
    assert not line.overrides.tree_optional and line.overrides.needs_source


def test_render_needs_no_tree_when_the_version_is_configured(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("KUBE_ROOT", "GOPATH"):
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "bundle.yaml").write_text("kubernetes:\n  version: v1.32.4\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["render", "--out", "out"]) == 0
    assert "v1.32.4" in (tmp_path / "out/README.txt").read_text()
    assert cli.main(["render", "--kube-version", "v1.30.0", "--out", "out2"]) == 0
    assert (tmp_path / "out2/start-kubelet.ps1").is_file()


def test_an_unpinned_sdn_commit_stops_only_the_commands_that_fetch_it(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """render, build and publish have no --allow-unpinned, so they must not ask for it."""
    for key in ("KUBE_ROOT", "GOPATH"):
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "bundle.yaml").write_text("kubernetes:\n  source: release\n  version: v1.32.4\n"
                                          "sdn:\n  commit: master\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["render", "--out", "out"]) == 0
    assert (tmp_path / "out/start-kubelet.ps1").is_file()
    assert "--allow-unpinned" not in caplog.text
    assert cli.main(["check", "--offline"]) == 2
    assert "sdn.commit: 'master' is a branch or tag" in caplog.text and "--allow-unpinned" in caplog.text


def test_a_plain_http_mirror_does_not_stop_the_commands_that_download_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """publish has no --allow-insecure-http, so it must not ask for it; bundle still does."""
    (tmp_path / "bundle.yaml").write_text("kubernetes:\n  source: release\n  version: v1.32.4\n"
                                          "  release_url: http://mirror.example/k8s\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["publish", "--dry-run"]) == 9  # past the configuration, to dist/, which has no bundle run
    assert "has no artifacts.json" in caplog.text
    assert "--allow-insecure-http" not in caplog.text
    caplog.clear()
    assert cli.main(["bundle", "--offline"]) == 2
    assert "kubernetes.release_url: http://mirror.example/k8s is plain http" in caplog.text


def test_render_without_any_version_is_a_configuration_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    for key in ("KUBE_ROOT", "GOPATH"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bundle.yaml").write_text("version: 1\n")
    assert cli.main(["render"]) == 2
    assert "--kube-version" in caplog.text


def test_render_reads_the_trees_version_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = make_tree(tmp_path / "kubernetes")
    detected: list[str] = []
    real_detect = build.detect_version
    monkeypatch.setattr(build, "detect_version", lambda *a: detected.append(str(a[0])) or real_detect(*a))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bundle.yaml").write_text("version: 1\n")
    assert cli.main(["render", "--kube-root", str(tree), "--out", "out"]) == 0
    assert detected == [str(tree)]
    assert TAG in (tmp_path / "out/README.txt").read_text()


def test_fetch_needs_no_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("KUBE_ROOT", "GOPATH"):
        monkeypatch.delenv(key, raising=False)
    _archive, sdn = write_sdn_archive(tmp_path, COMMIT)
    (tmp_path / "bundle.yaml").write_text(yaml.safe_dump({"sdn": sdn}))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["fetch", "--cache-dir", "cache"]) == 0
    assert (tmp_path / "cache/sdn" / COMMIT).is_dir()


def test_bundle_still_needs_a_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   caplog: pytest.LogCaptureFixture) -> None:
    for key in ("KUBE_ROOT", "GOPATH"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bundle.yaml").write_text("version: 1\n")
    assert cli.main(["bundle"]) == 2
    assert "no Kubernetes tree given" in caplog.text


def test_build_and_render_name_their_one_version_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Two --kube-version to build or render: said so, not "pass --kube-version"."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bundle.yaml").write_text("version: 1\n")
    for command in ("build", "render"):
        caplog.clear()
        assert cli.main([command, "--kube-version", "v1.36.0", "--kube-version", "v1.37.0"]) == 2
        assert f"{command} takes one Kubernetes version, not 2 (v1.36.0, v1.37.0)" in caplog.text
    assert cli.main(["render", "--kube-version", "v1.37.0", "--kube-version", "v1.37.0", "--out", "o"]) == 0
    assert (tmp_path / "o/start-kubelet.ps1").is_file()
