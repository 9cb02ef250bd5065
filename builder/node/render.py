"""The render stage: every generated file of the bundle, from one checked context in one pass.

Scripts come from `ps_templates/` through one jinja2 environment that prints every `{{ value }}`
through `pslit.finalize`, so values reach a script only as PowerShell literals, and undefined names
are errors; README.txt, a document, comes through a second one that prints values as text.
`OUTPUTS` is the table of template, output and when. The CNI config (`cni`) and the samples
(`samples`) are data, serialized, never text-templated. Version-dependent arguments come from
`flags`, image choices from `images`, the checked configuration from `config.rules`. Output is
ASCII with CRLF line endings.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
import logging
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ..artifacts import IMAGES_DIR, UNBOUND_FILES_DIGEST, RenderedFile
from ..config import (
    CONTAINERD,
    DOCKER,
    Config,
    NetworkMode,
    VersionedConfig,
    check_for_version,
    cluster_images,
    mode_for,
)
from ..config.flagtable import has_flag, uses_log_runner
from ..config.modes import BY_CLUSTER, ROUTES_STATIC
from ..config.rules import SWITCH_NETWORK_VSID
from ..errors import RenderError
from ..fsutil import atomic_write
from ..kversion import KubeVersion
from . import cluster, cni, flags, images, pslit, samples, signcheck

log = logging.getLogger(__name__)

# Installed (pip install, pipx): package data builder/_templates; in a checkout: the top-level folder.
_PACKAGED = Path(str(importlib.resources.files("builder").joinpath("_templates")))
TEMPLATES = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parent.parent.parent / "ps_templates"
ArgsFn = Callable[..., list[flags.Arg]]

# Folders and files under install_dir that scripts write at run time: none is in manifest.json,
# and install.ps1's check for files the manifest does not list leaves them alone.
RUNTIME_DIRS = ("logs", cni.LIVE_DIR, "state")
KUBELET_PORT = 10250
KUBEPROXY_HEALTH_PORT = 10256

# kubeadm's Windows contract: drive-less Linux paths that kubeadm and kubelet resolve on the
# system drive (sig-windows-tools PrepareNode.ps1).
KUBEADM_PATHS = {
    "kubeadm_bootstrap_kubeconfig": "C:\\etc\\kubernetes\\bootstrap-kubelet.conf",
    "kubeadm_kubelet_kubeconfig": "C:\\etc\\kubernetes\\kubelet.conf",
    "kubeadm_kubelet_config": "C:\\var\\lib\\kubelet\\config.yaml",
    "kubeadm_flags_env": "C:\\var\\lib\\kubelet\\kubeadm-flags.env",
    "kubeadm_cert_dir": "C:\\var\\lib\\kubelet\\pki",
    "kubeadm_pki_dir": "C:\\etc\\kubernetes\\pki",
    "kubeadm_pki_link": "C:\\var\\lib\\kubelet\\etc\\kubernetes\\pki",
    # kubelet resolves kubeadm's drive-less staticPodPath (/etc/kubernetes/manifests) against its config
    # file's folder: this is the folder it reads static pods from.
    "kubeadm_static_pod_dir": "C:\\var\\lib\\kubelet\\etc\\kubernetes\\manifests",
    # The two folders that hold every file above: private (Administrators and SYSTEM) before kubeadm runs.
    "kubeadm_dir": "C:\\etc\\kubernetes",
    "kubeadm_kubelet_dir": "C:\\var\\lib\\kubelet",
}


# The macros every script may call (`{{ blocks.arg_array(...) }}`): blocks more than one script writes.
MACROS = "_macros.ps1.j2"
# The functions more than one script needs, once: every script dot-sources it from its own folder.
NODE_FUNCTIONS = "node-functions.ps1"


@functools.cache
def environment() -> jinja2.Environment:
    """The one rendering environment: literals by construction, strict about undefined names.

    Templates may turn a name into code only through the filters below, each of which validates
    what it is given (`psvar`: `$Name`, `psword`: a bare word, `pscomment`: `# text`); every other
    printed value is a literal. The macros of MACROS are the functions of the global `blocks`, whose
    output is template text.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        finalize=pslit.finalize,
        # HTML autoescaping would be the wrong escape: PowerShell quoting is `finalize`'s job.
        autoescape=False,  # noqa: S701
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(psvar=pslit.var, psword=pslit.word, pscomment=pslit.comment)
    # In place before the macros are read: a macro calling another finds it there too.
    blocks = env.globals["blocks"] = types.SimpleNamespace()
    for name, macro in vars(env.get_template(MACROS).module).items():
        if isinstance(macro, jinja2.runtime.Macro):
            setattr(blocks, name, _as_template_text(macro))
    return env


@functools.cache
def doc_environment() -> jinja2.Environment:
    """The environment of the documents (README.txt): values print as the operator reads them.

    A document is read, not run: no value is quoted as code. What reaches it was checked like
    every context value (printable ASCII, no newline); `to_bytes` refuses anything else.
    """
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        finalize=text_value,
        autoescape=False,  # noqa: S701  (plain text: nothing to escape)
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def text_value(value: object) -> str:
    """A value as a document shows it: lists joined with commas, an empty value as (none)."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises UndefinedError here, naming the variable
    if isinstance(value, list | tuple):
        return ", ".join(text_value(v) for v in value) or "(none)"
    if value is None or value == "":
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _as_template_text(macro: jinja2.runtime.Macro) -> Callable[..., pslit.PsCode]:
    def call(*args: Any, **kwargs: Any) -> pslit.PsCode:
        return pslit.template_text(macro(*args, **kwargs))

    return call


# --------------------------------------------------------------------------- checks


def parse_version(git_version: str) -> KubeVersion:
    try:
        return KubeVersion.parse(git_version)
    except ValueError as err:
        msg = f"cannot render scripts for version {git_version!r}: {err}"
        raise RenderError(msg) from err


# --------------------------------------------------------------------------- context


def arg_code(arg: flags.Arg) -> pslit.PsCode:
    """One argument as a PowerShell expression: a literal, or a literal joined to a variable."""
    if arg.var:
        return pslit.concat(f"{arg.flag}=", arg.var)
    return pslit.PsCode(pslit.quote(f"{arg.flag}={arg.value}"))


def join_config_api(minor: tuple[int, int]) -> str:
    """The JoinConfiguration API kubeadm of this minor reads: v1beta2 (from 1.15) to 1.21, v1beta3
    1.22 to 1.30, v1beta4 from 1.31 (v1beta2 is refused from 1.27, v1beta3 deprecated from 1.31).
    Windows joins start at 1.16; join-node.ps1 of an older minor refuses to run."""
    if minor < (1, 22):
        return "kubeadm.k8s.io/v1beta2"
    if minor < (1, 31):
        return "kubeadm.k8s.io/v1beta3"
    return "kubeadm.k8s.io/v1beta4"


def firewall_rules(cfg: Config) -> list[dict[str, Any]]:
    """The inbound rules install.ps1 creates: one per port a node component listens on for others."""
    rules: list[dict[str, Any]] = [
        {"Name": "k8s-windows-bundle-kubelet", "Protocol": "TCP", "Port": KUBELET_PORT,
         "Why": "kubelet API: logs, exec, port-forward, metrics"},
        {"Name": "k8s-windows-bundle-kube-proxy-health", "Protocol": "TCP", "Port": KUBEPROXY_HEALTH_PORT,
         "Why": "kube-proxy health check for load balancers"},
    ]
    for port in mode_for(cfg.network.mode).firewall:
        number = getattr(cfg.network, port.port_key) if port.port_key else port.port
        rules.append({"Name": f"k8s-windows-bundle-{port.name}", "Protocol": port.protocol, "Port": number,
                      "Why": port.why})
    return rules


def mode_flags(mode: NetworkMode) -> dict[str, Any]:
    """What the templates know of the network mode: its record's facts, never its name to compare."""
    return {
        "hns_type": mode.hns_type,
        "pod_network_by": mode.pod_network_by,
        "routes_by": mode.routes_by,
        "encapsulation": mode.encapsulation,
        "runs_flanneld": mode.runs_flanneld,
        # The node's own kube-proxy needs a source VIP (a DaemonSet's script finds its own).
        "needs_source_vip": mode.kube_proxy.source_vip and mode.kube_proxy.on_node,
        "kube_proxy_on_node": mode.kube_proxy.on_node,
        "kube_proxy_daemonset": mode.kube_proxy.daemonset,
        "kube_proxy_replaced_by": mode.kube_proxy.replaced_by,
        "cni_by": mode.cni_by,
    }


def cluster_context(checked: VersionedConfig, built_images: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What the templates know of a network the cluster runs (empty values for the others)."""
    net = checked.mode.cluster
    cfg = checked.cfg
    if net is None:
        return {"cluster_cni": "", "cluster_backend": "", "cluster_ovs": False, "cluster_cni_bin_dir": "",
                "cluster_cni_conf_dir": "", "cluster_containerd": "", "cluster_files": [], "api_server": "",
                "calico_patch": "", "flannel_net_conf": "", "cluster_image_refs": [], "antrea_version": "",
                "image_archives": []}
    cp = cfg.network.control_plane_ip or ""
    files = list(cluster.manifest_names(checked))
    patch = json.dumps({"spec": cluster.calico_windows_spec(checked, net)}, sort_keys=True, separators=(",", ":"))
    return {
        "cluster_cni": net.cni,
        "cluster_backend": net.backend,
        "cluster_ovs": net.ovs,
        "cluster_cni_bin_dir": net.dirs.bin,
        "cluster_cni_conf_dir": net.dirs.conf,
        "cluster_containerd": ".".join(map(str, net.containerd_min)),
        "cluster_files": [f.replace("/", "\\") for f in files],
        "api_server": f"{cp}:{cfg.network.api_server_port}",
        "calico_patch": patch,
        "flannel_net_conf": json.dumps(cluster.flannel_net_conf(checked, net), separators=(", ", ": ")),
        "cluster_image_refs": sorted(image_references(checked, built_images, warn=False).values()),
        # images.offline: the archives install.ps1 imports into containerd (builder.bundle.offline_images).
        "image_archives": [f"{IMAGES_DIR}\\{row.role}.tar"
                           for row in cluster_images.built_offline(checked.mode, cfg.images.offline)],
        "antrea_version": cluster_images.ANTREA_VERSION,
    }


def context(checked: VersionedConfig, built_images: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every value any template uses, computed once; each is checked before a template sees it."""
    cfg, version, runtime = checked.cfg, checked.version, checked.runtime
    net, node = cfg.network, cfg.node
    by_cluster = checked.mode.cni_by == BY_CLUSTER
    # A CNI the cluster installs brings its own config: the node's scripts write none.
    conf: cni.Json = {"type": checked.mode.plugin_for(runtime), "ipam": {}} if by_cluster else cni.build(cfg, runtime)
    pause = images.pause_image(node, version)
    kubelet = flags.kubelet_args(version, runtime, cfg)
    proxy = flags.kubeproxy_args(version, runtime, cfg)
    switch = checked.switch_network
    ctx = {
        "version": str(version),
        "runtime": runtime,
        "mode": net.mode,  # printed for the operator; templates test the flags of mode_flags
        **mode_flags(checked.mode),
        **cluster_context(checked, built_images),
        "install_dir": node.install_dir,
        "node_functions": NODE_FUNCTIONS,
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
        "kubeproxy_args": [arg_code(a) for a in proxy],
        "kubelet_extra_args": list(node.kubelet_extra_args),
        "kubeproxy_extra_args": list(node.kubeproxy_extra_args),
        "kube_network_env": flags.uses_kube_network_env(version),
        "cni_plugin": conf["type"],
        "cni_plugin_file": conf["type"] if conf["type"].endswith(".exe") else conf["type"] + ".exe",
        "cni_template": cni.TEMPLATE.replace("/", "\\"),
        "cni_live_dir": cni.LIVE_DIR,
        "cni_policies_key": "AdditionalArgs" if "AdditionalArgs" in conf else "policies",
        "cni_route_gateway": "routes" in conf["ipam"],
        "cni_range_start": "rangeStart" in conf["ipam"],
        "net_conf": cni.NET_CONF.replace("/", "\\"),
        "dockershim": runtime == DOCKER,
        "uses_pause_image": any(a.flag == "--pod-infra-container-image" for a in kubelet),
    }
    ctx.update(images.host_check_context(node, version))
    ctx.update(_node_files_context(cfg, version, runtime))
    if checked.mode.cluster is not None:  # the DaemonSets' Windows build, if newer than node.min_build
        ctx["min_build"] = max(cfg.node.min_build, checked.mode.cluster.windows_build)
    ctx.update(signcheck.signature_context(cfg))
    for key, value in ctx.items():
        _check_value(key, value)
    return ctx


def service_flags(fn: ArgsFn, cfg: Config, version: KubeVersion, runtime: str) -> list[pslit.PsCode]:
    """What a component's arguments add when it runs as a Windows service (`--windows-service`): flags.py
    appends them to the foreground list, which Get-KubeletArgs and Get-KubeProxyArgs build once."""
    foreground, service = fn(version, runtime, cfg), fn(version, runtime, cfg, service=True)
    if service[:len(foreground)] != foreground:
        msg = f"{fn.__name__}: the service's arguments do not start with the foreground ones"
        raise RenderError(msg)
    return [arg_code(a) for a in service[len(foreground):]]


def kubelet_parts(cfg: Config, version: KubeVersion, runtime: str) -> dict[str, list[pslit.PsCode]]:
    """kubelet's arguments as Get-KubeletArgs writes them: what the plain and the kubeadm lists share at the
    start and at the end, and each one's identity between (its kubeconfigs, config file, certificates)."""
    plain = flags.kubelet_args(version, runtime, cfg)
    kubeadm = flags.kubelet_args(version, runtime, cfg, kubeadm=True)
    head = 0
    while head < min(len(plain), len(kubeadm)) and plain[head] == kubeadm[head]:
        head += 1
    tail = 0
    while tail < min(len(plain), len(kubeadm)) - head and plain[-1 - tail] == kubeadm[-1 - tail]:
        tail += 1
    return {
        "kubelet_head": [arg_code(a) for a in plain[:head]],
        "kubelet_identity": [arg_code(a) for a in plain[head:len(plain) - tail]],
        "kubelet_kubeadm_identity": [arg_code(a) for a in kubeadm[head:len(kubeadm) - tail]],
        "kubelet_tail": [arg_code(a) for a in plain[len(plain) - tail:]],
    }


def _node_files_context(cfg: Config, version: KubeVersion, runtime: str) -> dict[str, Any]:
    """What install.ps1, join-node.ps1 and README.txt need beyond the start scripts."""
    net = cfg.network
    minor = version.minor_key
    services = has_flag("kubelet", "--windows-service", minor, runtime)
    cp = net.control_plane_ip or ""
    kubeadm = "kubeadm" in cfg.kubernetes.components
    return {
        "min_build": cfg.node.min_build,
        "kubeadm": kubeadm,
        "components": list(cfg.kubernetes.components),
        "runtime_service": runtime,  # the runtime's Windows service is named after it
        "runtime_pipe": "\\\\.\\pipe\\docker_engine" if runtime == DOCKER else "\\\\.\\pipe\\containerd-containerd",
        "cri_socket": flags.DOCKER_ENDPOINT if runtime == DOCKER else flags.CONTAINERD_ENDPOINT,
        "bundle_runtime": cfg.node.bundle_runtime and runtime == CONTAINERD,
        "services_supported": services,
        **kubelet_parts(cfg, version, runtime),
        "kubelet_service_flags": service_flags(flags.kubelet_args, cfg, version, runtime),
        "kubeproxy_service_flags": service_flags(flags.kubeproxy_args, cfg, version, runtime),
        "service_logs": has_flag("kubelet", "--log-dir", minor, runtime),
        "log_runner": uses_log_runner(minor),
        "firewall_rules": firewall_rules(cfg),
        "runtime_dirs": list(RUNTIME_DIRS),
        "control_plane_endpoint": f"{cp}:{net.api_server_port}" if cp else "",
        "join_config_api": join_config_api(minor),
        # kubeadm shells out to crictl for a CRI runtime until 1.31 (kubernetes/kubernetes#124685).
        "kubeadm_needs_crictl": kubeadm and runtime == CONTAINERD and minor < (1, 31),
        **KUBEADM_PATHS,
        "images": dataclasses.asdict(images.images_for(cfg.node.windows_version)),
        "sample_files": list(samples.samples(cfg, version)),
        "sample_host_path": samples.SAMPLE_HOST_PATH,
        "lim": samples.limitations(version, cfg.node, kubeadm=kubeadm),
        "minor": list(minor),
        "files_digest": UNBOUND_FILES_DIGEST,  # pack binds it (builder.bundle.pack.bind_install)
        **upgrade_context(cfg, version, runtime),
    }


def start_order(cfg: Config, runtime: str) -> list[str]:
    """What starts the node, in order (upgrade.ps1 stops it in reverse): the bundle's containerd, the
    flanneld task (which makes the pod network), kubelet, kube-proxy (which depends on kubelet)."""
    mode = mode_for(cfg.network.mode)
    order = [CONTAINERD] if cfg.node.bundle_runtime and runtime == CONTAINERD else []  # its service: its name
    order += ["task:flanneld"] if mode.runs_flanneld else []
    return [*order, "kubelet", *(["kube-proxy"] if mode.kube_proxy.on_node else [])]


def upgrade_context(cfg: Config, version: KubeVersion, runtime: str) -> dict[str, Any]:
    order = start_order(cfg, runtime)
    return {
        "bundle_name": cfg.bundle.name,
        "start_order": order,
        "stop_order_text": ", ".join(p.replace("task:", "the ") + (" task" if p.startswith("task:") else "")
                                     for p in reversed(order)),
        # The version-skew policy: kubelet may be three minors older than the API server from 1.28, two before.
        "max_skip": 3 if version.minor_key >= (1, 28) else 2,
        # kubectl drain's flag for pods with emptyDir volumes (--delete-local-data before 1.20).
        "drain_emptydir_flag": "--delete-emptydir-data" if version.minor_key >= (1, 20) else "--delete-local-data",
    }


def _check_value(key: str, value: object) -> None:
    """Defence in depth behind builder.config: no control character or non-ASCII reaches a template."""
    if isinstance(value, str):
        if re.search(r"[^\x20-\x7e]", value):
            msg = f"value for {key} ({value!r}) has a control or non-ASCII character; fix the configuration"
            raise RenderError(msg)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_value(key, item)


# --------------------------------------------------------------------------- rendering


def render_template(name: str, ctx: Mapping[str, Any], *, doc: bool = False) -> str:
    """A script through the PowerShell environment; with `doc`, a document through the text one."""
    env = doc_environment() if doc else environment()
    try:
        return env.get_template(name).render(ctx)
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


@dataclass(frozen=True)
class Output:
    """One generated file: its template, where it goes in k/, its kind, and when it is part of the bundle."""

    template: str
    dest: str
    kind: str
    when: Callable[[Mapping[str, Any]], bool] = lambda ctx: True


# The one table of generated scripts and documents (samples and the CNI config are data, below).
OUTPUTS: tuple[Output, ...] = (
    Output("node-functions.ps1.j2", NODE_FUNCTIONS, "script"),
    Output("start-kubelet.ps1.j2", "start-kubelet.ps1", "script"),
    Output("start-kubeproxy.ps1.j2", "start-kubeproxy.ps1", "script", lambda ctx: bool(ctx["kube_proxy_on_node"])),
    Output("AddRoutes.ps1.j2", "AddRoutes.ps1", "script", lambda ctx: ctx["routes_by"] == ROUTES_STATIC),
    Output("start-flanneld.ps1.j2", "start-flanneld.ps1", "script", lambda ctx: bool(ctx["runs_flanneld"])),
    Output("install.ps1.j2", "install.ps1", "script"),
    Output("join-node.ps1.j2", "join-node.ps1", "script", lambda ctx: bool(ctx["kubeadm"])),
    Output("upgrade.ps1.j2", "upgrade.ps1", "script"),
    Output("uninstall.ps1.j2", "uninstall.ps1", "script"),
    Output("README.txt.j2", "README.txt", "doc"),
)


def render_bundle(cfg: Config, git_version: str, built_images: Mapping[str, str] | None = None) -> list[RenderedFile]:
    """Every generated file of the bundle's k/ folder, sorted by path: one check, one context, one pass.

    The check is `config.rules.check_for_version`, the preflight's own: render adds no rule of its own.
    """
    version = parse_version(git_version)
    checked = check_for_version(cfg, version)
    runtime = checked.runtime
    ctx = context(checked, built_images)
    files = [RenderedFile(o.dest, to_bytes(o.dest, render_template(o.template, ctx, doc=o.kind == "doc")), o.kind)
             for o in OUTPUTS if o.when(ctx)]
    for dest, text in cluster_manifests(checked, ctx, built_images).items():
        files.append(RenderedFile(dest, to_bytes(dest, text), "manifest"))
    data = {cni.TEMPLATE: cni.build(cfg, runtime)} if checked.mode.cni_by != BY_CLUSTER else {}
    if checked.mode.runs_flanneld:
        data[cni.NET_CONF] = cni.net_conf(cfg)
    for dest, conf in data.items():
        files.append(RenderedFile(dest, to_bytes(dest, cni.to_json(conf)), "config"))
    for dest, objects in samples.samples(cfg, version).items():
        text = samples.sample_yaml(dest, objects, version, cfg.node.windows_version)
        files.append(RenderedFile(dest, to_bytes(dest, text), "sample"))
    return sorted(files, key=lambda f: f.dest)


def image_references(checked: VersionedConfig, built: Mapping[str, str] | None = None, *,
                     warn: bool = True) -> dict[str, str]:
    """Each image role of the bundle's cluster manifests, pinned (config.rules refused an unpinned one
    unless --allow-unpinned: then it is named by tag, with a warning). With images.offline, the roles
    the bundle builds are named as `built` gives them (name@digest), or, rendered alone, by their local
    name and tag (verify reports that)."""
    cfg = checked.cfg
    flannel = cluster_images.flannel_version((s.name, s.version) for s in cfg.kit)
    wants = cluster_images.wanted(checked.mode, checked.version, cfg.images.registry, flannel, cfg.images.offline)
    for name in cluster_images.unpinned(wants, cfg.images.pins) if warn else ():
        log.warning("images: %s is not pinned by digest (--allow-unpinned): the manifests name it by tag, "
                    "and verify reports it", name)
    refs = {role: ref for role, ref in cluster_images.references(wants, cfg.images.pins).items()
            if role != cluster_images.HOSTPROCESS_BASE}  # what the bundle's images are built on, not run
    for row in cluster_images.built_offline(checked.mode, cfg.images.offline):
        refs[row.role] = (built or {}).get(row.role, cluster_images.local_name(row.role, checked.version))
    return refs


def cluster_manifests(checked: VersionedConfig, ctx: Mapping[str, Any],
                      built: Mapping[str, str] | None = None) -> dict[str, str]:
    """The text of each k/cluster/ manifest; their scripts rendered like every script of the bundle."""
    def script(name: str, extra: Mapping[str, Any]) -> str:
        return render_template(name, {**ctx, **extra})

    args = [arg_code(a) for a in flags.kubeproxy_args(checked.version, checked.runtime, checked.cfg)]
    found = cluster.manifests(checked, image_references(checked, built), checked.cfg.images.registry, script, args)
    return {dest: cluster.manifest_yaml(dest, objects, checked) for dest, objects in found.items()}


def write_files(files: list[RenderedFile], out: Path) -> None:
    """Write each file under `out` atomically."""
    for f in files:
        parts = f.dest.split("/")
        if f.dest.startswith("/") or any(p in ("", ".", "..") or "\\" in p for p in parts):
            msg = f"refusing to write {f.dest!r}: not a plain relative path"
            raise RenderError(msg)
        target = out.joinpath(*parts)
        try:
            atomic_write(target, f.data)
        except OSError as err:
            msg = f"cannot write {target}: {err}"
            raise RenderError(msg) from err
