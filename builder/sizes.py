"""Sizes a person writes in the environment: `2GiB`, `700MiB`, `64KiB` or a number of bytes."""

from __future__ import annotations

import re

from .errors import BuilderError

GiB = 2**30
_UNITS = {"GiB": GiB, "MiB": 2**20, "KiB": 1024, "": 1}


def parse_size(raw: str, name: str, default: int, error: type[BuilderError]) -> int:
    """The size `raw` (the value of variable `name`), `default` when it is empty; `error` names the fix."""
    raw = raw.strip()
    if not raw:
        return default
    m = re.fullmatch(r"(\d+)\s*(GiB|MiB|KiB|)", raw)
    if m is None or int(m[1]) == 0:
        msg = f"{name}={raw!r} is not a size; write it like 2GiB, 700MiB or a number of bytes"
        raise error(msg)
    return int(m[1]) * _UNITS[m[2]]
