"""Render the node scripts from `ps_templates/` and the CNI config from data.

The jinja2 environment prints every `{{ value }}` through `pslit.finalize`, so values reach a
script only as PowerShell literals; undefined names are errors. Version-dependent arguments come
from `builder.flags`, the CNI config from `builder.cni`. Output is ASCII with CRLF line endings.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from . import cni, flags, pslit
from .artifacts import BuildResult, RenderedFile
from .config import Config, runtime_for
from .errors import ConfigError, RenderError
from .kversion import KubeVersion

TEMPLATES = Path(__file__).resolve().parent.parent / "ps_templates"

# Node label prefixes a kubelet may set on itself from 1.16 (NodeRestriction); any other
# kubernetes.io / k8s.io label makes kubelet refuse to start.
_ALLOWED_K8S_LABELS = {
    "kubernetes.io/hostname", "kubernetes.io/instance-type", "kubernetes.io/os", "kubernetes.io/arch",
    "beta.kubernetes.io/instance-type", "beta.kubernetes.io/os", "beta.kubernetes.io/arch",
    "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
    "failure-domain.kubernetes.io/zone", "failure-domain.kubernetes.io/region",
    "topology.kubernetes.io/zone", "topology.kubernetes.io/region", "node.kubernetes.io/instance-type",
}
_ALLOWED_K8S_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")

# start-kubelet.ps1 creates one small HNS network first, so that the vSwitch (whose creation cuts
# the host off for a moment) is made once and kept; as the SDN scripts and flannel do.
# The small HNS network start-kubelet.ps1 creates first, so that the vSwitch exists before the pod
# network. Upstream uses 192.168.255.0/30; a cluster may use 192.168.0.0/16 (the seed's own
# example), so the first candidate clear of the cluster's ranges is taken.
SWITCH_NETWORK_CANDIDATES = tuple(ipaddress.ip_network(n) for n in (
    "192.168.255.0/30", "172.31.255.252/30", "10.255.255.252/30", "100.127.255.252/30"))
SWITCH_NETWORK_VSID = 9999


@functools.cache
def environment() -> jinja2.Environment:
    """The one rendering environment: literals by construction, strict about undefined names."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        finalize=pslit.finalize,
        # HTML autoescaping would be the wrong escape: PowerShell quoting is `finalize`'s job.
        autoescape=False,  # noqa: S701
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


# --------------------------------------------------------------------------- checks


def parse_version(git_version: str) -> KubeVersion:
    try:
        return KubeVersion.parse(git_version)
    except ValueError as err:
        msg = f"cannot render scripts for version {git_version!r}: {err}"
        raise RenderError(msg) from err


def check_config(cfg: Config, version: KubeVersion, runtime: str) -> None:
    """What config.py cannot check without knowing the version; each error names its key."""
    minor = version.minor_key
    flags.check_version(version, runtime)
    if cfg.node.isolation == "hyperv" and (runtime != "docker" or not (1, 10) <= minor < (1, 21)):
        msg = (f"node.isolation: hyperv needs the HyperVContainer feature gate, which exists only in "
               f"Kubernetes 1.10 to 1.20 with docker (gone in 1.21, #97141); {version} with {runtime} "
               "runs process isolation: set node.isolation: process")
        raise ConfigError(msg)
    if cfg.network.mode == "overlay" and minor < (1, 14):
        msg = (f"network.mode: overlay needs kube-proxy's WinOverlay support, added in 1.14; {version} "
               "has none: use host-gw or l3, or bundle 1.14 or newer")
        raise ConfigError(msg)
    if minor >= (1, 16):
        for key, _ in cfg.node.labels:
            if not _label_allowed(key):
                msg = (f"node.labels.{key}: from 1.16 kubelet refuses to set kubernetes.io / k8s.io labels "
                       "outside kubelet.kubernetes.io and node.kubernetes.io; use your own prefix "
                       "(example.com/role) or set it with kubectl label")
                raise ConfigError(msg)
    flags.check_extra_args("kubelet", cfg.node.kubelet_extra_args, minor, runtime, "node.kubelet_extra_args")
    flags.check_extra_args("kube-proxy", cfg.node.kubeproxy_extra_args, minor, runtime,
                           "node.kubeproxy_extra_args")
    check_networks(cfg)


def switch_network(cfg: Config) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The first vSwitch-creation network clear of the cluster and service ranges."""
    taken = [ipaddress.ip_network(cfg.network.cluster_cidr), ipaddress.ip_network(cfg.network.service_cidr)]
    for candidate in SWITCH_NETWORK_CANDIDATES:
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    shown = ", ".join(str(c) for c in SWITCH_NETWORK_CANDIDATES)
    msg = (f"network.cluster_cidr / network.service_cidr: together they cover every range the node scripts "
           f"can use for the small vSwitch network ({shown}); narrow one of them")
    raise ConfigError(msg)


def check_networks(cfg: Config) -> None:
    net = cfg.network
    for key in ("cluster_cidr", "service_cidr"):
        network = ipaddress.ip_network(getattr(net, key))
        if network.version != 4:
            msg = f"network.{key}: {network} is IPv6; the Windows scripts support IPv4 networks only"
            raise ConfigError(msg)
    switch_network(cfg)
    if net.mode == "overlay" and net.vxlan_vni == SWITCH_NETWORK_VSID:
        msg = (f"network.vxlan_vni: {SWITCH_NETWORK_VSID} is taken by the vSwitch network start-kubelet.ps1 "
               "creates; use another VNI (4096 is the usual one)")
        raise ConfigError(msg)


def _label_allowed(key: str) -> bool:
    prefix = key.split("/", 1)[0] if "/" in key else ""
    if not (prefix == "kubernetes.io" or prefix.endswith((".kubernetes.io", "k8s.io"))):
        return True
    if key in _ALLOWED_K8S_LABELS:
        return True
    return any(prefix == ns or prefix.endswith("." + ns) for ns in _ALLOWED_K8S_NAMESPACES)


# --------------------------------------------------------------------------- pause image


def default_pause_image(windows_version: str, build: int, version: KubeVersion) -> str:
    """The pause (sandbox) image of the version's era that has an entry for this Windows build.

    1.9 to 1.13: `kubeletwin/pause`, built on the node from its own base image (as are hosts older
    than 1809, for which no published image exists); 2019: `mcr.microsoft.com/k8s/core/pause:1.2.0`;
    from 1.21 the upstream multi-arch image (Windows entries from 3.4.1; ltsc2022 from 3.6;
    3.9 keeps only 1809 and ltsc2022; ltsc2025 from 3.10.2).
    """
    minor = version.minor_key
    if build >= 26100:
        return "registry.k8s.io/pause:3.10.2"
    if build >= 20348:
        return "registry.k8s.io/pause:3.6" if minor < (1, 26) else "registry.k8s.io/pause:3.9"
    if minor < (1, 14) or build < 17763:
        return "kubeletwin/pause"
    if minor < (1, 21):
        return "mcr.microsoft.com/k8s/core/pause:1.2.0"
    if build == 17763 and minor >= (1, 26):
        return "registry.k8s.io/pause:3.9"
    # 1903 to 20H2 (semi-annual channel) and 1809 before 1.26.
    return "registry.k8s.io/pause:3.4.1"


# --------------------------------------------------------------------------- context


def arg_code(arg: flags.Arg) -> pslit.PsCode:
    """One argument as a PowerShell expression: a literal, or a literal joined to a variable."""
    if arg.var:
        return pslit.concat(f"{arg.flag}=", arg.var)
    return pslit.PsCode(pslit.quote(f"{arg.flag}={arg.value}"))


def context(cfg: Config, version: KubeVersion, runtime: str) -> dict[str, Any]:
    net, node = cfg.network, cfg.node
    conf = cni.build(cfg, runtime)
    pause = node.pause_image or default_pause_image(node.windows_version, node.windows_build, version)
    kubelet = flags.kubelet_args(version, runtime, cfg)
    proxy = flags.kubeproxy_args(version, runtime, cfg)
    switch = switch_network(cfg)
    ctx = {
        "version": str(version),
        "runtime": runtime,
        "mode": net.mode,
        "install_dir": node.install_dir,
        "cluster_cidr": net.cluster_cidr,
        "service_cidr": net.service_cidr,
        "dns_service_ip": net.dns_service_ip,
        "dns_suffix": net.dns_suffix,
        "cluster_domain": net.cluster_domain,
        "network_name": net.network_name,
        "nic_name": net.nic_name,
        "control_plane_ip": net.control_plane_ip or "",
        "vxlan_vni": net.vxlan_vni,
        "switch_network_prefix": str(switch),
        "switch_network_gateway": str(switch.network_address + 1),
        "switch_network_vsid": SWITCH_NETWORK_VSID,
        "vxlan_port": net.vxlan_port,
        "kubeconfig": node.kubeconfig,
        "pause_image": pause,
        "node_labels": ",".join(f"{k}={v}" for k, v in node.labels),
        "isolation": node.isolation,
        "windows_version": node.windows_version,
        "kubelet_args": [arg_code(a) for a in kubelet],
        "kubeproxy_args": [arg_code(a) for a in proxy],
        "kubelet_extra_args": list(node.kubelet_extra_args),
        "kubeproxy_extra_args": list(node.kubeproxy_extra_args),
        "kube_network_env": flags.uses_kube_network_env(version),
        "cni_plugin": conf["type"],
        "cni_plugin_file": conf["type"] if conf["type"].endswith(".exe") else conf["type"] + ".exe",
        "cni_config_name": f"{net.network_name}.conf",
        "cni_route_gateway": "routes" in conf["ipam"],
        "dockershim": runtime == "docker",
        "uses_pause_image": any(a.flag == "--pod-infra-container-image" for a in kubelet),
    }
    from . import node as node_files  # node builds on this module: imported here, not at the top

    ctx.update(node_files.host_check_context(node, version))
    for key, value in ctx.items():
        _check_value(key, value)
    return ctx


def _check_value(key: str, value: object) -> None:
    """Defence in depth behind config.py: no control character or non-ASCII reaches a template."""
    if isinstance(value, str):
        if re.search(r"[^\x20-\x7e]", value):
            msg = f"value for {key} ({value!r}) has a control or non-ASCII character; fix the configuration"
            raise RenderError(msg)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_value(key, item)


# --------------------------------------------------------------------------- rendering


def render_template(name: str, ctx: Mapping[str, Any]) -> str:
    try:
        return environment().get_template(name).render(ctx)
    except jinja2.UndefinedError as err:
        msg = f"template {name}: {err.message}; every name a template uses must be in render.context()"
        raise RenderError(msg) from err
    except jinja2.TemplateError as err:
        msg = f"template {name}: {err}"
        raise RenderError(msg) from err


def to_bytes(dest: str, text: str) -> bytes:
    """ASCII with CRLF line endings; anything else is refused (PowerShell 5.1 reads ANSI)."""
    bad = re.search(r"[^\x09\x0a\x0d\x20-\x7e]", text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        msg = (f"{dest}: line {line} would contain the character U+{ord(bad.group()):04X}; generated files "
               "are ASCII only (Windows PowerShell 5.1 reads a BOM-less script as ANSI)")
        raise RenderError(msg)
    lines = text.replace("\r\n", "\n").split("\n")
    return "\r\n".join(lines).encode("ascii")


def scripts_for(mode: str) -> list[str]:
    """The start scripts of a mode. install.ps1 has its own template, rendered by `node` (issue 7)."""
    names = ["start-kubelet.ps1", "start-kubeproxy.ps1"]
    if mode == "host-gw":
        names.append("AddRoutes.ps1")
    return names


def render_bundle(cfg: Config, git_version: str, built: BuildResult | None) -> list[RenderedFile]:
    """The generated files for the bundle's k/ folder: scripts, then the CNI config."""
    del built  # the version is all the scripts need from the build
    version = parse_version(git_version)
    runtime = runtime_for(cfg.node, version)
    check_config(cfg, version, runtime)
    ctx = context(cfg, version, runtime)
    files = [
        RenderedFile(dest=name, data=to_bytes(name, render_template(f"{name}.j2", ctx)), kind="script")
        for name in scripts_for(cfg.network.mode)
    ]
    dest = cni.config_dest(cfg)
    files.append(RenderedFile(dest=dest, data=to_bytes(dest, cni.to_json(cni.build(cfg, runtime))), kind="config"))
    return files


def write_files(files: list[RenderedFile], out: Path) -> None:
    """Write each file under `out` atomically (temp file in the same folder, then os.replace)."""
    for f in files:
        parts = f.dest.split("/")
        if f.dest.startswith("/") or any(p in ("", ".", "..") or "\\" in p for p in parts):
            msg = f"refusing to write {f.dest!r}: not a plain relative path"
            raise RenderError(msg)
        target = out.joinpath(*parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(f.data)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as err:
            msg = f"cannot write {target}: {err}"
            raise RenderError(msg) from err
