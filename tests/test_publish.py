"""`publish`: against a fake GitHub API served on 127.0.0.1 (tests/fake_github.py), never the internet.

No test sleeps for real: the retry policy's sleep and clock are a fake clock that only advances
when slept on. A canary token is used throughout and searched for in everything captured.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import pickle
import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fake_github import FakeGitHub
from requests.adapters import HTTPAdapter

from builder import cli
from builder.config import Config, Options, ReleaseSection
from builder.errors import ConfigError, PublishError, VerifyError
from builder.http import RetryPolicy
from builder.publish import github, publish
from builder.publish.github import Secret, endpoints_for
from builder.report import Reporter

CANARY = "ghp_CANARYtok3nThatMustNeverLeak0123456789"
ATTEMPTS = 4
SUFFIXES = (".zip", ".zip.sha256", ".spdx.json", ".intoto.json")


# --------------------------------------------------------------------------- a dist/ to publish


def _pe_stub(tag: bytes) -> bytes:
    """The smallest bytes `builder.pe` accepts as PE32+ x86-64, plus a distinguishing tail."""
    head = bytearray(512)
    head[:2] = b"MZ"
    head[0x3C:0x40] = (0x80).to_bytes(4, "little")
    head[0x80:0x84] = b"PE\0\0"
    head[0x84:0x86] = (0x8664).to_bytes(2, "little")
    head[0x98:0x9A] = (0x20B).to_bytes(2, "little")
    return bytes(head) + tag


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_dist(dist: Path, versions: tuple[str, ...] = ("v1.37.0",), revision: int = 1,
              tree_state: str = "clean") -> Path:
    """dist/ holding one bundle per version, written by the real pack stage from small real inputs, and
    the artifacts.json the bundle run writes."""
    from builder.artifacts import Binary, BuildResult, FetchedFile, RenderedFile, SdnResult
    from builder.bundle import dist as dist_mod
    from builder.bundle import pack
    from builder.config import BundleSection, NetworkSection

    inputs = dist.parent / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    helper = inputs / "helper.psm1"
    helper.write_bytes(b"function Get-Answer { return 42 }\r\n")
    sdn = SdnResult("microsoft/SDN", "b" * 40, "https://example.invalid/sdn.zip", "c" * 64,
                    (FetchedFile("Kubernetes/windows/helper.psm1", "helper.psm1", helper, _sha(helper.read_bytes())),))
    cfg = Config(bundle=BundleSection(revision=revision, source_date_epoch=1_700_000_000),
                 network=NetworkSection(mode="overlay"), options=Options(dist=dist))
    for version in versions:
        bins = []
        for name in ("kubelet", "kube-proxy"):
            exe = inputs / f"{name}-{version}.exe"
            exe.write_bytes(_pe_stub(f"{name} {version}".encode()))
            bins.append(Binary(name, exe, _sha(exe.read_bytes()), origin=f"test build of {version}"))
        built = BuildResult(version, "a" * 40, tree_state, "build", "go1.25.5", 1_700_000_000, tuple(bins))
        zip_path = pack.pack(cfg, built, sdn, [RenderedFile("install.ps1", b"Write-Output 'installing'\r\n")])
        dist_mod.record(dist, zip_path, version)
    return dist


# --------------------------------------------------------------------------- fake clock, fake API, one run


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeGitHub]:
    with FakeGitHub(token=CANARY, clock=clock.now) as f:
        yield f


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    return make_dist(tmp_path / "dist")


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


CAPTURED: list[str] = []


@pytest.fixture(autouse=True)
def no_leak(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """After every test: the canary is in no log record (DEBUG included), no output, nothing captured."""
    caplog.set_level(logging.DEBUG)
    CAPTURED.clear()
    yield
    seen = capsys.readouterr()
    for text in (caplog.text, seen.out, seen.err, *CAPTURED):
        assert CANARY not in text
        assert CANARY[4:20] not in text


def run(fake: FakeGitHub, clock: FakeClock, dist: Path, *, draft: bool = False, replace: bool = False,
        dry_run: bool = False, tag: str | None = None, progress: io.StringIO | None = None,
        env: dict[str, str] | None = None, session: requests.Session | None = None) -> str:
    cfg = Config(release=ReleaseSection(repo=fake.repo, tag=tag), options=Options(dist=dist))
    policy = RetryPolicy(attempts=ATTEMPTS, sleep=clock.sleep, clock=clock.now, rng=random.Random(7))
    out = io.StringIO()
    fake.runs.append(len(fake.requests))
    try:
        env = env if env is not None else {"GH_TOKEN": CANARY, "GITHUB_API_URL": fake.url}
        flags = publish.PublishFlags.resolve(cfg, env, draft=draft, replace=replace, dry_run=dry_run)
        reporter = Reporter(out=out, err=progress if progress is not None else io.StringIO())
        publish.publish_dist(cfg, env, flags, reporter=reporter, policy=policy, session=session)
    except Exception as err:
        CAPTURED.extend([str(err), repr(err), str(err.__cause__), out.getvalue()])
        raise
    CAPTURED.append(out.getvalue())
    return out.getvalue()


def own_sums(dist: Path, stem: str) -> bytes:
    """The release's own checksum list: `sha256sum` lines over this bundle's files only, sorted by name."""
    names = sorted(f"{stem}{s}" for s in SUFFIXES)
    return "".join(f"{_sha((dist / n).read_bytes())}  {n}\n" for n in names).encode()


def expected(dist: Path, version: str = "v1.37.0", revision: int = 1) -> dict[str, tuple[str, str]]:
    stem = f"kubernetes-windows-node-{version}-{revision}"
    files = {f"{stem}{s}": (dist / f"{stem}{s}").read_bytes() for s in SUFFIXES}
    files[f"{stem}.SHA256SUMS"] = own_sums(dist, stem)
    return {n: ("uploaded", _sha(data)) for n, data in files.items()}


def expected_bytes(dist: Path, version: str = "v1.37.0", revision: int = 1) -> dict[str, bytes]:
    stem = f"kubernetes-windows-node-{version}-{revision}"
    files = {f"{stem}{s}": (dist / f"{stem}{s}").read_bytes() for s in SUFFIXES}
    files[f"{stem}.SHA256SUMS"] = own_sums(dist, stem)
    return files


def assert_complete(fake: FakeGitHub, dist: Path, tag: str = "v1.37.0-1", *, draft: bool = False) -> None:
    """Exactly one release for the tag, in the wanted state, holding exactly the right assets."""
    (rel,) = fake.release_by_tag(tag)
    assert rel.draft is draft
    version, revision = tag.rsplit("-", 1)
    assert fake.asset_state(tag) == expected(dist, version, int(revision))


def assert_each_uploaded_once(fake: FakeGitHub) -> None:
    """Across every run so far, no asset of any release was uploaded successfully twice."""
    names = [(r.path, r.query["name"]) for r in fake.uploads()]
    assert len(names) == len(set(names)), names


def assert_serial_writes(fake: FakeGitHub) -> None:
    """Never two requests at once; within each run, writes at least 1 s apart on the injected clock."""
    assert fake.max_in_flight == 1
    for a, b in zip(fake.requests, fake.requests[1:], strict=False):
        assert b.arrived >= a.done
    bounds = [*fake.runs, len(fake.requests)]
    for start, end in itertools.pairwise(bounds):
        writes = [r for r in fake.requests[start:end] if r.write]
        for a, b in itertools.pairwise(writes):
            assert b.t - a.t >= 1.0 - 1e-9, (a.method, a.path, b.method, b.path)


# --------------------------------------------------------------------------- the happy path


def test_first_publish_creates_draft_uploads_checks_then_publishes(fake: FakeGitHub, clock: FakeClock,
                                                                     dist: Path) -> None:
    out = run(fake, clock, dist)

    assert_complete(fake, dist)
    assert_each_uploaded_once(fake)
    assert_serial_writes(fake)
    writes = fake.writes()
    assert (writes[0].method, writes[0].path) == ("POST", "/repos/acme/nodes/releases")
    assert json.loads(writes[0].body)["draft"] is True  # created as a draft...
    assert writes[-1].method == "PATCH"  # ...and published last, after every upload
    assert json.loads(writes[-1].body)["draft"] is False
    # The assets were read back and compared after the last upload, before publishing.
    last_upload = max(i for i, r in enumerate(fake.requests) if r in fake.uploads())
    assert any(r.method == "GET" and r.path.endswith("/assets") for r in fake.requests[last_upload:])
    for r in fake.requests:
        assert r.headers["authorization"] == f"Bearer {CANARY}"
        assert r.headers["accept"] == "application/vnd.github+json"
        assert r.headers["x-github-api-version"] == "2022-11-28"
    (rel,) = fake.release_by_tag("v1.37.0-1")
    assert rel.name == "kubernetes-windows-node v1.37.0 (revision 1)"
    kubelet_sha = _sha(_pe_stub(b"kubelet v1.37.0"))
    for needle in ("v1.37.0", "b" * 40, "overlay", "go1.25.5",
                   _sha(own_sums(dist, "kubernetes-windows-node-v1.37.0-1")), f"{kubelet_sha}  k/kubelet.exe",
                   "sha256sum -c --ignore-missing kubernetes-windows-node-v1.37.0-1.SHA256SUMS"):
        assert needle in rel.body
    for name in expected(dist):
        assert f"{fake.url}/acme/nodes/releases/download/v1.37.0-1/{name}" in out
    uploads = {r.query["name"]: r for r in fake.uploads()}
    assert uploads["kubernetes-windows-node-v1.37.0-1.zip"].headers["content-type"] == "application/zip"


def test_rerun_of_a_complete_release_writes_nothing(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    run(fake, clock, dist)
    before = len(fake.writes())
    out = run(fake, clock, dist)
    assert len(fake.writes()) == before
    assert out.count("skip") >= 5
    assert_complete(fake, dist)


def test_draft_is_found_by_listing_and_published_later(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    fake.page_size = 2
    for i in range(5):  # push the draft past the first page of the list
        fake.add_release(f"v0.{i}.0-1")
    run(fake, clock, dist, draft=True)
    assert_complete(fake, dist, draft=True)
    assert not any(r.method == "PATCH" for r in fake.requests)

    run(fake, clock, dist)  # the tag answers 404 for a draft: it must be found by listing, not made twice
    assert_complete(fake, dist, draft=False)
    assert sum(1 for r in fake.requests if r.method == "POST" and r.path.endswith("/releases")) == 1
    assert any("page" in r.query for r in fake.requests)
    assert_each_uploaded_once(fake)


def test_several_bundles_get_one_release_each(fake: FakeGitHub, clock: FakeClock, tmp_path: Path) -> None:
    d = make_dist(tmp_path / "dist", versions=("v1.36.2", "v1.37.0"))
    run(fake, clock, d)
    for version in ("v1.36.2", "v1.37.0"):
        assert fake.asset_state(f"{version}-1") == expected(d, version)
    assert_each_uploaded_once(fake)


def test_release_tag_with_several_bundles_is_refused(fake: FakeGitHub, clock: FakeClock, tmp_path: Path) -> None:
    d = make_dist(tmp_path / "dist", versions=("v1.36.2", "v1.37.0"))
    with pytest.raises(ConfigError, match=r"release.tag"):
        run(fake, clock, d, tag="mine")
    assert fake.requests == []


# --------------------------------------------------------------------------- failures, and re-runs that finish


def test_502_mid_upload_leaves_starter_which_is_deleted_and_redone(fake: FakeGitHub, clock: FakeClock,
                                                                     dist: Path) -> None:
    zip_name = "kubernetes-windows-node-v1.37.0-1.zip"
    fake.fail("POST", r".*/assets", 502, name=zip_name, effect="starter")
    run(fake, clock, dist)
    assert_complete(fake, dist)
    attempts = fake.uploads(ok_only=False)
    assert [r.status for r in attempts if r.query["name"] == zip_name] == [502, 422, 201]
    assert any(r.method == "DELETE" for r in fake.requests)
    assert_each_uploaded_once(fake)
    assert_serial_writes(fake)


FAILURES = {
    "create release": dict(method="POST", path=r"/repos/acme/nodes/releases", status=502),
    "upload zip, starter left": dict(method="POST", path=r".*/assets", status=502, effect="starter",
                                     name="kubernetes-windows-node-v1.37.0-1.zip"),
    "upload sbom": dict(method="POST", path=r".*/assets", status=503,
                        name="kubernetes-windows-node-v1.37.0-1.spdx.json"),
    "list assets": dict(method="GET", path=r".*/\d+/assets", status=500),
    "publish": dict(method="PATCH", path=r".*/releases/\d+", status=500),
}


@pytest.mark.parametrize("where", FAILURES)
def test_rerun_after_a_failure_finishes_the_job(fake: FakeGitHub, clock: FakeClock, dist: Path, where: str) -> None:
    spec = dict(FAILURES[where])
    fake.fail(spec.pop("method"), spec.pop("path"), spec.pop("status"), times=ATTEMPTS * 3, **spec)
    with pytest.raises(PublishError) as info:
        run(fake, clock, dist)
    assert "GitHub" in str(info.value) or "upload" in str(info.value)
    fake.faults.clear()

    run(fake, clock, dist)
    assert_complete(fake, dist)
    assert_each_uploaded_once(fake)
    assert len(fake.release_by_tag("v1.37.0-1")) == 1
    assert_serial_writes(fake)


def test_ambiguous_create_finds_the_release_instead_of_making_a_twin(fake: FakeGitHub, clock: FakeClock,
                                                                      dist: Path) -> None:
    fake.fail("POST", r"/repos/acme/nodes/releases", 502, effect="apply")
    run(fake, clock, dist)
    assert_complete(fake, dist)
    assert sum(1 for r in fake.requests if r.method == "POST" and r.path.endswith("/releases")) == 1


def test_upload_whose_answer_was_lost_is_recognised_not_redone(fake: FakeGitHub, clock: FakeClock,
                                                                 dist: Path) -> None:
    sums = "kubernetes-windows-node-v1.37.0-1.SHA256SUMS"
    fake.fail("POST", r".*/assets", 504, effect="apply", name=sums)
    run(fake, clock, dist)
    assert_complete(fake, dist)
    assert [r.status for r in fake.uploads(ok_only=False) if r.query["name"] == sums] == [504, 422]
    assert not any(r.method == "DELETE" for r in fake.requests)


def test_rate_limits_are_waited_out_on_the_injected_clock(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    fake.fail("POST", r"/repos/acme/nodes/releases", 429, headers={"retry-after": "7"})
    fake.fail("POST", r".*/assets", 403, headers={"retry-after": "5"},
              body=json.dumps({"message": "You have exceeded a secondary rate limit"}))
    reset = int(clock.t) + 30
    fake.fail("GET", r".*/releases/tags/.*", 403,
              headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
              body=json.dumps({"message": "API rate limit exceeded"}))
    run(fake, clock, dist)
    assert_complete(fake, dist)
    assert 7.0 in clock.sleeps and 5.0 in clock.sleeps
    assert any(30.0 <= s <= 31.0 for s in clock.sleeps)
    assert_serial_writes(fake)


def test_secondary_rate_limit_403_without_hint_waits_a_minute(fake: FakeGitHub, clock: FakeClock,
                                                               dist: Path) -> None:
    fake.fail("GET", r".*/releases/tags/.*", 403,
              body=json.dumps({"message": "You have exceeded a secondary rate limit. Please wait."}))
    run(fake, clock, dist)
    assert max(clock.sleeps) >= 60.0


def test_retries_are_bounded(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    fake.fail("GET", r".*/releases/tags/.*", 503, times=100)
    with pytest.raises(PublishError, match=r"503 .*after 4 attempts"):
        run(fake, clock, dist)
    assert len(fake.requests) == ATTEMPTS
    assert fake.writes() == []


def test_other_4xx_fail_at_once_with_githubs_message(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    fake.fail("GET", r".*/releases/tags/.*", 403, body=json.dumps({"message": "Resource not accessible by token"}))
    with pytest.raises(PublishError, match=r"Resource not accessible by token.*contents:write"):
        run(fake, clock, dist)
    assert len(fake.requests) == 1
    fake.faults.clear()
    fake.fail("POST", r"/repos/acme/nodes/releases", 422, body=json.dumps(
        {"message": "Validation Failed", "errors": [{"resource": "Release", "code": "invalid", "field": "tag_name"}]}))
    with pytest.raises(PublishError, match=r"Validation Failed.*field=tag_name, code=invalid"):
        run(fake, clock, dist)


def test_githubs_message_loses_its_terminal_escapes(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    fake.fail("GET", r".*/releases/tags/.*", 403,
              body=json.dumps({"message": "Forbidden\x1b]0;owned\x07\x1b[2J\nnext line\r"}))
    with pytest.raises(PublishError) as err:
        run(fake, clock, dist)
    text = str(err.value)
    assert "Forbidden" in text and "next line" in text
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


# --------------------------------------------------------------------------- what already exists on GitHub


def _published_with(fake: FakeGitHub, dist: Path, **changes: bytes) -> None:
    assets = expected_bytes(dist)
    assets.update(changes)
    fake.add_release("v1.37.0-1", assets=assets)


def test_different_asset_in_published_release_is_refused_unless_replace(fake: FakeGitHub, clock: FakeClock,
                                                                        dist: Path) -> None:
    zip_name = "kubernetes-windows-node-v1.37.0-1.zip"
    _published_with(fake, dist, **{zip_name: b"another bundle"})
    with pytest.raises(PublishError, match=f"{zip_name}.*--replace"):
        run(fake, clock, dist)
    assert fake.writes() == []

    run(fake, clock, dist, replace=True)
    assert_complete(fake, dist)
    # the replaced zip, then the notes (they list every asset's checksum) brought up to date
    assert [r.method for r in fake.writes()] == ["DELETE", "POST", "PATCH"]
    assert [r.query["name"] for r in fake.uploads()] == [zip_name]
    (rel,) = fake.release_by_tag("v1.37.0-1")
    assert _sha((dist / zip_name).read_bytes()) in rel.body


def test_missing_and_starter_assets_of_a_published_release_are_completed(fake: FakeGitHub, clock: FakeClock,
                                                                          dist: Path) -> None:
    names = list(expected(dist))
    fake.add_release("v1.37.0-1", assets={n: (dist / n).read_bytes() for n in names[:3]},
                     starters={names[3]: b"half"})
    run(fake, clock, dist)
    assert_complete(fake, dist)
    assert sorted(r.query["name"] for r in fake.uploads()) == sorted(names[3:])


def test_draft_with_a_wrong_size_asset_is_repaired(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    names = list(expected(dist))
    fake.add_release("v1.37.0-1", draft=True, assets={names[1]: b"wrong"})
    run(fake, clock, dist)
    assert_complete(fake, dist)
    writes = [(r.method, r.query.get("name")) for r in fake.writes()]
    delete = writes.index(("DELETE", None))
    assert writes[delete + 1] == ("POST", names[1])


def test_without_digest_size_alone_is_compared(clock: FakeClock, dist: Path) -> None:
    with FakeGitHub(token=CANARY, clock=clock.now, digests=False) as f:
        run(f, clock, dist)
        out = run(f, clock, dist)
        assert "GitHub gave no digest" in out
        assert len(f.uploads()) == 5


def test_immutable_release_is_reported_before_anything_is_uploaded(fake: FakeGitHub, clock: FakeClock,
                                                                   dist: Path) -> None:
    names = list(expected(dist))
    fake.add_release("v1.37.0-1", immutable=True, assets={n: (dist / n).read_bytes() for n in names[:2]})
    with pytest.raises(PublishError, match=r"immutable.*new revision"):
        run(fake, clock, dist, replace=True)
    assert fake.writes() == []


def test_complete_immutable_release_is_fine(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    fake.immutable_on_publish = True
    run(fake, clock, dist)
    out = run(fake, clock, dist)
    assert "immutable" in out
    assert_complete(fake, dist)


# --------------------------------------------------------------------------- dry run


def test_dry_run_prints_every_action_and_writes_nothing(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    names = list(expected(dist))
    fake.add_release("v1.37.0-1", draft=True, assets={names[0]: (dist / names[0]).read_bytes()},
                     starters={names[1]: b"half"})
    out = run(fake, clock, dist, dry_run=True)
    assert fake.writes() == []
    assert "would skip" in out and names[0] in out
    assert "would delete and upload again" in out and "starter" in out
    assert sum(1 for line in out.splitlines() if "would upload" in line) == 3
    assert "would publish release v1.37.0-1" in out
    assert fake.asset_state("v1.37.0-1")[names[1]][0] == "starter"

    fake.releases.clear()
    fake.assets.clear()
    out = run(fake, clock, dist, dry_run=True)
    assert "would create it as a draft" in out
    assert fake.writes() == [] and fake.releases == {}


# --------------------------------------------------------------------------- hosts, redirects, the token


def test_upload_url_on_a_foreign_host_gets_nothing(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    with FakeGitHub(token=CANARY, clock=clock.now) as foreign:
        fake.upload_origin = foreign.url
        with pytest.raises(PublishError, match=r"upload_url points at .*not the expected uploads host"):
            run(fake, clock, dist)
        assert foreign.requests == []
    assert fake.uploads(ok_only=False) == []
    assert not any(r.method == "PATCH" for r in fake.requests)


def test_redirects_are_never_followed(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    with FakeGitHub(token=CANARY, clock=clock.now) as foreign:
        fake.fail("GET", r".*/releases/tags/.*", 307, headers={"Location": f"{foreign.url}/steal"})
        with pytest.raises(PublishError, match=r"redirect .*not followed"):
            run(fake, clock, dist)
        assert foreign.requests == []


def test_next_page_on_another_host_is_not_followed(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    with FakeGitHub(token=CANARY, clock=clock.now) as foreign:
        link = f'<{foreign.url}/repos/acme/nodes/releases?page=2>; rel="next"'
        fake.fail("GET", r"/repos/acme/nodes/releases", 200, headers={"Link": link}, body="[]")
        with pytest.raises(PublishError, match="refusing to send the token"):
            run(fake, clock, dist)
        assert foreign.requests == []


def test_token_echoed_by_the_server_is_scrubbed(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    fake.fail("GET", r".*/releases/tags/.*", 400, body='{"message": "bad header {auth}"}')
    with pytest.raises(PublishError) as info:
        run(fake, clock, dist)
    assert "bad header Bearer ***" in str(info.value)
    fake.faults.clear()
    fake.fail("GET", r".*/releases/tags/.*", 418, body="plain text echo: {auth}")
    with pytest.raises(PublishError) as info:
        run(fake, clock, dist)
    assert "***" in str(info.value)


def test_wrong_token_fails_with_githubs_message(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    with pytest.raises(PublishError, match=r"Bad credentials.*renew"):
        run(fake, clock, dist, env={"GITHUB_TOKEN": "ghp_someotherTokenValue1234", "GITHUB_API_URL": fake.url})


def test_token_comes_from_the_environment_only(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    with pytest.raises(ConfigError, match="GH_TOKEN or GITHUB_TOKEN"):
        run(fake, clock, dist, env={"GITHUB_API_URL": fake.url})
    with pytest.raises(ConfigError, match="GH_TOKEN holds characters"):
        run(fake, clock, dist, env={"GH_TOKEN": "abc\r\nX-Evil: 1", "GITHUB_API_URL": fake.url})
    assert fake.requests == []
    assert cli.main(["publish", "--token", CANARY]) == 2


def test_secret_and_client_never_show_the_token() -> None:
    s = Secret(CANARY)
    assert CANARY not in repr(s) and CANARY not in str(s) and CANARY not in f"{s}"
    assert s.reveal() == CANARY
    client = github.GitHubClient(endpoints_for("https://api.github.com"), "a/b", s, RetryPolicy())
    assert CANARY not in repr(client) and CANARY not in repr(vars(client))
    assert "Authorization" not in client._session.headers  # attached per request, to allowed hosts only
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_progress_bar_only_on_a_terminal(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    tty = TTY()
    run(fake, clock, dist, progress=tty)
    assert "kubernetes-windows-node-v1.37.0-1.zip [" + "#" * 30 + "]" in tty.getvalue()
    fake.releases.clear()
    fake.assets.clear()
    plain = io.StringIO()
    run(fake, clock, dist, progress=plain)
    assert plain.getvalue() == ""


def test_nothing_is_uploaded_from_a_dist_that_fails_verification(fake: FakeGitHub, clock: FakeClock,
                                                                 dist: Path) -> None:
    sbom = dist / "kubernetes-windows-node-v1.37.0-1.spdx.json"
    sbom.write_text(sbom.read_text() + " ")
    with pytest.raises(VerifyError, match="nothing was published"):
        run(fake, clock, dist)
    assert fake.requests == []


# --------------------------------------------------------------------------- endpoints


@pytest.mark.parametrize(("api", "uploads"), [
    ("https://api.github.com", "https://uploads.github.com/"),
    ("https://api.github.com/", "https://uploads.github.com/"),
    ("https://ghe.example.com/api/v3", "https://ghe.example.com/api/uploads/"),
    ("http://127.0.0.1:8765", "http://127.0.0.1:8765/"),
])
def test_expected_uploads_host(api: str, uploads: str) -> None:
    ep = endpoints_for(api)
    assert ep.uploads_origin + ep.uploads_prefix == uploads


@pytest.mark.parametrize("api", ["http://api.github.com", "https://example.com/other", "https://u:p@api.github.com"])
def test_bad_api_base_is_refused(api: str) -> None:
    with pytest.raises(ConfigError, match="GITHUB_API_URL"):
        endpoints_for(api)


def test_ghe_upload_url_must_be_under_api_uploads() -> None:
    client = github.GitHubClient(endpoints_for("https://ghe.example.com/api/v3"), "a/b", Secret("x"), RetryPolicy())
    good = "https://ghe.example.com/api/uploads/repos/a/b/releases/1/assets{?name,label}"
    assert client.upload_target(good) == good.split("{", maxsplit=1)[0]
    for bad in ("https://ghe.example.com/repos/a/b/releases/1/assets", "https://uploads.github.com/repos/a/b/x",
                "http://ghe.example.com/api/uploads/repos/a/b/releases/1/assets"):
        with pytest.raises(PublishError, match="not the expected uploads host"):
            client.upload_target(bad)


def test_connection_errors_are_retried_then_reported(clock: FakeClock, dist: Path) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: every connection is refused
    with FakeGitHub(token=CANARY, clock=clock.now) as unused:
        with pytest.raises(PublishError, match=r": connection refused \(after 4 attempt"):
            run(unused, clock, dist, env={"GH_TOKEN": CANARY, "GITHUB_API_URL": f"http://127.0.0.1:{port}"})
        assert unused.requests == []
    assert len(clock.sleeps) == ATTEMPTS - 1
    assert clock.sleeps == sorted(clock.sleeps)  # backing off


def test_cli_dry_run_end_to_end(fake: FakeGitHub, dist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m builder publish --dry-run` through the real CLI, in a folder with a bundle.yaml that names
    no Kubernetes source: publishing reads only dist/ (no writes: no pacing)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bundle.yaml").write_text("version: 1\n")
    for key in ("GH_TOKEN", "GITHUB_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", CANARY)
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    monkeypatch.setenv("GITHUB_REPOSITORY", fake.repo)
    assert cli.main(["publish", "--dist", str(dist), "--dry-run"]) == 0
    out = capsys.readouterr().out
    CAPTURED.append(out)
    assert "would create it as a draft" in out and "dry run: nothing was written" in out
    assert fake.writes() == [] and fake.requests


def test_a_refusal_for_any_bundle_comes_before_any_write(fake: FakeGitHub, clock: FakeClock, tmp_path: Path) -> None:
    d = make_dist(tmp_path / "dist", versions=("v1.36.2", "v1.37.0"))
    fake.add_release("v1.37.0-1", immutable=True,
                     assets={"kubernetes-windows-node-v1.37.0-1.SHA256SUMS": b"an older list"})
    with pytest.raises(PublishError, match=r"v1\.37\.0-1 is published and immutable"):
        run(fake, clock, d)
    assert fake.writes() == []
    assert fake.release_by_tag("v1.36.2-1") == []


def test_unreadable_retry_after_waits_the_rate_limit_minute(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    fake.fail("GET", r".*/releases/tags/.*", 429, headers={"retry-after": "soon"})
    run(fake, clock, dist)
    assert_complete(fake, dist)
    assert clock.sleeps[0] == 60.0  # GitHub's advice for a rate limit without a usable hint


def test_github_enterprise_layout(clock: FakeClock, dist: Path) -> None:
    """API under https://HOST/api/v3, uploads under https://HOST/api/uploads (here on loopback http)."""
    with FakeGitHub(token=CANARY, clock=clock.now, enterprise=True) as ghe:
        run(ghe, clock, dist, env={"GH_TOKEN": CANARY, "GITHUB_API_URL": ghe.api_url})
        assert_complete(ghe, dist)
        assert len(ghe.uploads()) == 5


class TimeoutOnce(HTTPAdapter):
    """The real transport, except that the first matching request times out after it was sent (a lost answer).

    A read timeout cannot be produced without waiting for real, so this adapter stands in for the wait.
    """

    def __init__(self, method: str, path_end: str) -> None:
        super().__init__()
        self.method, self.path_end, self.fired = method, path_end, False

    def send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:  # type: ignore[override]
        resp = super().send(request, **kw)
        path = (request.path_url or "").split("?")[0]
        if not self.fired and request.method == self.method and path.endswith(self.path_end):
            self.fired = True
            raise requests.ReadTimeout("read timed out")
        return resp


@pytest.mark.parametrize(("method", "path_end"), [("POST", "/releases"), ("POST", "/assets"), ("PATCH", "")])
def test_read_timeouts_after_the_request_was_done(fake: FakeGitHub, clock: FakeClock, dist: Path,
                                                  method: str, path_end: str) -> None:
    session = requests.Session()
    adapter = TimeoutOnce(method, path_end)
    session.mount("http://", adapter)
    run(fake, clock, dist, session=session)
    assert adapter.fired
    assert_complete(fake, dist)
    assert_each_uploaded_once(fake)
    assert len(fake.release_by_tag("v1.37.0-1")) == 1


# --------------------------------------------------------------------------- repeatable publishes


def _release_writes(fake: FakeGitHub, start: int, rel_id: int) -> list[str]:
    """The writes since request `start` that touched release `rel_id` or one of its assets."""
    ids = {str(rel_id), *(str(a.id) for a in fake.assets.values() if a.release_id == rel_id)}
    return [f"{r.method} {r.path}" for r in fake.requests[start:]
            if r.write and any(f"/{i}" in r.path for i in ids)]


def test_publish_replayed_first_run_rerun_added_version_changed_tool_version(
        fake: FakeGitHub, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The workflow's publish step, run after run: each release holds its own bundle's checksums only."""
    # 1. first run: one version
    first = make_dist(tmp_path / "run1", versions=("v1.36.2",))
    run(fake, clock, first)
    assert_complete(fake, first, "v1.36.2-1")
    assert "SHA256SUMS" not in fake.asset_state("v1.36.2-1")  # no list shared across releases
    (old,) = fake.release_by_tag("v1.36.2-1")

    # 2. re-run of the same workflow run: nothing to write
    before = len(fake.requests)
    run(fake, clock, first)
    assert [r for r in fake.requests[before:] if r.write] == []

    # 3. a later run adds a version; its dist/ holds the old version too (a merged SHA256SUMS over both)
    added = make_dist(tmp_path / "run2", versions=("v1.36.2", "v1.37.0"))
    assert (added / "SHA256SUMS").read_bytes() != (first / "SHA256SUMS").read_bytes()
    start = len(fake.requests)
    run(fake, clock, added)
    assert_complete(fake, added, "v1.36.2-1")
    assert_complete(fake, added, "v1.37.0-1")
    assert _release_writes(fake, start, old.id) == []  # the published one is left exactly as it was
    # ... and a run of the new version alone works the same
    alone = make_dist(tmp_path / "run3", versions=("v1.37.0",))
    start = len(fake.requests)
    run(fake, clock, alone)
    assert [r for r in fake.requests[start:] if r.write] == []

    # 4. a new tool version rewrites the SBOM and provenance: refused on the published release...
    from builder.bundle import pack
    monkeypatch.setattr(pack, "__version__", "9.9.9")
    changed = make_dist(tmp_path / "run4", versions=("v1.37.0",))
    sbom = "kubernetes-windows-node-v1.37.0-1.spdx.json"
    assert (changed / sbom).read_bytes() != (alone / sbom).read_bytes()
    start = len(fake.requests)
    with pytest.raises(PublishError, match=r"spdx\.json on the published release differs.*--replace.*--revision"):
        run(fake, clock, changed)
    assert [r for r in fake.requests[start:] if r.write] == []
    # ... --revision 2 at bundle time makes a new release beside it ...
    revised = make_dist(tmp_path / "run5", versions=("v1.37.0",), revision=2)
    before_v1 = fake.asset_state("v1.37.0-1")
    run(fake, clock, revised)
    assert_complete(fake, revised, "v1.37.0-2")
    assert fake.asset_state("v1.37.0-1") == before_v1
    # ... or --replace swaps the changed assets (and their checksum list) in place
    run(fake, clock, changed, replace=True)
    assert_complete(fake, changed, "v1.37.0-1")
    assert_each_uploaded_once_per_content(fake)


def assert_each_uploaded_once_per_content(fake: FakeGitHub) -> None:
    """No identical bytes were uploaded twice under the same name to the same release."""
    seen = [(r.path, r.query["name"], _sha(r.body)) for r in fake.uploads()]
    assert len(seen) == len(set(seen)), seen


def test_target_commitish_from_github_sha(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    run(fake, clock, dist, env={"GH_TOKEN": CANARY, "GITHUB_API_URL": fake.url, "GITHUB_SHA": sha})
    create = next(r for r in fake.writes() if r.method == "POST" and r.path.endswith("/releases"))
    assert json.loads(create.body)["target_commitish"] == sha
    publish_patch = fake.writes()[-1]
    assert json.loads(publish_patch.body)["target_commitish"] == sha  # a draft's tag is made on publishing
    (rel,) = fake.release_by_tag("v1.37.0-1")
    assert rel.target_commitish == sha


def test_target_commitish_option_wins_and_is_checked(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    cfg = Config(release=ReleaseSection(repo=fake.repo), options=Options(dist=dist))
    policy = RetryPolicy(attempts=ATTEMPTS, sleep=clock.sleep, clock=clock.now, rng=random.Random(7))
    env = {"GH_TOKEN": CANARY, "GITHUB_API_URL": fake.url, "GITHUB_SHA": "f" * 40}
    out = io.StringIO()
    flags = publish.PublishFlags.resolve(cfg, env, target_commitish="a" * 40)
    publish.publish_dist(cfg, env, flags, reporter=Reporter(out=out, err=io.StringIO()), policy=policy)
    assert fake.release_by_tag("v1.37.0-1")[0].target_commitish == "a" * 40
    assert f"at commit {'a' * 40}" in out.getvalue()
    fake.requests.clear()
    for bad in ("a..b", "-rf", "$(id)", "a b"):
        with pytest.raises(ConfigError, match="--target-commitish"):
            publish.PublishFlags.resolve(cfg, env, target_commitish=bad)
    with pytest.raises(ConfigError, match="GITHUB_SHA"):
        publish.PublishFlags.resolve(cfg, {**env, "GITHUB_SHA": "main;x"})
    assert fake.requests == []


def test_published_release_gets_no_target(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    """A published release's tag exists: nothing asks GitHub to move it."""
    _published_with(fake, dist, **{"kubernetes-windows-node-v1.37.0-1.spdx.json": b"older"})
    run(fake, clock, dist, replace=True,
        env={"GH_TOKEN": CANARY, "GITHUB_API_URL": fake.url, "GITHUB_SHA": "c" * 40})
    assert all("target_commitish" not in r.body.decode(errors="replace") for r in fake.writes())
    assert fake.release_by_tag("v1.37.0-1")[0].target_commitish == "main"


def test_dry_run_without_token_plans_from_dist_alone(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    out = run(fake, clock, dist, dry_run=True, env={"GITHUB_API_URL": fake.url, "GITHUB_SHA": "d" * 40})
    assert fake.requests == []
    assert "no token in GH_TOKEN or GITHUB_TOKEN" in out and "GitHub was not asked" in out
    for name, (_, sha) in expected(dist).items():
        assert f"{name} (" in out and sha in out
    assert f"at commit {'d' * 40}" in out
    assert "could not know without GitHub" in out and "refused (pass --replace" in out
    assert "nothing was written" in out


def test_dry_run_offline_with_a_token_asks_nothing(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    cfg = Config(release=ReleaseSection(repo=None), options=Options(dist=dist, offline=True))
    out = io.StringIO()
    publish.publish_dist(cfg, {"GH_TOKEN": CANARY, "GITHUB_API_URL": fake.url},
                         publish.PublishFlags(draft=True, replace=True, dry_run=True), reporter=Reporter(out=out))
    assert fake.requests == []
    text = out.getvalue()
    assert "--offline" in text and "repository unknown" in text and "leave it a draft" in text
    assert "replaced (--replace)" in text


def test_offline_publish_is_refused_before_any_request(fake: FakeGitHub, dist: Path) -> None:
    cfg = Config(release=ReleaseSection(repo=fake.repo), options=Options(dist=dist, offline=True))
    with pytest.raises(ConfigError, match=r"--offline.*--dry-run"):
        publish.publish_dist(cfg, {"GH_TOKEN": CANARY, "GITHUB_API_URL": fake.url}, publish.PublishFlags())
    assert fake.requests == []


def test_dry_run_without_token_still_checks_dist(fake: FakeGitHub, clock: FakeClock, dist: Path) -> None:
    (dist / "kubernetes-windows-node-v1.37.0-1.intoto.json").write_text("{}")
    with pytest.raises(VerifyError):
        run(fake, clock, dist, dry_run=True, env={})


def test_cli_dry_run_offline_no_token_no_repo(dist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bundle.yaml").write_text("version: 1\n")
    for key in ("GH_TOKEN", "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_SHA"):
        monkeypatch.delenv(key, raising=False)
    assert cli.main(["publish", "--dist", str(dist), "--dry-run", "--target-commitish", "e" * 40]) == 0
    out = capsys.readouterr().out
    assert "GitHub was not asked" in out and "kubernetes-windows-node-v1.37.0-1.zip" in out
    assert cli.main(["publish", "--dist", str(dist), "--target-commitish", "x..y"]) == 2


# --------------------------------------------------------------------------- the workflow's own publish steps


def _workflow_step(name: str) -> dict[str, Any]:
    import yaml

    workflow = yaml.safe_load((Path(__file__).parent.parent / ".github/workflows/release.yml").read_text())
    return next(s for s in workflow["jobs"]["publish"]["steps"] if s.get("name") == name)


def test_the_workflows_publish_steps_replayed(fake: FakeGitHub, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The `run:` text of the workflow's publish job, run by bash as the runner would, with the tool
    installed as a command (a shim for `python -m builder`), against the fake GitHub: first run,
    re-run, and a new tool version refused, then replaced with the `replace` input."""
    import os
    import subprocess
    import sys

    shim = tmp_path / "bin" / "k8s-windows-bundle"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m builder "$@"\n')
    shim.chmod(0o755)
    sha = "0123456789abcdef0123456789abcdef01234567"
    base = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    base.update(PATH=f"{shim.parent}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(Path(__file__).parent.parent),
                GITHUB_API_URL=fake.url, GITHUB_REPOSITORY=fake.repo, GITHUB_SHA=sha)

    def step(name: str, workdir: Path, replace: str = "false") -> subprocess.CompletedProcess[str]:
        spec = _workflow_step(name)
        env = dict(base)
        for key, value in (spec.get("env") or {}).items():  # the step's own env, expressions filled in
            env[key] = {"${{ secrets.GITHUB_TOKEN }}": CANARY, "${{ needs.plan.outputs.replace }}": replace}[value]
        (workdir / "bundle.yaml").write_text("version: 1\n")  # the job's checkout has the repository's
        done = subprocess.run(["bash", "-e", "-c", spec["run"]], cwd=workdir, env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        CAPTURED.extend([done.stdout, done.stderr])
        return done

    first = tmp_path / "run1"
    make_dist(first / "dist", versions=("v1.37.0",))
    plan = step("Plan (dry run, no token)", first)
    assert plan.returncode == 0 and "GitHub was not asked" in plan.stdout
    assert fake.requests == []
    done = step("Publish", first)
    assert done.returncode == 0, done.stderr
    assert_complete(fake, first / "dist")
    assert fake.release_by_tag("v1.37.0-1")[0].target_commitish == sha

    writes = len(fake.writes())
    assert step("Publish", first).returncode == 0  # re-run
    assert len(fake.writes()) == writes

    from builder.bundle import pack
    monkeypatch.setattr(pack, "__version__", "9.9.9")
    changed = tmp_path / "run2"
    make_dist(changed / "dist", versions=("v1.37.0",))
    refused = step("Publish", changed)
    assert refused.returncode == 9 and "--replace" in refused.stderr
    assert len(fake.writes()) == writes
    assert step("Publish", changed, replace="true").returncode == 0
    assert_complete(fake, changed / "dist")


def test_sigstore_outside_github_actions_is_refused_before_dist_is_verified(fake: FakeGitHub, dist: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """--sigstore without an OIDC identity is known at once: refused before the (long) verification of dist/."""
    checked: list[Path] = []
    monkeypatch.setattr(publish, "check_dist", checked.append)
    cfg = Config(release=ReleaseSection(repo=fake.repo), options=Options(dist=dist))
    with pytest.raises(PublishError, match="id-token: write"):
        publish.publish_dist(cfg, {"GH_TOKEN": CANARY, "GITHUB_API_URL": fake.url}, publish.PublishFlags(sigstore=True),
                             reporter=Reporter(out=io.StringIO()))
    assert checked == []
    assert fake.requests == []
