"""Every flag kubelet and kube-proxy accept, per Kubernetes minor: the table extra arguments are checked against.

`node.kubelet_extra_args: [--node-lables=a=b]` passes every other check and fails only on the Windows
node, where kubelet exits with `unknown flag`. So each extra argument's flag is looked up in the flag
set of the version being bundled; an unknown one is a configuration error naming the nearest known
flag (`--allow-unknown-flags` is the escape hatch for a flag this table lacks).

Sources, and which minors are exact:
- 1.20 is EXACT: the flag names registered in the real v1.20.2 tree (Debian's kubernetes source
  package, upstream v1.20.2): kubelet's `cmd/kubelet/app/options/options.go` (KubeletFlags.AddFlags
  and AddKubeletConfigFlags), `pkg/kubelet/config/flags.go` (ContainerRuntimeOptions.AddFlags),
  `cmd/kubelet/app/options/osflags_windows.go` (the Windows build's own flags) and the global flags
  `cmd/kubelet/app/options/globalflags.go` adds (klog's `InitFlags` in `vendor/k8s.io/klog/v2/klog.go`,
  `--log-flush-frequency`, `--version`, `--azure-container-registry-config`, `--help`);
  kube-proxy's `cmd/kube-proxy/app/server.go` (Options.AddFlags, feature gates),
  `cmd/kube-proxy/app/init_windows.go` (addOSFlags) and the same klog, log-flush, version and help
  flags, which kube-proxy's main adds from the global flag sets.
- Every other minor, 1.9 to 1.37, is DERIVED: the 1.20 set, plus or minus the changes in CHANGES
  below, each sourced from the Kubernetes CHANGELOG of the minor named (PR numbers where the
  CHANGELOG gives one). A flag added between 1.9 and 1.19 that is not listed is taken as present
  from 1.9 (so an older binary's set may be too wide: a typo check, not a guarantee); a flag added
  after 1.20 that is not listed is unknown, and `--allow-unknown-flags` accepts it.
Flags are compared after `_` -> `-`, as both components normalise them (cliflag.WordSepNormalizeFunc).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

Minor = tuple[int, int]

EXACT: tuple[Minor, ...] = ((1, 20),)
OLDEST: Minor = (1, 9)
NEWEST: Minor = (1, 37)

KUBELET_1_20 = frozenset((
    "add-dir-header", "address", "allowed-unsafe-sysctls", "alsologtostderr", "anonymous-auth",
    "authentication-token-webhook", "authentication-token-webhook-cache-ttl", "authorization-mode",
    "authorization-webhook-cache-authorized-ttl", "authorization-webhook-cache-unauthorized-ttl",
    "azure-container-registry-config", "bootstrap-kubeconfig", "cert-dir", "cgroup-driver", "cgroup-root",
    "cgroups-per-qos", "chaos-chance", "client-ca-file", "cloud-config", "cloud-provider", "cluster-dns",
    "cluster-domain", "cni-bin-dir", "cni-cache-dir", "cni-conf-dir", "config", "container-log-max-files",
    "container-log-max-size", "container-runtime", "container-runtime-endpoint", "contention-profiling",
    "cpu-cfs-quota", "cpu-cfs-quota-period", "cpu-manager-policy", "cpu-manager-reconcile-period",
    "docker-endpoint", "dynamic-config-dir", "enable-cadvisor-json-endpoints", "enable-controller-attach-detach",
    "enable-debugging-handlers", "enable-server", "enforce-node-allocatable", "event-burst", "event-qps",
    "eviction-hard", "eviction-max-pod-grace-period", "eviction-minimum-reclaim",
    "eviction-pressure-transition-period", "eviction-soft", "eviction-soft-grace-period", "exit-on-lock-contention",
    "experimental-allocatable-ignore-eviction", "experimental-bootstrap-kubeconfig",
    "experimental-check-node-capabilities-before-mount", "experimental-dockershim-root-directory",
    "experimental-kernel-memcg-notification", "experimental-logging-sanitization", "experimental-mounter-path",
    "fail-swap-on", "feature-gates", "file-check-frequency", "hairpin-mode", "healthz-bind-address", "healthz-port",
    "help", "hostname-override", "http-check-frequency", "image-credential-provider-bin-dir",
    "image-credential-provider-config", "image-gc-high-threshold", "image-gc-low-threshold",
    "image-pull-progress-deadline", "image-service-endpoint", "iptables-drop-bit", "iptables-masquerade-bit",
    "keep-terminated-pod-volumes", "kernel-memcg-notification", "kube-api-burst", "kube-api-content-type",
    "kube-api-qps", "kube-reserved", "kube-reserved-cgroup", "kubeconfig", "kubelet-cgroups", "lock-file",
    "log-backtrace-at", "log-dir", "log-file", "log-file-max-size", "log-flush-frequency", "logging-format",
    "logtostderr", "make-iptables-util-chains", "manifest-url", "manifest-url-header", "master-service-namespace",
    "max-open-files", "max-pods", "maximum-dead-containers", "maximum-dead-containers-per-container",
    "minimum-container-ttl-duration", "minimum-image-ttl-duration", "network-plugin", "network-plugin-mtu",
    "node-ip", "node-labels", "node-status-max-images", "node-status-update-frequency", "non-masquerade-cidr",
    "one-output", "oom-score-adj", "pod-cidr", "pod-infra-container-image", "pod-manifest-path", "pod-max-pids",
    "pods-per-core", "port", "protect-kernel-defaults", "provider-id", "qos-reserved", "read-only-port",
    "really-crash-for-testing", "redirect-container-streaming", "register-node", "register-schedulable",
    "register-with-taints", "registry-burst", "registry-qps", "reserved-cpus", "resolv-conf", "root-dir",
    "rotate-certificates", "rotate-server-certificates", "runonce", "runtime-cgroups", "runtime-request-timeout",
    "seccomp-profile-root", "serialize-image-pulls", "skip-headers", "skip-log-headers", "stderrthreshold",
    "streaming-connection-idle-timeout", "sync-frequency", "system-cgroups", "system-reserved",
    "system-reserved-cgroup", "tls-cert-file", "tls-cipher-suites", "tls-min-version", "tls-private-key-file",
    "topology-manager-policy", "topology-manager-scope", "v", "version", "vmodule", "volume-plugin-dir",
    "volume-stats-agg-period", "windows-priorityclass", "windows-service",
))

KUBE_PROXY_1_20 = frozenset((
    "add-dir-header", "alsologtostderr", "bind-address", "bind-address-hard-fail", "cleanup", "cleanup-ipvs",
    "cluster-cidr", "config", "config-sync-period", "conntrack-max-per-core", "conntrack-min",
    "conntrack-tcp-timeout-close-wait", "conntrack-tcp-timeout-established", "detect-local-mode", "enable-dsr",
    "feature-gates", "healthz-bind-address", "healthz-port", "help", "hostname-override", "iptables-masquerade-bit",
    "iptables-min-sync-period", "iptables-sync-period", "ipvs-exclude-cidrs", "ipvs-min-sync-period",
    "ipvs-scheduler", "ipvs-strict-arp", "ipvs-sync-period", "ipvs-tcp-timeout", "ipvs-tcpfin-timeout",
    "ipvs-udp-timeout", "kube-api-burst", "kube-api-content-type", "kube-api-qps", "kubeconfig", "log-backtrace-at",
    "log-dir", "log-file", "log-file-max-size", "log-flush-frequency", "logtostderr", "masquerade-all", "master",
    "metrics-bind-address", "metrics-port", "network-name", "nodeport-addresses", "one-output", "oom-score-adj",
    "profiling", "proxy-mode", "proxy-port-range", "show-hidden-metrics-for-version", "skip-headers",
    "skip-log-headers", "source-vip", "stderrthreshold", "udp-timeout", "v", "version", "vmodule",
    "windows-service", "write-config-to",
))


@dataclass(frozen=True)
class Change:
    """A flag's range where it differs from "in 1.20, and in every minor of the table"."""

    since: Minor = OLDEST  # first minor with the flag
    until: Minor | None = None  # first minor WITHOUT it
    source: str = ""


_DOCKERSHIM = Change(until=(1, 24), source="CHANGELOG-1.24: dockershim and its flags removed (#106907)")
_KLOG = Change(until=(1, 26), source="CHANGELOG-1.26: klog flags removed from the components, KEP-2845 (#112120)")
_KLOG_REMOVED = ("add-dir-header", "alsologtostderr", "log-backtrace-at", "log-dir", "log-file", "log-file-max-size",
                 "logtostderr", "one-output", "skip-headers", "skip-log-headers", "stderrthreshold")

CHANGES: dict[str, dict[str, Change]] = {
    "kubelet": {
        "allow-privileged": Change(until=(1, 15), source="CHANGELOG-1.15: --allow-privileged removed (#77820)"),
        "experimental-dockershim": Change(until=(1, 19), source="CHANGELOG-1.19: gone with #87746"),
        "windows-service": Change(since=(1, 10), source="CHANGELOG-1.10: kubelet runs as a Windows service"),
        **{name: _DOCKERSHIM for name in ("network-plugin", "network-plugin-mtu", "cni-bin-dir", "cni-conf-dir",
                                          "cni-cache-dir", "docker-endpoint", "image-pull-progress-deadline",
                                          "experimental-dockershim-root-directory")},
        "dynamic-config-dir": Change(until=(1, 24), source="CHANGELOG-1.24: dynamic kubelet configuration removed"),
        **{name: _KLOG for name in _KLOG_REMOVED},
        "container-runtime": Change(until=(1, 27), source="CHANGELOG-1.27: --container-runtime removed (#114017)"),
        "pod-infra-container-image": Change(until=(1, 35), source="CHANGELOG-1.35: removed (#133779)"),
        "memory-manager-policy": Change(since=(1, 21), source="CHANGELOG-1.21: Memory Manager (alpha), KEP-1769"),
        "reserved-memory": Change(since=(1, 21), source="CHANGELOG-1.21: Memory Manager (alpha), KEP-1769"),
        "cpu-manager-policy-options": Change(since=(1, 22), source="CHANGELOG-1.22: CPU manager policy options"),
        "seccomp-default": Change(since=(1, 22), source="CHANGELOG-1.22: SeccompDefault (alpha), KEP-2413"),
        "local-storage-capacity-isolation": Change(since=(1, 25), source="CHANGELOG-1.25"),
        "topology-manager-policy-options": Change(since=(1, 26), source="CHANGELOG-1.26: KEP-3545"),
    },
    "kube-proxy": {
        "windows-service": Change(since=(1, 10), source="CHANGELOG-1.10: kube-proxy runs as a Windows service"),
        **{name: Change(since=(1, 14), source="CHANGELOG-1.14: Windows overlay and DSR in kube-proxy")
           for name in ("network-name", "source-vip", "enable-dsr")},
        **{name: _KLOG for name in _KLOG_REMOVED},
    },
}
BASE = {"kubelet": KUBELET_1_20, "kube-proxy": KUBE_PROXY_1_20}
COMPONENTS = tuple(BASE)


def _fmt(minor: Minor) -> str:
    return f"{minor[0]}.{minor[1]}"


def known(component: str, minor: Minor) -> frozenset[str]:
    """The flags (without `--`) `component` of this minor accepts, as far as the table knows."""
    changes = CHANGES[component]
    flags = {f for f in BASE[component] if f not in changes}
    flags |= {f for f, c in changes.items() if c.since <= minor and (c.until is None or minor < c.until)}
    return frozenset(flags)


def exact(minor: Minor) -> bool:
    return minor in EXACT


def flag_name(arg: str) -> str:
    """`--Node_Labels=a=b` -> `node-labels`: the flag an argument sets, as the components normalise it."""
    return arg.split("=", 1)[0].removeprefix("--").replace("_", "-")


def unknown_flag_problems(component: str, key: str, args: tuple[str, ...], minor: Minor) -> list[tuple[str, str]]:
    """(key[i], problem) for each argument whose flag `component` of this minor does not have."""
    flags = known(component, minor)
    every = frozenset().union(*(known(component, (1, m)) for m in range(OLDEST[1], NEWEST[1] + 1)))
    out: list[tuple[str, str]] = []
    for i, arg in enumerate(args):
        name = flag_name(arg)
        if name in flags:
            continue
        if name in every:
            change = CHANGES[component].get(name)
            why = f" ({change.source})" if change and change.source else ""
            problem = f"{component} {_fmt(minor)} has no flag --{name}{why}; remove it"
        else:
            near = difflib.get_close_matches(name, sorted(flags), n=1, cutoff=0.6)
            hint = f"; did you mean --{near[0]}?" if near else ""
            basis = "" if exact(minor) else (f" (the {_fmt(minor)} flag set is derived from v1.20.2 and the "
                                             "CHANGELOGs: if the flag is real, pass --allow-unknown-flags)")
            problem = f"{component} {_fmt(minor)} has no flag --{name}{hint}{basis}"
        out.append((f"{key}[{i}]", problem))
    return out
