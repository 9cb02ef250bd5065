"""Build stage overhead against the same `make` run by hand, and a no-op rebuild against a cold one.

The tree is the Kubernetes-shaped test tree with generated packages added, so that a cold build
(an empty Go build cache) takes tens of seconds as a real component build does. Goals:
stage overhead at most 5% of make by hand; a no-op rebuild at most 5% of a cold build.
"""

from __future__ import annotations

import dataclasses
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
from .tree import commit_and_tag, write_tree

PACKAGES = 60
FUNCS = 250
ROUNDS = 3


def make_tree(dest: Path, env: Mapping[str, str]) -> Path:
    """The bench tree (`tree.py`) plus PACKAGES generated packages that every command imports."""
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

    by_hand: list[float] = []
    stage: list[float] = []
    for _ in range(ROUNDS):
        _fresh(root, gocache)
        start = time.perf_counter()
        subprocess.run(args, cwd=root, env=child_env(make_env), check=True, capture_output=True)  # as the stage's
        by_hand.append(time.perf_counter() - start)

        _fresh(root, gocache)
        shutil.rmtree(work / "cache", ignore_errors=True)
        start = time.perf_counter()
        build.build(bench_cfg, {**base_env, "PATH": make_env["PATH"]})
        stage.append(time.perf_counter() - start)

    noop: list[float] = []
    for _ in range(3):
        start = time.perf_counter()
        result = build.build(bench_cfg, {**base_env, "PATH": make_env["PATH"]})
        noop.append(time.perf_counter() - start)
        assert result.reused

    t_make, t_stage, t_noop = min(by_hand), min(stage), statistics.median(noop)
    overhead = (t_stage - t_make) / t_make
    noop_share = t_noop / t_stage
    ok = overhead <= 0.05 and noop_share <= 0.05 and t_make >= 20
    return ok, [
        f"tree: bench tree + {PACKAGES} generated packages; components {', '.join(bench_cfg.kubernetes.components)}",
        f"cold make by hand: {t_make:.2f} s (best of {ROUNDS}; goal: >= 20 s) {_mark(t_make >= 20)}",
        f"cold build stage:  {t_stage:.2f} s (best of {ROUNDS}); overhead {overhead:+.1%} (goal <= 5%) "
        f"{_mark(overhead <= 0.05)}",
        f"no-op rebuild:     {t_noop:.3f} s (median of 3) = {noop_share:.2%} of a cold build (goal <= 5%) "
        f"{_mark(noop_share <= 0.05)}",
    ]


def _mark(ok: bool) -> str:
    return "OK" if ok else "MISSED"

