"""The commit and date of the source this tool runs from, for `--version` (GoReleaser prints both).

From a checkout (an editable install, `python -m builder`): git, in the package's own folder. From
an install: pip's record of where it came from (PEP 610 `direct_url.json`): a VCS install names
its commit; a folder install names the folder, whose git is asked. None when nothing tells.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

DIST = "k8s-windows-bundle"


@dataclass(frozen=True)
class Commit:
    sha: str
    date: str  # the commit's date, YYYY-MM-DD ("" when only the id is known)
    dirty: bool = False

    @property
    def short(self) -> str:
        return self.sha[:12]


def _git(folder: Path, env: Mapping[str, str], *args: str) -> str | None:
    from .errors import BuilderError
    from .run import call

    try:
        return call(["git", "-C", str(folder), *args], env={**env, "GIT_OPTIONAL_LOCKS": "0"}).strip()
    except BuilderError:
        return None


def from_git(folder: Path, env: Mapping[str, str]) -> Commit | None:
    """The checkout's HEAD, its date, and whether the tool's own files changed since."""
    line = _git(folder, env, "log", "-1", "--format=%H %cs")
    if not line or " " not in line:
        return None
    sha, date = line.split(" ", 1)
    status = _git(folder, env, "status", "--porcelain", "--untracked-files=no", "--", "builder", "ps_templates")
    return Commit(sha, date, dirty=bool(status))


def source_commit(env: Mapping[str, str]) -> Commit | None:
    """`env`: git's environment (the run's)."""
    here = Path(__file__).resolve().parent.parent
    if (here / ".git").exists() and (here / "pyproject.toml").is_file():
        return from_git(here, env)
    try:
        text = metadata.distribution(DIST).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        origin = json.loads(text or "")
    except ValueError:
        return None
    if not isinstance(origin, dict):
        return None
    vcs = origin.get("vcs_info")
    if isinstance(vcs, dict) and isinstance(vcs.get("commit_id"), str):
        return Commit(vcs["commit_id"], "")
    url = origin.get("url")
    if isinstance(url, str) and url.startswith("file:"):
        return from_git(Path(url2pathname(urlsplit(url).path)), env)
    return None
