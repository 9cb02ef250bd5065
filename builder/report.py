"""The one reporter: everything a person reads goes through it (log lines, steps, progress, results).

Two channels. The log (stderr) says what happens: stage lines, warnings, errors, the summary.
The results (stdout) are what a command produces for a person or a script to read: verify's
findings, publish's plan, the pins `--update-pins` would write. How either looks is the
backend's business, chosen once per run: `Terminal` keeps one live line (a download's bytes,
make's phase and time) and clears it before each other line; `Plain` writes whole lines only
(a pipe, a log file, a CI job). Fold groups per step, colour, a heartbeat or JSON are backends
(or a subclass of one) too: the call sites stay as they are.

The stages log through `logging`, as they always did: `Reporter.attach` routes every record to
the log channel for the length of one command, and detaches again, so nothing stays behind in
the process (tests call `cli.main` many times).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from .http import Meter

LOGGER = "builder"


# --------------------------------------------------------------------------- what a stage holds


class Status:
    """A long step's one-line state (its phase): shown live on a terminal, kept for the record elsewhere."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.phase = "starting"
        self.start = time.monotonic()

    def set_phase(self, phase: str) -> None:
        self.phase = phase[:60]

    def text(self) -> str:
        return f"{self.title}: {self.phase} [{time.monotonic() - self.start:5.0f}s]"

    def __enter__(self) -> Status:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _QuietMeter:
    """A download's byte count where nothing is redrawn: counted, not shown."""

    def __init__(self) -> None:
        self.done = 0

    def update(self, done: int, total: int | None) -> None:
        self.done = done

    def close(self) -> None:
        return None


@dataclass
class StepRecord:
    """One step of the run, for the summary: how long it took and whether it finished."""

    title: str
    start: float
    seconds: float | None = None
    ok: bool | None = None


# --------------------------------------------------------------------------- backends


class Plain:
    """Whole lines only, nothing redrawn: a pipe, a log file, a CI job."""

    def __init__(self, err: Callable[[], TextIO], out: Callable[[], TextIO]) -> None:
        self._err = err
        self._out = out
        self._lock = threading.Lock()  # a download thread and the main thread may write at once

    def log(self, level: int, text: str) -> None:
        """One log record, already formatted (`level` is there for a backend that colours or annotates)."""
        self._write(self._err(), text)

    def result(self, text: str) -> None:
        self._write(self._out(), text)

    def _write(self, stream: TextIO, text: str) -> None:
        with self._lock:
            stream.write(text + "\n")
            stream.flush()

    def step_start(self, title: str) -> None:
        """Where a CI backend opens a fold group; in plain output the stage's own lines say it."""

    def step_end(self, record: StepRecord) -> None:
        """Where a CI backend closes the group."""

    def meter(self, label: str) -> Meter:
        return _QuietMeter()

    def status(self, title: str) -> Status:
        return Status(title)


class Terminal(Plain):
    """A TTY: one live line at the bottom (progress), cleared before any other line and drawn again after it."""

    CLEAR = "\r\x1b[K"

    def __init__(self, err: Callable[[], TextIO], out: Callable[[], TextIO]) -> None:
        super().__init__(err, out)
        self._live = ""

    def _write(self, stream: TextIO, text: str) -> None:
        with self._lock:
            err = self._err()
            if self._live:
                err.write(self.CLEAR)
                err.flush()
            stream.write(text + "\n")
            stream.flush()
            if self._live:
                err.write(self._live)
                err.flush()

    def draw(self, text: str) -> None:
        with self._lock:
            self._live = text
            err = self._err()
            err.write(f"{self.CLEAR}{text}")
            err.flush()

    def clear(self) -> None:
        with self._lock:
            self._live = ""
            err = self._err()
            err.write(self.CLEAR)
            err.flush()

    def meter(self, label: str) -> Meter:
        return _Bar(self, label)

    def status(self, title: str) -> Status:
        return _LiveStatus(self, title)


class _Bar:
    """A download's bytes on the live line: a bar when the size is known, else a count."""

    WIDTH = 30

    def __init__(self, term: Terminal, label: str) -> None:
        self.term = term
        self.label = label
        self._last = -1.0

    def update(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and done != total:
            return  # redrawing on every chunk would cost more than the download
        self._last = now
        if total:
            filled = self.WIDTH * done // total
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.term.draw(f"{self.label} [{bar}] {done / 2**20:.1f}/{total / 2**20:.1f} MiB")
        else:
            self.term.draw(f"{self.label} {done / 2**20:.1f} MiB")

    def close(self) -> None:
        self.term.clear()


class _LiveStatus(Status):
    """The phase and the elapsed time, redrawn twice a second while the step runs."""

    INTERVAL = 0.5  # seconds between redraws

    def __init__(self, term: Terminal, title: str) -> None:
        super().__init__(title)
        self.term = term
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            self.term.draw(self.text())

    def __enter__(self) -> Status:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self.term.clear()


def choose_backend(err: Callable[[], TextIO], out: Callable[[], TextIO]) -> Plain:
    """Terminal on a TTY, else Plain. A CI backend (GitHub Actions' fold groups) would be chosen here."""
    return Terminal(err, out) if err().isatty() else Plain(err, out)


# --------------------------------------------------------------------------- the reporter


class Reporter:
    """What a person reads, for one run. `err`/`out` default to sys.stderr/sys.stdout, looked up when written."""

    def __init__(self, *, err: TextIO | None = None, out: TextIO | None = None, backend: Plain | None = None) -> None:
        self._err_stream = err
        self._out_stream = out
        self.backend = backend if backend is not None else choose_backend(self._err, self._out)
        self.steps: list[StepRecord] = []
        self._log = logging.getLogger(LOGGER)

    def _err(self) -> TextIO:
        return self._err_stream if self._err_stream is not None else sys.stderr

    def _out(self) -> TextIO:
        return self._out_stream if self._out_stream is not None else sys.stdout

    # The log channel. These go through `logging`, like every stage's own records, so that one
    # handler (attach) renders them all, and a test's log capture sees them.
    def debug(self, text: str) -> None:
        self._log.debug("%s", text)

    def info(self, text: str) -> None:
        self._log.info("%s", text)

    def warning(self, text: str) -> None:
        self._log.warning("%s", text)

    def error(self, text: str) -> None:
        self._log.error("%s", text)

    @contextlib.contextmanager
    def attach(self, *, verbose: bool = False) -> Iterator[None]:
        """Route every log record (ours and the libraries') to this reporter while the block runs."""
        wanted = logging.DEBUG if verbose else logging.INFO
        root = logging.getLogger()
        handler = _Handler(self)
        handler.setLevel(wanted)
        before = root.level
        root.addHandler(handler)
        if before == logging.NOTSET or before > wanted:
            root.setLevel(wanted)
        try:
            yield
        finally:
            root.removeHandler(handler)
            root.setLevel(before)

    # Steps: what the run is doing now, and (for the summary) how long each part took.
    def step_start(self, title: str) -> None:
        self.steps.append(StepRecord(title, time.monotonic()))
        self.debug(f"step: {title}")
        self.backend.step_start(title)

    def step_end(self, *, ok: bool = True) -> None:
        record = next((s for s in reversed(self.steps) if s.ok is None), None)
        if record is None:
            return
        record.seconds = time.monotonic() - record.start
        record.ok = ok
        self.debug(f"step: {record.title} {'done' if ok else 'FAILED'} in {record.seconds:.1f} s")
        self.backend.step_end(record)

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.step_start(title)
        ok = False
        try:
            yield
            ok = True
        finally:
            self.step_end(ok=ok)

    # Progress, shown the way the backend can.
    def meter(self, label: str) -> Meter:
        """A download's (or upload's) byte counter."""
        return self.backend.meter(label)

    def status(self, title: str) -> Status:
        """A long command's phase and elapsed time (`with reporter.status("build") as s: s.set_phase(...)`)."""
        return self.backend.status(title)

    # The results channel.
    def result(self, text: str) -> None:
        self.backend.result(text)

    def summary(self, lines: Sequence[str]) -> None:
        """The run's closing lines (one per version, say), on the log channel after everything else."""
        for line in lines:
            self.info(line)


class _Handler(logging.Handler):
    def __init__(self, reporter: Reporter) -> None:
        super().__init__()
        self.reporter = reporter
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.reporter.backend.log(record.levelno, self.format(record))
        except Exception:  # logging's own contract: a broken stream must not end the run
            self.handleError(record)
