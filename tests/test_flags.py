"""The flag table, minor by minor (1.9 to 1.37), against the Kubernetes CHANGELOG facts it cites.

The expectations are written out here independently of builder/config/flagtable.py's table, one
rule per fact, so that a wrong range in the table fails a test for the minors it gets wrong. The
configured arguments are checked against the same table by config.rules.check_for_version.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from builder.config import Config, NetworkSection, NodeSection, Overrides, check_for_version, load
from builder.errors import ConfigError
from builder.kversion import KubeVersion
from builder.node import flags

MINORS = list(range(9, 38))
DOCKERSHIM_FLAGS = ("--network-plugin", "--cni-bin-dir", "--cni-conf-dir", "--docker-endpoint",
                    "--image-pull-progress-deadline")
LOG_FLAGS = ("--logtostderr", "--log-dir")


def v(minor: int) -> KubeVersion:
    return KubeVersion(1, minor, 0)


def runtimes(minor: int) -> list[str]:
    out = []
    if minor < 24:
        out.append("docker")
    if minor >= 18:
        out.append("containerd")
    return out


def cases() -> list[tuple[int, str]]:
    return [(m, r) for m in MINORS for r in runtimes(m)]


def cfg(mode: str = "host-gw") -> Config:
    name = "vxlan0" if mode == "overlay" else "l2bridge"
    return Config(network=NetworkSection(mode=mode, network_name=name), node=NodeSection())


def names(args: list[flags.Arg]) -> list[str]:
    return [a.flag for a in args]


def texts(args: list[flags.Arg]) -> list[str]:
    return [a.text for a in args]


@pytest.mark.parametrize(("minor", "runtime"), cases())
def test_kubelet_flags_fit_the_minor(minor: int, runtime: str) -> None:
    args = flags.kubelet_args(v(minor), runtime, cfg())
    got = names(args)
    assert len(got) == len(set(got)), "a flag is given twice"
    # What every Windows node needs, at every minor.
    for need in ("--resolv-conf=", "--cgroups-per-qos=false", "--enforce-node-allocatable="):
        assert need in texts(args)
    for need in ("--hostname-override", "--node-ip", "--kubeconfig", "--cluster-dns", "--cluster-domain"):
        assert need in got
    assert ("--allow-privileged" in got) == (minor < 15)
    assert ("--pod-infra-container-image" in got) == (minor < 35)
    for flag in DOCKERSHIM_FLAGS:
        assert (flag in got) == (runtime == "docker" and minor < 24), flag
    for flag in LOG_FLAGS:
        assert (flag in got) == (minor < 26), flag
    assert ("--container-runtime" in got) == (runtime == "containerd" and minor < 27)
    endpoint = "--container-runtime-endpoint=npipe:////./pipe/containerd-containerd"
    assert (endpoint in texts(args)) == (runtime == "containerd")
    assert "--windows-service" not in got  # start-kubelet.ps1 runs kubelet in the foreground
    assert not any(a.startswith("--feature-gates") for a in texts(args))


@pytest.mark.parametrize(("minor", "runtime"), cases())
def test_kubeproxy_flags_fit_the_minor(minor: int, runtime: str) -> None:
    args = flags.kubeproxy_args(v(minor), runtime, cfg())
    got = names(args)
    assert "--proxy-mode=kernelspace" in texts(args)
    assert not any("userspace" in t for t in texts(args))
    assert ("--network-name" in got) == (minor >= 14)
    assert flags.uses_kube_network_env(v(minor)) == (minor < 14)
    for flag in LOG_FLAGS:
        assert (flag in got) == (minor < 26), flag
    assert "--source-vip" not in got  # overlay only
    assert not any("WinOverlay" in t for t in texts(args))


@pytest.mark.parametrize("minor", [m for m in MINORS if m >= 14])
def test_overlay_gate_only_where_it_exists_and_never_false(minor: int) -> None:
    runtime = runtimes(minor)[-1]
    t = texts(flags.kubeproxy_args(v(minor), runtime, cfg("overlay")))
    assert ("--feature-gates=WinOverlay=true" in t) == (minor < 34)
    assert not any("WinOverlay=false" in x for x in t)
    assert "--source-vip=$SourceVip" in t


@pytest.mark.parametrize("minor", MINORS)
def test_windows_service_only_from_1_10(minor: int) -> None:
    runtime = runtimes(minor)[0]
    for fn in (flags.kubelet_args, flags.kubeproxy_args):
        got = names(fn(v(minor), runtime, cfg(), service=True))
        assert ("--windows-service" in got) == (minor >= 10)


@pytest.mark.parametrize("minor", range(10, 21))
def test_hyperv_gate_for_docker_minors_that_have_it(minor: int) -> None:
    c = dataclasses.replace(cfg(), node=NodeSection(isolation="hyperv"))
    assert "--feature-gates=HyperVContainer=true" in texts(flags.kubelet_args(v(minor), "docker", c))


def test_hyperv_isolation_refused_once_the_gate_is_gone() -> None:
    c = dataclasses.replace(cfg(), node=NodeSection(isolation="hyperv"))
    check_for_version(c, v(20))
    with pytest.raises(ConfigError, match=r"node\.isolation: hyperv needs the HyperVContainer feature gate"):
        check_for_version(c, v(21))


@pytest.mark.parametrize(("version", "runtime", "match"), [
    (KubeVersion(1, 8, 0), "docker", r"kubernetes\.version: .*outside the versions"),
    (KubeVersion(1, 38, 0), "containerd", r"kubernetes\.version: .*outside the versions"),
    (KubeVersion(1, 24, 0), "docker", r"node\.runtime: docker \(dockershim\)"),
    (KubeVersion(1, 17, 0), "containerd", r"node\.runtime: containerd on Windows needs Kubernetes 1\.18"),
])
def test_unsupported_versions_and_pairs(version: KubeVersion, runtime: str, match: str) -> None:
    c = dataclasses.replace(cfg(), node=NodeSection(runtime=runtime))
    with pytest.raises(ConfigError, match=match):
        check_for_version(c, version)


@pytest.mark.parametrize(("extra", "minor", "runtime", "ok"), [
    ("--log-dir=C:/logs", 25, "containerd", True),
    ("--log-dir=C:/logs", 26, "containerd", False),
    ("--pod-infra-container-image=x", 34, "containerd", True),
    ("--pod-infra-container-image=x", 35, "containerd", False),
    ("--network-plugin=cni", 23, "docker", True),
    ("--network-plugin=cni", 23, "containerd", False),
    ("--allow-privileged=true", 15, "docker", False),
    ("--windows-service", 9, "docker", False),
    ("--max-pods=50", 37, "containerd", True),
    ("--some-flag-we-do-not-know=1", 37, "containerd", True),
    ("--feature-gates=HyperVContainer=true", 21, "containerd", False),
    ("--feature-gates=WinDSR=true", 13, "docker", False),
])
def test_kubelet_extra_args_checked_against_the_table(extra: str, minor: int, runtime: str, ok: bool) -> None:
    c = dataclasses.replace(cfg(), node=NodeSection(runtime=runtime, kubelet_extra_args=(extra,)))
    if ok:
        check_for_version(c, v(minor))
    else:
        with pytest.raises(ConfigError, match=r"node\.kubelet_extra_args\[0\]"):
            check_for_version(c, v(minor))


def test_winoverlay_false_refused_once_locked() -> None:
    c = dataclasses.replace(cfg(), node=NodeSection(kubeproxy_extra_args=("--feature-gates=WinOverlay=false",)))
    check_for_version(c, v(33))
    with pytest.raises(ConfigError, match=r"node\.kubeproxy_extra_args\[0\]: WinOverlay is locked"):
        check_for_version(c, v(34))


def test_every_problem_of_a_version_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    """The rules, like the loader, name every problem with the file:line of its key."""
    path = tmp_path / "bundle.yaml"
    path.write_text("kubernetes:\n  source: release\n  version: v1.30.0\nnode:\n  isolation: hyperv\n"
                    "  labels:\n    kubernetes.io/role: a\n  kubelet_extra_args:\n    - --max-pods=9\n"
                    "    - --log-dir=C:/logs\n", encoding="utf-8")
    c = load(Overrides(config=path, cache_dir=tmp_path / "c"), {}, tmp_path)
    with pytest.raises(ConfigError) as err:
        check_for_version(c, v(30))
    lines = str(err.value).splitlines()
    assert lines[0] == "3 configuration problems:"
    assert lines[1].startswith(f"  {path}:5: node.isolation: hyperv needs")
    assert lines[2].startswith(f"  {path}:7: node.labels.kubernetes.io/role: from 1.16")
    assert lines[3].startswith(f"  {path}:10: node.kubelet_extra_args[1]: kubelet 1.30 with containerd does not "
                               "accept --log-dir")


@pytest.mark.parametrize(("minor", "runtime"), cases())
@pytest.mark.parametrize("isolation", ["process", "hyperv"])
def test_the_scripts_command_lines_are_the_flag_lists(minor: int, runtime: str, isolation: str) -> None:
    """Get-KubeletArgs writes the parts both kubelet lists share once, with the caller's identity between them,
    and the service's flags after: put back together they are flags.py's lists, for every runtime and minor."""
    from builder.node import render

    c = dataclasses.replace(cfg(), node=NodeSection(isolation=isolation))
    parts = render.kubelet_parts(c, v(minor), runtime)
    plain = [render.arg_code(a) for a in flags.kubelet_args(v(minor), runtime, c)]
    kubeadm = [render.arg_code(a) for a in flags.kubelet_args(v(minor), runtime, c, kubeadm=True)]
    assert parts["kubelet_head"] + parts["kubelet_identity"] + parts["kubelet_tail"] == plain
    assert parts["kubelet_head"] + parts["kubelet_kubeadm_identity"] + parts["kubelet_tail"] == kubeadm
    # What differs is the identity alone: every other flag is written once, in the function.
    flag = {render.arg_code(a): a.flag for a in flags.kubelet_args(v(minor), runtime, c, kubeadm=True)}
    flag |= {render.arg_code(a): a.flag for a in flags.kubelet_args(v(minor), runtime, c)}
    assert [flag[a] for a in parts["kubelet_identity"]] == ["--kubeconfig", "--cluster-dns", "--cluster-domain"]
    assert [flag[a] for a in parts["kubelet_kubeadm_identity"]] == ["--bootstrap-kubeconfig", "--kubeconfig",
                                                                    "--config", "--cert-dir"]
    for fn in (flags.kubelet_args, flags.kubeproxy_args):
        service = [render.arg_code(a) for a in fn(v(minor), runtime, c, service=True)]
        foreground = [render.arg_code(a) for a in fn(v(minor), runtime, c)]
        assert foreground + render.service_flags(fn, c, v(minor), runtime) == service
