"""Command line: `python -m builder <command>`. The one place where errors become exit codes."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import config as cfgmod
from .errors import BuilderError, ConfigError

log = logging.getLogger("builder")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="configuration file (default: ./bundle.yaml)")
    p.add_argument("--kube-root", type=Path, help="Kubernetes source tree (overrides kubernetes.root)")
    p.add_argument("--revision", type=int, help="bundle revision (overrides bundle.revision)")
    p.add_argument("--dist", type=Path, help="output folder (default: dist)")
    p.add_argument("--cache-dir", type=Path, help="download and build cache (default: ~/.cache/k8s-windows-bundle)")
    p.add_argument("--offline", action="store_true", help="use cached downloads only; never touch the network")
    p.add_argument("--force", action="store_true", help="replace an existing, different bundle in dist/")
    p.add_argument("--allow-unpinned", action="store_true", help="accept a branch or tag as sdn.commit")
    p.add_argument("--allow-insecure-http", action="store_true",
                   help="accept plain http:// for release_url and sdn.url (127.0.0.1 and ::1 always are)")
    p.add_argument("--kube-version", action="append", default=[], metavar="vX.Y.Z",
                   help="bundle the official release binaries of this version (repeatable)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every command and request")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m builder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("bundle", "build, fetch, render and pack: write the bundle to dist/"),
        ("build", "build (or download) the Windows binaries only"),
        ("fetch", "fetch and verify the pinned SDN scripts only"),
        ("render", "generate the node scripts only"),
        ("verify", "verify bundles in dist/ (or the given zips)"),
        ("publish", "upload dist/ to GitHub Releases"),
        ("bench", "run the benchmarks"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        _common(p)
        if name == "fetch":
            p.add_argument("--update-pins", action="store_true",
                           help="fetch sdn.commit and rewrite the sdn pins in the config file (and "
                                "kubernetes.pins, when the file has that key)")
        if name == "render":
            p.add_argument("--out", type=Path, help="folder to write the scripts to (default: dist/render)")
        if name == "verify":
            p.add_argument("zips", nargs="*", type=Path, help="bundles to verify (default: every zip in dist/)")
            _verify_signature_args(p)
        if name == "publish":
            p.add_argument("--draft", action="store_true", help="leave the release as a draft")
            p.add_argument("--replace", action="store_true",
                           help="replace different assets of the same name in a published release")
            p.add_argument("--dry-run", action="store_true",
                           help="print what would be done; write nothing (with no token: from dist/ alone)")
            p.add_argument("--target-commitish", metavar="COMMIT",
                           help="commit a new release's tag is made at (default: $GITHUB_SHA)")
            p.add_argument("--token", help=argparse.SUPPRESS)
            p.add_argument("--sigstore", action="store_true",
                           help="sign each zip keylessly with sigstore (GitHub Actions, id-token: write)")
        if name == "bench":
            p.add_argument("--only", choices=["build", "fetch", "pack"], action="append",
                           help="run only these benchmarks")
    return parser


def _verify_signature_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-ca", type=Path, metavar="FILE",
                   help="PEM root(s) the Authenticode signer must chain to (default: the signature's own root)")
    p.add_argument("--sigstore-identity", metavar="SAN", help="check <zip>.sigstore.json: the signer identity expected")
    p.add_argument("--sigstore-issuer", metavar="URL", help="the OIDC issuer expected of that identity")
    p.add_argument("--sigstore-trusted-root", type=Path, metavar="FILE",
                   help="a pinned sigstore trusted_root.json (default: the one the sigstore package ships)")


def overrides_from(args: argparse.Namespace) -> cfgmod.Overrides:
    return cfgmod.Overrides(
        config=args.config,
        kube_root=args.kube_root,
        revision=args.revision,
        dist=args.dist,
        cache_dir=args.cache_dir,
        offline=args.offline,
        force=args.force,
        allow_unpinned=args.allow_unpinned,
        allow_insecure_http=args.allow_insecure_http,
        kube_versions=tuple(args.kube_version),
        needs_source=args.command not in ("verify", "publish"),
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

    if args.command == "publish" and args.token:
        msg = ("--token is refused: a token on the command line ends up in shell history and process "
               "lists; set GH_TOKEN or GITHUB_TOKEN in the environment instead")
        raise ConfigError(msg)
    if args.command == "verify" and args.zips:
        return pipeline.verify_paths([Path(z) for z in args.zips], pipeline.signature_options(args))
    env = dict(os.environ)
    overrides = overrides_from(args)
    if args.command == "bench" and overrides.kube_root is None:
        # The benchmarks make their own trees; the test tree only satisfies the config check.
        overrides = dataclasses.replace(overrides, kube_root=Path(__file__).parent.parent / "tests/fixtures/kube-tree")
    cfg = cfgmod.load(overrides, env, Path.cwd())
    return pipeline.run(args.command, cfg, args, env)
