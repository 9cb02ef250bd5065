"""builder.sources.sdn: the SDN scripts over a real loopback HTTP server, the cache, offline runs, pin updates."""

from __future__ import annotations

import dataclasses
import io
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import quick_net
from httpserver import Fail, serve
from sdn_fixture import DEFAULT_FILES, make_sdn_archive, sdn_config, sha256, write_sdn_archive

from builder import config
from builder.errors import ConfigError, FetchError
from builder.report import Reporter
from builder.sources import sdn as fetch

COMMIT = "242fb0c3190dbb08d7f9406727be18322218e537"
OTHER = "0123456789abcdef0123456789abcdef01234567"
ARCHIVE = make_sdn_archive(COMMIT)
WRONG = "ab" * 32
PATH = f"/microsoft/SDN/archive/{COMMIT}.zip"


def load(tmp_path: Path, sdn: dict[str, Any] | None, **overrides: Any) -> config.Config:
    """A Config read from a real bundle.yaml, as the CLI would."""
    doc: dict[str, Any] = {"kubernetes": {"source": "release", "version": "v1.30.0"}}
    if sdn is not None:
        doc["sdn"] = sdn
    path = tmp_path / "bundle.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    over = config.Overrides(config=path, cache_dir=tmp_path / "cache", **overrides)
    return config.load(over, {}, tmp_path)


def cache_litter(cfg: config.Config) -> list[str]:
    """Temporary folders or stray files left in the cache."""
    root = cfg.options.cache_dir / "sdn"
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".")) if root.exists() else []


def test_happy_path_then_cached_second_run_needs_no_network(tmp_path, net):
    with serve({PATH: ARCHIVE}) as srv:
        cfg = load(tmp_path, sdn_config(COMMIT, srv.base + "/{repo}/archive/{commit}.zip"))
        first = fetch.fetch_sdn(cfg, net=net)
        second = fetch.fetch_sdn(cfg, net=net)
    assert srv.hits(PATH) == 1
    assert first == second
    assert first.commit == COMMIT
    assert first.archive_sha256 == sha256(ARCHIVE)
    assert first.url == srv.url(PATH)
    assert [f.dest for f in first.files] == ["helper.psm1", "hns.psm1", "hns.v2.psm1", "cni/wincni.exe"]
    for f in first.files:
        assert f.path.read_bytes() == DEFAULT_FILES[f.source_path]
        assert f.sha256 == sha256(DEFAULT_FILES[f.source_path])
        assert f.path.is_relative_to(tmp_path / "cache" / "sdn" / COMMIT)
    assert cache_litter(cfg) == []


def test_offline_uses_the_cache_only(tmp_path, net):
    archive, sdn = write_sdn_archive(tmp_path, COMMIT)
    fetch.fetch_sdn(load(tmp_path, sdn), net=net)
    archive.unlink()  # nothing to fetch from any more
    result = fetch.fetch_sdn(load(tmp_path, sdn, offline=True), net=net)
    assert {f.dest for f in result.files} == {"helper.psm1", "hns.psm1", "hns.v2.psm1", "cni/wincni.exe"}


def test_offline_without_a_cache_says_what_is_missing(tmp_path, net):
    with serve({PATH: ARCHIVE}) as srv:
        cfg = load(tmp_path, sdn_config(COMMIT, srv.url(PATH)), offline=True)
        with pytest.raises(FetchError) as err:
            fetch.fetch_sdn(cfg, net=net)
    assert srv.requests == []
    text = str(err.value)
    assert text.startswith("offline:")
    taken = ("helper.psm1", "hns.psm1", "hns.v2.psm1", "cni/wincni.exe")
    assert ", ".join(f"Kubernetes/windows/{name}" for name in taken) in text
    assert str(tmp_path / "cache" / "sdn" / COMMIT) in text


def test_offline_with_a_tampered_cache_names_the_file(tmp_path, net):
    _archive, sdn = write_sdn_archive(tmp_path, COMMIT)
    result = fetch.fetch_sdn(load(tmp_path, sdn), net=net)
    result.files[1].path.write_bytes(b"tampered")
    with pytest.raises(FetchError, match=r"missing: Kubernetes/windows/hns\.psm1 \(cached copy does not match"):
        fetch.fetch_sdn(load(tmp_path, sdn, offline=True), net=net)


def test_tampered_cache_is_fetched_again_online(tmp_path, net):
    with serve({PATH: ARCHIVE}) as srv:
        cfg = load(tmp_path, sdn_config(COMMIT, srv.url(PATH)))
        result = fetch.fetch_sdn(cfg, net=net)
        result.files[0].path.write_bytes(b"tampered")
        again = fetch.fetch_sdn(cfg, net=net)
    assert srv.hits(PATH) == 2
    assert again.files[0].path.read_bytes() == DEFAULT_FILES["Kubernetes/windows/helper.psm1"]


def test_wrong_file_hash_is_a_hard_error_and_nothing_is_cached(tmp_path, net):
    sdn = sdn_config(COMMIT, "")
    evil = dict(DEFAULT_FILES, **{"Kubernetes/windows/hns.psm1": b"Invoke-Evil"})
    with serve({PATH: make_sdn_archive(COMMIT, evil)}) as srv:
        sdn["url"] = srv.url(PATH)
        cfg = load(tmp_path, sdn)
        with pytest.raises(FetchError) as err:
            fetch.fetch_sdn(cfg, net=net)
    text = str(err.value)
    assert "Kubernetes/windows/hns.psm1" in text
    assert sha256(b"Invoke-Evil") in text
    assert sha256(DEFAULT_FILES["Kubernetes/windows/hns.psm1"]) in text
    assert srv.url(PATH) in text
    assert "helper.psm1" not in text  # only the file that differs is named
    assert not (tmp_path / "cache" / "sdn" / COMMIT).exists()
    assert cache_litter(cfg) == []


def test_archive_of_another_commit_is_refused(tmp_path, net):
    with serve({PATH: make_sdn_archive(COMMIT, comment=OTHER.encode())}) as srv:
        cfg = load(tmp_path, sdn_config(COMMIT, srv.url(PATH)))
        with pytest.raises(FetchError, match=f"of commit '{OTHER}'.*not the pinned {COMMIT}"):
            fetch.fetch_sdn(cfg, net=net)


def test_unsafe_archive_is_refused_and_nothing_is_cached(tmp_path, net):
    files = dict(DEFAULT_FILES, **{"../../outside.ps1": b"x"})
    with serve({PATH: make_sdn_archive(COMMIT, files)}) as srv:
        cfg = load(tmp_path, sdn_config(COMMIT, srv.url(PATH)))
        with pytest.raises(FetchError, match=r"archive refused.*'\.\.' path component"):
            fetch.fetch_sdn(cfg, net=net)
    assert not (tmp_path / "outside.ps1").exists()
    assert not (tmp_path / "cache" / "sdn" / COMMIT).exists()
    assert cache_litter(cfg) == []


def test_retries_and_resume_through_fetch(tmp_path, net, sleeps):
    with serve({PATH: ARCHIVE}) as srv:
        srv.fail(PATH, Fail.status(500), Fail.drop(after=len(ARCHIVE) // 2))
        result = fetch.fetch_sdn(load(tmp_path, sdn_config(COMMIT, srv.url(PATH))), net=net)
    assert [r.status for r in srv.requests] == [500, 200, 206]
    assert len(sleeps) == 2
    assert result.archive_sha256 == sha256(ARCHIVE)


def test_timeout_through_fetch_is_retried_then_reported(tmp_path, sleeps):
    net = quick_net(sleeps, read=0.2)
    with serve({PATH: ARCHIVE}) as srv:
        srv.fail(PATH, *[Fail.stall(seconds=3.0, before_headers=True)] * 3)
        cfg = load(tmp_path, sdn_config(COMMIT, srv.url(PATH)))
        with pytest.raises(FetchError, match=r"failed after 3 attempts: timed out waiting for data; check sdn.url"):
            fetch.fetch_sdn(cfg, net=net)
    assert len(sleeps) == 2
    assert cache_litter(cfg) == []


def test_unpinned_ref_resolves_through_the_zip_comment(tmp_path, net, caplog):
    caplog.set_level(logging.WARNING)
    path = "/microsoft/SDN/archive/refs/heads/master.zip"
    with serve({path: make_sdn_archive("master", comment=OTHER.encode())}) as srv:
        sdn = dict(sdn_config("master", srv.base + "/{repo}/archive/refs/heads/{commit}.zip"))
        with pytest.raises(ConfigError, match="allow-unpinned"):
            load(tmp_path, sdn)
        result = fetch.fetch_sdn(load(tmp_path, sdn, allow_unpinned=True), net=net)
    assert result.commit == OTHER
    assert (tmp_path / "cache" / "sdn" / OTHER / "sdn.json").is_file()
    assert f"points at commit {OTHER}" in caplog.text


def test_unpinned_ref_without_a_commit_comment_is_refused(tmp_path, net):
    archive = tmp_path / "m.zip"
    archive.write_bytes(make_sdn_archive("master", comment=b""))
    cfg = load(tmp_path, sdn_config("master", str(archive)), allow_unpinned=True)
    with pytest.raises(FetchError, match="cannot tell which commit 'master' points at"):
        fetch.fetch_sdn(cfg, net=net)


def test_unpinned_ref_offline_is_refused(tmp_path, net):
    cfg = load(tmp_path, sdn_config("master", str(tmp_path / "m.zip")), allow_unpinned=True, offline=True)
    with pytest.raises(FetchError, match="branch or tag, which only the network can resolve"):
        fetch.fetch_sdn(cfg, net=net)


def test_changed_archive_with_matching_files_is_only_a_warning(tmp_path, net, caplog):
    caplog.set_level(logging.WARNING)
    repacked = make_sdn_archive(COMMIT, dict(DEFAULT_FILES, **{"NEWS.md": b"regenerated"}))
    with serve({PATH: ARCHIVE}) as srv:
        cfg = load(tmp_path, sdn_config(COMMIT, srv.url(PATH)))
        first = fetch.fetch_sdn(cfg, net=net)
        first.files[2].path.unlink()  # forces a download
        srv.route(PATH, repacked)
        second = fetch.fetch_sdn(cfg, net=net)
    assert second.archive_sha256 == sha256(repacked) != first.archive_sha256
    assert "only the archive's packing changed" in caplog.text
    assert [f.sha256 for f in second.files] == [f.sha256 for f in first.files]


def test_local_path_relative_to_the_config_file_and_file_url(tmp_path, net):
    (tmp_path / "mirror").mkdir()
    archive, sdn = write_sdn_archive(tmp_path / "mirror", COMMIT)
    sdn["url"] = "./mirror/" + archive.name
    assert fetch.fetch_sdn(load(tmp_path, sdn), net=net).commit == COMMIT
    sdn["url"] = archive.as_uri()
    other = tmp_path / "other"
    other.mkdir()
    assert fetch.fetch_sdn(load(other, sdn), net=net).archive_sha256 == sha256(archive.read_bytes())


def test_fixture_config_loads_as_the_sdn_section(tmp_path):
    cfg = load(tmp_path, sdn_config(COMMIT, "https://mirror.example/sdn.zip"))
    assert cfg.sdn.files[0] == config.SdnFile("Kubernetes/windows/helper.psm1",
                                             sha256(DEFAULT_FILES["Kubernetes/windows/helper.psm1"]), "helper.psm1")
    assert cfg.sdn.pinned


# --------------------------------------------------------------------------- --update-pins

YAML_WITH_FILES = """\
# Bundle for the lab cluster
kubernetes:
  source: release
  version: v1.30.0
sdn:
  commit: {commit}  # pinned on purpose
  url: {url}
  files:
    # the HNS helpers
    - path: Kubernetes/windows/helper.psm1
      sha256: "{zero}"   # keep this comment
      dest: helper.psm1
    - {{path: Kubernetes/windows/hns.psm1, sha256: {zero}, dest: hns.psm1}}
    - path: Kubernetes/windows/cni/wincni.exe
      sha256: {good}
      dest: cni/wincni.exe
network:
  mode: host-gw
"""


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bundle.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_update_pins_rewrites_only_the_hashes_and_keeps_comments(tmp_path, net):
    archive, _ = write_sdn_archive(tmp_path, COMMIT)
    good = sha256(DEFAULT_FILES["Kubernetes/windows/cni/wincni.exe"])
    path = write_config(tmp_path, YAML_WITH_FILES.format(commit=COMMIT, url=archive, zero=WRONG, good=good))
    cfg = config.load(config.Overrides(config=path, cache_dir=tmp_path / "cache"), {}, tmp_path)
    out = io.StringIO()
    assert fetch.update_pins(cfg, net=net, reporter=Reporter(out=out)) == 0
    text = path.read_text(encoding="utf-8")
    helper = sha256(DEFAULT_FILES["Kubernetes/windows/helper.psm1"])
    hns = sha256(DEFAULT_FILES["Kubernetes/windows/hns.psm1"])
    expected = YAML_WITH_FILES.format(commit=COMMIT, url=archive, zero=WRONG, good=good)
    expected = expected.replace(f'"{WRONG}"', f'"{helper}"').replace(f"sha256: {WRONG}", f"sha256: {hns}")
    assert text == expected
    report = out.getvalue()
    assert f"Kubernetes/windows/helper.psm1: {WRONG} -> {helper}" in report
    assert f"Kubernetes/windows/cni/wincni.exe: unchanged ({good})" in report
    # The rewritten file is valid and its pins now fetch.
    cfg = config.load(config.Overrides(config=path, cache_dir=tmp_path / "cache2"), {}, tmp_path)
    assert [f.sha256 for f in fetch.fetch_sdn(cfg, net=net).files] == [helper, hns, good]
    out = io.StringIO()
    fetch.update_pins(cfg, net=net, reporter=Reporter(out=out))
    assert "nothing to change" in out.getvalue()
    assert path.read_text(encoding="utf-8") == expected


def test_update_pins_adds_a_files_block_when_the_defaults_are_in_use(tmp_path, net):
    archive, _ = write_sdn_archive(tmp_path, COMMIT)
    text = f"# lab\nsdn:\n    commit: {COMMIT}\n    url: {archive}\n\n# the network\nnetwork:\n    mode: l3\n"
    path = write_config(tmp_path, text)
    cfg = config.load(config.Overrides(config=path, cache_dir=tmp_path / "cache", kube_versions=("v1.30.0",)),
                      {}, tmp_path)
    fetch.update_pins(cfg, net=net, reporter=Reporter(out=io.StringIO()))
    new = path.read_text(encoding="utf-8")
    assert new.startswith(f"# lab\nsdn:\n    commit: {COMMIT}\n    url: {archive}\n    files:\n      - path: Kub")
    assert new.endswith("\n\n# the network\nnetwork:\n    mode: l3\n")
    data = yaml.safe_load(new)
    assert [f["sha256"] for f in data["sdn"]["files"]] == [sha256(DEFAULT_FILES[f.path]) for f in cfg.sdn.files]


def test_update_pins_appends_an_sdn_section_when_there_is_none(tmp_path, net):
    archive = tmp_path / "SDN.zip"
    archive.write_bytes(ARCHIVE)
    path = write_config(tmp_path, "kubernetes:\n  source: release\n  version: v1.30.0")
    cfg = config.load(config.Overrides(config=path, cache_dir=tmp_path / "cache"), {}, tmp_path)
    cfg = dataclasses.replace(cfg, sdn=dataclasses.replace(cfg.sdn, url=str(archive)))
    fetch.update_pins(cfg, net=net, reporter=Reporter(out=io.StringIO()))
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["kubernetes"]["version"] == "v1.30.0"
    assert [f["dest"] for f in data["sdn"]["files"]] == ["helper.psm1", "hns.psm1", "hns.v2.psm1", "cni/wincni.exe"]


def test_update_pins_resolves_an_unpinned_commit_in_the_file(tmp_path, net):
    archive = tmp_path / "m.zip"
    archive.write_bytes(make_sdn_archive("master", comment=OTHER.encode()))
    text = f"kubernetes: {{source: release, version: v1.30.0}}\nsdn:\n  commit: master # moving\n  url: {archive}\n"
    path = write_config(tmp_path, text)
    cfg = config.load(config.Overrides(config=path, cache_dir=tmp_path / "c", allow_unpinned=True), {}, tmp_path)
    out = io.StringIO()
    fetch.update_pins(cfg, net=net, reporter=Reporter(out=out))
    assert f"  commit: {OTHER} # moving\n" in path.read_text(encoding="utf-8")
    assert f"commit: master -> {OTHER}" in out.getvalue()


def test_update_pins_without_a_config_file(tmp_path, net):
    cfg = config.Config(options=config.Options(cache_dir=tmp_path))
    with pytest.raises(ConfigError, match="needs a configuration file"):
        fetch.update_pins(cfg, net=net)


def test_update_pins_offline_is_refused_for_http(tmp_path, net):
    path = write_config(tmp_path, "kubernetes: {source: release, version: v1.30.0}\n")
    cfg = config.load(config.Overrides(config=path, cache_dir=tmp_path / "c", offline=True), {}, tmp_path)
    with pytest.raises(FetchError, match="cannot run with --offline"):
        fetch.update_pins(cfg, net=net)


# --------------------------------------------------------------------------- through the command line


def test_cli_fetch_then_offline_then_update_pins(tmp_path, caplog, capsys):
    from builder import cli

    caplog.set_level(logging.INFO)
    cache = tmp_path / "cache"
    with serve({PATH: ARCHIVE}) as srv:
        sdn = sdn_config(COMMIT, srv.base + "/{repo}/archive/{commit}.zip")
        # v1.23 (docker): SDN is the only input; the node kit's inputs have their own tests (test_inputs.py).
        doc = {"kubernetes": {"source": "release", "version": "v1.23.0"}, "sdn": sdn}
        path = write_config(tmp_path, "# mine\n" + yaml.safe_dump(doc))
        common = ["--config", str(path), "--cache-dir", str(cache)]
        assert cli.main(["fetch", "--offline", *common]) == 5
        assert "offline: the SDN files of commit" in caplog.text
        assert cli.main(["fetch", *common]) == 0
        assert cli.main(["fetch", "--offline", *common]) == 0
        assert srv.hits(PATH) == 1
        assert f"{sha256(DEFAULT_FILES['Kubernetes/windows/hns.psm1'])}  hns.psm1" in capsys.readouterr().out
        assert cli.main(["fetch", "--update-pins", *common]) == 0
    assert "nothing to change" in capsys.readouterr().out
    assert path.read_text(encoding="utf-8").startswith("# mine\n")
