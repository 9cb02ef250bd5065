"""A small Kubernetes-shaped tree for the benchmarks, written from this module (no test files needed).

It honours the build contract the build stage relies on: `make WHAT="cmd/kubelet ..."
KUBE_BUILD_PLATFORMS=windows/amd64` compiles every target in one `go build`, stamps the version
from KUBE_GIT_VERSION (and buildDate from SOURCE_DATE_EPOCH) with -ldflags -X, and places the
outputs in _output/local/bin/<os>/<arch>/ with rsync. hack/lib/version.sh and cmd/kubelet are
there, as in every real tree.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from ..run import child_env

GIT_IDENTITY = ("GIT_AUTHOR_*", "GIT_COMMITTER_*")  # what `git commit` needs, beyond run.BASE_VARS

GO_VERSION = "1.25.5"
TAG = "v1.37.0"
COMPONENTS = ("kubelet", "kube-proxy", "kubectl", "kubeadm")

_MAKEFILE = """\
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := all
WHAT ?=

.PHONY: all
all:
\thack/make-rules/build.sh $(WHAT)
"""

_BUILD_SH = """\
#!/usr/bin/env bash
set -o errexit -o nounset -o pipefail
KUBE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "${KUBE_ROOT}/hack/lib/version.sh"
cd "${KUBE_ROOT}"
export GOTOOLCHAIN=${GOTOOLCHAIN:-local} GOPROXY=off GOFLAGS="${GOFLAGS:-} -mod=mod" CGO_ENABLED=0
echo "+++ Using $(go env GOVERSION)"
ldflags=$(kube::version::ldflags)
for platform in ${KUBE_BUILD_PLATFORMS}; do
  os=${platform%/*}; arch=${platform#*/}
  echo "+++ Building go targets for ${platform}: $*"
  stage="_output/local/go/bin/${os}_${arch}"; out="_output/local/bin/${os}/${arch}"
  mkdir -p "${stage}" "${out}"
  pkgs=(); for t in "$@"; do pkgs+=("./${t}"); done
  GOOS=${os} GOARCH=${arch} go build -trimpath -o "${stage}/" -ldflags "-s -w ${ldflags} ${GOLDFLAGS:-}" "${pkgs[@]}"
  rsync -a "${stage}/" "${out}/"
done
"""

_VERSION_SH = """\
#!/usr/bin/env bash
kube::version::ldflags() {
  local build_date pkg=k8s.io/component-base/version
  build_date=$(date ${SOURCE_DATE_EPOCH:+"--date=@${SOURCE_DATE_EPOCH}"} -u +'%Y-%m-%dT%H:%M:%SZ')
  echo "-X '${pkg}.gitVersion=${KUBE_GIT_VERSION}' -X '${pkg}.gitCommit=${KUBE_GIT_COMMIT:-}'" \\
       "-X '${pkg}.gitTreeState=${KUBE_GIT_TREE_STATE:-}' -X '${pkg}.buildDate=${build_date}'"
}
"""

_VERSION_GO = """\
// Package version holds the values hack/lib/version.sh stamps with -ldflags -X.
package version

var (
\tgitVersion   = "v0.0.0-master"
\tgitCommit    = ""
\tgitTreeState = ""
\tbuildDate    = "1970-01-01T00:00:00Z"
)

// Get returns the stamped version.
func Get() string { return gitVersion + " " + gitCommit + " " + gitTreeState + " " + buildDate }
"""

_NODE_GO = """\
// Package node is shared by every command, as Kubernetes' packages are.
package node

import (
\t"fmt"

\t"k8s.io/component-base/version"
)

// Main prints the component's name and version.
func Main(name string) { fmt.Println(name, version.Get()) }
"""


def files() -> dict[str, str]:
    """The tree's files: path -> text."""
    out = {
        "Makefile": _MAKEFILE,
        ".go-version": GO_VERSION + "\n",
        ".gitignore": "/_output/\n",
        "go.mod": ("module k8s.io/kubernetes\n\ngo 1.24\n\nrequire k8s.io/component-base v0.0.0\n\n"
                   "replace k8s.io/component-base => ./staging/src/k8s.io/component-base\n"),
        "hack/make-rules/build.sh": _BUILD_SH,
        "hack/lib/version.sh": _VERSION_SH,
        "staging/src/k8s.io/component-base/go.mod": "module k8s.io/component-base\n\ngo 1.24\n",
        "staging/src/k8s.io/component-base/version/version.go": _VERSION_GO,
        "pkg/node/node.go": _NODE_GO,
    }
    for name in COMPONENTS:
        out[f"cmd/{name}/main.go"] = (f"// Command {name} stands in for the real one.\npackage main\n\n"
                                      f'import "k8s.io/kubernetes/pkg/node"\n\nfunc main() {{ node.Main("{name}") }}\n')
    return out


def write_tree(dest: Path, env: Mapping[str, str], *, git: bool = True) -> Path:
    """Write the tree to `dest` and, with `git`, commit it and tag it TAG (git runs in `env`)."""
    for rel, text in files().items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if rel.endswith(".sh"):
            path.chmod(0o755)
    if git:
        commit_and_tag(dest, env)
    return dest


def commit_and_tag(dest: Path, base: Mapping[str, str], tag: str = TAG) -> None:
    """Commit everything in `dest` (made a git repository first when it is not one) and tag it `tag`
    (what `git describe` reads); git runs in `base`."""
    env = {**base, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}
    steps = [] if (dest / ".git").exists() else [["init", "-q", "-b", "main"]]
    for args in [*steps, ["add", "-A"], ["commit", "-q", "-m", f"bench {tag}"], ["tag", tag]]:
        subprocess.run(["git", "-C", str(dest), *args], check=True, env=child_env(env, GIT_IDENTITY),
                       capture_output=True)
