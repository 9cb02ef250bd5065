"""Command line: `k8s-windows-bundle <command>` (or `python -m builder`). The one place errors become exit codes."""

from __future__ import annotations

import argparse
import dataclasses
import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from . import __version__, http
from . import config as cfgmod
from .errors import BuilderError, ConfigError
from .fsutil import disk_full_error
from .http import Net
from .options import (
    BenchOptions,
    Context,
    FetchOptions,
    PublishOptions,
    RenderOptions,
    Run,
    SchemaOptions,
    VerifyOptions,
    secret_names,
)
from .report import Reporter

PROG = "k8s-windows-bundle"

DESCRIPTION = """\
Build an offline, verified zip that turns a Windows Server machine into a Kubernetes node:
kubelet, kube-proxy and kubectl (built from your Kubernetes tree, or the official release
binaries), Microsoft's SDN scripts pinned by commit and hash, and node scripts generated for
your cluster from bundle.yaml. Then verify it and publish it to GitHub Releases."""

EXIT_CODES = """\
exit codes:
  0  success            4  Go toolchain        7  packing
  1  other failure      5  downloading or      8  bundle verification
  2  configuration         verifying inputs    9  publishing
  3  build              6  rendering"""

ENVIRONMENT = """\
environment:
  KUBE_ROOT, GOPATH     the Kubernetes tree when the configuration and the command line give none
                        ($GOPATH/src/k8s.io/kubernetes)
  SOURCE_DATE_EPOCH     the time stamped into the binaries and the zip (else bundle.source_date_epoch,
                        else the tree's commit time)
  XDG_CACHE_HOME        the cache folder's parent (default ~/.cache)
  K8SWB_GO_CACHE_MAX    the kept Go build cache's size per minor (default 4GiB; oldest entries go first)
  K8SWB_MAX_DOWNLOAD    the largest download accepted (default 1GiB; e.g. 2GiB, 700MiB)
  K8SWB_DOWNLOAD_DEADLINE  the longest one download may take, retries included (default 1h;
                        e.g. 2h, 30min, 90s); after it the download fails (exit 5) and nothing is kept
  GITHUB_REPOSITORY     release.repo when bundle.yaml has none
  GH_TOKEN, GITHUB_TOKEN, GITHUB_API_URL   publishing (the token is never taken from the command line)
  GITHUB_SHA            the commit a new release's tag is made at (publish, without --target-commitish)
  GITHUB_ACTIONS        true: fold groups per step and ::error annotations for configuration errors
  NO_COLOR, FORCE_COLOR no colour even on a terminal; colour even without one
  CI                    the tests: under CI=true a skipped test fails the run"""

# Per command: its one-line summary, what it does, and examples. Options are added per command
# below (`OPTIONS`), so each --help lists only what applies.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "bundle": (
        "build, fetch, render and pack: write the bundle to dist/",
        "Check everything that can be checked quickly, fetch the pinned inputs, build (or download) "
        "the binaries, generate the node scripts, and write dist/<name>-<gitVersion>-<revision>.zip "
        "with its checksums, SBOM and provenance. A second run with nothing changed runs no make.",
        "  %(prog)s --kube-root ~/src/kubernetes\n"
        "  %(prog)s --config my-cluster.yaml --kube-version v1.37.0 --kube-version v1.36.2\n"
        "  %(prog)s --kube-root ~/src/kubernetes --snapshot   # a work-in-progress tree: never publishable\n"
        "  ZIP=$(%(prog)s bundle --kube-version v1.37.0 -q)   # the written zips are the result (stdout)",
    ),
    "check": (
        "check the configuration, the machine and the inputs; build nothing",
        "Load and validate the configuration with every rule of the Kubernetes version(s) it names "
        "(or the tree's), check dist/ and the cache are usable, that the build's commands are present "
        "and the tree looks like Kubernetes, that osslsigncode and the signing key work (when signing is on), and "
        "fetch and verify the pinned inputs. No build, no bundle.",
        "  %(prog)s --kube-root ~/src/kubernetes\n  %(prog)s --config my-cluster.yaml --kube-version v1.37.0",
    ),
    "build": (
        "build (or download) the Windows binaries only",
        "Cross-compile the components from the tree with its own make (or download the official "
        "binaries of --kube-version) and print their sha256.",
        "  %(prog)s --kube-root ~/src/kubernetes",
    ),
    "fetch": (
        "fetch and verify the pinned inputs (SDN and the node kit) only",
        "Fetch the pinned inputs into the cache and verify every file against its pin. Needs no tree.",
        "  %(prog)s\n  %(prog)s --update-pins        # after changing sdn.commit or a node-kit version",
    ),
    "render": (
        "generate the node scripts only, for review",
        "Generate the node scripts, CNI config, samples and README.txt for one Kubernetes version. "
        "Needs no tree when the version is known (--kube-version or kubernetes.version).",
        "  %(prog)s --kube-version v1.37.0 --out review/",
    ),
    "verify": (
        "verify bundles in dist/ (or the given zips)",
        "Check every bundle: each file's hash against manifest.json and SHA256SUMS, the layout, the "
        "executables, the generated scripts, and the files beside it. Reads only dist/ (or the zips).",
        "  %(prog)s\n  %(prog)s dist/kubernetes-windows-node-v1.37.0-1.zip",
    ),
    "publish": (
        "upload dist/ to GitHub Releases",
        "Verify the bundles of the last `bundle` run (dist/artifacts.json lists them; any other file in dist/ "
        "is named and left alone), then create (or finish) one GitHub release per bundle and upload its "
        "assets. A bundle of an earlier run is published only when named. Dirty and snapshot bundles are "
        "refused. The token comes from GH_TOKEN or GITHUB_TOKEN only.",
        "  GH_TOKEN=... %(prog)s --draft\n  %(prog)s --dry-run --notes release-notes.md.j2\n"
        "  %(prog)s dist/kubernetes-windows-node-v1.36.2-1.zip   # a bundle of an earlier run",
    ),
    "reproduce": (
        "build a bundle again from its provenance and compare the bytes",
        "Read the bundle's manifest.json (the tree's commit or digest, the configuration, the tool's version), "
        "check the tree, the configuration and this tool against it, build the bundle again in a temporary "
        "folder and compare: exit 0 when identical, 8 naming the first file that differs. The configuration "
        "comes from the manifest unless --config is given.",
        "  %(prog)s dist/kubernetes-windows-node-v1.37.0-1.zip --kube-root ~/src/kubernetes",
    ),
    "bench": (
        "run the speed benchmarks",
        "Measure the speed goals, each side by side with what it is compared to. The benchmarks make "
        "their own trees and inputs.",
        "  %(prog)s --only build",
    ),
    "init": (
        "write a commented starter bundle.yaml for your cluster",
        "Write a starter configuration with the cluster's values (from the options below; on a terminal "
        "the ones not given are asked for), every other key commented with its default. An existing file "
        "is never overwritten. `check` accepts what it writes.",
        "  %(prog)s --cluster-cidr 10.244.0.0/16 --service-cidr 10.96.0.0/12 --kube-version v1.37.0\n"
        "  %(prog)s --out my-cluster.yaml",
    ),
    "completion": (
        "print a shell completion script (bash, zsh, fish)",
        "Print the completion script of a shell: its commands and each command's options.",
        "  source <(%(prog)s bash)                          # bash, this shell\n"
        "  %(prog)s zsh > \"${fpath[1]}/_k8s-windows-bundle\"   # zsh\n"
        "  %(prog)s fish > ~/.config/fish/completions/k8s-windows-bundle.fish",
    ),
    "schema": (
        "print the JSON Schema of bundle.yaml",
        "Print the JSON Schema of bundle.yaml, generated from the configuration model (editors use it "
        "through the yaml-language-server comment at the top of bundle.yaml).",
        "  %(prog)s --out bundle.schema.json --markdown docs/configuration.md   # after adding a key",
    ),
}


def _opt(*flags: str, **kw: object) -> Callable[[argparse.ArgumentParser], None]:
    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument(*flags, **kw)  # type: ignore[arg-type]
    return add


_CONFIG = _opt("--config", type=Path, metavar="FILE", help="configuration file (default: ./bundle.yaml)")
_TREE = _opt("--kube-root", type=Path, metavar="DIR", help="Kubernetes source tree (overrides kubernetes.root)")
_KVER = _opt("--kube-version", action="append", default=[], metavar="vX.Y.Z",
             help="use the official release binaries of this version, no tree (repeatable)")
_REV = _opt("--revision", type=int, metavar="N", help="bundle revision (overrides bundle.revision)")
_DIST = _opt("--dist", type=Path, metavar="DIR", help="output folder (default: dist)")
_CACHE = _opt("--cache-dir", type=Path, metavar="DIR",
              help="download and build cache (default: ~/.cache/k8s-windows-bundle)")
_OFFLINE = _opt("--offline", action="store_true", help="use cached downloads only; never touch the network")
_FORCE = _opt("--force", action="store_true", help="replace an existing, different bundle in dist/")
_UNPINNED = _opt("--allow-unpinned", action="store_true",
                 help="accept a branch or tag as sdn.commit, and name a cluster manifest's unpinned image by tag")
_INSECURE = _opt("--allow-insecure-http", action="store_true",
                 help="accept plain http:// for release_url, sdn.url and the node kit's url "
                      "(127.0.0.1 and ::1 always are)")
_PINS = _opt("--update-pins", action="store_true",
             help="fetch sdn.commit and every node-kit input this configuration uses and rewrite their pins in "
                  "the config file (and kubernetes.pins, when the file has that key)")
_OUT = _opt("--out", type=Path, metavar="DIR", help="folder to write the scripts to (default: dist/render)")
_ZIPS = _opt("zips", nargs="*", type=Path, help="bundles to verify (default: every zip in dist/)")
_DRAFT = _opt("--draft", action="store_true", help="leave the release as a draft")
_REPLACE = _opt("--replace", action="store_true",
                help="replace different assets of the same name in a published release")
_DRY = _opt("--dry-run", action="store_true",
            help="print what would be done; write nothing (with no token: from dist/ alone)")
_COMMITISH = _opt("--target-commitish", metavar="COMMIT",
                  help="commit a new release's tag is made at (default: $GITHUB_SHA)")
_TOKEN = _opt("--token", help=argparse.SUPPRESS)
_SIGSTORE = _opt("--sigstore", action="store_true",
                 help="sign each zip keylessly with sigstore (GitHub Actions, id-token: write)")
_TRUST_CA = _opt("--trust-ca", type=Path, metavar="FILE",
                 help="PEM root(s) the Authenticode signer must chain to (default: the signature's own root)")
_SIGSTORE_ID = _opt("--sigstore-identity", metavar="SAN",
                    help="check <zip>.sigstore.json: the signer identity expected")
_SIGSTORE_ISSUER = _opt("--sigstore-issuer", metavar="URL", help="the OIDC issuer expected of that identity")
_SIGSTORE_ROOT = _opt("--sigstore-trusted-root", type=Path, metavar="FILE",
                      help="a pinned sigstore trusted_root.json (default: the one the sigstore package ships)")
_ALLOW_DIRTY = _opt("--allow-dirty", action="store_true",
                    help="bundle a Kubernetes tree with uncommitted changes (its version gets -dirty; "
                         "publish refuses it)")
_SNAPSHOT = _opt("--snapshot", action="store_true",
                 help="a snapshot bundle: dirty trees allowed, -SNAPSHOT-<commit> in its name, never publishable")
_CLEAN = _opt("--clean", action="store_true", help="empty the dist folder first (bundles of earlier runs too)")
_UNKNOWN_FLAGS = _opt("--allow-unknown-flags", action="store_true",
                      help="accept extra arguments whose flag the Kubernetes version's flag table does not know")
_JSON = _opt("--json", action="store_true", help="print the result as one JSON document on stdout")
_NOTES = _opt("--notes", type=Path, metavar="FILE",
              help="release notes from this jinja2 template (default: the built-in one; --dry-run shows them)")
_PUBLISH_ZIPS = _opt("zips", nargs="*", type=Path,
                     help="bundles to publish (default: the ones dist/artifacts.json lists)")
_INIT_OUT = _opt("--out", type=Path, metavar="FILE", help="the file to write (default: ./bundle.yaml)")
_SHELL = _opt("shell", choices=["bash", "zsh", "fish"], help="the shell")
# init's cluster values: argparse dest -> (flag, the bundle.yaml key it fills, help).
INIT_FIELDS: dict[str, tuple[str, str, str]] = {
    "init_name": ("--name", "bundle.name", "the bundle's name (dist/<name>-<gitVersion>-<revision>.zip)"),
    "init_kube_version": ("--kube-version", "kubernetes.version",
                          "a Kubernetes version: the official release binaries of it, no tree"),
    "init_kube_root": ("--kube-root", "kubernetes.root", "a Kubernetes source tree to build from"),
    "init_mode": ("--network-mode", "network.mode", f"the network mode ({', '.join(cfgmod.NETWORK_MODES)})"),
    "init_cluster_cidr": ("--cluster-cidr", "network.cluster_cidr", "the pod network"),
    "init_service_cidr": ("--service-cidr", "network.service_cidr", "the service network"),
    "init_dns": ("--dns-service-ip", "network.dns_service_ip", "the cluster DNS service's address"),
    "init_control_plane": ("--control-plane-ip", "network.control_plane_ip", "the control plane's address"),
    "init_windows": ("--windows-version", "node.windows_version", "the Windows Server version (ltsc2022, ...)"),
    "init_repo": ("--release-repo", "release.repo", "the GitHub repository (owner/name) to publish to"),
}
INIT_OPTIONS = tuple(_opt(flag, dest=dest, metavar="VALUE", help=what) for dest, (flag, _key, what)
                     in INIT_FIELDS.items())
_ZIP = _opt("zip", type=Path, help="the bundle to reproduce")
_ONLY = _opt("--only", choices=["build", "fetch", "pack", "nox"], action="append", help="run only these benchmarks")
_SCHEMA_OUT = _opt("--out", type=Path, metavar="FILE", help="write the schema to FILE instead of printing it")
_SCHEMA_MARKDOWN = _opt("--markdown", type=Path, metavar="FILE",
                        help="write the configuration reference (docs/configuration.md) to FILE")

OPTIONS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], ...]] = {
    "bundle": (_CONFIG, _TREE, _KVER, _REV, _DIST, _CACHE, _OFFLINE, _FORCE, _UNPINNED, _INSECURE, _ALLOW_DIRTY,
               _SNAPSHOT, _CLEAN, _UNKNOWN_FLAGS),
    "check": (_CONFIG, _TREE, _KVER, _REV, _DIST, _CACHE, _OFFLINE, _UNPINNED, _INSECURE, _ALLOW_DIRTY, _SNAPSHOT,
              _UNKNOWN_FLAGS, _JSON),
    "build": (_CONFIG, _TREE, _KVER, _CACHE, _OFFLINE, _INSECURE),
    "fetch": (_CONFIG, _TREE, _KVER, _CACHE, _OFFLINE, _UNPINNED, _INSECURE, _PINS),
    "render": (_CONFIG, _TREE, _KVER, _DIST, _OUT, _UNPINNED, _INSECURE, _UNKNOWN_FLAGS),  # the flag: load accepts http://
    "verify": (_DIST, _ZIPS, _TRUST_CA, _SIGSTORE_ID, _SIGSTORE_ISSUER, _SIGSTORE_ROOT, _JSON),
    "publish": (_CONFIG, _DIST, _PUBLISH_ZIPS, _DRAFT, _REPLACE, _DRY, _OFFLINE, _COMMITISH, _SIGSTORE, _NOTES,
                _JSON, _TOKEN),
    "init": (_INIT_OUT, *INIT_OPTIONS),
    "completion": (_SHELL,),
    "reproduce": (_ZIP, _CONFIG, _TREE, _CACHE, _OFFLINE, _UNPINNED, _INSECURE),
    "bench": (_CACHE, _ONLY),
    "schema": (_SCHEMA_OUT, _SCHEMA_MARKDOWN),
}


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    # allow_abbrev=False everywhere: `--off` is not `--offline`, and a later option cannot change
    # what an abbreviation in someone's script means.
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, formatter_class=fmt, allow_abbrev=False,
        epilog=f"examples:\n  {PROG} check --kube-root ~/src/kubernetes\n  {PROG} bundle --kube-root "
               f"~/src/kubernetes\n  {PROG} verify\n\n{ENVIRONMENT}\n\n{EXIT_CODES}\n\n"
               f"`{PROG} COMMAND --help` lists the options of a command.",
    )
    parser.add_argument("--version", action=_Version, help="print the version, with the commit and date, and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (summary, what, examples) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=textwrap.fill(what, 100), formatter_class=fmt,
                           allow_abbrev=False,
                           epilog=f"examples:\n{examples}\n\n{ENVIRONMENT}\n\n{EXIT_CODES}")
        for add in OPTIONS[name]:
            add(p)
        talk = p.add_mutually_exclusive_group()
        talk.add_argument("-v", "--verbose", action="store_true", help="log every command and request")
        talk.add_argument("-q", "--quiet", action="store_true",
                          help="log warnings and errors only (results still print)")
    return parser


class _Version(argparse.Action):
    """`--version`, worked out only when asked for (it asks git)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kw: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=str(kw.get("help", "")))

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(version_text(os.environ))
        parser.exit()


def version_text(env: Mapping[str, str]) -> str:
    """`--version`: the version, and the commit and date of the source it runs from (when known)."""
    from .toolinfo import source_commit

    commit = source_commit(env)
    if commit is None:
        return f"{PROG} {__version__} (commit unknown: not run from a git checkout or a VCS install)"
    return f"{PROG} {__version__} (commit {commit.short}{'-dirty' if commit.dirty else ''}, {commit.date})"


# The options that override the configuration: argparse's names for fields of config.Overrides.
OVERRIDES = ("config", "kube_root", "revision", "dist", "cache_dir", "offline", "force", "allow_unpinned",
             "allow_insecure_http", "allow_dirty", "snapshot", "clean", "allow_unknown_flags")


@dataclass(frozen=True)
class CommandLine:
    """argv, parsed and typed: the command, what it overrides in the configuration, and every other
    option (with its default where a command has none). The argparse namespace goes no further than
    `parse`."""

    command: str
    overrides: cfgmod.Overrides
    verbose: bool = False
    quiet: bool = False
    json: bool = False
    notes: Path | None = None
    shell: str = ""
    init: tuple[tuple[str, str], ...] = ()  # init's cluster values given on the command line (key, value)
    update_pins: bool = False
    out: Path | None = None
    zips: tuple[Path, ...] = ()
    draft: bool = False
    replace: bool = False
    dry_run: bool = False
    target_commitish: str | None = None
    token: str | None = None
    sigstore: bool = False
    trust_ca: Path | None = None
    sigstore_identity: str | None = None
    sigstore_issuer: str | None = None
    sigstore_trusted_root: Path | None = None
    only: tuple[str, ...] = ()
    zip: Path | None = None  # reproduce: the bundle
    markdown: Path | None = None  # schema --markdown

    @classmethod
    def parse(cls, argv: Sequence[str] | None) -> CommandLine:
        given = vars(build_parser().parse_args(argv))
        command = given["command"]
        overrides = cfgmod.Overrides(
            **{key: given.pop(key) for key in OVERRIDES if key in given},
            kube_versions=tuple(given.pop("kube_version", ())),
            # verify and publish read dist/ only; the benchmarks make their own trees.
            needs_source=command not in ("verify", "publish", "bench"),
            tree_optional=command in ("render", "fetch"),
            fetches_sdn=command in ("bundle", "check", "fetch", "reproduce"),
        )
        for key in ("zips", "only"):  # argparse's lists, as tuples
            given[key] = tuple(given.get(key) or ())
        values = {dest: given.pop(dest, None) for dest in INIT_FIELDS}
        given["init"] = tuple((INIT_FIELDS[d][1], str(v)) for d, v in values.items() if v is not None)
        return cls(overrides=overrides, **given)


# --------------------------------------------------------------------------- resolving, once


def context(reporter: Reporter, env: Mapping[str, str], cfg: cfgmod.Config | None = None, *,
            downloads: bool = False) -> Context:
    """The run's shared part: the names no child may see come from the configuration; for a command
    that downloads, the size limit from the environment (K8SWB_MAX_DOWNLOAD, refused here when it is
    not a size) and the reporter's progress meters."""
    hidden = secret_names(cfg) if cfg is not None else frozenset()
    net = (Net(max_download=http.max_download(env), deadline=http.download_deadline(env), meters=reporter.meter)
           if downloads else Net())
    return Context(reporter=reporter, env=env, hidden=hidden, net=net)


# Commands that build from a tree when there is one: the tree is checked before its version is read.
BUILDS = ("bundle", "check", "build", "reproduce")
# Commands that work on exactly one Kubernetes version.
ONE_VERSION = ("build", "render")


def config_file(line: CommandLine, cwd: Path) -> Path:
    """The configuration file of a command that reads one: --config, else ./bundle.yaml, else an
    error naming both ways out (built-in defaults are never used without a word)."""
    given = line.overrides.config
    if given is not None:
        return given if given.is_absolute() else cwd / given
    if (cwd / cfgmod.DEFAULT_CONFIG).is_file():
        return cwd / cfgmod.DEFAULT_CONFIG
    msg = (f"no configuration: {cwd / cfgmod.DEFAULT_CONFIG} does not exist and --config was not given; "
           f"pass --config FILE, or write a starter with `{PROG} init` (then review it)")
    raise ConfigError(msg)


def resolve(line: CommandLine, reporter: Reporter, env: Mapping[str, str],
            overrides: cfgmod.Overrides | None = None) -> Run:
    """The configuration (file, environment, command line) and the run's versions, each once.
    `overrides` replace the command line's (`reproduce`: the configuration recorded in a bundle)."""
    from . import pipeline

    cwd = Path.cwd()
    path = config_file(dataclasses.replace(line, overrides=overrides) if overrides else line, cwd)
    reporter.info(f"configuration: {path}")
    wanted = dataclasses.replace(overrides or line.overrides, config=path)
    cfg = cfgmod.load(wanted, env, cwd)
    ctx = context(reporter, env, cfg, downloads=wanted.needs_source)
    if not wanted.needs_source:
        return Run(ctx, cfg)
    versions, tree = pipeline.resolve_versions(cfg, ctx.child_env(), checks_tree=line.command in BUILDS)
    if line.command in ONE_VERSION and len(versions) > 1:
        msg = (f"{line.command} takes one Kubernetes version, not {len(versions)} ({', '.join(versions)}): pass "
               "--kube-version once (bundle makes one bundle per version)")
        raise ConfigError(msg)
    return Run(ctx, cfg, versions, tree)


def _bundle(line: CommandLine, reporter: Reporter, env: Mapping[str, str]) -> int:
    from . import pipeline

    for zip_path in pipeline.bundle(resolve(line, reporter, env)):
        reporter.result(str(zip_path))  # the result: ZIP=$(k8s-windows-bundle bundle ...) gets the paths
    return 0


def _check(line: CommandLine, reporter: Reporter, env: Mapping[str, str]) -> int:
    from . import pipeline

    pipeline.check(resolve(line, reporter, env))
    return 0


def _build(line: CommandLine, reporter: Reporter, env: Mapping[str, str]) -> int:
    from . import pipeline

    pipeline.build(resolve(line, reporter, env))
    return 0


def _fetch(line: CommandLine, reporter: Reporter, env: Mapping[str, str]) -> int:
    from . import pipeline

    pipeline.fetch(FetchOptions(resolve(line, reporter, env), update_pins=line.update_pins))
    return 0


def _render(line: CommandLine, reporter: Reporter, env: Mapping[str, str]) -> int:
    from . import pipeline

    run = resolve(line, reporter, env)
    pipeline.render(RenderOptions(run, out=line.out or (run.cfg.options.dist / "render")))
    return 0


def _verify(line: CommandLine, reporter: Reporter, env: Mapping[str, str]) -> int:
    from . import pipeline
    from .bundle.verify import SignatureOptions

    # verify reads only the zips, or dist/: it needs no configuration.
    ctx = context(reporter, env)
    dist = None if line.zips else Path.cwd() / (line.overrides.dist or Path("dist"))
    signatures = SignatureOptions(trust_ca=line.trust_ca, sigstore_identity=line.sigstore_identity,
                                  sigstore_issuer=line.sigstore_issuer,
                                  sigstore_trusted_root=line.sigstore_trusted_root, env=ctx.child_env())
    pipeline.verify(VerifyOptions(ctx, signatures, zips=line.zips, dist=dist))
    return 0


def _publish(line: CommandLine, reporter: Reporter, env: Mapping[str, str]) -> int:
    from . import pipeline
    from .publish.publish import PublishFlags

    if line.token:
        msg = ("--token is refused: a token on the command line ends up in shell history and process "
               "lists; set GH_TOKEN or GITHUB_TOKEN in the environment instead")
        raise ConfigError(msg)
    if line.json and not line.dry_run:
        msg = "--json is the plan of a dry run: add --dry-run (publishing itself prints its summary)"
        raise ConfigError(msg)
    run = resolve(line, reporter, env)
    flags = PublishFlags.resolve(run.cfg, env, draft=line.draft, replace=line.replace, dry_run=line.dry_run,
                                 sigstore=line.sigstore, target_commitish=line.target_commitish, notes=line.notes,
                                 zips=line.zips)
    pipeline.publish(PublishOptions(run, flags))
    return 0


def _init(line: CommandLine, reporter: Reporter, env: Mapping[str, str]) -> int:
    import sys

    from .config import starter

    out = line.out or Path(cfgmod.DEFAULT_CONFIG)
    ask = starter.prompter(input, sys.stdin.isatty() and sys.stderr.isatty())
    path = starter.write_starter(Path.cwd() / out, dict(line.init), ask=ask)
    reporter.info(f"wrote {path}; review it, then: {PROG} check --config {out}")
    reporter.result(str(path))
    return 0


def _completion(line: CommandLine, reporter: Reporter, env: Mapping[str, str]) -> int:
    from . import completion

    reporter.result(completion.script(line.shell, build_parser(), PROG).rstrip("\n"))
    return 0


def _reproduce(line: CommandLine, reporter: Reporter, env: Mapping[str, str]) -> int:
    from . import reproduce

    assert line.zip is not None  # argparse requires it
    reproduce.reproduce(line.zip, line.overrides, lambda overrides: resolve(line, reporter, env, overrides))
    return 0


def _bench(line: CommandLine, reporter: Reporter, env: Mapping[str, str]) -> int:
    from . import pipeline

    return pipeline.bench(BenchOptions(resolve(line, reporter, env), only=line.only))


def _schema(line: CommandLine, reporter: Reporter, env: Mapping[str, str]) -> int:
    from . import pipeline

    pipeline.schema(SchemaOptions(reporter, out=line.out, markdown=line.markdown))
    return 0


# The one dispatch table: each command resolves its own options from the command line and the
# environment (the configuration loaded once, inside), then runs. Stages are imported when used,
# so that `--help` and configuration errors stay fast.
DISPATCH: dict[str, Callable[[CommandLine, Reporter, Mapping[str, str]], int]] = {
    "bundle": _bundle,
    "check": _check,
    "build": _build,
    "fetch": _fetch,
    "render": _render,
    "verify": _verify,
    "publish": _publish,
    "init": _init,
    "completion": _completion,
    "reproduce": _reproduce,
    "bench": _bench,
    "schema": _schema,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the one place an error becomes an exit code."""
    line = CommandLine.parse(argv)
    env = MappingProxyType(dict(os.environ))  # read here, once: nothing below reads os.environ
    reporter = Reporter(env=env, as_json=line.json)
    with reporter.attach(verbose=line.verbose, quiet=line.quiet):
        try:
            return DISPATCH[line.command](line, reporter, env)
        except BuilderError as err:
            return _failed(reporter, err)
        except OSError as err:  # a full disk nowhere a stage expected it: still its exit code, no traceback
            full = disk_full_error(err, reporter.steps)
            if full is None:
                raise
            reporter.debug(f"full disk outside a stage's writes: {err!r}")
            return _failed(reporter, full)
        except KeyboardInterrupt:
            reporter.error("interrupted")
            return 130


def _failed(reporter: Reporter, err: BuilderError) -> int:
    if isinstance(err, ConfigError):
        reporter.config_error(str(err))
    else:
        reporter.error(f"error: {err}")
    if not reporter.emitted:  # a command that printed its own JSON result (verify's problems) keeps it
        reporter.emit({"ok": False, "exitCode": err.exit_code, "error": str(err)})
    return err.exit_code
