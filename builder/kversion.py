"""Kubernetes version strings: parsing and the semver rule the Kubernetes build enforces."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Same shape `hack/lib/version.sh` accepts once `git describe` output is rewritten:
# vMAJOR.MINOR.PATCH, an optional pre-release (-alpha.1, -rc.0.12), optional +build.
_SEMVER = re.compile(
    r"^v(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


@dataclass(frozen=True, order=True)
class KubeVersion:
    major: int
    minor: int
    patch: int
    pre: str = ""
    build: str = ""

    @classmethod
    def parse(cls, text: str) -> KubeVersion:
        """Parse `vX.Y.Z[-pre][+build]`; raise ValueError (with the expected form) otherwise."""
        m = _SEMVER.match(text)
        if m is None:
            msg = f"{text!r} is not a semantic version like v1.37.0, v1.36.2-rc.1 or v1.35.0+abc123"
            raise ValueError(msg)
        return cls(
            int(m["major"]), int(m["minor"]), int(m["patch"]), m["pre"] or "", m["build"] or ""
        )

    @property
    def minor_key(self) -> tuple[int, int]:
        return (self.major, self.minor)

    def __str__(self) -> str:
        text = f"v{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += f"-{self.pre}"
        if self.build:
            text += f"+{self.build}"
        return text


def from_git_describe(describe: str, dirty: bool) -> str:
    """Turn `git describe --tags` output into the gitVersion Kubernetes would stamp.

    `v1.9.0-beta.1-12-gabcdef0` becomes `v1.9.0-beta.1.12+abcdef0`; a tag exactly on HEAD
    stays as it is. A dirty tree gets `-dirty`, as `hack/lib/version.sh` does.
    """
    m = re.match(r"^(?P<tag>.+)-(?P<count>\d+)-g(?P<sha>[0-9a-f]+)$", describe)
    if m is not None:
        tag, count, sha = m["tag"], m["count"], m["sha"]
        sep = "." if "-" in tag.lstrip("v") else "-"
        version = f"{tag}{sep}{count}+{sha}"
    else:
        version = describe
    if dirty:
        version += "-dirty"
    return version
