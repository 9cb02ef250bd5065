"""`nox -s bench`: the speed goals, each measured side by side with what it is compared to."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping, Sequence

from ..config import Config

log = logging.getLogger(__name__)

# Each module <name>_bench has `run(cfg, env) -> tuple[bool, list[str]]`: whether its goals were
# met, and report lines, each naming the comparison it made.
BENCHMARKS = ("build", "fetch", "pack")


def main(cfg: Config, env: Mapping[str, str], only: Sequence[str] | None = None) -> int:
    lines: list[str] = []
    failed = False
    for name in only or BENCHMARKS:
        module = importlib.import_module(f"{__name__}.{name}_bench")
        log.info("== bench: %s", name)
        ok, report = module.run(cfg, env)
        failed |= not ok
        lines += [f"[{name}] {line}" for line in report]
    log.info("\n".join(["", "== results", *lines]))
    return 1 if failed else 0
