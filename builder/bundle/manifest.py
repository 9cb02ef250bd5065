"""What describes a bundle: manifest.json, SHA256SUMS files, the SPDX SBOM and the in-toto provenance.

Pure functions from plain data to plain data, shared by `pack` (which writes them) and
`verify` (which checks them), so that both sides agree on every name and format.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..artifacts import INSTALL_SCRIPT, BuildResult, FetchedInput, SdnResult, snapshot_id
from ..config import Config, config_digest
from ..config.model import RESERVED_WINDOWS_NAMES

SCHEMA = "k8s-windows-bundle/manifest/v1"
TOP = "k"
MANIFEST = f"{TOP}/manifest.json"
SUMS = f"{TOP}/SHA256SUMS"
INSTALL = f"{TOP}/{INSTALL_SCRIPT}"
TOOL = "k8s-windows-bundle"
# URNs, not URLs: no web page of ours describes them, and a made-up URL could name someone else's site.
BUILD_TYPE = "urn:k8s-windows-bundle:buildtype:bundle:v1"
SPDX_CONTEXT = "https://spdx.org/spdxdocs"

# Origins a member can have; install.ps1 and verify read them from manifest.json.
ORIGIN_KUBERNETES = "kubernetes"
ORIGIN_SDN = "sdn"
ORIGIN_GENERATED = "generated"
ORIGIN_IMAGE = "image"  # an image archive the bundle built (images.offline)
ORIGIN_INPUT_PREFIX = "input:"  # + the input's name: cni-plugins, flanneld, containerd, crictl
SDN_LICENCE = "MIT"  # microsoft/SDN's LICENSE

_PART_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_SUMS_LINE_RE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


@dataclass(frozen=True)
class FileEntry:
    """One member of the zip as manifest.json lists it."""

    path: str  # "k/kubelet.exe"
    size: int
    mode: int  # 0o755 or 0o644
    sha256: str
    origin: str  # kubernetes, sdn or generated
    sha1: str = ""  # only for the SBOM (SPDX 2.3 asks for a SHA1 per file)
    unsigned_sha256: str = ""  # set when the file was Authenticode-signed: its content before signing

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "size": self.size, "mode": f"{self.mode:04o}",
                               "sha256": self.sha256, "origin": self.origin}
        if self.unsigned_sha256:
            out.update(signed=True, unsignedSha256=self.unsigned_sha256)
        return out

    def comment(self) -> str:
        """The SBOM's comment on this file: its origin, and whether it was signed."""
        if not self.unsigned_sha256:
            return f"origin: {self.origin}"
        return f"origin: {self.origin}; Authenticode-signed, sha256 before signing: {self.unsigned_sha256}"


def name_problem(path: str) -> str | None:
    """Why `path` is not a safe member name inside the top folder, or None when it is.

    Safe means: `k/` then `/`-separated parts a Windows file system accepts as they are
    (no `..`, no drive, no backslash, no reserved device name, no trailing dot or space).
    """
    parts = path.split("/")
    if len(parts) < 2 or parts[0] != TOP:
        return f"{path!r} is not inside the top folder {TOP}/"
    for part in parts[1:]:
        if not _PART_RE.match(part):
            return f"{path!r}: part {part!r} may use only letters, digits, '.', '_' and '-' (no '..', '\\', ':')"
        if part.split(".")[0].upper() in RESERVED_WINDOWS_NAMES:
            return f"{path!r}: {part!r} is a reserved Windows device name"
        if part.endswith("."):
            return f"{path!r}: {part!r} ends with a dot, which Windows drops"
    return None


def mode_for(dest: str) -> int:
    return 0o755 if dest.lower().endswith(".exe") else 0o644


def json_bytes(data: Any) -> bytes:
    """The one serialisation of every JSON file we write: sorted, indented, ASCII, final newline."""
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")


__all__ = ["config_digest"]  # verify recomputes a manifest's digest with the config's own function


def dist_files(dist: Path) -> list[Path]:
    """What dist/SHA256SUMS covers: every regular top-level file but itself and hidden temp files."""
    return sorted(p for p in dist.iterdir() if p.is_file() and not p.name.startswith(".") and p.name != "SHA256SUMS")


# --------------------------------------------------------------------------- SHA256SUMS


def sums_text(entries: Iterable[tuple[str, str]]) -> bytes:
    """`sha256sum -c` input: `<hex>  <name>` lines sorted by name."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(entries)).encode("ascii")


def parse_sums(text: str, what: str) -> tuple[dict[str, str], list[str]]:
    """{name: hex} from SHA256SUMS text, and a problem for every line that does not parse."""
    out: dict[str, str] = {}
    problems: list[str] = []
    for i, line in enumerate(text.splitlines(), 1):
        m = _SUMS_LINE_RE.match(line)
        if m is None:
            problems.append(f"{what}:{i}: not a '<sha256>  <name>' line: {line[:80]!r}")
        elif m.group(2) in out:
            problems.append(f"{what}:{i}: {m.group(2)} is listed twice")
        else:
            out[m.group(2)] = m.group(1)
    return out, problems


# --------------------------------------------------------------------------- manifest.json


def input_record(i: FetchedInput) -> dict[str, Any]:
    """One pinned input as manifest.json lists it: where from, which version, the digests taken."""
    return {"name": i.name, "version": i.version, "url": i.url, "kind": i.kind, "archiveSha256": i.archive_sha256,
            "h1": i.h1, "licence": i.licence, "built": i.built,
            "published": [{"url": u, "digest": d} for u, d in i.published],
            "files": [{"source": f.source_path, "dest": f.dest, "sha256": f.sha256} for f in i.files]}


def _sdn_record(sdn: SdnResult) -> dict[str, Any]:
    """SDN in the same shape as every other input (its own `sdn` section stays for older readers)."""
    return {"name": "sdn", "version": sdn.commit, "url": sdn.url, "kind": "zip", "archiveSha256": sdn.archive_sha256,
            "h1": None, "licence": SDN_LICENCE, "built": None, "published": [],
            "files": [{"source": f.source_path, "dest": f.dest, "sha256": f.sha256} for f in sdn.files]}


def _bundle_record(cfg: Config, built: BuildResult) -> dict[str, Any]:
    """The bundle's name, version and revision; a snapshot says so (absent otherwise, so that other
    bundles keep their bytes)."""
    version = f"{built.git_version}-{cfg.bundle.revision}"
    if not cfg.options.snapshot:
        return {"name": cfg.bundle.name, "version": version, "revision": cfg.bundle.revision}
    return {"name": cfg.bundle.name, "version": f"{version}-{snapshot_id(built.git_commit)}",
            "revision": cfg.bundle.revision, "snapshot": True}


def build_manifest(cfg: Config, built: BuildResult, sdn: SdnResult, files: Sequence[FileEntry],
                   compressor: Mapping[str, Any], signing: Mapping[str, Any] | None = None,
                   inputs: Sequence[FetchedInput] = (), images: Sequence[Mapping[str, str]] = ()) -> dict[str, Any]:
    binaries = {
        b.name: {"origin": b.origin, "sha256": b.sha256,
                 "publishedChecksums": dict(sorted(b.published_checksums.items()))}
        for b in built.binaries
    }
    manifest = {
        "schema": SCHEMA,
        "bundle": _bundle_record(cfg, built),
        "kubernetes": {"gitVersion": built.git_version, "commit": built.git_commit, "treeState": built.tree_state,
                       "treeDigest": built.tree_digest, "source": built.source, "binaries": binaries},
        # What `reproduce` needs beside the tree and the configuration: the same tool makes the same bytes.
        "tool": {"name": TOOL, "version": __version__},
        "go": {"version": built.go_version},
        "sdn": {"repo": sdn.repo, "commit": sdn.commit, "url": sdn.url, "archiveSha256": sdn.archive_sha256},
        "inputs": [_sdn_record(sdn), *(input_record(i) for i in sorted(inputs, key=lambda i: i.name))],
        "config": cfg.to_dict(),
        "configDigest": cfg.digest(),
        "compressor": dict(compressor),
        "files": [f.to_json() for f in sorted(files, key=lambda f: f.path)],
    }
    if signing is not None:
        manifest["signing"] = dict(signing)
    if images:  # images.offline: what each archive holds, as the cluster manifests name it
        manifest["images"] = [dict(i) for i in sorted(images, key=lambda i: i["path"])]
    return manifest


# --------------------------------------------------------------------------- SPDX 2.3


def _spdx_id(kind: str, name: str) -> str:
    return f"SPDXRef-{kind}-" + re.sub(r"[^A-Za-z0-9.-]", "-", name)


def iso_time(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def kubernetes_location(manifest: Mapping[str, Any]) -> str:
    k = manifest["kubernetes"]
    if k["source"] == "release":
        return "https://dl.k8s.io/release/" + str(k["gitVersion"])
    ref = k["commit"] or k["gitVersion"]
    return f"git+https://github.com/kubernetes/kubernetes@{ref}"


def build_sbom(manifest: Mapping[str, Any], files: Sequence[FileEntry], zip_name: str, zip_sha256: str,
               epoch: int, tool_version: str) -> dict[str, Any]:
    """An SPDX 2.3 JSON document: the bundle, Kubernetes, the SDN scripts, and every file with its origin."""
    k, sdn, bundle = manifest["kubernetes"], manifest["sdn"], manifest["bundle"]
    bundle_id, kube_id, sdn_id = "SPDXRef-Package-bundle", "SPDXRef-Package-kubernetes", "SPDXRef-Package-sdn"
    packages = [
        {"SPDXID": bundle_id, "name": bundle["name"], "versionInfo": bundle["version"], "packageFileName": zip_name,
         "downloadLocation": "NOASSERTION", "filesAnalyzed": True, "primaryPackagePurpose": "ARCHIVE",
         "packageVerificationCode": _verification_code(files),
         "checksums": [{"algorithm": "SHA256", "checksumValue": zip_sha256}],
         "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION", "copyrightText": "NOASSERTION"},
        {"SPDXID": kube_id, "name": "kubernetes", "versionInfo": k["gitVersion"],
         "downloadLocation": kubernetes_location(manifest), "filesAnalyzed": False,
         "sourceInfo": f"source: {k['source']}, commit: {k['commit']}, tree: {k['treeState']}",
         "licenseConcluded": "NOASSERTION", "licenseDeclared": "Apache-2.0", "copyrightText": "NOASSERTION"},
        {"SPDXID": sdn_id, "name": sdn["repo"], "versionInfo": sdn["commit"], "downloadLocation": sdn["url"],
         "filesAnalyzed": False, "checksums": [{"algorithm": "SHA256", "checksumValue": sdn["archiveSha256"]}],
         "licenseConcluded": "NOASSERTION", "licenseDeclared": SDN_LICENCE, "copyrightText": "NOASSERTION"},
    ]
    source_of = {ORIGIN_KUBERNETES: (kube_id, "GENERATED_FROM"), ORIGIN_SDN: (sdn_id, "COPY_OF")}
    for i in manifest.get("inputs", []):
        if i["name"] == "sdn":
            continue  # its own package above
        pid = _spdx_id("Package", "input-" + i["name"])
        packages.append({
            "SPDXID": pid, "name": i["name"], "versionInfo": i["version"], "downloadLocation": i["url"],
            "filesAnalyzed": False, "checksums": [{"algorithm": "SHA256", "checksumValue": i["archiveSha256"]}],
            "sourceInfo": i["built"] or f"taken from the {i['kind']} at {i['url']}",
            "licenseConcluded": "NOASSERTION", "licenseDeclared": i["licence"] or "NOASSERTION",
            "copyrightText": "NOASSERTION"})
        source_of[ORIGIN_INPUT_PREFIX + i["name"]] = (pid, "GENERATED_FROM" if i["built"] else "COPY_OF")
    spdx_files, rels = [], [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                             "relatedSpdxElement": bundle_id}]
    for f in sorted(files, key=lambda f: f.path):
        fid = _spdx_id("File", f.path)
        spdx_files.append({
            "SPDXID": fid, "fileName": "./" + f.path, "comment": f.comment(),
            "checksums": [{"algorithm": "SHA1", "checksumValue": f.sha1},
                          {"algorithm": "SHA256", "checksumValue": f.sha256}],
            "licenseConcluded": "NOASSERTION", "copyrightText": "NOASSERTION"})
        rels.append({"spdxElementId": bundle_id, "relationshipType": "CONTAINS", "relatedSpdxElement": fid})
        if f.origin in source_of:
            other, kind = source_of[f.origin]
            rels.append({"spdxElementId": fid, "relationshipType": kind, "relatedSpdxElement": other})
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"{zip_name}#{zip_sha256}")
    return {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": zip_name, "documentNamespace": f"{SPDX_CONTEXT}/{zip_name}-{namespace}",
        "creationInfo": {"created": iso_time(epoch), "creators": [f"Tool: {TOOL}-{tool_version}"]},
        "packages": packages, "files": spdx_files, "relationships": rels,
    }


def _verification_code(files: Sequence[FileEntry]) -> dict[str, Any]:
    """SPDX's package verification code: SHA1 over the sorted SHA1s of the files it lists.

    manifest.json and SHA256SUMS are left out: they describe the package rather than belong to it."""
    joined = "".join(sorted(f.sha1 for f in files))
    return {"packageVerificationCodeValue": hashlib.sha1(joined.encode("ascii")).hexdigest(),  # noqa: S324 (SPDX's own algorithm)
            "packageVerificationCodeExcludedFiles": ["./" + MANIFEST, "./" + SUMS]}


# --------------------------------------------------------------------------- in-toto / SLSA


def build_provenance(manifest: Mapping[str, Any], zip_name: str, zip_sha256: str, tool_version: str,
                     epoch: int) -> dict[str, Any]:
    """An in-toto v1 statement with a SLSA provenance v1 predicate naming every input of the bundle."""
    k, sdn = manifest["kubernetes"], manifest["sdn"]
    kube_dep: dict[str, Any] = {"name": "kubernetes", "uri": kubernetes_location(manifest)}
    if k["commit"]:
        kube_dep["digest"] = {"gitCommit": k["commit"]}
    deps: list[dict[str, Any]] = [
        kube_dep,
        {"name": "sdn", "uri": sdn["url"], "digest": {"sha256": sdn["archiveSha256"], "gitCommit": sdn["commit"]}},
    ]
    for i in manifest.get("inputs", []):
        if i["name"] == "sdn":
            continue  # above, with its commit
        digest = {"sha256": i["archiveSha256"]}
        if i["h1"]:
            digest["dirhash"] = i["h1"]
        deps.append({"name": i["name"], "uri": i["url"], "digest": digest})
    if manifest["go"]["version"]:
        deps.append({"name": "go", "uri": f"https://go.dev/dl/go{manifest['go']['version']}"})
    for name, b in sorted(k["binaries"].items()):
        deps.append({"name": f"kubernetes/{name}.exe", "uri": b["origin"], "digest": {"sha256": b["sha256"]}})
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": zip_name, "digest": {"sha256": zip_sha256}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"config": manifest["config"], "configDigest": manifest["configDigest"]},
                "internalParameters": {"sourceDateEpoch": epoch, "compressor": manifest["compressor"],
                                       "kubernetesTreeState": k["treeState"], "kubernetesSource": k["source"]},
                "resolvedDependencies": deps,
            },
            "runDetails": {"builder": {"id": f"urn:{TOOL}:builder:{tool_version}"},
                           "metadata": {}},
        },
    }


def files_digest(entries: Iterable[tuple[str, str]]) -> str:
    """What install.ps1 holds of the manifest: the SHA256 of `<sha256>  <path>` lines (LF-terminated, ASCII),
    one per (path, sha256) but install.ps1's own, in the manifest's order (sorted by path). install.ps1
    cannot cover its own hash: its signature and the zip's checksum do."""
    lines = "".join(f"{sha}  {path}\n" for path, sha in sorted(entries) if path != INSTALL)
    return hashlib.sha256(lines.encode("ascii")).hexdigest()

