"""Which kubelet and kube-proxy flags each Kubernetes minor version accepts, and the argument lists.

One table, keyed by flag: the first minor that has it and the first minor WITHOUT it, and the
runtimes it belongs to. A removed flag makes the binary exit with `unknown flag`, and a flag an
older binary does not know yet does the same, so an argument is emitted only inside its range.
Sources: the Kubernetes CHANGELOGs (PR numbers below).

An argument's value is either fixed text or the name of a variable of the generated script
(a `Param()` the operator may override, or a value the script finds at run time), so the
version logic lives here and the scripts stay plain.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import CONTAINERD, DOCKER, RUNTIMES, Config, mode_for, runtime_problem
from ..errors import ConfigError
from ..kversion import KubeVersion

Minor = tuple[int, int]

OLDEST: Minor = (1, 9)
NEWEST: Minor = (1, 37)
CONTAINERD_ENDPOINT = "npipe:////./pipe/containerd-containerd"
DOCKER_ENDPOINT = "npipe:////./pipe/docker_engine"
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


@dataclass(frozen=True)
class Arg:
    """One command-line argument: `--flag=value` with fixed text, or with a script variable's value."""

    flag: str
    value: str = ""  # fixed text after `=`
    var: str | None = None  # name of the script variable whose value follows `=` (then value is unused)

    @property
    def text(self) -> str:
        """The argument as kubelet sees it, with `$Var` standing for a run-time value."""
        return f"{self.flag}=${self.var}" if self.var else f"{self.flag}={self.value}"


def supported(minor: Minor) -> bool:
    return OLDEST <= minor <= NEWEST


def has_flag(component: str, flag: str, minor: Minor, runtime: str) -> bool:
    """Whether `component` of this minor, with this runtime, accepts `flag`."""
    entry = TABLES[component].get(flag)
    return entry is not None and entry.allows(minor, runtime)


def check_version(version: KubeVersion, runtime: str) -> None:
    """Refuse versions and runtime pairs the table does not cover."""
    minor = version.minor_key
    if not supported(minor):
        msg = (f"Kubernetes {version} is outside the versions these scripts know ({_fmt(OLDEST)} to {_fmt(NEWEST)}); "
               "add its flags to builder/flags.py first")
        raise ConfigError(msg)
    problem = runtime_problem(runtime, version)
    if problem:
        msg = f"node.runtime: {problem}"
        raise ConfigError(msg)
    if runtime == CONTAINERD and minor < CONTAINERD_SINCE:
        msg = (f"node.runtime: containerd on Windows needs Kubernetes {_fmt(CONTAINERD_SINCE)} or newer; "
               f"{version} runs with docker: set node.runtime: docker or remove the key")
        raise ConfigError(msg)


def _fmt(minor: Minor) -> str:
    return f"{minor[0]}.{minor[1]}"


def kubelet_args(version: KubeVersion, runtime: str, cfg: Config, *, service: bool = False,
                 kubeadm: bool = False) -> list[Arg]:
    """kubelet's arguments for this version and runtime; values name start-kubelet.ps1 variables.

    With `kubeadm`, kubeadm's Windows contract (as sig-windows-tools' PrepareNode.ps1 runs it):
    the TLS bootstrap kubeconfig kubeadm writes, the kubeconfig the bootstrap produces, and the
    config file kubeadm downloads (cluster DNS and domain come from it, so they are not flags);
    kubeadm-flags.env is added by the script that sets the service's command line.
    """
    check_version(version, runtime)
    minor = version.minor_key
    if kubeadm:
        identity = [
            Arg("--bootstrap-kubeconfig", var="BootstrapKubeconfig"),
            Arg("--kubeconfig", var="KubeletKubeconfig"),
            Arg("--config", var="KubeletConfigFile"),
            Arg("--cert-dir", var="KubeletCertDir"),
        ]
    else:
        identity = [
            Arg("--kubeconfig", var="KubeconfigPath"),
            Arg("--cluster-dns", var="KubeDnsServiceIp"),
            Arg("--cluster-domain", var="ClusterDomain"),
        ]
    args = [
        Arg("--v", "2"),
        Arg("--hostname-override", var="NodeName"),
        Arg("--node-ip", var="NodeIp"),
        *identity,
        # What every Windows node needs: no resolv.conf, no cgroups. An empty value is written as
        # `--flag=` since native-argument quoting differs between PowerShell 5.1 and 7.3+ and
        # `--flag=""` could reach kubelet with its quotes; `--flag=` is the empty value in either.
        Arg("--resolv-conf", ""),
        Arg("--cgroups-per-qos", "false"),
        Arg("--enforce-node-allocatable", ""),
        Arg("--pod-infra-container-image", var="PauseImage"),
        Arg("--allow-privileged", "true"),
    ]
    if runtime == DOCKER:
        args += [
            Arg("--docker-endpoint", DOCKER_ENDPOINT),
            Arg("--network-plugin", "cni"),
            Arg("--cni-bin-dir", var="CniBinDir"),
            Arg("--cni-conf-dir", var="CniConfDir"),
            Arg("--image-pull-progress-deadline", "20m"),
            Arg("--hairpin-mode", "promiscuous-bridge"),
        ]
    else:
        args += [
            Arg("--container-runtime", "remote"),
            Arg("--container-runtime-endpoint", CONTAINERD_ENDPOINT),
        ]
    if cfg.node.isolation == "hyperv":
        args.append(Arg("--feature-gates", "HyperVContainer=true"))
    # Always passed (an empty value is no label), so a service carries the labels too.
    args.append(Arg("--node-labels", var="NodeLabels"))
    args += [Arg("--logtostderr", "false"), Arg("--log-dir", var="LogDir")]
    if service:
        args.append(Arg("--windows-service", "true"))
    kept = [a for a in args if has_flag("kubelet", a.flag, minor, runtime)]
    check_gates("kubelet", kept, minor)
    return kept


def kubeproxy_args(version: KubeVersion, runtime: str, cfg: Config, *, service: bool = False) -> list[Arg]:
    """kube-proxy's arguments for this version; values name start-kubeproxy.ps1 variables."""
    check_version(version, runtime)
    minor = version.minor_key
    proxy = mode_for(cfg.network.mode).kube_proxy
    args = [
        Arg("--v", "2"),
        # `kernelspace` is the Windows proxier; `userspace` is gone from 1.26.
        Arg("--proxy-mode", "kernelspace"),
        Arg("--hostname-override", var="NodeName"),
        Arg("--kubeconfig", var="KubeconfigPath"),
        Arg("--cluster-cidr", var="ClusterCidr"),
        Arg("--network-name", var="NetworkName"),
    ]
    if proxy.source_vip:
        args.append(Arg("--source-vip", var="SourceVip"))
    if proxy.win_overlay_gate and minor < WIN_OVERLAY_LOCKED:
        args.append(Arg("--feature-gates", "WinOverlay=true"))
    args += [Arg("--logtostderr", "false"), Arg("--log-dir", var="LogDir")]
    if service:
        args.append(Arg("--windows-service", "true"))
    kept = [a for a in args if has_flag("kube-proxy", a.flag, minor, runtime)]
    check_gates("kube-proxy", kept, minor)
    return kept


def uses_kube_network_env(version: KubeVersion) -> bool:
    """Before 1.14 kube-proxy has no --network-name and reads the KUBE_NETWORK variable instead."""
    return not has_flag("kube-proxy", "--network-name", version.minor_key, CONTAINERD)


def check_gates(component: str, args: list[Arg], minor: Minor, key: str = "") -> None:
    """Refuse feature gates this minor does not know, and WinOverlay=false once it is locked."""
    for a in args:
        if a.flag != "--feature-gates" or a.var:
            continue
        for item in filter(None, a.value.split(",")):
            name, _, value = item.partition("=")
            gate = GATES.get(name)
            where = f"{key}: " if key else ""
            if gate is not None and not (gate.since <= minor and (gate.until is None or minor < gate.until)):
                msg = (f"{where}{component} {_fmt(minor)} does not know the feature gate {name} "
                       f"({gate.why}); remove it")
                raise ConfigError(msg)
            if name == "WinOverlay" and value.lower() == "false" and minor >= WIN_OVERLAY_LOCKED:
                msg = (f"{where}WinOverlay is locked to true from 1.34: kube-proxy {_fmt(minor)} exits on "
                       "WinOverlay=false; remove it")
                raise ConfigError(msg)


def check_extra_args(component: str, extra: tuple[str, ...], minor: Minor, runtime: str, key: str) -> None:
    """Refuse extra arguments whose flag the table knows and this minor/runtime does not accept."""
    table = TABLES[component]
    for i, text in enumerate(extra):
        flag, _, value = text.partition("=")
        entry = table.get(flag)
        if entry is not None and not entry.allows(minor, runtime):
            reason = f" ({entry.why})" if entry.why else ""
            msg = (f"{key}[{i}]: {component} {_fmt(minor)} with {runtime} does not accept {flag}{reason}; "
                   "remove it from the list")
            raise ConfigError(msg)
        check_gates(component, [Arg(flag, value)], minor, key=f"{key}[{i}]")
