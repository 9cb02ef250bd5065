"""`publish` against a GitHub API that answers like no GitHub: every bad answer is a GitHubError
(exit 9) that names the host and the request, and nothing a server sends reaches the terminal raw."""

from __future__ import annotations

import gzip
import io
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from fake_github import FakeGitHub
from test_publish import make_dist

from builder.config import Config, Options, ReleaseSection
from builder.http import RetryPolicy
from builder.publish import github, publish
from builder.report import Reporter

TOKEN = "ghp_hostileApiToken0123456789abcdef"
TAG = "v1.37.0-1"
BY_TAG = rf"/repos/acme/nodes/releases/tags/{re.escape(TAG)}"


def _publish(fake: FakeGitHub, dist: Path) -> str:
    cfg = Config(release=ReleaseSection(repo=fake.repo), options=Options(dist=dist))
    out = io.StringIO()
    env = {"GH_TOKEN": TOKEN, "GITHUB_API_URL": fake.url}
    publish.publish_dist(cfg, env, publish.PublishFlags.resolve(cfg, env),
                         reporter=Reporter(out=out, err=io.StringIO()),
                         policy=RetryPolicy(attempts=2, sleep=lambda s: None, rng=random.Random(1)))
    return out.getvalue()


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    return make_dist(tmp_path / "dist")


def _release(**over: Any) -> dict[str, Any]:
    return {"id": 7, "tag_name": TAG, "draft": False, "assets": [], "upload_url": "", **over}


BAD_ANSWERS = {
    "a non-numeric id": (_release(id="seven"), "'id' is 'seven', not a int"),
    "a missing id": ({k: v for k, v in _release().items() if k != "id"}, "'id' is None, not a int"),
    "a list for a release": ([_release()], "expected a JSON object for the release, got list"),
    "a body that is not JSON": ("<html>rate limited by a proxy</html>", "body that is not JSON"),
    "JSON nested 100,000 deep": ("[" * 100_000 + "]" * 100_000, "body that is not JSON"),
}


@pytest.mark.parametrize("case", sorted(BAD_ANSWERS))
def test_a_malformed_answer_is_a_github_error_naming_the_host_and_request(dist: Path, case: str) -> None:
    body, reason = BAD_ANSWERS[case]
    with FakeGitHub(token=TOKEN) as fake:
        fake.fail("GET", BY_TAG, 200, body=body)
        host = fake.url.removeprefix("http://")
        with pytest.raises(github.GitHubError) as err:
            _publish(fake, dist)
    assert err.value.exit_code == 9
    assert reason in str(err.value)
    assert f"GitHub {host} GET /repos/acme/nodes/releases/tags/{TAG}" in str(err.value)
    assert fake.writes() == []


def test_a_compressed_body_is_never_inflated(dist: Path) -> None:
    # 60 MB of JSON in 60 KB of gzip: read as the bytes sent (asked for identity), it is not JSON.
    bomb = gzip.compress(json.dumps(_release(name="a" * (60 << 20))).encode(), compresslevel=9)
    with FakeGitHub(token=TOKEN) as fake:
        fake.fail("GET", BY_TAG, 200, body=bomb, headers={"Content-Encoding": "gzip"})
        with pytest.raises(github.GitHubError, match="not JSON") as err:
            _publish(fake, dist)
        asked = fake.requests[0].headers.get("accept-encoding")
    assert err.value.exit_code == 9
    assert asked == "identity"


def test_an_answer_over_the_size_limit_is_not_read(dist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(github, "MAX_BODY", 1000)
    with FakeGitHub(token=TOKEN) as fake:
        fake.fail("GET", BY_TAG, 200, body=_release(body="x" * 2000))
        with pytest.raises(github.GitHubError, match="over the limit of 1000") as err:
            _publish(fake, dist)
    assert err.value.exit_code == 9


def test_a_next_link_that_goes_round_in_circles_is_followed_once(dist: Path) -> None:
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_release("v0.0.1-1")
        same = f"{fake.url}/repos/{fake.repo}/releases?per_page=100&page=2"
        fake.fail("GET", r"/repos/acme/nodes/releases", 200, times=500, body=[],
                  headers={"Link": f'<{same}>; rel="next"'})
        with pytest.raises(github.GitHubError, match="links back to a page already read") as err:
            _publish(fake, dist)
        listed = [r for r in fake.requests if r.method == "GET" and r.path.endswith("/releases")]
    assert err.value.exit_code == 9
    assert len(listed) == 2


def test_a_list_without_end_stops_at_the_page_cap(dist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(github, "MAX_PAGES", 5)
    with FakeGitHub(token=TOKEN) as fake:
        fake.page_size = 1
        for i in range(20):
            fake.add_release(f"v0.0.{i}-1")
        with pytest.raises(github.GitHubError, match="goes on past 5 pages"):
            _publish(fake, dist)
        listed = [r for r in fake.requests if r.method == "GET" and r.path.endswith("/releases")]
    assert len(listed) == 5


def test_escapes_in_server_strings_never_reach_the_terminal(dist: Path) -> None:
    with FakeGitHub(token=TOKEN) as fake:
        rel = fake.add_release(TAG, assets={"evil\x1b]0;owned\x07\x1b[2J.zip": b"x"})
        fake.releases[rel.id].body = "notes"
        out = _publish(fake, dist)
    assert "\x1b" not in out and "\x07" not in out
    assert "evil" in out  # the note about the foreign asset is still there, cleaned
