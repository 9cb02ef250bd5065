"""Pinned external inputs: one mechanism for every archive or file the bundle takes from upstream.

An input is an archive (zip, tar.gz) or a single file at a URL, of a version, from which some
members are taken into the bundle (or, for a source archive, its whole tree is kept to be built).
It is verified by what is known of it, all of which must agree:

- a pin in the configuration: the sha256 of the download, the sha256 of a member, or for a source
  archive its content digest `h1:` (Go's dirhash Hash1 over the files below the top folder:
  base64(sha256 of the sorted lines "<sha256 hex>  <path>\\n")), which a regenerated archive with
  the same files still matches;
- a checksum file published beside it (`.sha256`, `.sha256sum`, `.sha512`: a bare hex digest or
  "<hex>  <name>"). When an input names checksum files, one of them must be there and readable:
  a missing or garbled checksum file stops the run.

An input with no pin at all is an error, unless a published checksum file verified it: then it is
a warning that asks for `nox -s fetch -- --update-pins` (the same server gave both, so the pin is
what protects against a changed upstream).

The cache holds each verified input under `<cache>/inputs/<name>/<version>-<key>/`, where the key
is a digest of the URL and of what is taken: the same version from another mirror is another
entry. Every read re-hashes the cached files against the pins (or, unpinned, against the digests
recorded when they were verified). Entries are written in a temporary folder and renamed into
place, so nothing of a refused archive reaches the cache.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from .. import http
from ..config import parse_yaml
from ..errors import ConfigError, FetchError
from ..fsutil import cache_workdir, read_json_object, swap_dir
from ..hashing import parse_checksum, sha256_file, sha256_sha512_file
from ..http import Net
from .safetar import SafeTar
from .safezip import Limits, MiB, SafeZip

log = logging.getLogger(__name__)

META = "input.json"
# Release executables are large (containerd.exe is tens of MiB); the ratio limit still stops bombs.
LIMITS = Limits(max_archive=1024 * MiB, max_member=192 * MiB, max_read=768 * MiB)


@dataclass(frozen=True)
class Take:
    """One member taken into the bundle."""

    path: str  # in the archive (below its top folder for a source archive); a single file: its name
    dest: str  # below the bundle's k/ folder
    sha256: str = ""  # its pin; "" when the archive's pin or checksum file covers it


@dataclass(frozen=True)
class InputSpec:
    name: str  # cni-plugins, flanneld, containerd, crictl
    key: str  # the config section, for messages and --update-pins
    kind: str  # zip, tar.gz or file
    url: str  # resolved: template filled, a relative path made absolute
    version: str
    takes: tuple[Take, ...] = ()
    sha256: str = ""  # pin of the download
    h1: str = ""  # pin of a source archive's content
    checksums: tuple[str, ...] = ()  # suffixes of the checksum files published beside it, tried in order
    tree: bool = False  # a source archive: keep every file below its single top folder
    licence: str | None = None

    @property
    def pinned(self) -> bool:
        return bool(self.sha256 or self.h1 or any(t.sha256 for t in self.takes))

    @property
    def shown(self) -> str:
        return http.redact_url(self.url)


@dataclass(frozen=True)
class Fetched:
    """A verified input in the cache."""

    spec: InputSpec
    archive_sha256: str
    files: dict[str, tuple[Path, str]]  # dest -> (cached file, sha256)
    h1: str | None = None
    tree: Path | None = None  # the source tree, for a source archive
    published: tuple[tuple[str, str], ...] = ()  # (checksum file URL, hex)


def kind_of(url: str, default: str) -> str:
    """zip or tar.gz from the URL's file name, else `default`."""
    path = url.split("?", 1)[0].lower()
    if path.endswith(".zip"):
        return "zip"
    if path.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    return default


# --------------------------------------------------------------------------- digests


def dirhash(files: Mapping[str, str]) -> str:
    """Go's dirhash Hash1 over {path: sha256 hex}: `h1:` + base64(sha256 of the sorted summary lines)."""
    summary = "".join(f"{files[name]}  {name}\n" for name in sorted(files))
    return "h1:" + base64.b64encode(hashlib.sha256(summary.encode("utf-8")).digest()).decode("ascii")


def tree_digests(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            out[path.relative_to(root).as_posix()] = sha256_file(path)
    return out


def _algo(suffix: str) -> str:
    return "sha512" if "512" in suffix else "sha256"


# --------------------------------------------------------------------------- fetching


def fetch_inputs(specs: Sequence[InputSpec], cache_dir: Path, *, offline: bool,
                 net: Net | None = None) -> tuple[list[Fetched], list[str]]:
    """Every input verified, from the cache or the network; with `offline`, also what is missing.

    Offline, nothing raises for a missing input: the caller names every missing input at once.
    """
    done: list[Fetched] = []
    missing: list[str] = []
    session: requests.Session | None = None
    net = net or Net()
    # Nothing could verify an input with no pin and no published checksum: say so before any download.
    unverifiable = [s for s in specs if not s.pinned and not s.checksums]
    if unverifiable:
        raise FetchError(unpinned_message(unverifiable))
    try:
        for spec in specs:
            cached = _from_cache(spec, cache_dir)
            if cached is not None:
                done.append(cached)
                continue
            if offline:
                missing.append(f"{spec.name} {spec.version} ({spec.key}: {spec.shown}) in {_entry(spec, cache_dir)}")
                continue
            if session is None:
                session = net.session or http.make_session()
            done.append(_download(spec, cache_dir, net, session))
    finally:
        if net.session is None and session is not None:
            session.close()
    return done, missing


def unpinned_message(specs: Sequence[InputSpec]) -> str:
    lines = [f"{s.key}.{'h1' if s.tree else 'sha256'} is empty: {s.name} {s.version} ({s.shown})" for s in specs]
    return ("these inputs have no pin, and upstream publishes no checksum file that could verify them:\n  "
            + "\n  ".join(lines) + "\nFill the pins with `nox -s fetch -- --update-pins` (it downloads each input "
            "once and writes its digest into the configuration file; review the change), or set them by hand")


def offline_message(missing: Sequence[str]) -> str:
    return ("offline: these inputs are not in the cache:\n  " + "\n  ".join(missing)
            + "\nRun `nox -s fetch` once with network access (or copy the cache folder from a machine that has it)")


def _entry(spec: InputSpec, cache_dir: Path) -> Path:
    origin = json.dumps([spec.url, spec.kind, spec.tree, [[t.path, t.dest] for t in spec.takes]])
    key = hashlib.sha256(origin.encode("utf-8")).hexdigest()[:16]
    return cache_dir / "inputs" / spec.name / f"{spec.version}-{key}"


def _from_cache(spec: InputSpec, cache_dir: Path) -> Fetched | None:
    """The cached input when it is whole and still matches its pins (or its recorded digests)."""
    entry = _entry(spec, cache_dir)
    meta = read_json_object(entry / META)
    if meta is None or meta.get("url") != spec.shown:
        return None
    if (spec.sha256 and meta.get("archive_sha256") != spec.sha256) or (spec.h1 and meta.get("h1") != spec.h1):
        log.info("inputs: %s: the pin changed since it was cached; fetching it again", spec.name)
        return None
    recorded: dict[str, str] = meta.get("files") or {}
    files: dict[str, tuple[Path, str]] = {}
    for t in spec.takes:
        path = entry / "files" / t.dest
        want = t.sha256 or recorded.get(t.dest)
        have = sha256_file(path) if path.is_file() else None
        if have is None or have != want:
            log.warning("inputs: cached %s of %s does not match %s; fetching again", t.dest, spec.name, want)
            return None
        files[t.dest] = (path, have)
    tree: Path | None = None
    if spec.tree:
        tree = entry / "tree"
        have_h1 = dirhash(tree_digests(tree)) if tree.is_dir() else None
        if have_h1 is None or have_h1 != (spec.h1 or meta.get("h1")):
            log.warning("inputs: the cached source tree of %s changed (%s); fetching again", spec.name, have_h1)
            return None
    if not spec.pinned:
        log.warning("inputs: %s %s has no pin; it was verified only by its published checksum file. "
                    "Pin it: nox -s fetch -- --update-pins", spec.name, spec.version)
    published = tuple((str(u), str(h)) for u, h in meta.get("published", []))
    return Fetched(spec, str(meta.get("archive_sha256", "")), files, meta.get("h1"), tree, published)


def _get(url: str, dest: Path, net: Net, session: requests.Session, label: str | None = None,
         max_bytes: int | None = None) -> str | None:
    """Download to `dest`; its sha256, or None when the server has no such file."""
    progress = net.meter(label) if label else None
    return http.download_if_present(url, dest, net, session, progress=progress, max_bytes=max_bytes)


def _download(spec: InputSpec, cache_dir: Path, net: Net, session: requests.Session, *,
              check_pins: bool = True) -> Fetched:
    with cache_workdir(cache_dir / "inputs" / spec.name) as tmp:
        archive = tmp / "download"
        log.info("inputs: fetching %s %s from %s", spec.name, spec.version, spec.shown)
        if _get(spec.url, archive, net, session, f"{spec.name} {spec.version}") is None:
            msg = (f"{spec.key}: {spec.name} {spec.version} is not at {spec.shown} (HTTP 404): check "
                   f"{spec.key}.version and {spec.key}.url")
            raise FetchError(msg)
        hashes = sha256_sha512_file(archive)
        published = _published(spec, hashes, tmp, net, session)
        if check_pins and spec.sha256 and hashes["sha256"] != spec.sha256:
            raise FetchError(_mismatch(spec, "the download itself", hashes["sha256"], spec.sha256))
        data, tree = _read_archive(spec, archive)
        member_sha = {path: hashlib.sha256(blob).hexdigest() for path, blob in data.items()}
        h1 = dirhash({p: hashlib.sha256(b).hexdigest() for p, b in tree.items()}) if spec.tree else None
        if check_pins:
            for t in spec.takes:
                if t.sha256 and member_sha[t.path] != t.sha256:
                    raise FetchError(_mismatch(spec, t.path, member_sha[t.path], t.sha256))
            if spec.h1 and h1 != spec.h1:
                raise FetchError(_mismatch(spec, "its files (content digest h1)", h1 or "", spec.h1))
            if not spec.pinned:
                if not published:
                    msg = (f"{spec.key}: {spec.name} {spec.version} has no pin ({spec.key}.sha256"
                           f"{' or ' + spec.key + '.h1' if spec.tree else ''} is empty) and {spec.shown} publishes "
                           "no checksum file to verify it; nothing was cached. Pin it: nox -s fetch -- --update-pins")
                    raise FetchError(msg)
                log.warning("inputs: %s %s has no pin; verified only by %s. Pin it: nox -s fetch -- --update-pins",
                            spec.name, spec.version, published[0][0])
        return _store(spec, cache_dir, tmp, hashes["sha256"], data, tree, h1, published, member_sha)


def _published(spec: InputSpec, hashes: Mapping[str, str], tmp: Path, net: Net,
               session: requests.Session) -> tuple[tuple[str, str], ...]:
    """The first checksum file published beside the input, checked against the download."""
    if not spec.checksums:
        return ()
    for suffix in spec.checksums:
        algo = _algo(suffix)
        dest = tmp / f"checksum{suffix}"
        url = http.append_path(spec.url, suffix)
        shown = http.redact_url(url)
        if _get(url, dest, net, session, max_bytes=http.MAX_CHECKSUM) is None:
            continue
        expected = parse_checksum(dest.read_bytes(), algo, f"{spec.key}: {shown}")
        if hashes[algo] != expected:
            msg = (f"{spec.key}: {spec.name} {spec.version}: the download {spec.shown} has {algo} {hashes[algo]}, "
                   f"but the published {shown} says {expected}; the download is corrupt or the mirror is wrong; "
                   "nothing was cached")
            raise FetchError(msg)
        return ((shown, expected),)
    tried = " nor ".join(f"{spec.shown}{s}" for s in spec.checksums)
    msg = (f"{spec.key}: {spec.name} {spec.version}: no published checksum beside it: neither {tried} exists; "
           "it cannot be verified, so it was not used. If the url is a mirror, copy the checksum files too")
    raise FetchError(msg)


def _mismatch(spec: InputSpec, member: str, have: str, pin: str) -> str:
    return (f"{spec.key}: {spec.name} {spec.version}: {member} has sha256/digest {have}, but the pin is {pin} "
            f"(from {spec.shown}); nothing was cached. If upstream really changed, review it and run "
            "`nox -s fetch -- --update-pins`")


def _read_archive(spec: InputSpec, archive: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(member path -> bytes for what is taken, relative path -> bytes of the whole tree for a source)."""
    wanted = {t.path for t in spec.takes}
    if spec.kind == "file":
        blob = archive.read_bytes()
        return {t.path: blob for t in spec.takes}, {}
    if spec.kind == "zip":
        with SafeZip(archive, source=spec.shown, limits=LIMITS, require_top=spec.tree) as z:
            prefix = f"{z.top}/" if spec.tree else ""
            names = [n for n in z.file_names()]
            have = {n.removeprefix(prefix) for n in names}
            _check_missing(spec, wanted, have)
            data = {p: z.read(prefix + p) for p in wanted}
            tree = {n.removeprefix(prefix): z.read(n) for n in names} if spec.tree else {}
        return data, tree
    t = SafeTar(archive, source=spec.shown, limits=LIMITS, keep=None if spec.tree else wanted,
                fold_case=not spec.tree)
    prefix = f"{t.top()}/" if spec.tree else ""
    files = {n.removeprefix(prefix): b for n, b in t.files.items()}
    _check_missing(spec, wanted, set(files))
    return {p: files[p] for p in wanted}, (files if spec.tree else {})


def _check_missing(spec: InputSpec, wanted: set[str], have: set[str]) -> None:
    missing = sorted(wanted - have)
    if missing:
        msg = (f"{spec.key}: {spec.name} {spec.version} from {spec.shown} lacks {len(missing)} member(s): "
               f"{', '.join(missing)}; check {spec.key}.version (or the url)")
        raise FetchError(msg)


def _store(spec: InputSpec, cache_dir: Path, tmp: Path, archive_sha: str, data: Mapping[str, bytes],
           tree: Mapping[str, bytes], h1: str | None, published: tuple[tuple[str, str], ...],
           member_sha: dict[str, str]) -> Fetched:
    final = _entry(spec, cache_dir)
    staging = tmp / "entry"
    files: dict[str, str] = {}
    for t in spec.takes:
        target = staging / "files" / t.dest
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data[t.path])
        files[t.dest] = member_sha[t.path]
    for rel, blob in tree.items():
        target = staging / "tree" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
    meta = {"name": spec.name, "version": spec.version, "url": spec.shown, "kind": spec.kind,
            "archive_sha256": archive_sha, "h1": h1, "published": [list(p) for p in published],
            "files": files}
    staging.mkdir(parents=True, exist_ok=True)
    (staging / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    try:
        swap_dir(staging, final, tmp / "old")
    except OSError as err:
        msg = f"cannot store {spec.name} in the cache {final}: {err.strerror or err}"
        raise FetchError(msg) from err
    return Fetched(spec, archive_sha, {d: (final / "files" / d, s) for d, s in files.items()}, h1,
                   (final / "tree") if spec.tree else None, published)


# --------------------------------------------------------------------------- --update-pins


def fresh_pins(specs: Sequence[InputSpec], cache_dir: Path, *, net: Net | None = None) -> list[Fetched]:
    """Download every input ignoring its pins (published checksum files still apply) and cache it."""
    net = net or Net()
    session = net.session or http.make_session()
    try:
        return [_download(s, cache_dir, net, session, check_pins=False) for s in specs]
    finally:
        if net.session is None:
            session.close()


def rewrite_section_pins(text: str, file: str, updates: Mapping[str, Mapping[str, str]]) -> str:
    """`text` with `section.key: value` set for each update, editing lines so comments and layout stay.

    A key that is there has its value replaced; a missing key is added to its block section; a
    missing section is appended.
    """
    for section, keys in updates.items():
        for key, value in keys.items():
            text = _set_key(text, file, section, key, value)
    check = parse_yaml(text, file).data
    for section, keys in updates.items():
        got = check.get(section) or {}
        if any(got.get(k) != v for k, v in keys.items()):
            msg = f"{file}: could not rewrite the pins of {section} safely; edit them by hand"
            raise ConfigError(msg)
    return text


def _set_key(text: str, file: str, section: str, key: str, value: str) -> str:
    doc = parse_yaml(text, file)
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    where = doc.lines
    if f"{section}.{key}" in where:
        n = where[f"{section}.{key}"] - 1
        lines[n] = replace_value(lines[n], key, value, f"{file}:{n + 1}")
        return "".join(lines)
    if section not in where:
        tail = [nl] if lines and not lines[-1].endswith("\n") else []
        return "".join([*lines, *tail, f"{section}:{nl}", f"  {key}: {value!s}{nl}"])
    start = where[section] - 1
    if not re.match(rf"^{re.escape(section)}\s*:\s*(#.*)?$", lines[start].rstrip("\r\n")):
        msg = (f"{file}:{start + 1}: write the {section} section as a block (`{section}:` on its own line) "
               "so its pins can be added")
        raise ConfigError(msg)
    children = [where[k] for k in where if k.startswith(f"{section}.")]
    first = lines[min(children) - 1] if children else "  x"
    indent = first[: len(first) - len(first.lstrip())] or "  "
    return "".join([*lines[: start + 1], f"{indent}{key}: {value}{nl}", *lines[start + 1:]])


def replace_value(line: str, key: str, value: str, where: str) -> str:
    """`key: old  # comment` -> `key: value  # comment`, the comment kept in its column where it fits."""
    pattern = rf"(\b{key}\s*:\s*)([\"']?)[^\s\"',}}#]*\2( *)(?=#)?"
    match = re.search(pattern, line)
    if match is None:
        msg = f"{where}: cannot find the value of {key} on this line to update; write it as `{key}: VALUE`"
        raise ConfigError(msg)
    quote, pad = match.group(2), match.group(3)
    new = f"{match.group(1)}{quote}{value}{quote}"
    if line[match.end():].startswith("#"):
        new += " " * max(1, len(match.group(0)) - len(new))
    else:
        new += pad
    return line[: match.start()] + new + line[match.end():]
