"""The one reporter: everything a person reads goes through it (log lines, steps, progress, results).

Two channels. The log (stderr) says what happens: stage lines, warnings, errors, the summary.
The results (stdout) are what a command produces for a person or a script to read: verify's
findings, publish's plan, the pins `--update-pins` would write. How either looks is the
backend's business, chosen once per run: `Terminal` keeps one live line (a download's bytes,
make's phase and time) and clears it before each other line; `Plain` writes whole lines only
(a pipe, a log file, a CI job) and, while a long step runs, a heartbeat line at least once a
minute (elapsed time and what the step is doing: make's last line, a download's bytes), so that a
CI with a no-output timeout does not kill a build; `GitHubActions` adds fold groups per step and
`::error file=...,line=...::` annotations for configuration errors. Colour (a TTY, NO_COLOR and
FORCE_COLOR honoured), `-q` and `--json` are settings of the one reporter: the call sites stay as
they are.

The stages log through `logging`, as they always did: `Reporter.attach` routes every record to
the log channel for the length of one command, and detaches again, so nothing stays behind in
the process (tests call `cli.main` many times).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from .http import Meter

LOGGER = "builder"
HEARTBEAT = 50.0  # seconds of silence after which a long step says it is still running
Clock = Callable[[], float]


def elapsed(seconds: float) -> str:
    """`42s`, `3m05s`, `1h02m`: a step's time as a person reads it."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


# --------------------------------------------------------------------------- what a stage holds


class Status:
    """A long step's one-line state (its phase and the last line it printed): shown live on a
    terminal, told by the heartbeat elsewhere."""

    def __init__(self, title: str, clock: Clock = time.monotonic) -> None:
        self.title = title
        self.phase = "starting"
        self.last_line = ""
        self.clock = clock
        self.start = clock()
        self.owner: Reporter | None = None

    def set_phase(self, phase: str) -> None:
        self.phase = phase[:60]

    def set_line(self, line: str) -> None:
        """The step's latest output line (make's), for the heartbeat."""
        self.last_line = line.strip()[:160]

    def text(self) -> str:
        return f"{self.title}: {self.phase} [{self.clock() - self.start:5.0f}s]"

    def activity(self) -> str:
        last = f"; last line: {self.last_line}" if self.last_line else ""
        return f"{self.title}: {self.phase}{last}"

    def __enter__(self) -> Status:
        if self.owner is not None:
            self.owner.activity = self
        return self

    def __exit__(self, *exc: object) -> None:
        if self.owner is not None and self.owner.activity is self:
            self.owner.activity = None


class _CountingMeter:
    """A download's byte count where nothing is redrawn: counted, and told by the heartbeat."""

    def __init__(self, label: str = "", owner: Reporter | None = None) -> None:
        self.label = label.strip()
        self.owner = owner
        self.done = 0
        self.total: int | None = None

    def update(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total
        if self.owner is not None:
            self.owner.activity = self

    def activity(self) -> str:
        got = f"{self.done / 2**20:.1f}"
        if self.total:
            return f"{self.label}: {got}/{self.total / 2**20:.1f} MiB ({100 * self.done // self.total}%)"
        return f"{self.label}: {got} MiB"

    def close(self) -> None:
        if self.owner is not None and self.owner.activity is self:
            self.owner.activity = None


@dataclass
class StepRecord:
    """One step of the run, for the summary: how long it took and whether it finished."""

    title: str
    start: float
    seconds: float | None = None
    ok: bool | None = None


# --------------------------------------------------------------------------- backends

_COLOURS = {logging.ERROR: "31", logging.CRITICAL: "31", logging.WARNING: "33"}
_ANNOTATED = re.compile(r"^\s*(?P<file>[^\s:][^:]*):(?P<line>\d+): (?P<msg>.+)$")


class Plain:
    """Whole lines only, nothing redrawn: a pipe, a log file, a CI job."""

    heartbeats = True  # nothing is redrawn, so a long step tells it is alive in lines

    def __init__(self, err: Callable[[], TextIO], out: Callable[[], TextIO], *, colour: bool = False,
                 clock: Clock = time.monotonic) -> None:
        self._err = err
        self._out = out
        self.colour = colour
        self.clock = clock
        self.last_write = clock()
        self._lock = threading.Lock()  # a download thread and the main thread may write at once

    def log(self, level: int, text: str) -> None:
        """One log record, already formatted; coloured by its level where colour is on."""
        code = _COLOURS.get(level)
        self._write(self._err(), f"\x1b[{code}m{text}\x1b[0m" if code and self.colour else text)

    def result(self, text: str) -> None:
        self._write(self._out(), text)

    def bold(self, text: str) -> str:
        return f"\x1b[1m{text}\x1b[0m" if self.colour else text

    def _write(self, stream: TextIO, text: str) -> None:
        with self._lock:
            stream.write(text + "\n")
            stream.flush()
            self.last_write = self.clock()

    def step_start(self, title: str) -> None:
        """Where a CI backend opens a fold group; in plain output the stage's own lines say it."""

    def step_end(self, record: StepRecord) -> None:
        """Where a CI backend closes the group."""

    def annotate(self, text: str) -> None:
        """Where a CI backend marks a configuration error at its file and line; plain output has the
        error line already."""

    def meter(self, label: str) -> Meter:
        return _CountingMeter(label)

    def status(self, title: str) -> Status:
        return Status(title, self.clock)


class GitHubActions(Plain):
    """A GitHub Actions job: a fold group per step, and configuration errors as annotations on the file."""

    def step_start(self, title: str) -> None:
        self._write(self._out(), f"::group::{_escape(title)}")

    def step_end(self, record: StepRecord) -> None:
        self._write(self._out(), "::endgroup::")

    def annotate(self, text: str) -> None:
        for line in text.splitlines():
            m = _ANNOTATED.match(line)
            if m:
                props = f"file={_escape(m['file'], prop=True)},line={m['line']}"
                self._write(self._out(), f"::error {props}::{_escape(m['msg'])}")


def _escape(text: str, *, prop: bool = False) -> str:
    """A workflow command's data (and, `prop`, a property value) as the runner reads it."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


class Terminal(Plain):
    """A TTY: one live line at the bottom (progress), cleared before any other line and drawn again after it."""

    CLEAR = "\r\x1b[K"
    heartbeats = False  # the live line shows the phase and the time

    def __init__(self, err: Callable[[], TextIO], out: Callable[[], TextIO], *, colour: bool = True,
                 clock: Clock = time.monotonic) -> None:
        super().__init__(err, out, colour=colour, clock=clock)
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
            self.last_write = self.clock()

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
        super().__init__(title, term.clock)
        self.term = term
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            self.term.draw(self.text())

    def __enter__(self) -> Status:
        super().__enter__()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self.term.clear()


def wants_colour(tty: bool, env: Mapping[str, str]) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (no-color.org); FORCE_COLOR turns it on anywhere."""
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    return tty and env.get("TERM") != "dumb"


def choose_backend(err: Callable[[], TextIO], out: Callable[[], TextIO], env: Mapping[str, str] | None = None,
                   *, clock: Clock = time.monotonic) -> Plain:
    """GitHubActions under GitHub Actions (GITHUB_ACTIONS=true), Terminal on a TTY, else Plain."""
    env = env or {}
    tty = err().isatty()
    colour = wants_colour(tty, env)
    if env.get("GITHUB_ACTIONS") == "true":
        return GitHubActions(err, out, colour=colour, clock=clock)
    if tty:
        return Terminal(err, out, colour=colour, clock=clock)
    return Plain(err, out, colour=colour, clock=clock)


# --------------------------------------------------------------------------- the reporter


class Reporter:
    """What a person reads, for one run. `err`/`out` default to sys.stderr/sys.stdout, looked up when written.

    `env` chooses the backend (GITHUB_ACTIONS, NO_COLOR, FORCE_COLOR); `as_json` makes the results
    one JSON document (`emit`) and sends the human result lines to the log instead. `heartbeat` is
    the silence (in `clock` seconds) after which a long step says it is still running; `poll` how
    often (in real seconds) that is looked at. Tests pass a fast clock and a short poll.
    """

    def __init__(self, *, err: TextIO | None = None, out: TextIO | None = None, backend: Plain | None = None,
                 env: Mapping[str, str] | None = None, as_json: bool = False, clock: Clock = time.monotonic,
                 heartbeat: float = HEARTBEAT, poll: float | None = None) -> None:
        self._err_stream = err
        self._out_stream = out
        self.clock = clock
        self.backend = backend if backend is not None else choose_backend(self._err, self._out, env, clock=clock)
        self.as_json = as_json
        self.emitted = False
        self.steps: list[StepRecord] = []
        self.activity: Status | _CountingMeter | None = None
        self.heartbeat = heartbeat
        self.poll = poll if poll is not None else heartbeat / 5
        self._beat_stop: threading.Event | None = None
        self._beat_thread: threading.Thread | None = None
        self._last_log = ""
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

    def config_error(self, text: str) -> None:
        """A configuration error: the error line, and (in CI) an annotation at each file:line it names."""
        self.error(f"error: {text}")
        self.backend.annotate(text)

    @contextlib.contextmanager
    def attach(self, *, verbose: bool = False, quiet: bool = False) -> Iterator[None]:
        """Route every log record (ours and the libraries') to this reporter while the block runs.
        `quiet` (-q): warnings and errors only."""
        wanted = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
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
            self._stop_heartbeat()
            root.removeHandler(handler)
            root.setLevel(before)

    # Steps: what the run is doing now, and (for the summary) how long each part took.
    def step_start(self, title: str) -> None:
        self.steps.append(StepRecord(title, self.clock()))
        self.debug(f"step: {title}")
        self.backend.step_start(title)
        if self.backend.heartbeats and self._beat_thread is None:
            self._start_heartbeat()

    def step_end(self, *, ok: bool = True) -> None:
        record = next((s for s in reversed(self.steps) if s.ok is None), None)
        if record is None:
            return
        record.seconds = self.clock() - record.start
        record.ok = ok
        self.debug(f"step: {record.title} {'done' if ok else 'FAILED'} in {record.seconds:.1f} s")
        self.backend.step_end(record)
        if all(s.ok is not None for s in self.steps):
            self._stop_heartbeat()

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.step_start(title)
        ok = False
        try:
            yield
            ok = True
        finally:
            self.step_end(ok=ok)

    # The heartbeat: a thread that, while a step runs, writes a line after `heartbeat` seconds without one.
    def _start_heartbeat(self) -> None:
        stop = threading.Event()
        self._beat_stop = stop
        self._beat_thread = threading.Thread(target=self._beat, args=(stop,), daemon=True)
        self._beat_thread.start()

    def _stop_heartbeat(self) -> None:
        if self._beat_stop is not None and self._beat_thread is not None:
            self._beat_stop.set()
            self._beat_thread.join()
        self._beat_stop = self._beat_thread = None

    def _beat(self, stop: threading.Event) -> None:
        while not stop.wait(self.poll):
            if self.clock() - self.backend.last_write < self.heartbeat:
                continue
            record = next((s for s in reversed(self.steps) if s.ok is None), None)
            if record is None:
                continue
            doing = self.activity.activity() if self.activity is not None else self._last_log
            tail = f"; {doing}" if doing else ""
            self.info(f"{record.title}: still running, {elapsed(self.clock() - record.start)} so far{tail}")

    # Progress, shown the way the backend can.
    def meter(self, label: str) -> Meter:
        """A download's (or upload's) byte counter."""
        meter = self.backend.meter(label)
        if isinstance(meter, _CountingMeter):
            meter.owner = self
        return meter

    def status(self, title: str) -> Status:
        """A long command's phase and elapsed time (`with reporter.status("build") as s: s.set_phase(...)`)."""
        status = self.backend.status(title)
        status.owner = self
        return status

    # The results channel.
    def result(self, text: str) -> None:
        """A line of the command's result: stdout, or (with --json, where stdout is the JSON) the log."""
        if self.as_json:
            self.info(text)
        else:
            self.backend.result(text)

    def emit(self, data: Mapping[str, Any]) -> None:
        """The command's machine-readable result (--json): one JSON document on stdout."""
        if self.as_json:
            self.emitted = True
            self.backend.result(json.dumps(data, indent=2, sort_keys=True))

    def heading(self, text: str) -> str:
        return self.backend.bold(text)

    def summary(self, lines: Sequence[str]) -> None:
        """The run's closing lines (one per version, say), on the log channel after everything else."""
        for line in lines:
            self.info(line)

    def step_table(self) -> list[str]:
        """The summary table of the run's steps: each one's time and result."""
        width = max((len(s.title) for s in self.steps), default=4)
        rows = [self.heading(f"  {'step':<{width}}  {'time':>7}  result")]
        for s in self.steps:
            took = elapsed(s.seconds) if s.seconds is not None else "-"
            result = "ok" if s.ok else "FAILED" if s.ok is False else "running"
            rows.append(f"  {s.title:<{width}}  {took:>7}  {result}")
        return rows


class _Handler(logging.Handler):
    def __init__(self, reporter: Reporter) -> None:
        super().__init__()
        self.reporter = reporter
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if "still running" not in text:
                self.reporter._last_log = text.strip()[:160]
            self.reporter.backend.log(record.levelno, text)
        except Exception:  # logging's own contract: a broken stream must not end the run
            self.handleError(record)
