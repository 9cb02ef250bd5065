"""The build stage against what it is compared to, on a Kubernetes-shaped tree with real compile work.

The tree is the bench tree (`tree.py`) with PACKAGES generated packages that every command imports,
so that a cold build (an empty Go build cache) takes tens of seconds as a real component build does.
Three comparisons, each with its goal:

- stage overhead: the cold build stage against the same `make` run by hand (at most 5% more);
- a no-op rebuild against a cold build (at most 5% of it);
- a patch release: the tree at one tag, then at the next (PATCH_FILES files changed across as many
  packages, the version stamp new), each from a fresh clone as the release workflow makes one, the
  second with the Go build cache the first left (`builder.sources.gocache`): warm over cold at most 0.2.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from ..config import Config
from ..run import child_env
from ..sources import build
from ..sources.toolchain import provision, requirement
from .tree import TAG, commit_and_tag, write_tree

PACKAGES = 400
FUNCS = 60
ROUNDS = 3
PATCH_ROUNDS = 2
PATCH_FILES = 36
NEXT_TAG = "v1.37.1"
PATCH_GOAL = 0.2


def make_tree(dest: Path, env: Mapping[str, str]) -> Path:
    """The bench tree (`tree.py`) plus PACKAGES generated packages that every command imports, tagged."""
    write_tree(dest, env, git=False)
    imports = []
    for p in range(PACKAGES):
        pkg = dest / "pkg" / "generated" / f"p{p:03d}"
        pkg.mkdir(parents=True)
        body = [f"// Package p{p:03d} is generated load for the build benchmark.", f"package p{p:03d}", "",
                'import "fmt"', ""]
        for f in range(FUNCS):
            body += [
                f"func F{f}(xs []int, m map[string]int) int {{",
                "\ttotal := 0",
                "\tfor i, x := range xs {",
                f"\t\tif x%{f + 2} == 0 {{ total += i * x }} else {{ total -= x }}",
                '\t\tm[fmt.Sprintf("k%d", i)] += total',
                "\t}",
                "\treturn total",
                "}",
                "",
            ]
        (pkg / "gen.go").write_text("\n".join(body), encoding="utf-8")
        imports.append(f'\t_ "k8s.io/kubernetes/pkg/generated/p{p:03d}"')
    (dest / "pkg" / "node" / "generated.go").write_text(
        "package node\n\nimport (\n" + "\n".join(imports) + "\n)\n", encoding="utf-8")
    commit_and_tag(dest, env)
    return dest


def patch_release(root: Path, env: Mapping[str, str]) -> None:
    """The next tag: a fix in PATCH_FILES files spread over the generated packages, committed and tagged."""
    step = PACKAGES // PATCH_FILES
    for n in range(PATCH_FILES):
        gen = root / "pkg" / "generated" / f"p{n * step:03d}" / "gen.go"
        text = gen.read_text(encoding="utf-8")
        gen.write_text(text.replace("\ttotal := 0\n", "\ttotal := 1 // patch: start from one\n", 1), encoding="utf-8")
    commit_and_tag(root, env, NEXT_TAG)


def _fresh(root: Path, gocache: Path) -> None:
    shutil.rmtree(root / "_output", ignore_errors=True)
    shutil.rmtree(gocache, ignore_errors=True)
    gocache.mkdir(parents=True)


def run(cfg: Config, env: Mapping[str, str]) -> tuple[bool, list[str]]:
    work = Path(tempfile.mkdtemp(prefix="build-bench-", dir=cfg.options.cache_dir.parent
                                 if cfg.options.cache_dir.parent.is_dir() else None))
    try:
        return _measure(cfg, env, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(cfg: Config, env: Mapping[str, str], work: Path) -> tuple[bool, list[str]]:
    root = make_tree(work / "kubernetes", env)
    gocache = work / "gocache"
    bench_cfg = dataclasses.replace(
        cfg,
        kubernetes=dataclasses.replace(cfg.kubernetes, source="build", root=root, version=None, versions=()),
        options=dataclasses.replace(cfg.options, cache_dir=work / "cache"),
    )
    go = provision(requirement(root, None), cfg.options.cache_dir, env, cfg.options.offline)
    tree = build.detect_version(root, None, env)
    base_env = {**env, "GOCACHE": str(gocache)}
    make_env = build.make_env(base_env, go, bench_cfg.kubernetes, tree, tree.commit_time)
    args = build.make_args(bench_cfg.kubernetes)
    stage_env = {**base_env, "PATH": make_env["PATH"]}

    by_hand: list[float] = []
    stage: list[float] = []
    for _ in range(ROUNDS):
        _fresh(root, gocache)
        start = time.perf_counter()
        subprocess.run(args, cwd=root, env=child_env(make_env), check=True, capture_output=True)  # as the stage's
        by_hand.append(time.perf_counter() - start)

        _fresh(root, gocache)
        shutil.rmtree(work / "cache", ignore_errors=True)  # the kept Go build cache with it
        start = time.perf_counter()
        build.build(bench_cfg, stage_env)
        stage.append(time.perf_counter() - start)

    noop: list[float] = []
    for _ in range(3):
        start = time.perf_counter()
        result = build.build(bench_cfg, stage_env)
        noop.append(time.perf_counter() - start)
        assert result.reused

    patch_release(root, env)
    cold, warm = _patch_builds(bench_cfg, stage_env, root, work)

    t_make, t_stage, t_noop = min(by_hand), min(stage), statistics.median(noop)
    overhead = (t_stage - t_make) / t_make
    noop_share = t_noop / t_stage
    patch_share = warm / cold
    ok = overhead <= 0.05 and noop_share <= 0.05 and t_make >= 20 and patch_share <= PATCH_GOAL
    load = os.getloadavg()
    return ok, [
        f"tree: bench tree + {PACKAGES} generated packages; components {', '.join(bench_cfg.kubernetes.components)}; "
        f"{os.cpu_count()} cores, load average {load[0]:.2f} at the end",
        f"cold make by hand: {t_make:.2f} s (best of {ROUNDS}; goal: >= 20 s) {_mark(t_make >= 20)}",
        f"cold build stage:  {t_stage:.2f} s (best of {ROUNDS}); overhead {overhead:+.1%} (goal <= 5%) "
        f"{_mark(overhead <= 0.05)}",
        f"no-op rebuild:     {t_noop:.3f} s (median of 3) = {noop_share:.2%} of a cold build (goal <= 5%) "
        f"{_mark(noop_share <= 0.05)}",
        f"patch release, fresh clone each: {TAG} cold {cold:.2f} s, then {NEXT_TAG} "
        f"({PATCH_FILES} files in {PATCH_FILES} packages changed) warm {warm:.2f} s (best of {PATCH_ROUNDS})",
        f"warm/cold:         {patch_share:.3f} (goal <= {PATCH_GOAL}) {_mark(patch_share <= PATCH_GOAL)}",
    ]


def _patch_builds(cfg: Config, env: Mapping[str, str], repo: Path, work: Path) -> tuple[float, float]:
    """Best cold build of the first tag and best warm build of the next, each from a fresh clone."""
    cold: list[float] = []
    warm: list[float] = []
    for n in range(PATCH_ROUNDS):
        cache = work / f"patch-cache-{n}"  # empty: the first tag builds cold, and leaves the cache warm
        for tag, times in ((TAG, cold), (NEXT_TAG, warm)):
            clone = work / f"clone-{n}-{tag}"
            subprocess.run(["git", "clone", "-q", "--branch", tag, str(repo), str(clone)], check=True,
                           env=child_env(env), capture_output=True)
            tag_cfg = dataclasses.replace(cfg, kubernetes=dataclasses.replace(cfg.kubernetes, root=clone),
                                          options=dataclasses.replace(cfg.options, cache_dir=cache))
            start = time.perf_counter()
            result = build.build(tag_cfg, env)
            times.append(time.perf_counter() - start)
            assert result.git_version == tag
            assert not result.reused
            shutil.rmtree(clone)
    return min(cold), min(warm)


def _mark(ok: bool) -> str:
    return "OK" if ok else "MISSED"

