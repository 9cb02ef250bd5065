"""dist/ discipline: `artifacts.json` lists what the last `bundle` run wrote, as GoReleaser's does.

`verify` and `publish` take the bundles it lists and name any other file of dist/ as ignored
(never uploaded, never an error): a zip of an earlier run, or one a person put there, changes
nothing until it is named on the command line. `--clean` empties dist/ before the run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write
from ..hashing import sha256_file

ARTIFACTS = "artifacts.json"
KEEP = (".gitkeep",)  # what --clean leaves: the repository keeps the folder with it
# The files `pack` writes beside <stem>.zip, by the kind artifacts.json gives them.
SIDECARS = ((".zip", "bundle"), (".zip.sha256", "checksum"), (".spdx.json", "sbom"), (".intoto.json", "provenance"))


def start_run(dist: Path, *, clean: bool) -> None:
    """Before a run writes to dist/: its list starts empty; with `clean`, everything else goes too."""
    dist.mkdir(parents=True, exist_ok=True)
    if clean:
        for entry in dist.iterdir():
            if entry.name in KEEP:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    (dist / ARTIFACTS).unlink(missing_ok=True)


def _entry(dist: Path, name: str, kind: str, version: str | None) -> dict[str, Any]:
    return {"path": name, "kind": kind, "version": version, "sha256": sha256_file(dist / name)}


def record(dist: Path, zip_path: Path, version: str) -> None:
    """Add one bundle (its zip and the files beside it) to this run's artifacts.json; refresh SHA256SUMS's entry."""
    stem = zip_path.name.removesuffix(".zip")
    kept = [a for a in read(dist) or [] if a.get("path") not in {f"{stem}{s}" for s, _ in SIDECARS}
            and a.get("kind") != "checksums"]
    kept += [_entry(dist, f"{stem}{suffix}", kind, version) for suffix, kind in SIDECARS]
    if (dist / "SHA256SUMS").is_file():
        kept.append(_entry(dist, "SHA256SUMS", "checksums", None))
    text = json.dumps(sorted(kept, key=lambda a: (str(a["path"]))), indent=2, sort_keys=True) + "\n"
    atomic_write(dist / ARTIFACTS, text.encode("ascii"))


def read(dist: Path) -> list[dict[str, Any]] | None:
    """The artifacts of the last run, or None when dist/ has no artifacts.json (a dist/ of an older tool)."""
    path = dist / ARTIFACTS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None if not path.exists() else []
    return [a for a in data if isinstance(a, dict)] if isinstance(data, list) else []


def bundles(dist: Path) -> tuple[list[Path], list[str]] | None:
    """(the zips artifacts.json lists, every other file of dist/ it does not list), or None without it."""
    listed = read(dist)
    if listed is None:
        return None
    names = {str(a.get("path")) for a in listed} | {ARTIFACTS, "SHA256SUMS", *KEEP}
    zips = sorted(dist / str(a["path"]) for a in listed if a.get("kind") == "bundle" and "path" in a)
    ours = {z.name.removesuffix(".zip") for z in zips}
    others = sorted(p.name for p in dist.iterdir() if p.name not in names and not p.name.startswith(".")
                    and not any(p.name == f"{stem}.zip.sigstore.json" for stem in ours))
    return zips, others

