"""`python -m builder publish`: put the bundles in dist/ on GitHub Releases; any re-run finishes the job.

First plan, with reads only: find each bundle's release (drafts are found by listing), compare
the assets already there with the local files, and refuse (before anything is written) what
must not be changed: an immutable published release, or a different asset in a published
release without --replace. Then act, one write at a time: create the release as a draft,
delete leftovers, upload, check every asset against the local file, and publish last, so a
release is never public with missing or wrong assets.

Each release carries its own bundle's files and `<stem>.SHA256SUMS` over them, never a checksum
list shared by several releases: publishing another version later, or the same one again, leaves
the others' releases as they are. A bundle whose files changed (a new tool version rewrites the
SBOM) is refused on a published release unless --replace; `--revision N` at bundle time makes a
new release instead.

`--dry-run` with no token (or with --offline) plans from dist/ alone and says what it could not
know; with a token it also reads GitHub, and writes nothing.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from ..bundle import verify
from ..bundle.manifest import dist_files as mf_dist_files
from ..bundle.manifest import sums_text
from ..config import Config
from ..config.model import TAG_RE
from ..errors import ConfigError, PublishError, VerifyError
from ..fsutil import atomic_write
from ..hashing import sha256_file
from ..http import RetryPolicy, clean_text
from ..report import Reporter
from . import github
from . import notes as notes_mod
from .github import GitHubClient, Json, Secret

log = logging.getLogger(__name__)

MANIFEST = "k/manifest.json"
SIDECARS = (".zip", ".zip.sha256", ".spdx.json", ".intoto.json")
SUMS_SUFFIX = ".SHA256SUMS"  # <stem>.SHA256SUMS: this bundle's files only, written by publish
_COMMITISH_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64}|[A-Za-z0-9][A-Za-z0-9._/-]{0,199})$")
_UPLOAD_ROUNDS = 3  # an upload met by leftovers of its own earlier attempts: delete them and try again


# --------------------------------------------------------------------------- what is local


@dataclass(frozen=True)
class LocalAsset:
    name: str
    path: Path
    size: int
    sha256: str

    @property
    def digest(self) -> str:
        return f"sha256:{self.sha256}"


@dataclass(frozen=True)
class Bundle:
    stem: str
    tag: str
    title: str
    notes: str
    assets: tuple[LocalAsset, ...]


# --------------------------------------------------------------------------- what to do


@dataclass
class Step:
    kind: str  # skip | upload | redo (delete a leftover, upload again) | replace (--replace) | refuse
    asset: LocalAsset
    remote: Json | None
    why: str


@dataclass
class Plan:
    bundle: Bundle
    release: Json | None
    steps: list[Step]
    publish: bool
    target: str | None = None  # commit for a tag that does not exist yet
    refusals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"release {self.bundle.tag}"


@dataclass(frozen=True)
class PublishFlags:
    """What `publish` is asked to do, resolved once (`resolve`): --draft already merged with
    release.draft, and the commit a new release's tag is made at already checked."""

    draft: bool = False
    replace: bool = False
    dry_run: bool = False
    sigstore: bool = False
    target: str | None = None  # --target-commitish, else $GITHUB_SHA; None: GitHub's default branch
    notes: Path | None = None  # --notes: the release notes template (None: the built-in one)
    zips: tuple[Path, ...] = ()  # bundles named on the command line (else: those dist/artifacts.json lists)

    @classmethod
    def resolve(cls, cfg: Config, env: Mapping[str, str], *, draft: bool = False, replace: bool = False,
                dry_run: bool = False, sigstore: bool = False, target_commitish: str | None = None,
                notes: Path | None = None, zips: tuple[Path, ...] = ()) -> PublishFlags:
        return cls(draft=draft or cfg.release.draft, replace=replace, dry_run=dry_run, sigstore=sigstore,
                   target=read_target(target_commitish, env), notes=notes, zips=zips)


def publish_dist(
    cfg: Config,
    env: Mapping[str, str],
    opts: PublishFlags,
    *,
    reporter: Reporter | None = None,
    policy: RetryPolicy | None = None,
    session: requests.Session | None = None,
    child_env: Mapping[str, str] | None = None,
) -> None:
    """Publish every bundle in dist/ as its own release; PublishError unless each one is complete.

    `env` is where the token comes from; `child_env` (the environment without secrets) is what the
    signature checker of the verification before it runs in. The plan and each release's summary
    are the reporter's results.
    """
    reporter = reporter or Reporter()
    sig = verify.SignatureOptions(env=child_env or {})
    zips = select_bundles(cfg.options.dist, opts.zips, reporter)
    if opts.dry_run and (cfg.options.offline or not _token_given(env)):
        plan_offline(cfg, opts, reporter, sig, zips)
        return
    if cfg.options.offline:
        msg = "--offline never touches the network, and publishing is all network: drop --offline, or add --dry-run"
        raise ConfigError(msg)
    token = read_token(env)
    repo = cfg.release.repo
    if not repo:
        msg = "no target repository: set release.repo: owner/name in bundle.yaml, or GITHUB_REPOSITORY"
        raise ConfigError(msg)
    endpoints = github.endpoints_for(env.get("GITHUB_API_URL") or github.DEFAULT_API)
    dist = cfg.options.dist
    if opts.sigstore and not opts.dry_run:
        from .sigstore_sign import check_ready

        check_ready(zips, env)  # refused before the verification, not after
    with tempfile.TemporaryDirectory(prefix="k8swb-publish-") as work:
        # What is verified, hashed and uploaded is this private copy: a process that rewrites a
        # file of dist/ after the check can no longer get its bytes published.
        copy = snapshot(dist, Path(work))
        chosen = copy_named(zips, dist, copy)
        check_dist(copy, sig, shown=dist, zips=chosen)
        if opts.sigstore and not opts.dry_run:  # signs what was just verified; its .sigstore.json is uploaded too
            _sign_copy(copy, dist, env, chosen)
        bundles = read_bundles(cfg, Path(work), chosen, notes_mod.load(opts.notes))
        client = GitHubClient(endpoints, repo, token, policy or RetryPolicy(), session=session,
                              read_only=opts.dry_run)
        try:
            _publish(client, cfg, bundles, opts, reporter)
        finally:
            client.close()


def _publish(client: GitHubClient, cfg: Config, bundles: list[Bundle], opts: PublishFlags,
             reporter: Reporter) -> None:
    repo = client.repo
    plans = [plan_bundle(client, b, draft=opts.draft, replace=opts.replace, target=opts.target) for b in bundles]
    _print_plan(plans, reporter, repo, dry_run=opts.dry_run)
    if opts.dry_run:
        reporter.emit(_plan_json(repo, [(p.bundle, p.release is not None, [(s.asset, s.kind) for s in p.steps],
                                         p.publish) for p in plans], asked_github=True))
    refusals = [r for p in plans for r in p.refusals]
    if refusals:
        msg = "nothing was uploaded:\n  " + "\n  ".join(refusals)
        raise PublishError(msg)
    if opts.dry_run:
        return
    for plan in plans:  # each summary as soon as its release is complete
        done = carry_out(client, plan, cfg.release.prerelease, reporter)
        _print_summary(plan, *done, reporter)


def _token_given(env: Mapping[str, str]) -> bool:
    return any(env.get(key, "").strip() for key in ("GH_TOKEN", "GITHUB_TOKEN"))


def read_target(option: str | None, env: Mapping[str, str]) -> str | None:
    """The commit (or branch) a new release's tag is created at: --target-commitish, else $GITHUB_SHA."""
    source, value = ("--target-commitish", option) if option else ("GITHUB_SHA", env.get("GITHUB_SHA", ""))
    value = value.strip()
    if not value:
        return None
    if not _COMMITISH_RE.match(value) or ".." in value or value.endswith((".lock", "/", ".")):
        msg = (f"{source}={value!r} is neither a full commit id (40 hex digits) nor a branch name; "
               "give the commit the bundles were built from")
        raise ConfigError(msg)
    return value


def read_token(env: Mapping[str, str]) -> Secret:
    for key in ("GH_TOKEN", "GITHUB_TOKEN"):
        value = env.get(key, "").strip()
        if not value:
            continue
        if not all(33 <= ord(c) < 127 for c in value):
            msg = f"{key} holds characters no GitHub token has (spaces, control or non-ASCII); set it again"
            raise ConfigError(msg)
        return Secret(value)
    msg = ("no GitHub token: set GH_TOKEN or GITHUB_TOKEN in the environment (a token with contents:write "
           "on the repository); it is never read from the command line or the configuration")
    raise ConfigError(msg)


def select_bundles(dist: Path, named: tuple[Path, ...], reporter: Reporter) -> list[Path]:
    """The bundles to publish: those named, else those dist/artifacts.json lists (the last bundle
    run's); every other file of dist/ is named as ignored, never uploaded and never an error."""
    from ..bundle import dist as dist_mod

    if named:
        missing = [str(z) for z in named if not z.is_file()]
        if missing:
            msg = f"no such bundle: {', '.join(missing)}; name bundle zips (or none for the last run's)"
            raise ConfigError(msg)
        return sorted(z.resolve() for z in named)
    selected = dist_mod.bundles(dist) if dist.is_dir() else None
    if selected is None:
        msg = (f"{dist} has no {dist_mod.ARTIFACTS}, which lists what a `bundle` run wrote: run bundle (with "
               "--dist to this folder), or name the bundles to publish")
        raise PublishError(msg)
    zips, others = selected
    for name in others:
        reporter.warning(f"ignored: {dist / name} (not an artifact of the last bundle run; "
                         "publish it by naming it)")
    return zips


def check_dist(dist: Path, sig: verify.SignatureOptions | None = None, *, shown: Path | None = None,
               zips: list[Path] | None = None) -> None:
    """The same checks as `nox -s verify`: nothing is uploaded from a dist/ that fails them.

    `shown` is the folder named in the message when `dist` is publish's private copy of it; `zips`
    the bundles to check (default: those artifacts.json lists)."""
    problems = [p.replace(str(dist), str(shown or dist)) for p in verify.check_dist(dist, sig, zips)]
    if problems:
        msg = f"{shown or dist} failed verification, so nothing was published:\n  " + "\n  ".join(problems)
        raise VerifyError(msg)


def snapshot(dist: Path, work: Path) -> Path:
    """dist/'s files (as `SHA256SUMS` lists them, and itself) copied into `work`/dist, a private folder."""
    copy = work / "dist"
    copy.mkdir(mode=0o700)
    if not dist.is_dir():
        return copy / "missing"  # check_dist names what is missing (as `shown`)
    files = [*mf_dist_files(dist), *([dist / "SHA256SUMS"] if (dist / "SHA256SUMS").is_file() else [])]
    for path in files:
        try:
            shutil.copyfile(path, copy / path.name)
        except OSError as err:
            msg = f"cannot copy {path} to publish it: {err.strerror or err}; nothing was published"
            raise PublishError(msg) from err
    return copy


def copy_named(zips: list[Path], dist: Path, copy: Path) -> list[Path]:
    """The chosen bundles in the private copy: those of dist/ are there already; a bundle named from
    elsewhere is copied in with the files beside it."""
    from ..bundle import dist as dist_mod

    out = []
    for z in zips:
        if z.parent.resolve() != dist.resolve():
            stem = z.name.removesuffix(".zip")
            for suffix, _kind in (*dist_mod.SIDECARS, (".zip.sigstore.json", "")):
                if (z.parent / f"{stem}{suffix}").is_file():
                    shutil.copyfile(z.parent / f"{stem}{suffix}", copy / f"{stem}{suffix}")
        out.append(copy / z.name)
    return out


def _sign_copy(copy: Path, dist: Path, env: Mapping[str, str], zips: list[Path] | None = None) -> None:
    """Sign the copy's zips with sigstore; the new signatures (and SHA256SUMS) go back to dist/ too."""
    from ..bundle.pack import write_dist_sums
    from .sigstore_sign import sign_zips

    written = sign_zips(zips if zips is not None else sorted(copy.glob("*.zip")), env)
    if written:
        write_dist_sums(copy)
        for path in [*written, copy / "SHA256SUMS"]:
            atomic_write(dist / path.name, path.read_bytes())


# --------------------------------------------------------------------------- reading dist/


def read_bundles(cfg: Config, work: Path, zips: list[Path] | None = None,
                 notes: tuple[str, str] | None = None) -> list[Bundle]:
    """The bundles to publish, each with `<stem>.SHA256SUMS` over its own files written into `work`.
    A dirty or snapshot bundle is refused: no commit describes what it holds."""
    dist = cfg.options.dist
    zips = sorted(dist.glob("*.zip")) if zips is None else zips
    if not zips:
        msg = f"no bundle in {cfg.options.dist}: run `nox -s bundle` first"
        raise PublishError(msg)
    bundles = [_bundle(z, cfg.release.tag, work, notes or notes_mod.load(None)) for z in zips]
    tags = [b.tag for b in bundles]
    if cfg.release.tag and len(bundles) > 1:
        msg = (f"release.tag {cfg.release.tag!r} names one release, but {cfg.options.dist} holds {len(bundles)} "
               "bundles; remove release.tag so each bundle gets its own tag <gitVersion>-<revision>")
        raise ConfigError(msg)
    if len(set(tags)) != len(tags):
        msg = f"two bundles in {cfg.options.dist} would share a tag ({', '.join(tags)}); keep one bundle per version"
        raise PublishError(msg)
    return bundles


def _bundle(zip_path: Path, tag: str | None, work: Path, notes: tuple[str, str]) -> Bundle:
    manifest = read_manifest(zip_path)
    refuse_unpublishable(zip_path, manifest)
    stem = zip_path.name[: -len(".zip")]
    git_version = _field(manifest, zip_path, "kubernetes", "gitVersion")
    revision = _field(manifest, zip_path, "bundle", "revision")
    tag = tag or f"{git_version}-{revision}"
    if not TAG_RE.match(tag):
        msg = f"{zip_path}: {MANIFEST}: tag {tag!r} made from gitVersion and revision is not a usable tag name"
        raise PublishError(msg)
    dist = zip_path.parent
    suffixes = SIDECARS + ((".zip.sigstore.json",) if (dist / f"{stem}.zip.sigstore.json").is_file() else ())
    files = tuple(_local(dist / f"{stem}{suffix}", f"{stem}{suffix}") for suffix in suffixes)
    sums_name = f"{stem}{SUMS_SUFFIX}"
    atomic_write(work / sums_name, sums_text((a.name, a.sha256) for a in files))
    assets = (*files, _local(work / sums_name, sums_name))
    title = f"{_field(manifest, zip_path, 'bundle', 'name')} {git_version} (revision {revision})"
    return Bundle(stem, tag, title, notes_mod.render(notes, manifest, [(a.name, a.sha256) for a in assets]), assets)


def refuse_unpublishable(zip_path: Path, manifest: Mapping[str, Any]) -> None:
    """A snapshot bundle, or one built from a tree with uncommitted changes, is never published."""
    bundle, kube = manifest.get("bundle"), manifest.get("kubernetes")
    if isinstance(bundle, dict) and bundle.get("snapshot") is True:
        msg = (f"{zip_path.name} is a snapshot bundle (--snapshot): it is never published; "
               "bundle a committed tree without --snapshot")
        raise PublishError(msg)
    if isinstance(kube, dict) and kube.get("treeState") == "dirty":
        msg = (f"{zip_path.name} was built from a Kubernetes tree with uncommitted changes "
               f"({kube.get('gitVersion')}): no commit describes it, so it is not published; commit the "
               "changes and bundle again")
        raise PublishError(msg)


def read_manifest(zip_path: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(zip_path) as zf:
            data = json.loads(zf.read(MANIFEST))
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as err:
        msg = f"{zip_path}: cannot read {MANIFEST} ({err}); rebuild the bundle with `nox -s bundle`"
        raise PublishError(msg) from err
    if not isinstance(data, dict):
        msg = f"{zip_path}: {MANIFEST} is not a JSON object; rebuild the bundle"
        raise PublishError(msg)
    return data


def _field(manifest: Mapping[str, Any], zip_path: Path, section: str, key: str) -> str:
    value = manifest.get(section, {}).get(key) if isinstance(manifest.get(section), dict) else None
    if value is None or value == "":
        msg = f"{zip_path}: {MANIFEST}: {section}.{key} is missing; rebuild the bundle"
        raise PublishError(msg)
    return str(value)


def _local(path: Path, name: str) -> LocalAsset:
    try:
        digest = sha256_file(path)
    except FileNotFoundError as err:
        msg = f"{path} is missing: `nox -s bundle` writes it beside the zip; run it again"
        raise PublishError(msg) from err
    return LocalAsset(name, path, path.stat().st_size, digest)


def release_notes(manifest: Mapping[str, Any], assets: tuple[LocalAsset, ...]) -> str:
    """The built-in release notes of a bundle."""
    return notes_mod.render(notes_mod.load(None), manifest, [(a.name, a.sha256) for a in assets])


# --------------------------------------------------------------------------- planning (reads only)


def plan_bundle(client: GitHubClient, bundle: Bundle, *, draft: bool, replace: bool,
                target: str | None = None) -> Plan:
    release = client.find_release(bundle.tag)
    remote = {str(a.get("name")): a for a in client.list_assets(int(release["id"]))} if release else {}
    published = release is not None and not release.get("draft", False)
    immutable = published and release is not None and release.get("immutable") is True
    steps = [_step(a, remote.get(a.name), published=published, replace=replace) for a in bundle.assets]
    # A published release's tag exists already: GitHub would ignore a target, so none is sent.
    plan = Plan(bundle, release, steps, publish=not draft and not published, target=None if published else target)
    changes = [s for s in steps if s.kind != "skip"]
    if immutable and changes:
        plan.refusals.append(
            f"{plan.label} is published and immutable: its assets can no longer change, and "
            f"{', '.join(s.asset.name for s in changes)} would have to; publish the bundle under a new revision "
            "(bundle again with --revision N, or bundle.revision)")
    elif immutable:
        plan.notes.append(f"{plan.label} is published and immutable; every asset already matches")
    plan.refusals += [f"{plan.label}: {s.why}" for s in steps if s.kind == "refuse"]
    if draft and published:
        plan.notes.append(f"{plan.label} is already published; --draft cannot take it back")
    ours = {a.name for a in bundle.assets}
    plan.notes += [f"{plan.label}: asset {clean_text(n)!r} is not part of this bundle; left as is"
                   for n in sorted(remote) if n not in ours]
    return plan


def _step(local: LocalAsset, remote: Json | None, *, published: bool, replace: bool) -> Step:
    if remote is None:
        return Step("upload", local, None, "not there yet")
    verdict, why = compare(remote, local)
    if verdict == "same":
        return Step("skip", local, remote, why)
    if verdict == "leftover" or not published:
        return Step("redo", local, remote, why)
    if replace:
        return Step("replace", local, remote, f"{why}; --replace given")
    return Step("refuse", local, remote,
                f"{local.name} on the published release differs from the local file ({why}); "
                "pass --replace to replace it, or bundle again with --revision N for a new release")


def compare(remote: Json, local: LocalAsset) -> tuple[str, str]:
    """("same" | "leftover" | "different", why): an asset on GitHub against the local file."""
    state = remote.get("state")
    if state != "uploaded":
        return "leftover", f"left in state {clean_text(str(state), 40)!r} by a failed upload"
    size = remote.get("size")
    if size != local.size:
        return "different", f"size {clean_text(str(size), 40)} on GitHub, {local.size} here"
    digest = remote.get("digest")
    if digest and str(digest).lower() != local.digest:
        return "different", f"digest {clean_text(str(digest), 80)} on GitHub, {local.digest} here"
    return "same", "same size and digest" if digest else "same size (GitHub gave no digest)"


# --------------------------------------------------------------------------- carrying it out


@dataclass(frozen=True)
class Done:
    name: str
    how: str  # uploaded | skipped | replaced
    url: str


def carry_out(client: GitHubClient, plan: Plan, prerelease: bool, reporter: Reporter) -> tuple[Json, list[Done]]:
    bundle = plan.bundle
    fields: dict[str, Any] = {"tag_name": bundle.tag, "name": bundle.title, "body": bundle.notes, "draft": True,
                              "prerelease": prerelease}
    if plan.target:
        fields["target_commitish"] = plan.target
    release = plan.release or client.create_release(fields)
    if plan.release is None:
        log.info("created draft %s (id %s)", plan.label, clean_text(str(release.get("id"))))
    done: list[Done] = []
    for step in plan.steps:
        if step.kind == "skip":
            assert step.remote is not None
            done.append(Done(step.asset.name, "skipped", str(step.remote.get("browser_download_url", ""))))
            continue
        if step.remote is not None:
            log.info("deleting %s from %s: %s", step.asset.name, plan.label, step.why)
            client.delete_asset(int(step.remote["id"]))
        bar = reporter.meter(f"  {step.asset.name}")
        try:
            asset = upload(client, release, step.asset, bar.update)
        finally:
            bar.close()
        how = "replaced" if step.kind == "replace" else "uploaded"
        done.append(Done(step.asset.name, how, str(asset.get("browser_download_url", ""))))
    _check_all(client, release, bundle)
    if plan.publish:
        # A draft's tag is only made when it is published: the target goes with this request too.
        publish_fields: dict[str, Any] = {"draft": False, "name": bundle.title, "body": bundle.notes,
                                          "prerelease": prerelease}
        if plan.target:
            publish_fields["target_commitish"] = plan.target
        release = client.update_release(int(release["id"]), publish_fields)
        if release.get("draft", True):
            msg = f"{plan.label}: GitHub did not publish the release; run publish again"
            raise PublishError(msg)
    elif any(d.how == "replaced" for d in done) and release.get("body") != bundle.notes:
        # The notes list every asset's checksum: replaced assets need the new ones.
        release = client.update_release(int(release["id"]), {"body": bundle.notes})
    return release, done


def upload(client: GitHubClient, release: Json, local: LocalAsset, progress: github.Progress | None) -> Json:
    """Upload one asset and check it; leftovers of this run's own failed attempts are deleted first."""
    for _ in range(_UPLOAD_ROUNDS):
        remote: Json | None
        try:
            remote = client.upload_asset(release, local.path, local.name, progress=progress)
        except github.AssetExists:
            # An earlier attempt reached GitHub before failing: see what it left.
            remote = _remote_asset(client, release, local.name)
            if remote is not None and compare(remote, local)[0] == "different" and not release.get("draft"):
                msg = (f"{local.name} appeared on the published release while uploading, with other content; "
                       "is another publisher running? Run publish again (with --replace to overwrite it)")
                raise PublishError(msg) from None
        if remote is None:
            continue
        verdict, why = compare(remote, local)
        if verdict == "same":
            return remote
        log.warning("%s on GitHub is not right (%s); deleting it and uploading again", local.name, why)
        client.delete_asset(int(remote["id"]))
    msg = (f"{local.name}: uploading failed {_UPLOAD_ROUNDS} times over; "
           "run publish again, it finishes the job")
    raise PublishError(msg)


def _remote_asset(client: GitHubClient, release: Json, name: str) -> Json | None:
    return next((a for a in client.list_assets(int(release["id"])) if a.get("name") == name), None)


def _check_all(client: GitHubClient, release: Json, bundle: Bundle) -> None:
    """Before publishing, read every asset back from GitHub and compare it with the local file."""
    remote = {str(a.get("name")): a for a in client.list_assets(int(release["id"]))}
    problems = []
    for local in bundle.assets:
        if local.name not in remote:
            problems.append(f"{local.name} is missing")
            continue
        verdict, why = compare(remote[local.name], local)
        if verdict != "same":
            problems.append(f"{local.name}: {why}")
    if problems:
        msg = (f"release {bundle.tag} was not published: its assets do not match dist/:\n  "
               + "\n  ".join(problems) + "\nrun publish again to repair them")
        raise PublishError(msg)


# --------------------------------------------------------------------------- output


_VERBS = {
    "skip": ("skip", "would skip"),
    "upload": ("upload", "would upload"),
    "redo": ("delete and upload again", "would delete and upload again"),
    "replace": ("replace", "would replace"),
    "refuse": ("REFUSE", "would refuse"),
}


def _print_plan(plans: list[Plan], reporter: Reporter, repo: str, *, dry_run: bool) -> None:
    would = "would " if dry_run else ""
    for plan in plans:
        rel = plan.release
        at = f" at commit {plan.target}" if plan.target else ""
        if rel is None:
            reporter.result(f"{plan.label} in {repo}: {would}create it as a draft{at}, named {plan.bundle.title!r}")
        else:
            state = "draft" if rel.get("draft") else "published"
            reporter.result(f"{plan.label} in {repo}: found ({state}, id {clean_text(str(rel.get('id')))})")
        for s in plan.steps:
            verb = _VERBS[s.kind][1 if dry_run else 0]
            reporter.result(f"  {verb:<30} {s.asset.name} ({s.asset.size} bytes): {s.why}")
        if plan.publish:
            reporter.result(f"  {would}publish {plan.label}")
        for note in plan.notes:
            reporter.result(f"  note: {note}")
        if dry_run:
            _show_notes(plan.bundle, reporter)
    if dry_run:
        reporter.result("dry run: nothing was written")


def _show_notes(bundle: Bundle, reporter: Reporter) -> None:
    reporter.result(f"  release notes of {bundle.tag}:")
    for line in bundle.notes.splitlines():
        reporter.result(f"    | {line}")


def _plan_json(repo: str, releases: list[tuple[Bundle, bool | None, list[tuple[LocalAsset, str]], bool]], *,
               asked_github: bool) -> dict[str, Any]:
    """`publish --dry-run --json`: each release, whether it exists (null: GitHub not asked), its assets
    and what would happen to each, and its notes."""
    return {"dryRun": True, "repo": repo, "askedGitHub": asked_github, "releases": [
        {"tag": b.tag, "title": b.title, "exists": exists, "publish": publish, "notes": b.notes,
         "assets": [{"name": a.name, "size": a.size, "sha256": a.sha256, "action": action} for a, action in steps]}
        for b, exists, steps, publish in releases]}


def _print_summary(plan: Plan, release: Json, assets: list[Done], reporter: Reporter) -> None:
    state = "draft" if release.get("draft") else "published"
    reporter.result(f"{plan.label} ({state}): {clean_text(str(release.get('html_url', '')))}")
    for d in assets:
        reporter.result(f"  {d.how:<9} {d.name}  {clean_text(d.url)}")


# --------------------------------------------------------------------------- a dry run without GitHub


def plan_offline(cfg: Config, opts: PublishFlags, reporter: Reporter,
                 sig: verify.SignatureOptions | None = None, zips: list[Path] | None = None) -> None:
    """`publish --dry-run` with no token or --offline: what dist/ would become, and what only GitHub can tell."""
    why = "--offline" if cfg.options.offline else "no token in GH_TOKEN or GITHUB_TOKEN"
    repo = cfg.release.repo or "(repository unknown: set release.repo or GITHUB_REPOSITORY)"
    target, draft, replace = opts.target, opts.draft, opts.replace
    check_dist(cfg.options.dist, sig, zips=zips)
    with tempfile.TemporaryDirectory(prefix="k8swb-publish-") as work:
        bundles = read_bundles(cfg, Path(work), zips, notes_mod.load(opts.notes))
    reporter.result(f"dry run from {cfg.options.dist} alone ({why}): GitHub was not asked")
    at = f" at commit {target}" if target else ""
    for b in bundles:
        reporter.result(f"release {b.tag} in {repo}: if it does not exist, would create it as a draft{at}, named "
                        f"{b.title!r}")
        for a in b.assets:
            reporter.result(f"  would upload (unless already there) {a.name} ({a.size} bytes, sha256 {a.sha256})")
        reporter.result(f"  would {'leave it a draft' if draft else f'publish release {b.tag}'}")
        _show_notes(b, reporter)
    reporter.emit(_plan_json(repo, [(b, None, [(a, "upload unless already there") for a in b.assets], not draft)
                                    for b in bundles], asked_github=False))
    reporter.result("could not know without GitHub: whether each release exists (draft, published or immutable), "
                    "which assets it holds and whether they match these; so which uploads would be skipped or "
                    "redone, and whether a published release with different assets would be "
                    + ("replaced (--replace)" if replace else "refused (pass --replace, or bundle with --revision N)"))
    reporter.result("dry run: nothing was written")
