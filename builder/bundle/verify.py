"""Verify bundles: every hash, the layout, the executables, the scripts, and the files beside them.

A signed bundle's Authenticode signatures are checked too (`check_signatures`, with osslsigncode,
see `builder.bundle.sign`), and `<zip>.sigstore.json` when the identity to expect is given.

`check_dist` and `check_zip` only collect problems (the publish stage calls them); `verify_zips`
and `verify_dist` report them as the command's results and raise VerifyError when there are any.

Scripts: only members the manifest marks `generated` must parse with `builder/psparse.py`.
The SDN modules are upstream files pinned by commit and sha256; the tree-sitter grammar reports
errors on some valid PowerShell, so failing them would flag code we did not write and cannot fix.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..artifacts import UNBOUND_FILES_DIGEST
from ..config.cluster_images import LOCAL_REGISTRY
from ..errors import ConfigError, VerifyError
from ..hashing import sha256_file
from ..pe import pe_problem
from ..report import Reporter
from ..zipdir import directory_problem
from . import dist as dist_mod
from . import manifest as mf

READ = 1 << 20
MAX_PARSED = 4 << 20  # one script or JSON file: ours are kilobytes; a bigger one is refused, not held in memory
MAX_KEPT = 32 << 20  # the text of every member kept for parsing, together
MAX_RATIO = 100  # a member expanding more than this (and past RATIO_FLOOR) is a zip bomb, not a bundle file
RATIO_FLOOR = 1 << 20
SCRIPT_SUFFIXES = (".ps1", ".psm1")
JSON_SUFFIXES = (".json", ".conflist")


@dataclass
class Member:
    """What reading one member found."""

    info: zipfile.ZipInfo
    sha256: str = ""
    size: int = 0
    head: bytes = b""  # the first 4 KiB, of executables only (their PE header)
    text: bytes | None = None  # whole content, kept only for the generated members, the manifest and SHA256SUMS
    problems: list[str] = field(default_factory=list)

    @property
    def mode(self) -> int:
        return (self.info.external_attr >> 16) & 0o7777


@dataclass
class ZipReport:
    """The problems of one zip, and what its manifest says (for the checks of the files beside it)."""

    problems: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    sha256: str = ""


# --------------------------------------------------------------------------- one zip


def check_zip(path: Path, sig: SignatureOptions | None = None) -> ZipReport:
    report = ZipReport()
    try:
        report.sha256 = sha256_file(path)
        with path.open("rb") as f:
            too_big = directory_problem(f)  # before zipfile builds an object for every entry
        if too_big:
            report.problems.append(f"{path.name}: archive refused: {too_big}")
            return report
        with zipfile.ZipFile(path) as zf:
            members = _read_members(zf, report.problems)
    except (OSError, zipfile.BadZipFile, EOFError) as err:
        report.problems.append(f"{path.name}: not a readable zip: {err}")
        return report
    _check_layout(members, report.problems)
    manifest = _load_manifest(members, report.problems)
    report.manifest = manifest
    _check_sums_member(members, report.problems)
    if manifest is not None:
        _check_manifest(manifest, members, path, report.problems)
        check_signatures(path, manifest, members, report.problems, sig or SignatureOptions())
    for m in members.values():
        report.problems.extend(m.problems)
    report.problems.sort(key=_rank)  # stable: within a rank, the order the checks found them
    report.problems[:] = [f"{path.name}: {p}" for p in report.problems]
    return report


def _rank(problem: str) -> int:
    """What matters first: content that differs from its pin, then what is missing, then the rest,
    and last the entries that are only noise (directory and symlink entries)."""
    if "does not match" in problem or "cannot be read back" in problem:
        return 0
    if "is missing" in problem or "which is missing" in problem:
        return 1
    if "is a directory or symlink entry" in problem:
        return 3
    return 2


def _entry_only(m: Member) -> bool:
    """A directory or symlink entry: reported once as such, not again as unlisted in every list."""
    return m.info.is_dir() or stat.S_ISLNK(m.info.external_attr >> 16)


def _read_members(zf: zipfile.ZipFile, problems: list[str]) -> dict[str, Member]:
    members: dict[str, Member] = {}
    parsed = {mf.MANIFEST, mf.SUMS, *_generated_names(zf)}
    budget = [MAX_KEPT]
    for info in zf.infolist():
        if info.filename in members:
            problems.append(f"{info.filename}: appears twice in the zip")
            continue
        members[info.filename] = m = Member(info)
        if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
            m.problems.append(f"{info.filename}: is a directory or symlink entry, not a file")
            continue
        _read_member(zf, m, keep=info.filename in parsed, budget=budget)
    return members


def _json_loads(data: bytes) -> Any:
    """json.loads, with nesting too deep for the parser a ValueError like any other bad JSON."""
    try:
        return json.loads(data)
    except RecursionError as err:
        msg = "nested too deeply"
        raise ValueError(msg) from err


def _generated_names(zf: zipfile.ZipFile) -> set[str]:
    """The members the manifest marks generated (the ones whose text is parsed), read from it first;
    none when it cannot be read (that is reported when the members are read)."""
    try:
        info = zf.getinfo(mf.MANIFEST)
        if info.file_size > MAX_PARSED:
            return set()
        with zf.open(info) as f:
            files = _json_loads(f.read(MAX_PARSED + 1)).get("files")
        return {str(e.get("path")) for e in files if isinstance(e, dict) and e.get("origin") == mf.ORIGIN_GENERATED}
    except (KeyError, ValueError, TypeError, AttributeError, OSError, zipfile.BadZipFile, zlib.error, EOFError,
            NotImplementedError):
        return set()


def _read_member(zf: zipfile.ZipFile, m: Member, *, keep: bool, budget: list[int]) -> None:
    name = m.info.filename
    expands = m.info.file_size / max(m.info.compress_size, 1)
    if m.info.file_size > RATIO_FLOOR and expands > MAX_RATIO:
        m.problems.append(f"{name}: expands {expands:.0f} times (over {MAX_RATIO}): a zip bomb, not read")
        return
    if keep and m.info.file_size > min(MAX_PARSED, budget[0]):
        what = "too large for a script or JSON file" if m.info.file_size > MAX_PARSED else "over the budget"
        m.problems.append(f"{name}: {m.info.file_size} bytes is {what} (the text of the generated files "
                          f"may take {MAX_KEPT} bytes in all)")
        keep = False
    exe = name.lower().endswith(".exe")
    h = hashlib.sha256()
    parts: list[bytes] = []
    try:
        with zf.open(m.info) as f:
            while data := f.read(READ):
                h.update(data)
                m.size += len(data)
                if exe and len(m.head) < 4096:
                    m.head += data[: 4096 - len(m.head)]
                if keep:
                    parts.append(data)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError) as err:
        # A flipped byte in the compressed data lands here (bad CRC or broken deflate stream).
        m.problems.append(f"{name}: cannot be read back: {err}")
    m.sha256 = h.hexdigest()
    if keep:
        m.text = b"".join(parts)
        budget[0] -= len(m.text)


def _check_layout(members: Mapping[str, Member], problems: list[str]) -> None:
    folded: dict[str, str] = {}
    for name in members:
        # A directory entry is reported as such; its name is checked without the trailing '/'.
        problem = None if name == f"{mf.TOP}/" else mf.name_problem(name.removesuffix("/"))
        if problem:
            problems.append(f"unsafe or misplaced member: {problem}")
        if name.lower() in folded:
            problems.append(f"{name} and {folded[name.lower()]} are the same file on Windows (names differ by case)")
        folded[name.lower()] = name
    for need in (mf.MANIFEST, mf.SUMS):
        if need not in members:
            problems.append(f"{need} is missing")


def _load_manifest(members: Mapping[str, Member], problems: list[str]) -> dict[str, Any] | None:
    m = members.get(mf.MANIFEST)
    if m is None or m.text is None:
        return None
    try:
        data = _json_loads(m.text)
    except ValueError as err:
        problems.append(f"{mf.MANIFEST} is not valid JSON: {err}")
        return None
    if not isinstance(data, dict) or data.get("schema") != mf.SCHEMA:
        problems.append(f"{mf.MANIFEST}: schema is not {mf.SCHEMA!r}")
        return None
    return data


def _check_sums_member(members: Mapping[str, Member], problems: list[str]) -> None:
    m = members.get(mf.SUMS)
    if m is None:
        return
    sums, bad = mf.parse_sums(_member_text(m), mf.SUMS)
    problems.extend(bad)
    _compare(sums, {n.removeprefix(f"{mf.TOP}/"): x.sha256 for n, x in members.items()
                    if n != mf.SUMS and not _entry_only(x)},
             mf.SUMS, problems)


def _member_text(m: Member) -> str:
    return (m.text or b"").decode("utf-8", "replace")


def _compare(listed: Mapping[str, str], actual: Mapping[str, str], what: str, problems: list[str]) -> None:
    """Every listed name exists with that hash, and every actual name is listed."""
    for name, digest in sorted(listed.items()):
        if name not in actual:
            problems.append(f"{what} lists {name}, which is missing")
        elif actual[name] != digest:
            problems.append(f"{name}: sha256 {actual[name]} does not match {what} ({digest})")
    for name in sorted(set(actual) - set(listed)):
        problems.append(f"{name} is not listed in {what}")


def _check_manifest(manifest: dict[str, Any], members: Mapping[str, Member], path: Path,
                    problems: list[str]) -> None:
    try:
        files = {f["path"]: f for f in manifest["files"]}
        stem = f"{manifest['bundle']['name']}-{manifest['kubernetes']['gitVersion']}-{manifest['bundle']['revision']}"
        if manifest["bundle"].get("snapshot") is True:
            stem = f"{manifest['bundle']['name']}-{manifest['bundle']['version']}"
        digest_ok = mf.config_digest(manifest["config"]) == manifest["configDigest"]
    except (KeyError, TypeError) as err:
        problems.append(f"{mf.MANIFEST} lacks a required field: {err!r}")
        return
    if path.name != f"{stem}.zip":
        problems.append(f"the file name does not match its manifest, which names it {stem}.zip")
    if not digest_ok:
        problems.append(f"{mf.MANIFEST}: configDigest does not match its config")
    payload = {n: m for n, m in members.items() if n not in (mf.MANIFEST, mf.SUMS) and not _entry_only(m)}
    _compare({n: str(f.get("sha256")) for n, f in files.items()}, {n: m.sha256 for n, m in payload.items()},
             mf.MANIFEST, problems)
    for name in sorted(set(files) & set(payload)):
        _check_member(files[name], payload[name], problems)
    generated = [payload[n] for n, f in files.items() if n in payload and f.get("origin") == mf.ORIGIN_GENERATED]
    _check_started(generated, set(payload), problems)
    _check_cluster_images(generated, problems, _built_images(manifest, payload, problems))
    _check_binding(files, generated, problems)


# install.ps1's copy of the manifest's digest (builder.bundle.pack.bind_install).
_BOUND_RE = re.compile(r"^\$FilesDigest = '([0-9a-f]{64})'\r?$", re.MULTILINE)


def _check_binding(files: Mapping[str, Any], generated: list[Member], problems: list[str]) -> None:
    """install.ps1 holds the digest of every other manifest entry: it trusts only that manifest."""
    for m in generated:
        if m.info.filename != mf.INSTALL:
            continue
        bound = _BOUND_RE.findall(_member_text(m))
        if not bound:
            return  # a bundle of a tool that did not bind the manifest yet
        if bound[0] == UNBOUND_FILES_DIGEST:
            problems.append(f"{mf.INSTALL}: not bound to {mf.MANIFEST} (packed without its files digest)")
        elif bound[0] != mf.files_digest((str(p), str(f.get("sha256"))) for p, f in files.items()):
            problems.append(f"{mf.INSTALL}: its files digest does not match {mf.MANIFEST}: the manifest was changed "
                            "after packing")


# A generated script starts an executable of the bundle as `Join-Path $InstallDir 'name.exe'`
# (`$target` in install.ps1 is the same folder, resolved).
_STARTED_RE = re.compile(r"Join-Path\s+\$(InstallDir|target|CniBinDir)\s+'([A-Za-z0-9_.\\/-]+\.exe)'",
                         re.IGNORECASE)
_FOLDER_OF = {"installdir": "", "target": "", "cnibindir": "cni/"}  # $CniBinDir is Join-Path $InstallDir 'cni'
CNI_CONFIG_DIR = f"{mf.TOP}/cni/"
CNI_CONFIG_SUFFIXES = (".conf", ".conflist", ".template.json")  # a template is filled on the node
CNI_BIN_DIR = f"{mf.TOP}/cni/"


def cni_plugin_types(conf: Any) -> list[str]:
    """Every plugin a CNI config or config list names: `type`, `ipam.type`, `delegate.type`, in `plugins`."""
    out: list[str] = []
    if isinstance(conf, dict):
        if isinstance(conf.get("type"), str):
            out.append(conf["type"])
        for key in ("ipam", "delegate"):
            out += cni_plugin_types(conf.get(key)) if isinstance(conf.get(key), dict) else []
        for plugin in conf.get("plugins") or []:
            out += cni_plugin_types(plugin)
    return out


def _check_started(generated: list[Member], names: set[str], problems: list[str]) -> None:
    """Every plugin a bundled CNI config names, and every .exe a generated script starts, is in the bundle."""
    for m in generated:
        name = m.info.filename
        if name.startswith(CNI_CONFIG_DIR) and name.lower().endswith(CNI_CONFIG_SUFFIXES):
            try:
                conf = _json_loads(m.text or b"")
            except ValueError:
                continue  # reported as invalid JSON already
            for plugin in cni_plugin_types(conf):
                exe = CNI_BIN_DIR + (plugin if plugin.lower().endswith(".exe") else f"{plugin}.exe")
                if exe not in names:
                    problems.append(f"{name}: names the CNI plugin {plugin!r}, but {exe} is not in the bundle")
        elif name.lower().endswith(".ps1"):
            for folder, started in sorted(set(_STARTED_RE.findall(_member_text(m)))):
                exe = f"{mf.TOP}/{_FOLDER_OF[folder.lower()]}" + started.replace("\\", "/")
                if exe not in names:
                    problems.append(f"{name}: starts {started}, but {exe} is not in the bundle")


CLUSTER_DIR = f"{mf.TOP}/cluster/"
# An image pinned by digest: repository (with its registry) and tag, then @sha256:<64 hex>.
PINNED_IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9._/:-]*:[A-Za-z0-9_][A-Za-z0-9._-]*@sha256:[0-9a-f]{64}$")


def images_named(node: Any) -> list[str]:
    """Every `image` a Kubernetes object (or a list of them) names, wherever it sits in the object."""
    if isinstance(node, dict):
        found = [node["image"]] if isinstance(node.get("image"), str) else []
        return found + [i for k, v in node.items() if k != "image" for i in images_named(v)]
    if isinstance(node, list):
        return [i for v in node for i in images_named(v)]
    return []


def _built_images(manifest: Mapping[str, Any], payload: Mapping[str, Member], problems: list[str]) -> set[str]:
    """The references of the image archives the bundle built (images.offline), each one a member."""
    found: set[str] = set()
    for record in manifest.get("images") or []:
        path, ref = (record.get("path"), record.get("reference")) if isinstance(record, dict) else (None, None)
        if not isinstance(path, str) or not isinstance(ref, str):
            problems.append(f"{mf.MANIFEST}: an images entry without a path and a reference: {record!r}")
        elif path not in payload:
            problems.append(f"{mf.MANIFEST}: the image archive {path} ({ref}) is not in the bundle")
        else:
            found.add(ref)
    return found


def _check_cluster_images(generated: list[Member], problems: list[str], built: set[str]) -> None:
    """Every image the cluster manifests (k/cluster/) name is pinned by digest: a tag can move. One
    the bundle built (images.offline, named under LOCAL_REGISTRY) is an archive of the bundle."""
    for m in generated:
        name = m.info.filename
        if not (name.startswith(CLUSTER_DIR) and name.endswith((".yaml", ".yml"))):
            continue
        try:
            objects = list(yaml.safe_load_all(_member_text(m)))
        except yaml.YAMLError as err:
            problems.append(f"{name}: not valid YAML: {err}")
            continue
        for image in dict.fromkeys(images_named(objects)):  # each image once per file
            if not PINNED_IMAGE_RE.match(image):
                problems.append(f"{name}: names the image {image}, which is not pinned by digest "
                                "(repository:tag@sha256:...): pin it in bundle.yaml's images.pins and rebuild")
            elif image.startswith(f"{LOCAL_REGISTRY}/") and image not in built:
                problems.append(f"{name}: names the image {image}, which no image archive of the bundle holds "
                                "(images.offline): bundle again")


def _check_member(entry: Mapping[str, Any], m: Member, problems: list[str]) -> None:
    name = m.info.filename
    if entry.get("size") != m.size:
        problems.append(f"{name}: size {m.size} does not match {mf.MANIFEST} ({entry.get('size')})")
    if entry.get("mode") != f"{m.mode:04o}":
        problems.append(f"{name}: mode {m.mode:04o} does not match {mf.MANIFEST} ({entry.get('mode')})")
    lower = name.lower()
    if lower.endswith(".exe"):
        problem = pe_problem(m.head)
        if problem:
            problems.append(f"{name}: not a PE32+ x86-64 executable: {problem}")
    generated = entry.get("origin") == mf.ORIGIN_GENERATED
    if lower.endswith(SCRIPT_SUFFIXES) and generated:
        problems.extend(f"{name}: does not parse: {e}" for e in _ps_errors(m.text or b""))
    if generated and lower.endswith((*JSON_SUFFIXES, ".conf")):
        try:
            _json_loads(m.text or b"")
        except ValueError as err:
            problems.append(f"{name}: not valid JSON: {err}")


def _ps_errors(data: bytes) -> list[str]:
    from ..psparse import parse_errors

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return [f"not UTF-8 text ({err})"]
    return parse_errors(text)[:5]


# --------------------------------------------------------------------------- files beside it


def _load_json(path: Path, problems: list[str]) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        problems.append(f"{path.name} is missing")
    except (OSError, ValueError) as err:
        problems.append(f"{path.name} is not readable JSON: {err}")
    return None


def check_sidecars(zip_path: Path, report: ZipReport) -> list[str]:
    """The `.sha256`, SBOM and provenance files of one zip against the zip and its manifest."""
    problems: list[str] = []
    stem, name = zip_path.name.removesuffix(".zip"), zip_path.name
    sidecar = zip_path.with_name(f"{name}.sha256")
    if not sidecar.is_file():
        problems.append(f"{sidecar.name} is missing")
    else:
        sums, bad = mf.parse_sums(sidecar.read_text(encoding="utf-8", errors="replace"), sidecar.name)
        problems += bad
        _compare(sums, {name: report.sha256}, sidecar.name, problems)
    sbom = _load_json(zip_path.with_name(f"{stem}.spdx.json"), problems)
    if sbom is not None:
        problems += _sbom_problems(sbom, f"{stem}.spdx.json", name, report)
    prov = _load_json(zip_path.with_name(f"{stem}.intoto.json"), problems)
    if prov is not None:
        problems += _provenance_problems(prov, f"{stem}.intoto.json", name, report)
    return problems


def _sbom_problems(sbom: Any, what: str, zip_name: str, report: ZipReport) -> list[str]:
    try:
        version = sbom["spdxVersion"]
        package = next(p for p in sbom["packages"] if p.get("packageFileName") == zip_name)
        zip_sum = {c["algorithm"]: c["checksumValue"] for c in package["checksums"]}.get("SHA256")
        files = {f["fileName"].removeprefix("./"): {c["algorithm"]: c["checksumValue"] for c in f["checksums"]}
                 .get("SHA256", "") for f in sbom["files"]}
    except (KeyError, TypeError, StopIteration, AttributeError) as err:
        return [f"{what}: not an SPDX document of {zip_name} ({err!r} missing)"]
    problems = [] if version == "SPDX-2.3" else [f"{what}: spdxVersion {version!r} is not SPDX-2.3"]
    if zip_sum != report.sha256:
        problems.append(f"{what}: the bundle's SHA256 {zip_sum} does not match {zip_name} ({report.sha256})")
    if report.manifest is not None:
        listed = {f.get("path"): f.get("sha256") for f in report.manifest.get("files", []) if isinstance(f, dict)}
        _compare(files, {str(k): str(v) for k, v in listed.items()}, what, problems)
    return problems


def _provenance_problems(prov: Any, what: str, zip_name: str, report: ZipReport) -> list[str]:
    try:
        subjects = {s["name"]: s["digest"]["sha256"] for s in prov["subject"]}
        kind, ptype = prov["_type"], prov["predicateType"]
        params = prov["predicate"]["buildDefinition"]["externalParameters"]
        deps = prov["predicate"]["buildDefinition"]["resolvedDependencies"]
    except (KeyError, TypeError) as err:
        return [f"{what}: not an in-toto statement with SLSA provenance ({err!r} missing)"]
    problems = []
    if kind != "https://in-toto.io/Statement/v1" or ptype != "https://slsa.dev/provenance/v1":
        problems.append(f"{what}: _type/predicateType are not in-toto v1 / SLSA provenance v1")
    if subjects.get(zip_name) != report.sha256:
        problems.append(f"{what}: subject {zip_name} sha256 {subjects.get(zip_name)} does not match ({report.sha256})")
    man = report.manifest
    if man is not None:
        if params.get("configDigest") != man.get("configDigest"):
            problems.append(f"{what}: configDigest does not match {mf.MANIFEST}")
        commits = {d.get("name"): d.get("digest", {}).get("gitCommit") for d in deps if isinstance(d, dict)}
        if commits.get("sdn") != man.get("sdn", {}).get("commit"):
            problems.append(f"{what}: the SDN commit does not match {mf.MANIFEST}")
        if commits.get("kubernetes") != man.get("kubernetes", {}).get("commit"):
            problems.append(f"{what}: the Kubernetes commit does not match {mf.MANIFEST}")
    return problems


def check_dist_sums(dist: Path, only: set[str] | None = None) -> list[str]:
    """dist/SHA256SUMS lists every file in dist/ (but itself and hidden temp files) with its hash;
    with `only`, just those files must be listed and match (the others are not this run's)."""
    path = dist / "SHA256SUMS"
    if not path.is_file():
        return ["SHA256SUMS is missing"]
    sums, problems = mf.parse_sums(path.read_text(encoding="utf-8", errors="replace"), "SHA256SUMS")
    actual = {p.name: sha256_file(p) for p in mf.dist_files(dist) if only is None or p.name in only}
    if only is not None:
        sums = {name: digest for name, digest in sums.items() if name in only}
    _compare(sums, actual, "SHA256SUMS", problems)
    return problems


# --------------------------------------------------------------------------- entry points


def _zip_problems(path: Path, sidecars: bool, sig: SignatureOptions | None = None) -> Iterator[str]:
    report = check_zip(path, sig)
    yield from report.problems
    if sidecars:
        yield from check_sidecars(path, report)
    if sig is not None:
        yield from sig.sigstore_problems(path)


def check_dist(dist: Path, sig: SignatureOptions | None = None, zips: list[Path] | None = None) -> list[str]:
    """Every problem of the bundles of dist/ (`zips`, else those artifacts.json lists, else every
    zip), of the files beside them and of dist/SHA256SUMS (over those bundles' files)."""
    if not dist.is_dir():
        return [f"{dist} does not exist: run `nox -s bundle` first"]
    selected = dist_mod.bundles(dist)
    if zips is None:
        zips = selected[0] if selected is not None else sorted(dist.glob("*.zip"))
    if not zips:
        return [f"{dist} holds no bundle (*.zip): run `nox -s bundle` first"]
    problems = [p for z in zips for p in _zip_problems(z, sidecars=True, sig=sig)]
    if selected is None:  # a dist/ of an older tool: every file is part of it
        return problems + _orphans(dist) + check_dist_sums(dist)
    return problems + check_dist_sums(dist, only={n for z in zips for n in _bundle_files(z)})


def _bundle_files(zip_path: Path) -> list[str]:
    stem = zip_path.name.removesuffix(".zip")
    return [f"{stem}{suffix}" for suffix, _ in dist_mod.SIDECARS]


def ignored_files(dist: Path) -> list[str]:
    """The files of dist/ that artifacts.json does not list: named, never verified or uploaded."""
    selected = dist_mod.bundles(dist) if dist.is_dir() else None
    return selected[1] if selected is not None else []


def _orphans(dist: Path) -> list[str]:
    """Sidecars whose bundle is gone: left behind, they would be published without it."""
    problems = []
    for suffix, zip_name in ((".zip.sha256", "{}.zip"), (".spdx.json", "{}.zip"), (".intoto.json", "{}.zip"),
                             (".zip.sigstore.json", "{}.zip")):
        for side in sorted(dist.glob(f"*{suffix}")):
            owner = dist / zip_name.format(side.name.removesuffix(suffix))
            if not owner.is_file():
                problems.append(f"{side.name} describes {owner.name}, which is not in {dist}")
    return problems


def _report(problems: list[str], what: str, reporter: Reporter, checked: list[Path],
            ignored: Sequence[str] = ()) -> None:
    """Every problem as a result line (`PROBLEM: ...`), or `<what>: OK`; VerifyError when there is any.
    With --json, one document: {ok, checked, problems, ignored}."""
    for name in ignored:
        reporter.result(f"ignored: {name} (not an artifact of the last bundle run; name it to verify it)")
    for p in problems:
        reporter.result(f"PROBLEM: {p}")
    reporter.emit({"ok": not problems, "checked": [str(c) for c in checked], "problems": problems,
                   "ignored": list(ignored)})
    if problems:
        msg = f"{what}: {len(problems)} problem(s) found"
        raise VerifyError(msg)
    reporter.result(f"{what}: OK")


def verify_zips(paths: list[Path], sig: SignatureOptions | None = None, *, reporter: Reporter | None = None) -> None:
    """Check the given zips, and the files beside each one that are there (a lone download has none)."""
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        msg = f"no such bundle: {', '.join(missing)}; give the path of a bundle zip (or none for every zip in dist/)"
        raise ConfigError(msg)
    problems: list[str] = []
    for path in paths:
        beside = path.with_name(f"{path.name}.sha256").exists()
        problems += _zip_problems(path, sidecars=beside, sig=sig)
    _report(problems, ", ".join(p.name for p in paths), reporter or Reporter(), paths)


def verify_dist(dist: Path, sig: SignatureOptions | None = None, *, reporter: Reporter | None = None) -> None:
    if not dist.is_dir():
        msg = f"--dist: {dist} does not exist or is not a folder; run `nox -s bundle` first, or pass --dist DIR"
        raise ConfigError(msg)
    selected = dist_mod.bundles(dist)
    checked = selected[0] if selected is not None else sorted(dist.glob("*.zip"))
    _report(check_dist(dist, sig), str(dist), reporter or Reporter(), checked, ignored_files(dist))


# --------------------------------------------------------------------------- signatures (builder.bundle.sign)


@dataclass(frozen=True)
class SignatureOptions:
    """What `verify` is told to expect of signatures (a root to trust, a sigstore identity), and the
    environment osslsigncode checks them in: the run's, without its secrets (empty when none is given)."""

    trust_ca: Path | None = None
    sigstore_identity: str | None = None
    sigstore_issuer: str | None = None
    sigstore_trusted_root: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def sigstore_problems(self, zip_path: Path) -> list[str]:
        if self.sigstore_identity is None and self.sigstore_issuer is None:
            return []
        from .sigstore_verify import check_bundle

        return check_bundle(zip_path, self.sigstore_identity, self.sigstore_issuer, self.sigstore_trusted_root)


def check_signatures(path: Path, manifest: Mapping[str, Any], members: Mapping[str, Member], problems: list[str],
                     sig: SignatureOptions) -> None:
    """When the manifest says the bundle is signed: every script and executable is, validly, by the
    recorded signer, over the content the manifest recorded before signing."""
    from . import sign

    signing = manifest.get("signing")
    if signing is None:
        if sig.trust_ca is not None:
            problems.append(f"{mf.MANIFEST} says the bundle is not signed, but --trust-ca expects signatures")
        return
    thumbprint = signing.get("thumbprint") if isinstance(signing, dict) else None
    if not isinstance(thumbprint, str) or not re.fullmatch(r"[0-9A-F]{40}", thumbprint):
        problems.append(f"{mf.MANIFEST}: signing.thumbprint is not 40 upper-case hex digits")
        return
    try:
        tool, _ = sign.find_tool(sig.env, VerifyError)
    except VerifyError as err:
        problems.append(str(err))
        return
    entries = {f.get("path"): f for f in manifest.get("files", []) if isinstance(f, dict)}
    problems.extend(_sdn_pin_problems(manifest, entries))
    with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory(prefix="k8swb-verify.") as tmp:
        for name in sorted(n for n in members if sign.is_signable(n)):
            entry = entries.get(name, {})
            unsigned = entry.get("unsignedSha256")
            if entry.get("signed") is not True or not isinstance(unsigned, str):
                problems.append(f"{name}: {mf.MANIFEST} does not record it as signed (signed, unsignedSha256)")
                unsigned = None
            target = Path(tmp) / name.rsplit("/", 1)[-1]  # osslsigncode tells a script by its extension
            with zf.open(name) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, READ)
            problems.extend(sign.check_file(target, name, thumbprint, unsigned, sig.trust_ca, tool, sig.env))


def _sdn_pin_problems(manifest: Mapping[str, Any], entries: Mapping[Any, Any]) -> list[str]:
    """A signed SDN file's content before signing is the file `sdn.files` pins (its shipped bytes are not)."""
    try:
        pins = {f"{mf.TOP}/{f['dest']}": f["sha256"] for f in manifest["config"]["sdn"]["files"]}
    except (KeyError, TypeError):
        return [f"{mf.MANIFEST}: config.sdn.files is missing or malformed"]
    return [f"{name}: its content before signing ({e.get('unsignedSha256')}) is not the pinned {pins[name]}"
            for name, e in sorted(entries.items(), key=lambda kv: str(kv[0]))
            if name in pins and e.get("signed") is True and e.get("unsignedSha256") != pins[name]]
