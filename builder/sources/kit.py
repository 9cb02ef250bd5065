"""The node kit: which pinned inputs a bundle needs, fetching them all at once, and building CNI plugins.

What each input is, where it comes from and when a bundle needs it is its row of
`builder.config.kit_inputs.KIT_INPUTS`: an input the network mode lists, or whose CNI plugin the
mode uses with the runtime, and those of `node.bundle_runtime: true`. An input with a Go build
(the CNI plugins, `cni.source: build`) is cross-compiled here from the pinned source archive
(offline, `-mod=vendor`, with the Go its go.mod asks for); otherwise the release asset's members
are taken.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .. import http
from ..artifacts import FetchedFile, FetchedInput, SdnResult
from ..config import INPUT_SECTIONS, KIT_INPUTS, Config, InputSection, KitInput, kit_input, mode_for, runtime_for
from ..config.kit_inputs import NEEDED_BY_MODE, NEEDED_WITH_RUNTIME, GoBuild, providing
from ..config.modes import BY_SCRIPTS
from ..errors import BuildError, ConfigError, FetchError
from ..fsutil import atomic_write, read_json_object
from ..hashing import sha256_file
from ..http import Net
from ..kversion import KubeVersion
from ..pe import file_contains, file_pe_problem
from ..report import Reporter
from ..run import call_logged
from . import sdn
from .inputs import Fetched, InputSpec, Take, fetch_inputs, fresh_pins, kind_of, offline_message, rewrite_section_pins
from .toolchain import private_home, provision, requirement, show

log = logging.getLogger(__name__)

STAMP_SCHEMA = 1


@dataclass(frozen=True)
class Inputs:
    """Everything fetched before the build: the SDN scripts and the node kit's inputs."""

    sdn: SdnResult
    kit: tuple[Fetched, ...]


# --------------------------------------------------------------------------- which inputs


def wanted_sections(cfg: Config, git_version: str | None) -> list[str]:
    """The input sections this bundle needs, by runtime, network mode and node.bundle_runtime.

    Without a version (a `fetch` of several versions), the union over `kubernetes.versions`.
    """
    versions = [git_version] if git_version else list(cfg.kubernetes.versions)
    runtimes = {_runtime(cfg, v) for v in versions} if versions else {cfg.node.runtime}
    mode = mode_for(cfg.network.mode)
    # The plugins the bundle installs (a cluster-installed CNI brings its own).
    plugins = {mode.plugin_for(r) for r in runtimes if r is not None} if mode.cni_by == BY_SCRIPTS else set()
    by_plugin = {row.name for row in map(providing, plugins) if row is not None}
    wanted = {NEEDED_BY_MODE: {*mode.inputs, *by_plugin}, NEEDED_WITH_RUNTIME: set(INPUT_SECTIONS)
              if cfg.node.bundle_runtime else set()}
    return [row.name for row in KIT_INPUTS if row.name in wanted[row.needed]]


def _runtime(cfg: Config, version: str) -> str | None:
    try:
        return runtime_for(cfg.node, KubeVersion.parse(version))
    except (ValueError, ConfigError):
        return cfg.node.runtime  # config.load has reported what is wrong with either


def spec_for(cfg: Config, section: InputSection) -> InputSpec:
    """The input a configuration section describes: its row of the input table, at the configured source."""
    row = kit_input(section.name)
    url = http.resolve_location(section.resolved_url, cfg.options.config_path)
    tree = row.build is not None and section.source == "build"
    # A source archive is kept whole (to be built) and has no checksum files; a release gives the members.
    takes = () if tree else tuple(Take(path, dest) for path, dest in row.takes)
    return InputSpec(name=row.asset, key=row.name, kind=kind_of(url, row.kind), url=url, version=section.version,
                     takes=takes, sha256=section.sha256, h1=section.h1 if tree else "",
                     checksums=() if tree else row.checksums, tree=tree, licence=row.licence)


def kit_specs(cfg: Config, git_version: str | None) -> list[InputSpec]:
    return [spec_for(cfg, cfg.input_section(s)) for s in wanted_sections(cfg, git_version)]


# --------------------------------------------------------------------------- fetching


def fetch_all(cfg: Config, git_version: str | None, *, net: Net | None = None) -> Inputs:
    """SDN and every kit input, verified; offline, every missing input is named in one error."""
    missing: list[str] = []
    sdn_result: SdnResult | None = None
    try:
        sdn_result = sdn.fetch_sdn(cfg, net=net)
    except FetchError as err:
        if not cfg.options.offline:
            raise
        missing.append(f"sdn: {err}")
    kit, kit_missing = fetch_inputs(kit_specs(cfg, git_version), cfg.options.cache_dir,
                                    offline=cfg.options.offline, net=net)
    missing += kit_missing
    if missing:
        raise FetchError(offline_message(missing))
    assert sdn_result is not None
    return Inputs(sdn_result, tuple(kit))


def check_update_pins(cfg: Config) -> Path:
    """What `--update-pins` needs before it downloads anything: a file to rewrite and the network."""
    path = cfg.options.pins_file()
    if cfg.options.offline:
        msg = "--update-pins must download every input and cannot run with --offline"
        raise FetchError(msg)
    return path


def update_pins(cfg: Config, git_version: str | None, *, net: Net | None = None,
                reporter: Reporter | None = None) -> int:
    """Refresh the pins of SDN and of every kit input this configuration uses, in the config file."""
    reporter = reporter or Reporter()
    path = check_update_pins(cfg)
    sdn.update_pins(cfg, net=net, reporter=reporter)
    specs = kit_specs(cfg, git_version)
    fetched = fresh_pins(specs, cfg.options.cache_dir, net=net)
    updates: dict[str, dict[str, str]] = {}
    for f in fetched:
        pins = {"h1": f.h1 or ""} if f.spec.tree else {"sha256": f.archive_sha256}
        old = {"h1": f.spec.h1} if f.spec.tree else {"sha256": f.spec.sha256}
        for key, value in pins.items():
            state = "unchanged" if old[key] == value else f"{old[key] or '(empty)'} -> {value}"
            reporter.result(f"  {f.spec.key}.{key} ({f.spec.name} {f.spec.version}): {state}")
        if pins != old:
            updates[f.spec.key] = pins
    text = path.read_text(encoding="utf-8")
    updated = rewrite_section_pins(text, str(path), updates)
    if updated == text:
        reporter.result("kit pins: nothing to change")
    else:
        atomic_write(path, updated.encode("utf-8"), keep_mode=True)
        reporter.result(f"wrote the kit pins to {path}; review the change before committing it")
    return 0


# --------------------------------------------------------------------------- into the bundle


def finish(cfg: Config, inputs: Inputs, env: Mapping[str, str]) -> tuple[FetchedInput, ...]:
    """Each kit input as the bundle takes it: CNI plugins from a source archive are built here."""
    out = []
    for f in inputs.kit:
        if f.spec.tree:
            out.append(build_from_source(cfg, f, env))
            continue
        files = tuple(FetchedFile(t.path, t.dest, f.files[t.dest][0], f.files[t.dest][1]) for t in f.spec.takes)
        for ff in files:
            if ff.dest.endswith(".exe"):
                _check_pe(ff.path, f.spec.name, f.spec.shown)
        out.append(_record(f, files))
    return tuple(out)


def _record(f: Fetched, files: tuple[FetchedFile, ...], built: str | None = None) -> FetchedInput:
    return FetchedInput(name=f.spec.name, version=f.spec.version, url=f.spec.shown, kind=f.spec.kind,
                        archive_sha256=f.archive_sha256, files=files, h1=f.h1, published=f.published,
                        licence=f.spec.licence, built=built)


def _check_pe(path: Path, name: str, shown: str) -> None:
    problem = file_pe_problem(path)
    if problem:
        msg = f"{name}: {path.name} from {shown}: {problem}; expected a PE32+ x86-64 Windows executable"
        raise FetchError(msg)


def build_from_source(cfg: Config, f: Fetched, env: Mapping[str, str]) -> FetchedInput:
    """An input's Go main packages (the CNI plugins) cross-compiled from its pinned source tree, offline.

    The flags are upstream's (containernetworking/plugins build_windows.sh: GOOS=windows, -mod=vendor,
    the version stamp) plus -trimpath and -buildvcs=false, so the binaries name no local path and
    depend only on the sources, the Go version and the flags. A stamp keyed by those skips a build
    that would be the same.
    """
    row = kit_input(f.spec.key)
    build = row.build
    tree = f.tree
    assert tree is not None
    assert build is not None
    version = f.spec.version
    if not (tree / "vendor" / "modules.txt").is_file():
        msg = (f"{row.name}: the source archive {f.spec.shown} has no vendor/modules.txt, so it cannot be built "
               f"offline with -mod=vendor; use {row.name}.source: release")
        raise BuildError(msg)
    go = provision(requirement(tree, None), cfg.options.cache_dir, env, cfg.options.offline)
    out_dir = cfg.options.cache_dir / f"{row.name}-build" / hashlib.sha256(f.spec.url.encode()).hexdigest()[:16]
    ldflags = f"-X {build.version_stamp}={version}"
    args = ["go", "build", "-mod=vendor", "-trimpath", "-buildvcs=false", "-ldflags", ldflags,
            "-o", f"{out_dir}/", *(f"./{pkg}" for _, pkg in build.packages)]
    key = hashlib.sha256(json.dumps({"schema": STAMP_SCHEMA, "h1": f.h1, "go": show(go.version),
                                     "goroot": str(go.goroot), "ldflags": ldflags,
                                     "plugins": build.packages}, sort_keys=True).encode()).hexdigest()
    stamp = out_dir / "stamp.json"
    outputs = _reuse(stamp, key, out_dir, build)
    if outputs is None:
        for name, _ in build.packages:
            (out_dir / f"{name}.exe").unlink(missing_ok=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        log.info("%s: building %s of %s with Go %s", row.name, ", ".join(n for n, _ in build.packages), version,
                 show(go.version))
        with tempfile.TemporaryDirectory(prefix="k8swb-home-") as home:
            benv = go.env(private_home(env, Path(home), cfg.kubernetes.build_env))
            benv.update({"GOOS": "windows", "GOARCH": "amd64", "CGO_ENABLED": "0", "GOFLAGS": "-mod=vendor",
                         "GOPROXY": "off", "GOWORK": "off", "GOTOOLCHAIN": "local"})
            call_logged(args, log_path=cfg.options.cache_dir / "logs" / f"{row.name}-build.log", cwd=tree, env=benv,
                        error=BuildError, what=f"the {row.asset} build (go build)", keep=cfg.kubernetes.build_env)
        log.info("%s: built in %.1f s", row.name, time.monotonic() - start)
        outputs = _check_built(out_dir, version, row)
        atomic_write(stamp, json.dumps({"key": key, "outputs": outputs}, indent=1, sort_keys=True).encode())
    else:
        log.info("%s: nothing changed since the last build of %s; reusing its outputs", row.name, version)
    dests = dict(row.takes)
    files = tuple(FetchedFile(f"{pkg}", dests[f"{name}.exe"], out_dir / f"{name}.exe", outputs[name])
                  for name, pkg in build.packages)
    return _record(f, files, built=f"go build -mod=vendor -trimpath -ldflags '{ldflags}' with Go {show(go.version)}")


def _reuse(stamp: Path, key: str, out_dir: Path, build: GoBuild) -> dict[str, str] | None:
    data = read_json_object(stamp)
    if data is None or data.get("key") != key:
        return None
    outputs: dict[str, str] = data.get("outputs") or {}
    for name, _ in build.packages:
        path = out_dir / f"{name}.exe"
        if not path.is_file() or sha256_file(path) != outputs.get(name):
            return None
    return outputs


def _check_built(out_dir: Path, version: str, row: KitInput) -> dict[str, str]:
    assert row.build is not None
    problems, out = [], {}
    for name, _ in row.build.packages:
        path = out_dir / f"{name}.exe"
        if not path.is_file():
            problems.append(f"{path}: missing: go build did not produce {name}.exe")
            continue
        problem = file_pe_problem(path)
        if problem:
            problems.append(f"{path}: {problem}; expected a PE32+ x86-64 Windows executable")
        elif not file_contains(path, version.encode()):
            problems.append(f"{path}: does not carry the version stamp {version}")
        else:
            out[name] = sha256_file(path)
    if problems:
        raise BuildError(f"the {row.asset} build's outputs are not usable:\n  " + "\n  ".join(problems))
    return out
