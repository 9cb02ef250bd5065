"""Which kubelet and kube-proxy flags (and feature gates) each Kubernetes minor version accepts.

One table per component, keyed by flag: the first minor that has it and the first minor WITHOUT
it, and the runtimes it belongs to. A removed flag makes the binary exit with `unknown flag`, and a
flag an older binary does not know yet does the same: `builder.node.flags` emits an argument only
inside its range, and `rules` refuses configured arguments outside it. Sources: the Kubernetes
CHANGELOGs (PR numbers below).
"""

from __future__ import annotations

from dataclasses import dataclass

from .runtimes import DOCKER, RUNTIMES

Minor = tuple[int, int]

OLDEST: Minor = (1, 9)
NEWEST: Minor = (1, 37)
# Windows CRI-containerd: alpha in 1.18 (KEP-1001), stable in 1.20; older kubelets only drive docker.
CONTAINERD_SINCE: Minor = (1, 18)


@dataclass(frozen=True)
class Flag:
    since: Minor = OLDEST  # first minor that has the flag
    until: Minor | None = None  # first minor WITHOUT it
    runtimes: tuple[str, ...] = RUNTIMES  # runtimes it is meaningful (and accepted) with
    why: str = ""  # source of the range

    def allows(self, minor: Minor, runtime: str) -> bool:
        return self.since <= minor and (self.until is None or minor < self.until) and runtime in self.runtimes


_DOCKERSHIM = Flag(until=(1, 24), runtimes=(DOCKER,), why="dockershim removed in 1.24 (#106907)")
_LOGS = Flag(until=(1, 26), why="klog flags removed in 1.26 (#112120); kube-log-runner replaces them")

KUBELET: dict[str, Flag] = {
    "--v": Flag(),
    "--hostname-override": Flag(),
    "--node-ip": Flag(),
    "--kubeconfig": Flag(),
    "--bootstrap-kubeconfig": Flag(),
    "--config": Flag(why="kubelet config file: beta from 1.10, what kubeadm writes"),
    "--cert-dir": Flag(),
    "--cluster-dns": Flag(),
    "--cluster-domain": Flag(),
    "--resolv-conf": Flag(),
    "--cgroups-per-qos": Flag(),
    "--enforce-node-allocatable": Flag(),
    "--max-pods": Flag(),
    "--eviction-hard": Flag(),
    "--system-reserved": Flag(),
    "--node-labels": Flag(),
    "--feature-gates": Flag(),
    "--hairpin-mode": Flag(),
    "--pod-infra-container-image": Flag(until=(1, 35), why="removed in 1.35 (#133779)"),
    "--allow-privileged": Flag(until=(1, 15), why="removed in 1.15 (#77820)"),
    "--experimental-dockershim": Flag(until=(1, 19), runtimes=(DOCKER,), why="gone in 1.19 (#87746)"),
    "--network-plugin": _DOCKERSHIM,
    "--cni-bin-dir": _DOCKERSHIM,
    "--cni-conf-dir": _DOCKERSHIM,
    "--cni-cache-dir": _DOCKERSHIM,
    "--docker-endpoint": _DOCKERSHIM,
    "--image-pull-progress-deadline": _DOCKERSHIM,
    "--container-runtime": Flag(until=(1, 27), why="removed in 1.27 (#114017)"),
    "--container-runtime-endpoint": Flag(),
    "--windows-service": Flag(since=(1, 10), why="added in 1.10"),
    "--logtostderr": _LOGS,
    "--alsologtostderr": _LOGS,
    "--log-dir": _LOGS,
    "--log-file": _LOGS,
}

KUBE_PROXY: dict[str, Flag] = {
    "--v": Flag(),
    "--proxy-mode": Flag(),
    "--hostname-override": Flag(),
    "--kubeconfig": Flag(),
    "--cluster-cidr": Flag(),
    "--feature-gates": Flag(),
    "--network-name": Flag(since=(1, 14), why="added in 1.14; before, kube-proxy read KUBE_NETWORK"),
    "--source-vip": Flag(since=(1, 14), why="added in 1.14 with overlay support"),
    "--enable-dsr": Flag(since=(1, 14), why="added in 1.14"),
    "--windows-service": Flag(since=(1, 10), why="added in 1.10"),
    "--logtostderr": _LOGS,
    "--alsologtostderr": _LOGS,
    "--log-dir": _LOGS,
    "--log-file": _LOGS,
}

# Feature gates: an unknown gate makes the binary exit, so they have ranges too.
GATES: dict[str, Flag] = {
    "HyperVContainer": Flag(since=(1, 10), until=(1, 21), runtimes=(DOCKER,), why="gate gone in 1.21 (#97141)"),
    "WinOverlay": Flag(since=(1, 14), why="added in 1.14"),
    "WinDSR": Flag(since=(1, 14), why="added in 1.14"),
}
# From this minor WinOverlay is locked to true: `WinOverlay=false` makes kube-proxy exit.
WIN_OVERLAY_LOCKED: Minor = (1, 34)

TABLES = {"kubelet": KUBELET, "kube-proxy": KUBE_PROXY}
# From this minor kubelet and kube-proxy have no --log-file / --log-dir: a service keeps its log
# only through kube-log-runner (in the node release archives from 1.23).
LOG_RUNNER_FROM: Minor = (1, 26)


def uses_log_runner(minor: Minor) -> bool:
    return minor >= LOG_RUNNER_FROM


def supported(minor: Minor) -> bool:
    return OLDEST <= minor <= NEWEST


def has_flag(component: str, flag: str, minor: Minor, runtime: str) -> bool:
    """Whether `component` of this minor, with this runtime, accepts `flag`."""
    entry = TABLES[component].get(flag)
    return entry is not None and entry.allows(minor, runtime)


def fmt(minor: Minor) -> str:
    return f"{minor[0]}.{minor[1]}"
