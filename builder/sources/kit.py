"""The node kit: which pinned inputs a bundle needs, fetching them all at once, and building CNI plugins.

- CNI plugins (containernetworking/plugins): win-bridge, win-overlay and host-local into k/cni/,
  when the runtime is containerd or the network mode needs them (overlay, flannel modes).
  `cni.source: build` cross-compiles them from the pinned source archive (offline, `-mod=vendor`,
  with the Go its go.mod asks for); `release` takes the release tgz.
- flanneld.exe (flannel-io/flannel's raw release asset; flannel publishes no checksum files, so
  only the pin verifies it) in the flannel modes.
- containerd (bin/containerd.exe, bin/containerd-shim-runhcs-v1.exe, bin/ctr.exe) and crictl.exe
  with `node.bundle_runtime: true`.
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
from ..config import FLANNEL_MODES, Config, InputSection, runtime_for
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

CNI_PLUGINS: tuple[tuple[str, str], ...] = (
    ("win-bridge", "plugins/main/windows/win-bridge"),
    ("win-overlay", "plugins/main/windows/win-overlay"),
    ("host-local", "plugins/ipam/host-local"),
)
CNI_MODULE = "github.com/containernetworking/plugins"
BUILDVERSION = f"{CNI_MODULE}/pkg/utils/buildversion.BuildVersion"
CONTAINERD_TAKES = (("bin/containerd.exe", "containerd/containerd.exe"),
                    ("bin/containerd-shim-runhcs-v1.exe", "containerd/containerd-shim-runhcs-v1.exe"),
                    ("bin/ctr.exe", "containerd/ctr.exe"))
LICENCES = {"cni": "Apache-2.0", "flannel": "Apache-2.0", "containerd": "Apache-2.0", "crictl": "Apache-2.0"}
INPUT_NAMES = {"cni": "cni-plugins", "flannel": "flanneld", "containerd": "containerd", "crictl": "crictl"}
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
    mode = cfg.network.mode
    out = []
    if "containerd" in runtimes or mode == "overlay" or mode in FLANNEL_MODES:
        out.append("cni")
    if mode in FLANNEL_MODES:
        out.append("flannel")
    if cfg.node.bundle_runtime:
        out += ["containerd", "crictl"]
    return out


def _runtime(cfg: Config, version: str) -> str | None:
    try:
        return runtime_for(cfg.node, KubeVersion.parse(version))
    except (ValueError, ConfigError):
        return cfg.node.runtime  # config.load has reported what is wrong with either


def spec_for(cfg: Config, section: InputSection) -> InputSpec:
    """The input a configuration section describes."""
    name = section.name
    url = http.resolve_location(section.resolved_url, cfg.options.config_path)
    tree = name == "cni" and section.source == "build"
    if tree:
        takes: tuple[Take, ...] = ()
        checksums: tuple[str, ...] = ()
    elif name == "cni":
        takes = tuple(Take(f"{p}.exe", f"cni/{p}.exe") for p, _ in CNI_PLUGINS)
        checksums = (".sha256", ".sha512")
    elif name == "flannel":
        takes, checksums = (Take("flanneld.exe", "flanneld.exe"),), ()  # flannel publishes no checksum files
    elif name == "containerd":
        takes, checksums = tuple(Take(p, d) for p, d in CONTAINERD_TAKES), (".sha256sum",)
    else:
        takes, checksums = (Take("crictl.exe", "crictl.exe"),), (".sha256", ".sha512")
    return InputSpec(name=INPUT_NAMES[name], key=name, kind=kind_of(url, "file" if name == "flannel" else "tar.gz"),
                     url=url, version=section.version, takes=takes, sha256=section.sha256,
                     h1=section.h1 if tree else "", checksums=checksums, tree=tree, licence=LICENCES[name])


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
            out.append(build_cni(cfg, f, env))
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


def build_cni(cfg: Config, f: Fetched, env: Mapping[str, str]) -> FetchedInput:
    """win-bridge, win-overlay and host-local cross-compiled from the pinned source tree, offline.

    The flags are upstream's build_windows.sh (GOOS=windows, -mod=vendor, the BuildVersion stamp)
    plus -trimpath and -buildvcs=false, so the binaries name no local path and depend only on the
    sources, the Go version and the flags. A stamp keyed by those skips a build that would be the same.
    """
    tree = f.tree
    assert tree is not None
    version = f.spec.version
    if not (tree / "vendor" / "modules.txt").is_file():
        msg = (f"cni: the source archive {f.spec.shown} has no vendor/modules.txt, so it cannot be built "
               "offline with -mod=vendor; use cni.source: release")
        raise BuildError(msg)
    go = provision(requirement(tree, None), cfg.options.cache_dir, env, cfg.options.offline)
    out_dir = cfg.options.cache_dir / "cni-build" / hashlib.sha256(f.spec.url.encode()).hexdigest()[:16]
    ldflags = f"-X {BUILDVERSION}={version}"
    args = ["go", "build", "-mod=vendor", "-trimpath", "-buildvcs=false", "-ldflags", ldflags,
            "-o", f"{out_dir}/", *(f"./{pkg}" for _, pkg in CNI_PLUGINS)]
    key = hashlib.sha256(json.dumps({"schema": STAMP_SCHEMA, "h1": f.h1, "go": show(go.version),
                                     "goroot": str(go.goroot), "ldflags": ldflags,
                                     "plugins": CNI_PLUGINS}, sort_keys=True).encode()).hexdigest()
    stamp = out_dir / "stamp.json"
    outputs = _reuse(stamp, key, out_dir)
    if outputs is None:
        for name, _ in CNI_PLUGINS:
            (out_dir / f"{name}.exe").unlink(missing_ok=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        log.info("cni: building %s of %s with Go %s", ", ".join(n for n, _ in CNI_PLUGINS), version, show(go.version))
        with tempfile.TemporaryDirectory(prefix="k8swb-home-") as home:
            benv = go.env(private_home(env, Path(home), cfg.kubernetes.build_env))
            benv.update({"GOOS": "windows", "GOARCH": "amd64", "CGO_ENABLED": "0", "GOFLAGS": "-mod=vendor",
                         "GOPROXY": "off", "GOWORK": "off", "GOTOOLCHAIN": "local"})
            call_logged(args, log_path=cfg.options.cache_dir / "logs" / "cni-build.log", cwd=tree, env=benv,
                        error=BuildError, what="the CNI plugins build (go build)", keep=cfg.kubernetes.build_env)
        log.info("cni: built in %.1f s", time.monotonic() - start)
        outputs = _check_cni(out_dir, version)
        atomic_write(stamp, json.dumps({"key": key, "outputs": outputs}, indent=1, sort_keys=True).encode())
    else:
        log.info("cni: nothing changed since the last build of %s; reusing its outputs", version)
    files = tuple(FetchedFile(f"{pkg}", f"cni/{name}.exe", out_dir / f"{name}.exe", outputs[name])
                  for name, pkg in CNI_PLUGINS)
    return _record(f, files, built=f"go build -mod=vendor -trimpath -ldflags '{ldflags}' with Go {show(go.version)}")


def _reuse(stamp: Path, key: str, out_dir: Path) -> dict[str, str] | None:
    data = read_json_object(stamp)
    if data is None or data.get("key") != key:
        return None
    outputs: dict[str, str] = data.get("outputs") or {}
    for name, _ in CNI_PLUGINS:
        path = out_dir / f"{name}.exe"
        if not path.is_file() or sha256_file(path) != outputs.get(name):
            return None
    return outputs


def _check_cni(out_dir: Path, version: str) -> dict[str, str]:
    problems, out = [], {}
    for name, _ in CNI_PLUGINS:
        path = out_dir / f"{name}.exe"
        if not path.is_file():
            problems.append(f"{path}: missing: go build did not produce {name}.exe")
            continue
        problem = file_pe_problem(path)
        if problem:
            problems.append(f"{path}: {problem}; expected a PE32+ x86-64 Windows executable")
        elif not file_contains(path, version.encode()):
            problems.append(f"{path}: does not carry the BuildVersion stamp {version}")
        else:
            out[name] = sha256_file(path)
    if problems:
        raise BuildError("the CNI plugins build's outputs are not usable:\n  " + "\n  ".join(problems))
    return out

