"""Shared test fixtures. Stage-specific helpers live in their own tests/*.py modules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
sys.path.insert(0, str(TESTS))


@pytest.fixture
def repo_root() -> Path:
    return REPO


class Sleeps(list[float]):
    """A RetryPolicy `sleep` that records the delays instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
