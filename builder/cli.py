"""Command line: `k8s-windows-bundle <command>` (or `python -m builder`). The one place errors become exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__
from . import config as cfgmod
from .errors import BuilderError, ConfigError

log = logging.getLogger("builder")
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
  KUBE_ROOT, GOPATH     the Kubernetes tree when kubernetes.root and --kube-root are not set
                        ($GOPATH/src/k8s.io/kubernetes)
  SOURCE_DATE_EPOCH     the time stamped into the binaries and the zip (else bundle.source_date_epoch,
                        else the tree's commit time)
  XDG_CACHE_HOME        the cache folder's parent (default ~/.cache)
  K8SWB_GO_CACHE_MAX    the kept Go build cache's size per minor (default 4GiB; oldest entries go first)
  K8SWB_MAX_DOWNLOAD    the largest download accepted (default 1GiB; e.g. 2GiB, 700MiB)
  GITHUB_REPOSITORY     release.repo when bundle.yaml has none
  GH_TOKEN, GITHUB_TOKEN, GITHUB_API_URL   publishing (the token is never taken from the command line)
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
        "  %(prog)s --config my-cluster.yaml --kube-version v1.37.0 --kube-version v1.36.2",
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
        "Verify dist/, then create (or finish) one GitHub release per bundle and upload its assets. "
        "The token comes from GH_TOKEN or GITHUB_TOKEN only.",
        "  GH_TOKEN=... %(prog)s --draft\n  %(prog)s --dry-run",
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
    "schema": (
        "print the JSON Schema of bundle.yaml",
        "Print the JSON Schema of bundle.yaml, generated from the configuration model (editors use it "
        "through the yaml-language-server comment at the top of bundle.yaml).",
        "  %(prog)s --out bundle.schema.json    # after adding a configuration key",
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
_UNPINNED = _opt("--allow-unpinned", action="store_true", help="accept a branch or tag as sdn.commit")
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
_ZIP = _opt("zip", type=Path, help="the bundle to reproduce")
_ONLY = _opt("--only", choices=["build", "fetch", "pack", "nox"], action="append", help="run only these benchmarks")
_SCHEMA_OUT = _opt("--out", type=Path, metavar="FILE", help="write the schema to FILE instead of printing it")

OPTIONS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], ...]] = {
    "bundle": (_CONFIG, _TREE, _KVER, _REV, _DIST, _CACHE, _OFFLINE, _FORCE, _UNPINNED, _INSECURE),
    "check": (_CONFIG, _TREE, _KVER, _REV, _DIST, _CACHE, _OFFLINE, _UNPINNED, _INSECURE),
    "build": (_CONFIG, _TREE, _KVER, _CACHE, _OFFLINE, _INSECURE),
    "fetch": (_CONFIG, _TREE, _KVER, _CACHE, _OFFLINE, _UNPINNED, _INSECURE, _PINS),
    "render": (_CONFIG, _TREE, _KVER, _DIST, _OUT, _INSECURE),  # the flag: load accepts an http:// mirror
    "verify": (_DIST, _ZIPS, _TRUST_CA, _SIGSTORE_ID, _SIGSTORE_ISSUER, _SIGSTORE_ROOT),
    "publish": (_CONFIG, _DIST, _DRAFT, _REPLACE, _DRY, _COMMITISH, _SIGSTORE, _TOKEN),
    "reproduce": (_ZIP, _CONFIG, _TREE, _CACHE, _OFFLINE, _INSECURE),
    "bench": (_CACHE, _ONLY),
    "schema": (_SCHEMA_OUT,),
}


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, formatter_class=fmt,
        epilog=f"examples:\n  {PROG} check --kube-root ~/src/kubernetes\n  {PROG} bundle --kube-root "
               f"~/src/kubernetes\n  {PROG} verify\n\n{ENVIRONMENT}\n\n{EXIT_CODES}\n\n"
               f"`{PROG} COMMAND --help` lists the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (summary, what, examples) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=textwrap.fill(what, 100), formatter_class=fmt,
                           epilog=f"examples:\n{examples}\n\n{EXIT_CODES}")
        for add in OPTIONS[name]:
            add(p)
        p.add_argument("-v", "--verbose", action="store_true", help="log every command and request")
    return parser


def overrides_from(args: argparse.Namespace) -> cfgmod.Overrides:
    return cfgmod.Overrides(
        config=getattr(args, "config", None),
        kube_root=getattr(args, "kube_root", None),
        revision=getattr(args, "revision", None),
        dist=getattr(args, "dist", None),
        cache_dir=getattr(args, "cache_dir", None),
        offline=getattr(args, "offline", False),
        force=getattr(args, "force", False),
        allow_unpinned=getattr(args, "allow_unpinned", False),
        allow_insecure_http=getattr(args, "allow_insecure_http", False),
        kube_versions=tuple(getattr(args, "kube_version", ())),
        # verify and publish read dist/ only; the benchmarks make their own trees.
        needs_source=args.command not in ("verify", "publish", "bench"),
        tree_optional=args.command in ("render", "fetch"),
        fetches_sdn=args.command in ("bundle", "check", "fetch"),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    try:
        return _dispatch(args)
    except BuilderError as err:
        log.error("error: %s", err)
        return err.exit_code
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    # Imported here so that `--help` and config errors stay fast.
    from . import pipeline

    if args.command == "schema":
        from .config import schema

        return schema.write(args.out)
    if args.command == "publish" and args.token:
        msg = ("--token is refused: a token on the command line ends up in shell history and process "
               "lists; set GH_TOKEN or GITHUB_TOKEN in the environment instead")
        raise ConfigError(msg)
    if args.command == "reproduce":
        from . import reproduce

        return reproduce.reproduce(args.zip, overrides_from(args), dict(os.environ))
    if args.command == "verify" and args.zips:
        return pipeline.verify_paths([Path(z) for z in args.zips], pipeline.signature_options(args))
    env = dict(os.environ)
    cfg = cfgmod.load(overrides_from(args), env, Path.cwd())
    return pipeline.run(args.command, cfg, args, env)
