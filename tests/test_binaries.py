"""Release binaries (kubernetes.source: release) from a fake dl.k8s.io on 127.0.0.1, and many versions at once.

The "Windows binaries" are real PE32+ x86-64 executables cross-compiled with Go (tests/fake_dlk8s.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from fake_dlk8s import WindowsExes, digest, exe_path, publish
from httpserver import Fail, Reply, serve
from kit_fixture import cni_release_tgz, local_cni_release
from sdn_fixture import write_sdn_archive

from builder import cli, http, pipeline
from builder.config import Config, InputSection, KubernetesSection, Options, SdnFile, SdnSection
from builder.errors import BuilderError, FetchError
from builder.hashing import sha256_file
from builder.http import Net
from builder.options import Context, Run
from builder.report import Reporter
from builder.sources import binaries, release_pins

V1, V2 = "v1.36.2", "v1.37.0"
UNPUBLISHED = "v1.35.9"  # a version the scripts support that the fake dl.k8s.io does not have
SDN_COMMIT = "0123456789abcdef0123456789abcdef01234567"
FAST = (2.0, 2.0)  # connect, read: nothing here should wait long


@pytest.fixture(scope="session")
def exes(tmp_path_factory: pytest.TempPathFactory) -> WindowsExes:
    return WindowsExes(tmp_path_factory.mktemp("exes"))


@pytest.fixture
def srv() -> Iterator[object]:
    with serve() as server:
        yield server


def make_cfg(tmp_path: Path, url: str, version: str | None = V2, *, versions: tuple[str, ...] = (),
             components: tuple[str, ...] = ("kubelet", "kube-proxy", "kubeadm"), offline: bool = False,
             pins: tuple[tuple[str, str, str], ...] = ()) -> Config:
    kube = KubernetesSection(source="release", version=version, versions=versions, components=components,
                             release_url=url, pins=pins)
    opts = Options(dist=tmp_path / "dist", cache_dir=tmp_path / "cache", offline=offline)
    # A local SDN archive: the pipeline fetches the pinned inputs before any binary.
    _archive, raw = write_sdn_archive(tmp_path, SDN_COMMIT)
    sdn = SdnSection(repo=raw["repo"], commit=raw["commit"], url=raw["url"],
                     files=tuple(SdnFile(**f) for f in raw["files"]))
    # containerd-era versions also take the CNI plugins: a pinned release on a local mirror.
    raw_cni = local_cni_release(tmp_path / "cni")
    cni = InputSection(name="cni", version=raw_cni["version"], source="release", url=raw_cni["url"],
                       sha256=raw_cni["sha256"])
    return Config(kubernetes=kube, sdn=sdn, options=opts).with_input(cni)


def cache_files(tmp_path: Path) -> list[str]:
    """What the release cache holds, below its per-origin folders."""
    root = tmp_path / "cache" / "release"
    if not root.exists():
        return []
    return sorted(str(p.relative_to(origin)) for origin in root.iterdir() for p in origin.rglob("*"))


def cached(tmp_path: Path, url: str, version: str = V2) -> Path:
    """The cache folder of `version` from the release at `url`."""
    return tmp_path / "cache" / "release" / binaries.origin_key(url) / version


# --------------------------------------------------------------------------- one version


def test_good_files_are_downloaded_verified_and_recorded(tmp_path, srv, net, exes, sleeps):
    exe = exes.get(V2)
    url = publish(srv, V2, exe)
    result = binaries.download_binaries(make_cfg(tmp_path, url), net=net)

    assert (result.source, result.git_version, result.git_commit, result.tree_state) == ("release", V2, None,
                                                                                          "release")
    assert result.go_version is None
    # kube-log-runner.exe comes along from 1.23 on, checked by headers and checksum (it carries no version).
    assert [b.name for b in result.binaries] == ["kubelet", "kube-proxy", "kubeadm", "kube-log-runner"]
    for b in result.binaries:
        assert b.path == cached(tmp_path, url) / f"{b.name}.exe"
        assert b.path.read_bytes() == exe
        assert b.sha256 == hashlib.sha256(exe).hexdigest()
        assert b.origin == srv.url(exe_path(V2, b.name))
        assert b.published_checksums == {"sha512": digest("sha512", exe)}
    # the .sha512 is preferred: the .sha256 beside it is never asked for
    assert srv.hits(exe_path(V2, "kubelet") + ".sha256") == 0
    assert srv.hits(exe_path(V2, "kubectl")) == 0  # not a listed component
    assert sleeps == []
    names = ("kube-log-runner", "kube-proxy", "kubeadm", "kubelet")
    assert cache_files(tmp_path) == [V2, *(f"{V2}/{n}.exe{s}" for n in names for s in ("", ".sha512", ".verified"))]
    assert [p.name for p in (tmp_path / "cache" / "release").iterdir()] == [binaries.origin_key(url)]


def test_only_a_sha256_published_is_used(tmp_path, srv, net, exes):
    exe = exes.get(V2)
    url = publish(srv, V2, exe, sums=("sha256",))
    result = binaries.download_binaries(make_cfg(tmp_path, url, components=("kubelet", "kube-proxy")), net=net)
    assert [b.published_checksums for b in result.binaries] == [{"sha256": digest("sha256", exe)}] * 3
    assert srv.hits(exe_path(V2, "kubelet") + ".sha512") == 1  # asked first, 404


def test_checksum_that_does_not_match_keeps_nothing(tmp_path, srv, net, exes):
    url = publish(srv, V2, exes.get(V2), wrong="sha512")
    with pytest.raises(FetchError) as err:
        binaries.download_binaries(make_cfg(tmp_path, url), net=net)
    text = str(err.value)
    assert srv.url(exe_path(V2, "kubelet")) in text
    assert "does not match the published" in text and "not kept" in text
    assert cache_files(tmp_path) == []  # no exe, no checksum, no temporary folder
    assert err.value.exit_code == 5


def test_missing_checksum_file_is_an_error_not_a_skip(tmp_path, srv, net, exes):
    url = publish(srv, V2, exes.get(V2), sums=())
    with pytest.raises(FetchError) as err:
        binaries.download_binaries(make_cfg(tmp_path, url), net=net)
    shown = srv.url(exe_path(V2, "kubelet"))
    assert f"neither {shown}.sha512 nor {shown}.sha256 exists" in str(err.value)
    assert cache_files(tmp_path) == []


def test_version_that_does_not_exist_names_version_and_url(tmp_path, srv, net, exes, sleeps):
    url = publish(srv, V2, exes.get(V2))
    with pytest.raises(FetchError) as err:
        binaries.download_binaries(make_cfg(tmp_path, url, "v1.99.0"), net=net)
    text = str(err.value)
    assert "Kubernetes v1.99.0" in text
    assert srv.url(exe_path("v1.99.0", "kubelet")) in text
    assert "HTTP 404" in text
    assert sleeps == []  # a 404 is final: never retried
    assert srv.hits(exe_path("v1.99.0", "kubelet")) == 1


def test_download_cut_short_resumes_where_it_stopped(tmp_path, srv, net, exes, sleeps):
    exe = exes.get(V2)
    url = publish(srv, V2, exe)
    path = exe_path(V2, "kubelet")
    srv.fail(path, Fail.drop(after=300_000))
    result = binaries.download_binaries(make_cfg(tmp_path, url, components=("kubelet", "kube-proxy")), net=net)
    assert result.binaries[0].path.read_bytes() == exe
    asked = [r for r in srv.requests if r.path == path]
    assert len(asked) == 2 and len(sleeps) == 1
    assert asked[1].headers.get("Range", "").startswith("bytes=")
    assert asked[1].status == 206


def test_download_cut_short_every_time_fails_and_keeps_nothing(tmp_path, srv, net, exes, sleeps):
    url = publish(srv, V2, exes.get(V2))
    srv.fail(exe_path(V2, "kubelet"), *[Fail.short(after=1000)] * 3)
    with pytest.raises(FetchError) as err:
        binaries.download_binaries(make_cfg(tmp_path, url), net=net)
    assert "failed after 3 attempts" in str(err.value)
    assert len(sleeps) == 2
    assert cache_files(tmp_path) == []


def test_second_run_needs_no_network(tmp_path, net, exes):
    exe = exes.get(V2)
    with serve() as server:
        url = publish(server, V2, exe)
        first = binaries.download_binaries(make_cfg(tmp_path, url), net=net)
    # the server is gone: any request would fail to connect
    again = binaries.download_binaries(make_cfg(tmp_path, url), net=net)
    assert again == first
    offline = binaries.download_binaries(make_cfg(tmp_path, url, offline=True), net=net)
    assert offline == first


def test_offline_with_an_empty_cache_says_what_is_missing(tmp_path, exes):
    with pytest.raises(FetchError) as err:
        binaries.download_binaries(make_cfg(tmp_path, "http://127.0.0.1:9/release", offline=True))
    assert "offline" in str(err.value) and f"kubelet.exe of Kubernetes {V2}" in str(err.value)
    assert "http://127.0.0.1:9/release/v1.37.0/bin/windows/amd64/kubelet.exe" in str(err.value)


def test_tampered_cache_entry_is_downloaded_again(tmp_path, srv, net, exes):
    exe = exes.get(V2)
    url = publish(srv, V2, exe)
    cfg = make_cfg(tmp_path, url, components=("kubelet", "kube-proxy"))
    binaries.download_binaries(cfg, net=net)
    kubelet = cached(tmp_path, url) / "kubelet.exe"
    kubelet.write_bytes(exe[:1000] + bytes([exe[1000] ^ 0xFF]) + exe[1001:])
    binaries.download_binaries(cfg, net=net)
    assert kubelet.read_bytes() == exe
    assert srv.hits(exe_path(V2, "kubelet")) == 2
    assert srv.hits(exe_path(V2, "kube-proxy")) == 1


def test_garbled_cached_checksum_file_is_downloaded_again(tmp_path, srv, net, exes):
    url = publish(srv, V2, exes.get(V2))
    cfg = make_cfg(tmp_path, url, components=("kubelet", "kube-proxy"))
    binaries.download_binaries(cfg, net=net)
    sums = cached(tmp_path, url) / "kubelet.exe.sha512"
    sums.write_text("<html>oops</html>")
    result = binaries.download_binaries(cfg, net=net)
    assert sums.read_text() == digest("sha512", exes.get(V2))
    assert result.binaries[0].published_checksums == {"sha512": digest("sha512", exes.get(V2))}
    assert srv.hits(exe_path(V2, "kubelet") + ".sha512") == 2


def test_a_file_that_is_not_a_windows_exe_is_refused(tmp_path, srv, net):
    url = publish(srv, V2, b"<html>mirror login page v1.37.0</html>")
    with pytest.raises(FetchError) as err:
        binaries.download_binaries(make_cfg(tmp_path, url), net=net)
    assert "no MZ header" in str(err.value) and srv.url(exe_path(V2, "kubelet")) in str(err.value)
    assert cache_files(tmp_path) == []


def test_another_versions_exe_is_refused(tmp_path, srv, net, exes):
    url = publish(srv, V2, exes.get(V1))  # checksums match, but it is the v1.36.2 build
    with pytest.raises(FetchError) as err:
        binaries.download_binaries(make_cfg(tmp_path, url), net=net)
    assert f"does not carry the version string {V2}" in str(err.value)


def test_local_mirror_folder_works_like_the_server(tmp_path, exes):
    exe = exes.get(V2)
    folder = tmp_path / "mirror" / V2 / "bin" / "windows" / "amd64"
    folder.mkdir(parents=True)
    for name in ("kubelet", "kube-proxy", "kube-log-runner"):
        (folder / f"{name}.exe").write_bytes(exe)
        (folder / f"{name}.exe.sha512").write_text(f"{digest('sha512', exe)}  {name}.exe\n")
    cfg = make_cfg(tmp_path, str(tmp_path / "mirror"), components=("kubelet", "kube-proxy"))
    result = binaries.download_binaries(cfg)
    assert [b.published_checksums["sha512"] for b in result.binaries] == [digest("sha512", exe)] * 3
    (folder / "kubelet.exe.sha512").unlink()
    with pytest.raises(FetchError, match="no published checksum"):
        binaries.download_binaries(dataclasses.replace(cfg, options=dataclasses.replace(
            cfg.options, cache_dir=tmp_path / "cache2")))


# --------------------------------------------------------------------------- trust


def test_a_mirrors_binary_is_never_served_for_another_origin(tmp_path, net, exes):
    exe = exes.get(V2)
    with serve() as mirror, serve() as official:
        mirror_url = publish(mirror, V2, exe)
        official_url = publish(official, V2, exe)
        from_mirror = binaries.download_binaries(make_cfg(tmp_path, mirror_url, components=("kubelet", "kube-proxy")),
                                                 net=net)
        from_official = binaries.download_binaries(
            make_cfg(tmp_path, official_url, components=("kubelet", "kube-proxy")), net=net)
    assert official.hits(exe_path(V2, "kubelet")) == 1  # fetched from its own origin, not the mirror's entry
    assert from_mirror.binaries[0].path != from_official.binaries[0].path
    assert from_official.binaries[0].origin == official.url(exe_path(V2, "kubelet"))


def test_a_planted_cache_entry_is_refused_and_replaced(tmp_path, srv, net, exes):
    exe = exes.get(V2)
    url = publish(srv, V2, exe)
    folder = cached(tmp_path, url)
    folder.mkdir(parents=True)
    planted = exe[:-16] + b"planted-bytes..."  # with its own matching checksum file beside it
    (folder / "kubelet.exe").write_bytes(planted)
    (folder / "kubelet.exe.sha512").write_text(digest("sha512", planted))
    result = binaries.download_binaries(make_cfg(tmp_path, url, components=("kubelet", "kube-proxy")), net=net)
    assert srv.hits(exe_path(V2, "kubelet")) == 1
    assert result.binaries[0].path.read_bytes() == exe
    assert result.binaries[0].sha256 == digest("sha256", exe)


def test_a_pin_refuses_a_binary_whose_published_checksum_matches(tmp_path, srv, net, exes):
    exe = exes.get(V2)
    url = publish(srv, V2, exe)
    wrong = (V2, "kubelet", "0" * 64)
    with pytest.raises(FetchError, match=r"does not match its pin kubernetes.pins.v1.37.0.kubelet") as err:
        binaries.download_binaries(make_cfg(tmp_path, url, components=("kubelet", "kube-proxy"), pins=(wrong,)),
                                   net=net)
    assert err.value.exit_code == 5
    assert cache_files(tmp_path) == []
    right = (V2, "kubelet", digest("sha256", exe))
    cfg = make_cfg(tmp_path, url, components=("kubelet", "kube-proxy"), pins=(right,))
    assert binaries.download_binaries(cfg, net=net).binaries[0].sha256 == right[2]
    # a cached entry is checked against the pin too: a changed pin sends it back to the server
    with pytest.raises(FetchError, match="does not match its pin"):
        binaries.download_binaries(make_cfg(tmp_path, url, components=("kubelet", "kube-proxy"), pins=(wrong,)),
                                   net=net)
    assert srv.hits(exe_path(V2, "kubelet")) == 3


def test_an_oversized_checksum_file_is_refused_with_a_clean_cache(tmp_path, srv, net, exes):
    url = publish(srv, V2, exes.get(V2), sums=("sha256",))
    srv.route(exe_path(V2, "kubelet") + ".sha512", b"a" * 400_000)
    with pytest.raises(FetchError, match="larger than the limit of 16384 bytes") as err:
        binaries.download_binaries(make_cfg(tmp_path, url), net=net)
    assert err.value.exit_code == 5
    assert not (tmp_path / "cache" / "release").exists()  # not even an empty folder


def test_a_redirect_loop_ends_in_exit_5_with_a_clean_cache(tmp_path, srv, net, exes):
    url = publish(srv, V2, exes.get(V2))
    srv.route(exe_path(V2, "kubelet"), lambda req: Reply(302, b"", {"Location": exe_path(V2, "kubelet")}))
    code = cli.main(["build", "--cache-dir", str(tmp_path / "cache"), "--config",
                     str(write_plain_config(tmp_path, url))])
    assert code == 5
    assert not (tmp_path / "cache" / "release").exists()


def write_plain_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "bundle.yaml"
    doc = {"kubernetes": {"source": "release", "version": V2, "release_url": url}}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- many versions


def resolved(cfg: Config, net: Net) -> Run:
    """The run `cli` resolves for this configuration: its versions, each once."""
    versions, tree = pipeline.resolve_versions(cfg, {}, checks_tree=False)
    return Run(Context(net=net), cfg, versions, tree)


def fake_bundle_one(run: Run, shared: pipeline.Shared) -> Path:
    """Packs what the build stage gives (from the cache now) into a small zip, as the pipeline would."""
    built = pipeline.build_stage(run)
    out = run.cfg.options.dist / f"test-{built.git_version}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as zf:
        for b in built.binaries:
            zf.write(b.path, b.filename)
    return out


def test_many_versions_one_failure_leaves_the_others_complete(tmp_path, srv, net, exes, caplog, monkeypatch):
    monkeypatch.setattr(pipeline, "bundle_one", fake_bundle_one)
    versions = (V1, UNPUBLISHED, V2)
    url = publish(srv, V1, exes.get(V1))
    publish(srv, V2, exes.get(V2))
    cfg = make_cfg(tmp_path, url, None, versions=versions)
    caplog.set_level(logging.INFO, logger="builder")
    with pytest.raises(FetchError) as err:
        pipeline.bundle(resolved(cfg, net))
    assert f"1 of 3 Kubernetes versions failed ({UNPUBLISHED})" in str(err.value)
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == [f"test-{V1}.zip", f"test-{V2}.zip"]
    for v in (V1, V2):
        with zipfile.ZipFile(tmp_path / "dist" / f"test-{v}.zip") as zf:
            assert zf.read("kubelet.exe") == exes.get(v)
    lines = [r.getMessage() for r in caplog.records]
    summary = lines[lines.index(next(x for x in lines if x.startswith("summary:"))):]
    assert summary[0] == "summary: 3 Kubernetes version(s), 2 ok, 1 failed"
    assert summary[1] == f"  {V1}  ok      {tmp_path / 'dist' / f'test-{V1}.zip'}"
    assert summary[2].startswith(f"  {UNPUBLISHED}  FAILED  Kubernetes {UNPUBLISHED}: kubelet.exe is not at ")
    assert summary[3].startswith(f"  {V2}  ok      ")
    # downloads first (each binary once), packing from the cache afterwards
    assert srv.hits(exe_path(V1, "kubelet")) == 1 and srv.hits(exe_path(V2, "kubeadm")) == 1


def test_many_versions_all_ok_returns_every_zip_in_order(tmp_path, srv, net, exes, monkeypatch):
    monkeypatch.setattr(pipeline, "bundle_one", fake_bundle_one)
    url = publish(srv, V1, exes.get(V1))
    publish(srv, V2, exes.get(V2))
    cfg = make_cfg(tmp_path, url, None, versions=(V2, V1, V2))
    zips = pipeline.bundle(resolved(cfg, net))
    assert [z.name for z in zips] == [f"test-{V2}.zip", f"test-{V1}.zip"]  # the repeated version once


def test_failures_of_different_kinds_exit_with_the_general_code(tmp_path, srv, net, exes, monkeypatch):
    url = publish(srv, V1, exes.get(V1))

    def failing_pack(run: Run, shared: pipeline.Shared) -> Path:
        raise BuilderError("pack exploded")

    monkeypatch.setattr(pipeline, "bundle_one", failing_pack)
    with pytest.raises(BuilderError) as err:
        pipeline.bundle(resolved(make_cfg(tmp_path, url, None, versions=(V1, UNPUBLISHED)), net))
    assert type(err.value) is BuilderError and err.value.exit_code == 1


def test_many_versions_check_sign_and_fetch_once_for_all(tmp_path, srv, net, exes, monkeypatch):
    """The preflight, the signer and the pinned inputs are the same for every version: done once, first."""
    from builder.bundle import sign
    from builder.sources import kit

    calls: list[str] = []

    def counted(name: str, real: Callable[..., object]) -> Callable[..., object]:
        def wrapper(*args: object, **kw: object) -> object:
            calls.append(name)
            return real(*args, **kw)
        return wrapper

    monkeypatch.setattr(pipeline, "preflight", counted("preflight", pipeline.preflight))
    monkeypatch.setattr(sign, "prepare", counted("signer", sign.prepare))
    monkeypatch.setattr(kit, "fetch_all", counted("fetch", kit.fetch_all))
    monkeypatch.setattr(binaries, "prefetch", counted("prefetch", binaries.prefetch))
    docker_era = "v1.23.17"  # runs docker by default: its bundle takes no CNI plugins, V2's does
    url = publish(srv, docker_era, exes.get(docker_era))
    publish(srv, V2, exes.get(V2))
    zips = pipeline.bundle(resolved(make_cfg(tmp_path, url, None, versions=(docker_era, V2)), net))
    assert [z.name for z in zips] == [f"kubernetes-windows-node-{v}-1.zip" for v in (docker_era, V2)]
    assert calls == ["preflight", "signer", "fetch", "prefetch"]
    plugins = []
    for z in zips:
        with zipfile.ZipFile(z) as zf:
            plugins.append(any(n.endswith("cni/win-bridge.exe") for n in zf.namelist()))
    assert plugins == [False, True]


def test_prefetch_runs_at_most_a_few_at_a_time(tmp_path, srv, net, exes, monkeypatch):
    seen: list[int] = []
    real = binaries.ThreadPoolExecutor

    def recording(max_workers: int, **kw: object) -> object:
        seen.append(max_workers)
        return real(max_workers=max_workers, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(binaries, "ThreadPoolExecutor", recording)
    versions = tuple(f"v1.3{i}.0" for i in range(5))
    url = srv.url("/release")
    for v in versions:
        publish(srv, v, exes.get(v), names=("kubelet", "kube-proxy", "kube-log-runner"))
    cfg = make_cfg(tmp_path, url, None, versions=versions, components=("kubelet", "kube-proxy"))
    assert binaries.prefetch(cfg, versions, net=net) == {}
    assert seen == [binaries.MAX_PARALLEL] and binaries.MAX_PARALLEL <= 3
    assert len(cache_files(tmp_path)) == 5 * 10  # per version: its folder and 3 x (exe + sha512 + record)


# --------------------------------------------------------------------------- the whole pipeline


def write_config(tmp_path: Path, release_url: str) -> Path:
    _archive, sdn = write_sdn_archive(tmp_path, SDN_COMMIT)
    # containerd-era versions take the CNI plugins: here the release tgz from a local mirror, pinned.
    cni = tmp_path / "cni-plugins-windows-amd64-v1.9.1.tgz"
    cni.write_bytes(cni_release_tgz("v1.9.1"))
    (tmp_path / f"{cni.name}.sha256").write_text(f"{sha256_file(cni)}  {cni.name}\n")  # a mirror copies those too
    path = tmp_path / "bundle.yaml"
    path.write_text(yaml.safe_dump({"kubernetes": {"release_url": release_url}, "sdn": sdn,
                                    "cni": {"source": "release", "url": str(cni), "sha256": sha256_file(cni)},
                                    "bundle": {"source_date_epoch": 1767225600}}))
    return path


def test_two_versions_make_two_complete_bundles(tmp_path, srv, exes, monkeypatch):
    url = publish(srv, V1, exes.get(V1))
    publish(srv, V2, exes.get(V2))
    config = write_config(tmp_path, url)
    monkeypatch.chdir(tmp_path)
    argv = ["bundle", "--config", str(config), "--dist", "dist", "--cache-dir", "cache",
            "--kube-version", V1, "--kube-version", V2]
    assert cli.main(argv) == 0
    zips = sorted((tmp_path / "dist").glob("*.zip"))
    assert [z.name for z in zips] == [f"kubernetes-windows-node-{V1}-1.zip", f"kubernetes-windows-node-{V2}-1.zip"]
    for version, z in zip((V1, V2), zips, strict=True):
        with zipfile.ZipFile(z) as zf:
            assert zf.testzip() is None
            names = zf.namelist()
            exe_names = [n for n in names if n.endswith(("kubelet.exe", "kube-proxy.exe", "kubectl.exe"))]
            assert len(exe_names) == 3
            for n in exe_names:
                assert zf.read(n) == exes.get(version)
            manifest = json.loads(zf.read(next(n for n in names if n.endswith("manifest.json"))))
        k = manifest["kubernetes"]
        assert (k["gitVersion"], k["source"], k["commit"], k["treeState"]) == (version, "release", None, "release")
        assert manifest["go"]["version"] is None
        assert sorted(k["binaries"]) == ["kube-log-runner", "kube-proxy", "kubectl", "kubelet"]
        for name, b in k["binaries"].items():
            assert b["origin"] == srv.url(exe_path(version, name))
            assert b["publishedChecksums"] == {"sha512": digest("sha512", exes.get(version))}
            assert b["sha256"] == digest("sha256", exes.get(version))
    # a second run is served from the cache: no new request reaches the server
    before = len(srv.requests)
    assert cli.main([*argv, "--offline"]) == 0
    assert len(srv.requests) == before


def test_a_failed_version_makes_the_run_fail_after_bundling_the_rest(tmp_path, srv, exes, monkeypatch):
    url = publish(srv, V2, exes.get(V2))
    config = write_config(tmp_path, url)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["bundle", "--config", str(config), "--dist", "dist", "--cache-dir", "cache",
                     "--kube-version", UNPUBLISHED, "--kube-version", V2])
    assert code == FetchError.exit_code
    assert [z.name for z in (tmp_path / "dist").glob("*.zip")] == [f"kubernetes-windows-node-{V2}-1.zip"]


def test_per_version_dists_merged_as_the_workflow_does_verify(tmp_path, srv, exes, monkeypatch):
    """Each matrix job's dist/ (without SHA256SUMS), merged; the publish job's script writes SHA256SUMS anew."""
    from builder.bundle import verify

    url = publish(srv, V1, exes.get(V1))
    publish(srv, V2, exes.get(V2))
    config = write_config(tmp_path, url)
    monkeypatch.chdir(tmp_path)
    merged = tmp_path / "merged"
    merged.mkdir()
    for version in (V1, V2):
        dist = tmp_path / f"dist-{version}"
        argv = ["bundle", "--config", str(config), "--dist", str(dist), "--cache-dir", "cache",
                "--kube-version", version]
        assert cli.main(argv) == 0
        for f in dist.iterdir():
            if f.name != "SHA256SUMS":
                (merged / f.name).write_bytes(f.read_bytes())
    workflow = yaml.safe_load((Path(__file__).parent.parent / ".github/workflows/release.yml").read_text())
    script = next(s["run"] for s in workflow["jobs"]["publish"]["steps"]
                  if s.get("name") == "Write dist/SHA256SUMS over all bundles")
    subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=merged, check=True, capture_output=True)
    assert verify.check_dist_sums(merged) == []
    listed = (merged / "SHA256SUMS").read_text().splitlines()
    assert len(listed) == len(list(merged.iterdir())) - 1 >= 2


# --------------------------------------------------------------------------- kubernetes.pins from fetch --update-pins

SHA_A, SHA_B = "a" * 64, "b" * 64


def test_pins_are_written_into_the_kubernetes_section_keeping_comments():
    text = "# top\nkubernetes:\n  source: release  # official\n  version: v1.37.0\nnode:\n  isolation: process\n"
    out = release_pins.rewrite_kubernetes_pins(text, "b.yaml", {V2: {"kubelet": SHA_A}})
    assert out == ("# top\nkubernetes:\n  source: release  # official\n  version: v1.37.0\n  pins:\n"
                   f"    v1.37.0:\n      kubelet: {SHA_A}\nnode:\n  isolation: process\n")
    # again, for another version: the first version's pins stay, the block is replaced in place
    again = release_pins.rewrite_kubernetes_pins(out, "b.yaml", {V1: {"kubelet": SHA_B}})
    assert yaml.safe_load(again)["kubernetes"]["pins"] == {V1: {"kubelet": SHA_B}, V2: {"kubelet": SHA_A}}
    assert again.endswith("node:\n  isolation: process\n") and again.startswith("# top\n")
    assert release_pins.rewrite_kubernetes_pins("", "b.yaml", {V2: {"kubelet": SHA_A}}).startswith("kubernetes:\n")
    flow = "kubernetes:\n  pins: {v1.37.0: {kubelet: " + SHA_B + "}}\n  version: v1.37.0\n"
    assert yaml.safe_load(release_pins.rewrite_kubernetes_pins(flow, "b.yaml", {V2: {"kubelet": SHA_A}})) == {
        "kubernetes": {"pins": {V2: {"kubelet": SHA_A}}, "version": V2}}


def test_update_pins_downloads_verifies_and_writes_what_later_runs_check(tmp_path, srv, net, exes):
    exe = exes.get(V2)
    url = publish(srv, V2, exe)
    path = tmp_path / "bundle.yaml"
    path.write_text(f"kubernetes:\n  source: release\n  version: {V2}\n  release_url: {url}\n"
                    "  components: [kubelet, kube-proxy, kubectl]\n")
    from builder import config as cfgmod

    # without a kubernetes.pins key nothing is downloaded (refreshing the SDN pins stays quick)
    unasked = cfgmod.load(cfgmod.Overrides(config=path, cache_dir=tmp_path / "cache"), {}, tmp_path)
    assert release_pins.update_pins(unasked, net=net, reporter=Reporter(out=io.StringIO())) == 0
    assert srv.hits(exe_path(V2, "kubelet")) == 0
    path.write_text(path.read_text() + "  pins: {}   # filled by fetch --update-pins\n")
    cfg = cfgmod.load(cfgmod.Overrides(config=path, cache_dir=tmp_path / "cache"), {}, tmp_path)
    out = io.StringIO()
    assert release_pins.update_pins(cfg, net=net, reporter=Reporter(out=out)) == 0
    pinned = cfgmod.load(cfgmod.Overrides(config=path, cache_dir=tmp_path / "cache"), {}, tmp_path)
    assert set(pinned.kubernetes.pins) == {(V2, n, digest("sha256", exe))
                                           for n in ("kubelet", "kube-proxy", "kubectl", "kube-log-runner")}
    assert "v1.37.0 kubelet: none -> " in out.getvalue()
    # the pins now hold: a server that starts serving another (validly checksummed) build is refused
    other = exe[:-16] + b"rebuilt-bytes..."
    publish(srv, V2, other)
    fresh = dataclasses.replace(pinned.options, cache_dir=tmp_path / "fresh")  # so it is really downloaded
    with pytest.raises(FetchError, match="does not match its pin"):
        binaries.download_binaries(dataclasses.replace(pinned, options=fresh), net=net)


def test_update_pins_offline_is_refused_before_any_binary_is_downloaded(tmp_path, srv, exes, caplog):
    """`fetch --update-pins --offline` with kubernetes.pins: refused at once, not after the binaries."""
    exe = exes.get(V2)
    url = publish(srv, V2, exe)
    path = tmp_path / "bundle.yaml"
    text = (f"kubernetes:\n  source: release\n  version: {V2}\n  release_url: {url}\n"
            "  components: [kubelet, kube-proxy, kubectl]\n  pins: {}\n")
    path.write_text(text)
    argv = ["fetch", "--update-pins", "--offline", "--config", str(path), "--cache-dir", str(tmp_path / "cache")]
    assert cli.main(argv) == 5
    assert "--update-pins must download every input and cannot run with --offline" in caplog.text
    assert srv.hits(exe_path(V2, "kubelet")) == 0
    assert path.read_text() == text


def test_a_signed_mirror_url_keeps_its_query_string_after_each_path(tmp_path):
    """release_url with a query (a signed mirror): the binary's path and the checksum suffix go before it."""
    cfg = Config(kubernetes=KubernetesSection(source="release", version=V2,
                                              release_url="https://mirror.example/k8s?sig=abc"))
    url = binaries.binary_url(cfg, V2, "kubelet")
    assert url == f"https://mirror.example/k8s/{V2}/bin/windows/amd64/kubelet.exe?sig=abc"
    assert http.append_path(url, ".sha512") == f"https://mirror.example/k8s/{V2}/bin/windows/amd64/kubelet.exe.sha512?sig=abc"
    assert http.append_path(str(tmp_path / "a?b"), ".sha256") == str(tmp_path / "a?b") + ".sha256"  # a local path


def test_offline_images_end_to_end(tmp_path, srv, exes, monkeypatch, capsys):
    """`bundle` with images.offline (calico-vxlan, official binaries): the base pulled from a registry on
    loopback, kube-proxy's image built from the bundle's own kube-proxy.exe and named by digest, verify clean;
    a second run, --offline, is served from the cache."""
    from fake_registry import FakeRegistry, hostprocess_base

    from builder.bundle import verify
    from builder.config import cluster_images

    url = publish(srv, V2, exes.get(V2))
    config = write_config(tmp_path, url)
    data = yaml.safe_load(config.read_text())
    with FakeRegistry() as reg:
        base = hostprocess_base(reg)
        data["network"] = {"mode": "calico-vxlan", "control_plane_ip": "192.0.2.10", "network_name": "Calico"}
        data["images"] = {"offline": True, "registry": reg.host, "pins": [base.pinned]}
        config.write_text(yaml.safe_dump(data))
        monkeypatch.chdir(tmp_path)
        argv = ["bundle", "--config", str(config), "--dist", "dist", "--cache-dir", "cache", "--kube-version", V2]
        assert cli.main(argv) == 0
    zip_path = tmp_path / "dist" / f"kubernetes-windows-node-{V2}-1.zip"
    assert verify.check_zip(zip_path).problems == []
    with zipfile.ZipFile(zip_path) as zf:
        manifest = json.loads(zf.read("k/manifest.json"))
        daemonset = zf.read("k/cluster/kube-proxy-windows.yaml").decode()
        assert "k/images/kube-proxy-windows.tar" in zf.namelist()
    [record] = manifest["images"]
    assert record["reference"].startswith(f"{cluster_images.LOCAL_REGISTRY}/kube-proxy-windows:{V2}@sha256:")
    assert f"image: {record['reference']}" in daemonset
    # `fetch` names the base it keeps, and `check` finds it; the registry is gone now: the base comes from
    # the cache, and the same bytes come out.
    assert cli.main(["fetch", "--config", str(config), "--cache-dir", "cache", "--kube-version", V2, "--offline"]) == 0
    assert f"{base.manifest_digest}  " in capsys.readouterr().out
    assert cli.main(["check", "--config", str(config), "--cache-dir", "cache", "--kube-version", V2, "--offline"]) == 0
    assert "check: HostProcess base " in capsys.readouterr().out
    before = zip_path.read_bytes()
    assert cli.main([*argv, "--offline"]) == 0
    assert zip_path.read_bytes() == before
