#!/usr/bin/env bash
# Render the node scripts for every network mode and runtime the tool accepts for one Kubernetes
# version, one folder each (<out>/<mode>__<runtime>/), for the Windows job's Pester tests.
# A combination the configuration refuses (exit 2, e.g. docker with 1.24 or later) is listed and
# left out; any other failure stops the job. Usage: render-variants.sh vX.Y.Z OUT_DIR
set -euo pipefail
version=$1
out=$2
modes=(host-gw l3 overlay flannel-vxlan flannel-host-gw)
runtimes=(containerd docker)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
rendered=0
for mode in "${modes[@]}"; do
  for runtime in "${runtimes[@]}"; do
    cfg="$work/$mode-$runtime.yaml"
    printf 'network:\n  mode: %s\nnode:\n  runtime: %s\n' "$mode" "$runtime" > "$cfg"
    rc=0
    k8s-windows-bundle render --config "$cfg" --kube-version "$version" --out "$out/${mode}__${runtime}" \
      > "$work/log" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
      rendered=$((rendered + 1))
      echo "rendered: $mode / $runtime"
    elif [ "$rc" -eq 2 ]; then
      echo "refused by the configuration for $version, left out: $mode / $runtime: $(tail -n 1 "$work/log")"
    else
      cat "$work/log"
      exit "$rc"
    fi
  done
done
if [ "$rendered" -lt 2 ]; then
  echo "only $rendered combination(s) rendered for $version: the Pester tests need the network modes" >&2
  exit 1
fi
