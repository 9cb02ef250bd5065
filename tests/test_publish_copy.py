"""`publish` uploads the bytes it verified: its own copy of dist/, not dist/ as it is at upload time."""

from __future__ import annotations

import hashlib
import io
import random
import zipfile
from pathlib import Path

import pytest
from fake_github import FakeGitHub
from test_publish import make_dist

from builder.bundle import verify
from builder.config import Config, Options, ReleaseSection
from builder.http import RetryPolicy
from builder.publish import publish
from builder.report import Reporter

TOKEN = "ghp_copyTestToken0123456789abcdef"


def test_a_zip_rewritten_after_the_check_is_not_what_gets_published(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    dist = make_dist(tmp_path / "dist")
    (zip_path,) = dist.glob("*.zip")
    verified = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    real_check = verify.check_dist

    def check_then_race(folder: Path, sig: verify.SignatureOptions | None = None,
                        zips: list[Path] | None = None) -> list[str]:
        problems = real_check(folder, sig, zips)
        with zipfile.ZipFile(zip_path, "a") as zf:  # another process changes dist/'s zip right after
            zf.writestr("k/evil.ps1", b"Invoke-Evil\r\n")
        return problems

    monkeypatch.setattr(verify, "check_dist", check_then_race)
    with FakeGitHub(token=TOKEN) as fake:
        cfg = Config(release=ReleaseSection(repo=fake.repo), options=Options(dist=dist))
        env = {"GH_TOKEN": TOKEN, "GITHUB_API_URL": fake.url}
        publish.publish_dist(cfg, env, publish.PublishFlags.resolve(cfg, env),
                             reporter=Reporter(out=io.StringIO(), err=io.StringIO()),
                             policy=RetryPolicy(attempts=2, sleep=lambda s: None, rng=random.Random(1)))
        (published,) = [a for a in fake.assets.values() if a.name == zip_path.name]
    assert hashlib.sha256(published.data).hexdigest() == verified
    assert zip_path.read_bytes() != published.data  # dist/ was changed, and that change stayed local
