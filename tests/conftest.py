"""Shared test fixtures. Stage-specific helpers live in their own tests/*.py modules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
sys.path.insert(0, str(TESTS))

# The tools are checked before the first test, and under CI=true a skip fails the run.
from ci_guard import (  # noqa: E402
    pytest_collection_finish,
    pytest_make_collect_report,
    pytest_runtest_makereport,
    pytest_sessionstart,
)

__all__ = ["pytest_collection_finish", "pytest_make_collect_report", "pytest_runtest_makereport",
           "pytest_sessionstart"]


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
