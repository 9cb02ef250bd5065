"""`nox -s bench`: the speed goals, each measured side by side with what it is compared to."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from ..config import Config

log = logging.getLogger(__name__)

# Each benchmark is `run(cfg, env) -> tuple[bool, list[str]]`: whether its goals were met, and
# report lines, each naming the comparison it made.
Bench = Callable[[Config, Mapping[str, str]], tuple[bool, list[str]]]
BENCHMARKS = ("build", "fetch", "pack", "nox")


def _bench(name: str) -> Bench:
    # Imported when asked for: each pulls in its own stage (and the pack one its compressors).
    if name == "build":
        from . import build_bench

        return build_bench.run
    if name == "fetch":
        from . import fetch_bench

        return fetch_bench.run
    if name == "nox":
        from . import nox_bench

        return nox_bench.run
    from . import pack_bench

    return pack_bench.run


def main(cfg: Config, env: Mapping[str, str], only: Sequence[str] | None = None) -> int:
    lines: list[str] = []
    failed = False
    for name in only or BENCHMARKS:
        log.info("== bench: %s", name)
        ok, report = _bench(name)(cfg, env)
        failed |= not ok
        lines += [f"[{name}] {line}" for line in report]
    log.info("\n".join(["", "== results", *lines]))
    return 1 if failed else 0
