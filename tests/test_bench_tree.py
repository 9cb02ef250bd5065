"""The benchmarks' own Kubernetes-shaped tree honours the build contract (built for real)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import GoSeed
from kube_tree import build_env

from builder import config
from builder.bench import tree
from builder.sources import build

pytestmark = pytest.mark.go


def test_bench_tree_builds_with_the_build_stage(tmp_path: Path, go_std_seed: GoSeed) -> None:
    root = tree.write_tree(tmp_path / "kubernetes", build_env())
    go_std_seed.into(tmp_path / "cache")
    assert (root / "hack/lib/version.sh").is_file() and (root / "cmd/kubelet").is_dir()
    cfg = config.load(config.Overrides(kube_root=root, cache_dir=tmp_path / "cache", dist=tmp_path / "dist"),
                      build_env(), tmp_path)
    result = build.build(cfg, build_env())
    assert result.git_version == tree.TAG
    assert [b.name for b in result.binaries] == ["kubelet", "kube-proxy", "kubectl"]
    assert all(tree.TAG.encode() in b.path.read_bytes() for b in result.binaries)
