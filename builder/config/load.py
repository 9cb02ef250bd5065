"""Loading: the file, then the environment, then the command line, resolved once into a `Config`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..kversion import KubeVersion
from .kit_inputs import INPUT_SECTIONS
from .model import (
    DEFAULT_CONFIG,
    BundleSection,
    Config,
    KeyLines,
    KubernetesSection,
    NodeSection,
    Options,
)
from .rules import runtime_problem
from .runtimes import DOCKER
from .signing import resolve_identity, section_signing
from .validate import (
    Problems,
    check_source_urls,
    did_you_mean,
    file_version_problem,
    section_bundle,
    section_images,
    section_input,
    section_kubernetes,
    section_network,
    section_node,
    section_release,
    section_sdn,
    semver_problem,
)
from .yamlread import Doc, read_yaml


@dataclass(frozen=True)
class Overrides:
    """What the command line may override."""

    config: Path | None = None
    kube_root: Path | None = None
    revision: int | None = None
    dist: Path | None = None
    cache_dir: Path | None = None
    offline: bool = False
    force: bool = False
    allow_unpinned: bool = False
    allow_insecure_http: bool = False
    allow_dirty: bool = False
    snapshot: bool = False
    clean: bool = False
    allow_unknown_flags: bool = False
    kube_versions: tuple[str, ...] = ()
    # False for commands that only read dist/ (verify, publish): no tree or version is needed.
    needs_source: bool = True
    # True for commands that need a version but no build (render, fetch): a tree is used when
    # given, and its absence is not a problem.
    tree_optional: bool = False
    # False for commands that never fetch SDN (build, render, publish, bench): an unpinned sdn.commit
    # is no problem of theirs, and they have no --allow-unpinned to accept it with.
    fetches_sdn: bool = True


def default_cache_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", ".")) / ".cache")
    return Path(base) / "k8s-windows-bundle"


def load(overrides: Overrides, env: Mapping[str, str], cwd: Path) -> Config:
    """Read, merge and validate the configuration; raise ConfigError listing every problem."""
    path = overrides.config
    if path is None and (cwd / DEFAULT_CONFIG).is_file():
        path = cwd / DEFAULT_CONFIG
    if path is not None and not path.is_absolute():
        path = cwd / path
    doc = read_yaml(path) if path is not None else Doc({}, {}, "(defaults)")
    probs = Problems(doc)
    sections = ("version", "bundle", "kubernetes", "sdn", "network", "node", "release", "signing", "images",
                *INPUT_SECTIONS)
    for key in doc.data:
        if key not in sections:
            probs.add(str(key), f"unknown section{did_you_mean(str(key), sections)}; valid sections: "
                      f"{', '.join(sections)}")
    file_version_problem(probs, doc.data.get("version"))
    base = path.parent if path is not None else cwd
    bundle = section_bundle(probs, doc.data.get("bundle"))
    kube = section_kubernetes(probs, doc.data.get("kubernetes"), base)
    sdn = section_sdn(probs, doc.data.get("sdn"))
    network = section_network(probs, doc.data.get("network"))
    node = section_node(probs, doc.data.get("node"))
    release = section_release(probs, doc.data.get("release"), env)
    kit = {name: section_input(probs, name, doc.data.get(name)) for name in INPUT_SECTIONS}
    signing = section_signing(probs, doc.data.get("signing"), path.parent if path is not None else cwd)
    images = section_images(probs, doc.data.get("images"))

    bundle = _source_date_epoch_from_env(probs, bundle, env)
    if overrides.revision is not None:
        if overrides.revision < 1:
            probs.items.append(f"--revision: {overrides.revision} must be >= 1")
        bundle = dataclasses.replace(bundle, revision=overrides.revision)
    if overrides.kube_versions:
        for v in overrides.kube_versions:
            problem = semver_problem(v)
            if problem:
                probs.items.append(f"--kube-version: {problem}")
        kube = dataclasses.replace(kube, source="release", version=None, versions=overrides.kube_versions)
    if kube.version and kube.versions:
        probs.add("kubernetes.versions", "give either version or versions, not both")
    if overrides.needs_source:
        kube = _resolve_source(probs, kube, overrides, env, cwd)
    _check_runtime(probs, node, kube)
    # Plain http matters where something is downloaded; verify, publish and bench download none of
    # these and have no --allow-insecure-http to accept it with (credentials are refused everywhere).
    insecure_ok = overrides.allow_insecure_http or not overrides.needs_source
    check_source_urls(probs, kube.release_url, sdn.url, allow_insecure_http=insecure_ok,
                      more=[(f"{name}.url", section.url) for name, section in kit.items() if section.url])
    probs.raise_if_any()

    options = Options(
        config_path=path,
        dist=(cwd / (overrides.dist or Path("dist"))),
        cache_dir=(cwd / overrides.cache_dir) if overrides.cache_dir else default_cache_dir(env),
        offline=overrides.offline,
        force=overrides.force,
        allow_unpinned=overrides.allow_unpinned,
        allow_insecure_http=overrides.allow_insecure_http,
        allow_dirty=overrides.allow_dirty or overrides.snapshot,
        snapshot=overrides.snapshot,
        clean=overrides.clean,
        allow_unknown_flags=overrides.allow_unknown_flags,
        config_file=doc.file,
        key_lines=tuple(sorted(doc.lines.items())),
    )
    if overrides.fetches_sdn and not sdn.pinned and not options.allow_unpinned:
        msg = (f"{probs.where('sdn.commit')}: sdn.commit: {sdn.commit!r} is a branch or tag, not a pinned "
               "40-hex commit; pin a commit, or pass --allow-unpinned to take what the ref points at now")
        raise ConfigError(msg)
    if overrides.needs_source:  # a command that makes a bundle: open the signer's certificate now
        signing = resolve_identity(signing, env)
    return Config(bundle=bundle, kubernetes=kube, sdn=sdn, network=network, node=node, release=release,
                  signing=signing, images=images, options=options, kit=tuple(kit.values()),
                  origin=KeyLines(doc.file, tuple(sorted(doc.lines.items()))))


def _source_date_epoch_from_env(probs: Problems, bundle: BundleSection, env: Mapping[str, str]) -> BundleSection:
    """SOURCE_DATE_EPOCH in the environment wins over bundle.source_date_epoch (reproducible-builds.org)."""
    raw = env.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return bundle
    if not raw.isdigit() or not raw.isascii():
        probs.items.append(f"SOURCE_DATE_EPOCH: {raw!r} (environment) must be a Unix time in whole seconds, "
                           "like 1700000000; unset it to use bundle.source_date_epoch or the tree's time")
        return bundle
    return dataclasses.replace(bundle, source_date_epoch=int(raw))


def _resolve_source(probs: Problems, kube: KubernetesSection, overrides: Overrides, env: Mapping[str, str],
                    cwd: Path) -> KubernetesSection:
    """Find and check the tree for source: build; check a version is given for source: release."""
    if kube.source != "build":
        if not (kube.version or kube.versions):
            probs.add("kubernetes.version", "source: release needs version (or versions, or --kube-version vX.Y.Z)")
        return kube
    if kube.versions:
        probs.add("kubernetes.versions", "many versions need source: release (binaries from a release)")
    root = overrides.kube_root or kube.root
    if root is None and env.get("KUBE_ROOT"):
        root = Path(env["KUBE_ROOT"])
    if root is None and env.get("GOPATH"):
        root = Path(env["GOPATH"].split(":")[0]) / "src" / "k8s.io" / "kubernetes"
    if root is None and overrides.tree_optional:
        return kube
    if root is None:
        probs.add("kubernetes.root", "no Kubernetes tree given: set kubernetes.root, $KUBE_ROOT, "
                  "or --kube-root DIR (or $GOPATH/src/k8s.io/kubernetes)")
        return kube
    root = (cwd / root).resolve()
    if not (root / "Makefile").is_file() and not (root / "build" / "root" / "Makefile").is_file():
        key = "--kube-root" if overrides.kube_root else "kubernetes.root"
        where = "" if overrides.kube_root else f"{probs.where(key)}: "
        probs.items.append(f"{where}{key}: {root} is not a Kubernetes source tree (no Makefile); "
                           "point it at the tree's top folder")
    return dataclasses.replace(kube, root=root)



def _check_runtime(probs: Problems, node: NodeSection, kube: KubernetesSection) -> None:
    """Check the runtime against a version known now; the build stage re-checks a detected one."""
    if node.bundle_runtime and node.runtime == DOCKER:
        probs.add("node.bundle_runtime", "bundles containerd, but node.runtime is docker; remove one of them")
    for v in [kube.version] if kube.version else kube.versions:
        try:
            version = KubeVersion.parse(v)
        except ValueError:
            continue  # already reported as not a version
        problem = runtime_problem(node.runtime, version)
        if problem:
            probs.add("node.runtime", problem)
        elif node.bundle_runtime and node.runtime is None and version.minor_key < (1, 24):
            probs.add("node.bundle_runtime", f"bundles containerd, but {v} runs docker by default; "
                      "set node.runtime: containerd to run it with containerd, or remove node.bundle_runtime")

