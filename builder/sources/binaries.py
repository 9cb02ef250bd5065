"""Official Kubernetes release binaries (`kubernetes.source: release`), and many versions in one run.

Each component comes from `<release_url>/<version>/bin/windows/amd64/<name>.exe` and is checked
against the checksum file published beside it (`.sha512`, else `.sha256`; neither is an error),
and against its pin in `kubernetes.pins` when there is one.

The cache is keyed by origin and version: `<cache>/release/<origin>/<version>/`, where `<origin>`
is a digest of the release URL, so what a mirror served is never taken for dl.k8s.io's file. An
entry holds the verified exe, the checksum file as published, and `<name>.exe.verified`: the
origin and the hashes recorded when it was verified. An entry counts only when its exe still has
the recorded hashes, the record names this origin, and any pin agrees; so a second run touches no
network, and a file changed or planted in the cache is downloaded again. Downloads land in a
temporary folder beside the entry and are renamed into place once verified: the cache never holds
an unverified binary.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path

import requests

from .. import http
from ..artifacts import Binary, BuildResult
from ..config import Config
from ..errors import BuilderError, ConfigError, FetchError
from ..fsutil import atomic_write, cache_workdir, read_json_object
from ..hashing import parse_checksum, sha256_sha512_file
from ..http import Net
from ..kversion import KubeVersion
from ..pe import file_contains, file_pe_problem

log = logging.getLogger(__name__)

ALGORITHMS = ("sha512", "sha256")  # the published checksum files, preferred first
MAX_PARALLEL = 3  # versions downloading at once: enough to fill a link, few enough to be polite


# --------------------------------------------------------------------------- one version


def binary_url(cfg: Config, version: str, name: str) -> str:
    """Where the release publishes `<name>.exe` of `version` for the configured platform."""
    return http.append_path(_release_url(cfg), f"/{version}/bin/{cfg.kubernetes.platform}/{name}.exe")


LOG_RUNNER = "kube-log-runner"
LOG_RUNNER_SINCE = (1, 23)  # first release whose node binaries include kube-log-runner.exe


def release_names(cfg: Config, version: str) -> list[str]:
    """The executables to take: the components, and kube-log-runner from 1.23 on."""
    names = list(cfg.kubernetes.components)
    try:
        if KubeVersion.parse(version).minor_key >= LOG_RUNNER_SINCE:
            names.append(LOG_RUNNER)
    except ValueError:
        pass  # config.load reports a version that is not one
    return names


def download_binaries(cfg: Config, *, net: Net | None = None, progress: bool = True) -> BuildResult:
    """The configured components of `kubernetes.version`, verified, from the cache or the release."""
    version = cfg.kubernetes.version
    if not version:
        msg = "kubernetes.version: source: release needs a version (set it, or pass --kube-version vX.Y.Z)"
        raise ConfigError(msg)
    net = net or Net()
    session = net.session
    if session is None and not cfg.options.offline:
        session = http.make_session()
    try:
        binaries = tuple(
            _binary(cfg, version, name, net, session, progress) for name in release_names(cfg, version)
        )
    finally:
        if net.session is None and session is not None:
            session.close()
    return BuildResult(
        git_version=version,
        git_commit=None,
        tree_state="release",
        source="release",
        go_version=None,
        source_date_epoch=cfg.bundle.source_date_epoch,
        binaries=binaries,
    )


def _release_url(cfg: Config) -> str:
    """kubernetes.release_url; a relative mirror path is taken from the config file's folder."""
    return http.resolve_location(cfg.kubernetes.release_url, cfg.options.config_path)


def origin_key(release_url: str) -> str:
    """The cache folder of one origin: a digest of its URL (without credentials or query)."""
    base = http.redact_url(release_url).removesuffix("?...")
    return hashlib.sha256(base.encode()).hexdigest()[:16]


def entry(cfg: Config, version: str) -> Path:
    """The cache folder of `version` as served by the configured release_url."""
    return cfg.options.cache_dir / "release" / origin_key(_release_url(cfg)) / version


def pin_of(cfg: Config, version: str, name: str) -> str | None:
    """The sha256 `kubernetes.pins` gives `name`.exe of `version`, if any."""
    return dict(((v, c), h) for v, c, h in cfg.kubernetes.pins).get((version, name))


def _binary(cfg: Config, version: str, name: str, net: Net, session: requests.Session | None,
            progress: bool) -> Binary:
    url = binary_url(cfg, version, name)
    shown = http.redact_url(url)
    folder = entry(cfg, version)
    pin = pin_of(cfg, version, name)
    found = _from_cache(folder, name, shown, pin)
    if found is not None:
        log.debug("release: %s %s.exe from the cache %s", version, name, folder)
        _check_exe(folder / f"{name}.exe", version, shown)
        algo, expected, sha256 = found
    else:
        if cfg.options.offline or session is None:
            msg = (f"offline: {name}.exe of Kubernetes {version} is not in the cache {folder} (it comes from "
                   f"{shown}); run once without --offline, or copy the cache folder from a machine that has it")
            raise FetchError(msg)
        try:
            algo, expected, sha256 = _download_verified(url, folder, name, version, net, session, progress, pin)
        except BuilderError:
            with contextlib.suppress(OSError):
                # only when empty: a failed first download leaves no trace in the cache
                for empty in (folder, folder.parent, folder.parent.parent):
                    empty.rmdir()
            raise
    return Binary(name=name, path=folder / f"{name}.exe", sha256=sha256, origin=shown,
                  published_checksums={algo: expected})


def _from_cache(folder: Path, name: str, origin: str, pin: str | None) -> tuple[str, str, str] | None:
    """(algorithm, published hex, sha256) when the cached exe still is what was verified, from `origin`."""
    exe = folder / f"{name}.exe"
    if not exe.is_file():
        return None
    record = read_json_object(folder / f"{name}.exe.verified")
    if record is None or record.get("origin") != origin:
        log.warning("release: cached %s has no record of being verified from %s; downloading again", exe, origin)
        return None
    algo, expected = str(record.get("algorithm")), str(record.get("published"))
    sums = folder / f"{name}.exe.{algo}"
    try:
        published = parse_checksum(sums.read_bytes(), algo, str(sums)) if algo in ALGORITHMS else None
    except (FetchError, OSError) as err:
        log.warning("release: %s; downloading again", err)
        return None
    hashes = sha256_sha512_file(exe)
    if published != expected or hashes.get(algo) != expected or hashes["sha256"] != record.get("sha256"):
        log.warning("release: cached %s is not the file verified from %s; downloading again", exe, origin)
        return None
    if pin is not None and hashes["sha256"] != pin:
        log.warning("release: cached %s has sha256 %s, not its pin %s; downloading again", exe, hashes["sha256"], pin)
        return None
    return algo, expected, hashes["sha256"]


def _write_record(folder: Path, name: str, origin: str, algo: str, published: str, sha256: str) -> None:
    record = {"origin": origin, "algorithm": algo, "published": published, "sha256": sha256}
    atomic_write(folder / f"{name}.exe.verified", (json.dumps(record, indent=1) + "\n").encode())


def _check_pin(sha256: str, pin: str | None, version: str, name: str, shown: str) -> None:
    if pin is not None and sha256 != pin:
        msg = (f"{shown}: sha256 {sha256} does not match its pin kubernetes.pins.{version}.{name} ({pin}); "
               "it was not kept. If the release really changed, check why, then run "
               "`fetch --update-pins` or correct the pin")
        raise FetchError(msg)


def _download_verified(url: str, folder: Path, name: str, version: str, net: Net, session: requests.Session,
                       progress: bool, pin: str | None) -> tuple[str, str, str]:
    shown = http.redact_url(url)
    with cache_workdir(folder) as tmp:
        exe = tmp / f"{name}.exe"
        log.info("release: downloading %s", shown)
        bar = net.meter(f"{name}.exe {version}") if progress else None
        if _get(url, exe, net, session, bar) is None:
            msg = (f"Kubernetes {version}: {name}.exe is not at {shown} (HTTP 404): {version} is not a "
                   "released version, or the mirror kubernetes.release_url does not carry it; check the "
                   "version and kubernetes.release_url")
            raise FetchError(msg)
        algo, expected = _published_checksum(url, tmp / f"{name}.exe", net, session)
        hashes = sha256_sha512_file(exe)
        if hashes[algo] != expected:
            published = http.redact_url(http.append_path(url, f".{algo}"))
            msg = (f"{shown}: {algo} {hashes[algo]} does not match the published {expected} "
                   f"({published}); the download is corrupt or the mirror is wrong; it was not kept")
            raise FetchError(msg)
        _check_exe(exe, version, shown)
        _check_pin(hashes["sha256"], pin, version, name, shown)
        (folder / f"{name}.exe.verified").unlink(missing_ok=True)  # the old record must not vouch for the new exe
        for other in ALGORITHMS:  # nor a stale checksum file of the other kind
            (folder / f"{name}.exe.{other}").unlink(missing_ok=True)
        os.replace(tmp / f"{name}.exe.{algo}", folder / f"{name}.exe.{algo}")
        os.replace(exe, folder / f"{name}.exe")
        _write_record(folder, name, shown, algo, expected, hashes["sha256"])
    return algo, expected, hashes["sha256"]


def _get(url: str, dest: Path, net: Net, session: requests.Session,
         progress: http.Meter | None = None, max_bytes: int | None = None) -> str | None:
    """Download `url` to `dest` and return its sha256, or None when the release has no such file."""
    return http.download_if_present(url, dest, net, session, progress=progress, key="kubernetes.release_url",
                                    max_bytes=max_bytes)


def _published_checksum(url: str, exe: Path, net: Net, session: requests.Session) -> tuple[str, str]:
    """(algorithm, hex) from the first checksum file published beside `url`, saved beside `exe`."""
    for algo in ALGORITHMS:
        dest = exe.with_name(f"{exe.name}.{algo}")
        beside = http.append_path(url, f".{algo}")
        if _get(beside, dest, net, session, max_bytes=http.MAX_CHECKSUM) is not None:
            return algo, parse_checksum(dest.read_bytes(), algo, http.redact_url(beside))
    shown = http.redact_url(url)
    tried = " nor ".join(http.redact_url(http.append_path(url, f".{a}")) for a in ALGORITHMS)
    msg = (f"{shown}: no published checksum beside it: neither {tried} exists; the binary cannot be "
           "verified, so it was not used. If kubernetes.release_url is a mirror, copy the checksum files too")
    raise FetchError(msg)


def _check_exe(path: Path, version: str, shown: str) -> None:
    """A PE32+ x86-64 executable that carries `version`: what the checksum alone cannot tell."""
    problem = file_pe_problem(path)
    # kube-log-runner links no version package: only its headers and checksum say what it is.
    if problem is None and path.name != f"{LOG_RUNNER}.exe" and not file_contains(path, version.encode()):
        problem = f"does not carry the version string {version}: it is another version's binary"
    if problem is not None:
        msg = f"{shown}: {problem}; expected the Windows {path.name} of Kubernetes {version}"
        raise FetchError(msg)


# --------------------------------------------------------------------------- many versions


def prefetch(cfg: Config, versions: Sequence[str], *, net: Net | None = None) -> dict[str, BuilderError]:
    """Download every version's binaries into the cache, MAX_PARALLEL at a time; return the failures."""
    failed: dict[str, BuilderError] = {}
    workers = max(1, min(MAX_PARALLEL, len(versions)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="release")
    try:
        # No progress bars: several on one terminal line would garble each other; the log says enough.
        futures: dict[Future[BuildResult], str] = {
            pool.submit(download_binaries, cfg.for_version(v), net=net, progress=False): v for v in versions
        }
        for future in as_completed(futures):
            version = futures[future]
            try:
                future.result()
            except BuilderError as err:
                log.error("%s: %s", version, err)
                failed[version] = err
            else:
                log.info("release: %s: binaries ready", version)
    finally:
        # On Ctrl-C, start no further version; downloads already running finish into their temp folders.
        pool.shutdown(wait=True, cancel_futures=True)
    return failed
