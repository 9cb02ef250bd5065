"""kubelet's and kube-proxy's argument lists for one Kubernetes version, runtime and network mode.

Which flags a minor accepts is `builder.config.flagtable` (an argument is emitted only inside its
flag's range); whether the configuration suits the version was checked by `builder.config.rules`
before any of this runs, so nothing here validates.

An argument's value is either fixed text or the name of a variable of the generated script (a
`Param()` the operator may override, or a value the script finds at run time), so the version
logic lives here and the scripts stay plain.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import CONTAINERD, DOCKER, Config, mode_for
from ..config.flagtable import WIN_OVERLAY_LOCKED, has_flag
from ..kversion import KubeVersion

CONTAINERD_ENDPOINT = "npipe:////./pipe/containerd-containerd"
DOCKER_ENDPOINT = "npipe:////./pipe/docker_engine"


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


def kubelet_args(version: KubeVersion, runtime: str, cfg: Config, *, service: bool = False,
                 kubeadm: bool = False) -> list[Arg]:
    """kubelet's arguments for this version and runtime; values name start-kubelet.ps1 variables.

    With `kubeadm`, kubeadm's Windows contract (as sig-windows-tools' PrepareNode.ps1 runs it):
    the TLS bootstrap kubeconfig kubeadm writes, the kubeconfig the bootstrap produces, and the
    config file kubeadm downloads (cluster DNS and domain come from it, so they are not flags);
    kubeadm-flags.env is added by the script that sets the service's command line.
    """
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
    return [a for a in args if has_flag("kubelet", a.flag, minor, runtime)]


def kubeproxy_args(version: KubeVersion, runtime: str, cfg: Config, *, service: bool = False) -> list[Arg]:
    """kube-proxy's arguments for this version; values name start-kubeproxy.ps1 variables."""
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
    return [a for a in args if has_flag("kube-proxy", a.flag, minor, runtime)]


def uses_kube_network_env(version: KubeVersion) -> bool:
    """Before 1.14 kube-proxy has no --network-name and reads the KUBE_NETWORK variable instead."""
    return not has_flag("kube-proxy", "--network-name", version.minor_key, CONTAINERD)
