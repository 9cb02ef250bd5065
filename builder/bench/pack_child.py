"""The timed child of the pack benchmark: the pack stage alone, with what it imports and nothing more.

Kept apart from `pack_bench` so that the child's interpreter does not import the benchmark's
own machinery (the render stage, jinja2, the verifier), which would be charged to the packer.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path

from ..artifacts import Binary, BuildResult, RenderedFile, SdnResult
from ..bundle import pack
from ..config import Config

CANDIDATES: dict[str, Callable[[], pack.Codec]] = {
    "zlib-6": lambda: pack.codec_zlib(6),
    "zlib-ng-6": lambda: pack.codec_zlib_ng(6),
    "isal-2": lambda: pack.codec_isal(2),
    "libdeflate-6-whole": lambda: pack.codec_libdeflate(6, piece=0),  # each member whole, one per thread
    "libdeflate-5": lambda: pack.codec_libdeflate(5),
    "libdeflate-6": lambda: pack.codec_libdeflate(6),
}


def child(candidate: str, spec: Path, dist: Path) -> None:
    """The whole pack stage (zip, manifest, checks, sidecars) on the payload `spec` lists."""
    data = json.loads(spec.read_text())
    binaries = tuple(Binary(name, Path(f["path"]), f["sha256"], "bench: go build")
                     for name, f in sorted(data["binaries"].items()))
    scripts = [RenderedFile(dest, Path(path).read_bytes()) for dest, path in sorted(data["scripts"].items())]
    built = BuildResult("v1.37.0", None, "archive", "build", None, 1_700_000_000, binaries)
    sdn = SdnResult("microsoft/SDN", "0" * 40, "https://example.invalid/sdn.zip", "0" * 64, ())
    cfg = dataclasses.replace(Config(), options=dataclasses.replace(Config().options, dist=dist, force=True))
    pack.pack(cfg, built, sdn, scripts, codec=CANDIDATES[candidate]())


if __name__ == "__main__":
    child(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
