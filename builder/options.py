"""What one command runs with: argv, the environment and the configuration, resolved once in `cli`.

Each command gets one frozen value. The pipeline and the stages take it, or the parts of it they
need; none of them sees argparse or reads `os.environ`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from . import run
from .http import Net
from .report import Reporter

if TYPE_CHECKING:
    from .bundle.verify import SignatureOptions
    from .config import Config
    from .publish.publish import PublishFlags
    from .sources.build import TreeVersion


def _no_env() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Context:
    """What every command shares: who reports, the environment, what no child may see, the network."""

    reporter: Reporter = field(default_factory=Reporter)
    env: Mapping[str, str] = field(default_factory=_no_env)  # this process's, read once (tokens, passwords too)
    hidden: frozenset[str] = frozenset()  # more names no child gets: those the configuration gives for secrets
    net: Net = field(default_factory=Net)  # the download limit (K8SWB_MAX_DOWNLOAD) and the reporter's meters

    def child_env(self) -> dict[str, str]:
        """The environment the stages hand their children: this one without the names the configuration
        hides; `run.call` then keeps only the allowlisted variables of it (`run.child_env`)."""
        return run.without(self.env, self.hidden)


def secret_names(cfg: Config) -> frozenset[str]:
    """Variables a configuration names for secrets, whatever they are called (CODESIGN_PIN)."""
    return frozenset(n for n in (cfg.signing.password_env,) if n)


@dataclass(frozen=True)
class Run:
    """A command on one configuration: `bundle`, `check` and `build` as they are, and the rest's base."""

    ctx: Context
    cfg: Config
    versions: tuple[str, ...] = ()  # each Kubernetes version once: configured, or the tree's own
    tree: TreeVersion | None = None  # the tree's version, detected once, when the run builds from a tree

    @property
    def version(self) -> str | None:
        """The version of a run that has exactly one."""
        return self.versions[0] if len(self.versions) == 1 else None

    def for_version(self, version: str) -> Run:
        """One version of a multi-version run (from a release: there is no tree)."""
        return Run(self.ctx, self.cfg.for_version(version), (version,))


@dataclass(frozen=True)
class FetchOptions:
    run: Run
    update_pins: bool = False


@dataclass(frozen=True)
class RenderOptions:
    run: Run
    out: Path  # --out, else <dist>/render


@dataclass(frozen=True)
class VerifyOptions:
    ctx: Context
    signatures: SignatureOptions
    zips: tuple[Path, ...] = ()  # the zips named on the command line
    dist: Path | None = None  # without any: every bundle in this folder


@dataclass(frozen=True)
class PublishOptions:
    run: Run
    flags: PublishFlags


@dataclass(frozen=True)
class BenchOptions:
    run: Run
    only: tuple[str, ...] = ()  # empty: every benchmark


@dataclass(frozen=True)
class SchemaOptions:
    reporter: Reporter
    out: Path | None = None  # None: the results channel (stdout)
    markdown: Path | None = None  # --markdown: the configuration reference (docs/configuration.md) here
