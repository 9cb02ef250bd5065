"""Fetch Microsoft's SDN scripts: pinned by commit and per-file sha256, cached, read safely.

The cache holds, per commit, the verified files and a small record of the archive's hash:
`<cache>/sdn/<commit>/sdn.json` and `<cache>/sdn/<commit>/files/<path in the archive>`. A run whose
files are all cached with matching hashes touches no network. Each new entry is written in a
temporary folder beside it and renamed into place, so the cache never holds half an entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import http
from ..artifacts import FetchedFile, SdnResult
from ..config import Config, SdnFile, parse_yaml
from ..config.model import HEX40_RE
from ..errors import ConfigError, FetchError
from ..fsutil import atomic_write, cache_workdir, read_json_object, swap_dir
from ..hashing import sha256_file
from ..http import Net
from ..report import Reporter
from .safezip import SafeZip

log = logging.getLogger(__name__)

META = "sdn.json"


@dataclass(frozen=True)
class _Archive:
    commit: str
    sha256: str
    url: str  # as shown and recorded: without credentials
    data: dict[str, bytes]  # path below the top folder -> bytes


def fetch_sdn(cfg: Config, *, net: Net | None = None) -> SdnResult:
    """The configured SDN files, verified against their pins, from the cache or the network."""
    sdn, opts = cfg.sdn, cfg.options
    if sdn.pinned:
        cached, missing = _from_cache(cfg, sdn.commit)
        if cached is not None:
            log.debug("sdn: commit %s from the cache %s", sdn.commit, _entry(cfg, sdn.commit))
            return cached
    else:
        missing = []
    if opts.offline:
        raise FetchError(_offline_message(cfg, missing))
    archive = _download_archive(cfg, net or Net())
    _verify(sdn.files, archive)
    return _store(cfg, archive)


def update_pins(cfg: Config, *, net: Net | None = None, reporter: Reporter | None = None) -> int:
    """Fetch sdn.commit, hash each listed file and rewrite the pins in the config file, keeping its comments."""
    reporter = reporter or Reporter()
    path = cfg.options.pins_file()
    if cfg.options.offline and http.local_path(_source_url(cfg)) is None:
        msg = "--update-pins must download sdn.commit's archive and cannot run with --offline"
        raise FetchError(msg)
    archive = _download_archive(cfg, net or Net())
    new = {f.path: _sha(archive.data[f.path]) for f in cfg.sdn.files}
    commit = archive.commit if archive.commit != cfg.sdn.commit else None
    text = path.read_text(encoding="utf-8")
    updated = rewrite_pins(text, str(path), cfg.sdn.files, new, commit=commit)
    changed = [f for f in cfg.sdn.files if new[f.path] != f.sha256]
    reporter.result(f"sdn pins in {path} for commit {archive.commit}:")
    if commit is not None:
        reporter.result(f"  commit: {cfg.sdn.commit} -> {commit}")
    for f in cfg.sdn.files:
        state = f"{f.sha256} -> {new[f.path]}" if f in changed else f"unchanged ({f.sha256})"
        reporter.result(f"  {f.path}: {state}")
    if updated == text:
        reporter.result("nothing to change")
    else:
        atomic_write(path, updated.encode("utf-8"), keep_mode=True)
        reporter.result(f"wrote {path}; review the change before committing it")
    files = tuple(SdnFile(f.path, new[f.path], f.dest) for f in cfg.sdn.files)
    _store(cfg, archive, files=files)
    return 0


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- cache


def _entry(cfg: Config, commit: str) -> Path:
    return cfg.options.cache_dir / "sdn" / commit


def _from_cache(cfg: Config, commit: str) -> tuple[SdnResult | None, list[str]]:
    """The cached result when every listed file is there with its pinned hash; else what is missing."""
    entry = _entry(cfg, commit)
    meta = read_json_object(entry / META)
    if meta is None:
        return None, [f.path for f in cfg.sdn.files]
    files: list[FetchedFile] = []
    missing: list[str] = []
    for f in cfg.sdn.files:
        local = entry / "files" / f.path
        if not local.is_file():
            missing.append(f.path)
            continue
        have = sha256_file(local)
        if have != f.sha256:
            log.warning("sdn: cached %s has sha256 %s, not the pinned %s; not using it", local, have, f.sha256)
            missing.append(f"{f.path} (cached copy does not match its pin)")
            continue
        files.append(FetchedFile(f.path, f.dest, local, have))
    if missing:
        return None, missing
    result = SdnResult(repo=cfg.sdn.repo, commit=commit, url=str(meta.get("url", "")),
                       archive_sha256=str(meta.get("archive_sha256", "")), files=tuple(files))
    return result, []


def _offline_message(cfg: Config, missing: Sequence[str]) -> str:
    sdn = cfg.sdn
    if not sdn.pinned:
        return (f"offline: sdn.commit {sdn.commit!r} is a branch or tag, which only the network can resolve; "
                "pin sdn.commit to a 40-hex commit, or run without --offline")
    return (f"offline: the SDN files of commit {sdn.commit} are not all in the cache "
            f"{_entry(cfg, sdn.commit)}; missing: {', '.join(missing)}. Run `python -m builder fetch` once "
            "with network access (or copy the cache folder from a machine that has it)")



def _store(cfg: Config, archive: _Archive, *, files: Sequence[SdnFile] | None = None) -> SdnResult:
    files = cfg.sdn.files if files is None else files
    final = _entry(cfg, archive.commit)
    old = read_json_object(final / META)
    if old is not None and old.get("archive_sha256") not in (None, archive.sha256):
        log.warning("sdn: the archive of commit %s now has sha256 %s (was %s); every file matches its pin, "
                    "so only the archive's packing changed (GitHub has regenerated archives before)",
                    archive.commit, archive.sha256, old.get("archive_sha256"))
    with cache_workdir(cfg.options.cache_dir / "sdn") as tmp:
        staging = tmp / "entry"
        for f in files:
            target = staging / "files" / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.data[f.path])
        meta = {"repo": cfg.sdn.repo, "commit": archive.commit, "url": archive.url,
                "archive_sha256": archive.sha256, "files": {f.path: f.sha256 for f in files}}
        (staging / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        try:
            swap_dir(staging, final, tmp / "old")
        except OSError as err:
            # Another run may have put the same entry in place a moment ago: use it if it is whole.
            wanted = dataclasses.replace(cfg, sdn=dataclasses.replace(cfg.sdn, files=tuple(files)))
            cached, _missing = _from_cache(wanted, archive.commit)
            if cached is None:
                msg = f"cannot store the SDN files in the cache {final}: {err.strerror or err}"
                raise FetchError(msg) from err
    fetched = tuple(FetchedFile(f.path, f.dest, final / "files" / f.path, f.sha256) for f in files)
    return SdnResult(repo=cfg.sdn.repo, commit=archive.commit, url=archive.url,
                     archive_sha256=archive.sha256, files=fetched)


# --------------------------------------------------------------------------- download and verify


def _source_url(cfg: Config) -> str:
    """sdn.url with {repo} and {commit} filled in; a relative path is taken from the config file's folder."""
    return http.resolve_location(cfg.sdn.resolved_url, cfg.options.config_path)


def _download_archive(cfg: Config, net: Net) -> _Archive:
    url = _source_url(cfg)
    shown = http.redact_url(url)
    session = net.session or http.make_session()
    try:
        with cache_workdir(cfg.options.cache_dir / "sdn") as tmp:
            zip_path = tmp / "archive.zip"
            log.info("sdn: fetching %s", shown)
            sha = http.download(url, zip_path, session=session, policy=net.policy or http.RetryPolicy(),
                                timeout=net.timeout, key="sdn.url", max_bytes=net.max_download, deadline=net.deadline,
                                progress=net.meter(f"SDN {cfg.sdn.commit[:12]}"))
            with SafeZip(zip_path, source=shown) as archive:
                commit = _archive_commit(archive, cfg, shown)
                data = {f.path: archive.read(f"{archive.top}/{f.path}") for f in cfg.sdn.files}
    finally:
        if net.session is None:
            session.close()
    return _Archive(commit=commit, sha256=sha, url=shown, data=data)


def _archive_commit(archive: SafeZip, cfg: Config, shown: str) -> str:
    """The commit the archive is of: its zip comment, which must agree with a pinned commit."""
    comment = archive.comment.decode("ascii", "replace").strip()
    sdn = cfg.sdn
    if sdn.pinned:
        if comment and comment != sdn.commit:
            msg = (f"{shown}: the archive is of commit {comment!r} (its zip comment), not the pinned "
                   f"{sdn.commit}; check sdn.url")
            raise FetchError(msg)
        return sdn.commit
    if not HEX40_RE.match(comment):
        msg = (f"{shown}: cannot tell which commit {sdn.commit!r} points at: the archive's zip comment is "
               f"{comment[:60]!r}, not a commit id; pin sdn.commit to a 40-hex commit instead")
        raise FetchError(msg)
    log.warning("sdn: %r is not pinned; it points at commit %s now (recorded in the manifest); "
                "pin it with `commit: %s`", sdn.commit, comment, comment)
    return comment


def _verify(files: Sequence[SdnFile], archive: _Archive) -> None:
    problems = []
    for f in files:
        have = _sha(archive.data[f.path])
        if have != f.sha256:
            problems.append(f"{f.path}: sha256 {have}, but the pin is {f.sha256}")
    if problems:
        msg = (f"SDN files from {archive.url} do not match their pins:\n  " + "\n  ".join(problems)
               + "\nNothing was cached. If the pinned commit really changed, review it and run "
               "`nox -s fetch -- --update-pins`")
        raise FetchError(msg)


# --------------------------------------------------------------------------- rewriting the config file


def rewrite_pins(text: str, file: str, files: Sequence[SdnFile], new: dict[str, str], *,
                 commit: str | None = None) -> str:
    """`text` with each file's sha256 (and the commit, when given) replaced in place.

    Edits lines, not a YAML dump, so comments and layout stay. Where the file has no `sdn.files`
    (the defaults are in use), a `files:` block is added to the `sdn:` section.
    """
    doc = parse_yaml(text, file)
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    if "sdn.files" in doc.lines:
        for i, f in enumerate(files):
            line = doc.lines.get(f"sdn.files[{i}].sha256")
            if line is None:
                msg = f"{file}: sdn.files[{i}] has no sha256 line to update; add `sha256: ''` to it"
                raise ConfigError(msg)
            lines[line - 1] = _replace_value(lines[line - 1], "sha256", new[f.path], f"{file}:{line}")
    else:
        lines = _add_files_block(lines, doc.lines, files, new, nl=nl, file=file)
    if commit is not None and "sdn.commit" in doc.lines:
        line = doc.lines["sdn.commit"]
        lines[line - 1] = _replace_value(lines[line - 1], "commit", commit, f"{file}:{line}")
    result = "".join(lines)
    check = parse_yaml(result, file).data.get("sdn") or {}
    got = [item.get("sha256") for item in check.get("files", [])]
    if got != [new[f.path] for f in files]:
        msg = f"{file}: could not rewrite the sdn pins safely (got {got}); edit them by hand"
        raise ConfigError(msg)
    return result


def _replace_value(line: str, key: str, value: str, where: str) -> str:
    pattern = rf"(\b{key}\s*:\s*)([\"']?)[^\s\"',}}#]*\2"
    updated, count = re.subn(pattern, lambda m: f"{m.group(1)}{m.group(2)}{value}{m.group(2)}", line, count=1)
    if count != 1:
        msg = f"{where}: cannot find the value of {key} on this line to update; write it as `{key}: VALUE`"
        raise ConfigError(msg)
    return updated


def _add_files_block(lines: list[str], where: dict[str, int], files: Sequence[SdnFile], new: dict[str, str], *,
                     nl: str, file: str) -> list[str]:
    if "sdn" not in where:
        block = [f"sdn:{nl}", *_files_block(files, new, "  ", nl)]
        tail = [nl] if lines and not lines[-1].endswith("\n") else []
        return [*lines, *tail, *block]
    start = where["sdn"] - 1
    if not re.match(r"^sdn\s*:\s*(#.*)?$", lines[start].rstrip("\r\n")):
        msg = f"{file}:{start + 1}: write the sdn section as a block (`sdn:` on its own line) so its pins can be added"
        raise ConfigError(msg)
    children = [where[k] for k in where if k.startswith("sdn.")]
    first = lines[min(children) - 1] if children else "  x"
    indent = first[: len(first) - len(first.lstrip())]
    end = start
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if stripped and not lines[i][0].isspace() and not stripped.startswith("#"):
            break
        if stripped and not stripped.startswith("#"):
            end = i
    if not lines[end].endswith("\n"):
        lines[end] += nl
    return [*lines[: end + 1], *_files_block(files, new, indent, nl), *lines[end + 1:]]


def _files_block(files: Sequence[SdnFile], new: dict[str, str], indent: str, nl: str) -> list[str]:
    out = [f"{indent}files:{nl}"]
    for f in files:
        out += [f"{indent}  - path: {f.path}{nl}", f"{indent}    sha256: {new[f.path]}{nl}",
                f"{indent}    dest: {f.dest}{nl}"]
    return out
