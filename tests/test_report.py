"""The one reporter: log lines on stderr, results on stdout, one live line on a terminal only."""

from __future__ import annotations

import io
import logging
import threading
from pathlib import Path

import pytest

from builder import cli, report
from builder.report import Reporter

CLEAR = "\r\x1b[K"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_results_go_to_stdout_and_log_lines_to_stderr() -> None:
    err, out = io.StringIO(), io.StringIO()
    reporter = Reporter(err=err, out=out)
    with reporter.attach():
        logging.getLogger("builder.sources.sdn").info("sdn: fetching %s", "x")
        reporter.result("PROBLEM: one")
        reporter.warning("careful")
        reporter.debug("not shown without --verbose")
    assert out.getvalue() == "PROBLEM: one\n"
    assert err.getvalue() == "sdn: fetching x\ncareful\n"


def test_verbose_shows_the_debug_lines() -> None:
    err = io.StringIO()
    reporter = Reporter(err=err, out=io.StringIO())
    with reporter.attach(verbose=True):
        logging.getLogger("builder.run").debug("$ make")
    assert "$ make\n" in err.getvalue()


def test_attach_leaves_nothing_behind_in_the_process(tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    reporter = Reporter(err=io.StringIO(), out=io.StringIO())
    with reporter.attach(verbose=True):
        assert len(root.handlers) == len(handlers) + 1
    assert root.handlers == handlers and root.level == level
    assert cli.main(["schema", "--out", str(tmp_path / "schema.json")]) == 0
    assert root.handlers == handlers and root.level == level


def test_plain_output_never_redraws() -> None:
    err = io.StringIO()
    reporter = Reporter(err=err, out=io.StringIO())
    assert isinstance(reporter.backend, report.Plain) and not isinstance(reporter.backend, report.Terminal)
    meter = reporter.meter("kubelet.exe")
    meter.update(10, 100)
    meter.close()
    with reporter.status("build") as status:
        status.set_phase("Building go targets for windows/amd64")
    assert err.getvalue() == ""


def test_a_log_line_on_a_terminal_clears_the_live_line_and_draws_it_again() -> None:
    err = Tty()
    reporter = Reporter(err=err, out=io.StringIO())
    assert isinstance(reporter.backend, report.Terminal)
    meter = reporter.meter("SDN")
    meter.update(50, 100)
    with reporter.attach():
        reporter.info("sdn: resuming at byte 50")
    meter.update(100, 100)
    meter.close()
    bar = f"SDN [{'#' * 15}{'-' * 15}] 0.0/0.0 MiB"
    assert err.getvalue().startswith(f"{CLEAR}{bar}{CLEAR}sdn: resuming at byte 50\n{bar}")
    assert err.getvalue().endswith(f"SDN [{'#' * 30}] 0.0/0.0 MiB{CLEAR}")


def test_a_long_step_shows_its_phase_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report._LiveStatus, "INTERVAL", 0.01)
    err = Tty()
    drawn = threading.Event()
    real_draw = report.Terminal.draw

    def draw(self: report.Terminal, text: str) -> None:
        real_draw(self, text)
        if "Building go targets" in text:
            drawn.set()

    monkeypatch.setattr(report.Terminal, "draw", draw)
    reporter = Reporter(err=err, out=io.StringIO())
    with reporter.status("build") as status:
        status.set_phase("Building go targets for windows/amd64")
        assert drawn.wait(5)
    assert "build: Building go targets for windows/amd64 [" in err.getvalue()
    assert err.getvalue().endswith(CLEAR)


def test_steps_are_recorded_for_the_summary() -> None:
    reporter = Reporter(err=io.StringIO(), out=io.StringIO())
    with reporter.step("preflight"):
        pass
    with pytest.raises(RuntimeError), reporter.step("build v1.37.0"):
        raise RuntimeError("make failed")
    assert [(s.title, s.ok) for s in reporter.steps] == [("preflight", True), ("build v1.37.0", False)]
    assert all(s.seconds is not None and s.seconds >= 0 for s in reporter.steps)
