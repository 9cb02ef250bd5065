"""The node contract, checked statically over rendered bundles (no Windows, no pwsh here).

For every network mode x runtime x a few minors:
- every file a script writes at run time is outside the set manifest.json tracks (a tracked file
  that changes on the node fails install.ps1's hash check, or is copied back over);
- every function the scripts call from hns.psm1 exists there with the named parameters they pass
  (tests/fixtures/hns-psm1-api.json, read from its param blocks at the pinned commit), and each
  call stops on an error (-ErrorAction Stop: the caller's preference does not reach a module);
- every install-folder path a script reads or starts is in the bundle, or is written by an earlier
  step of the documented flow (the run-time folders, the kubeconfig);
- every port a node component listens on for other machines has its firewall rule;
- install.ps1 changes nothing before every file is verified, and the host only after the copy;
- the services depend on what they need (kube-proxy on kubelet, kubelet on the runtime), and the
  services flow prepares the pod network (and the source VIP) before the service that needs it;
- README.txt names only scripts the bundle has, and only parameters start-kubelet.ps1 takes;
- where the cluster runs the network: no node-side kube-proxy or flanneld, containerd's CNI folders
  are the folders the cluster manifests mount, and every image a manifest names is pinned by digest.

The paths are followed through the scripts' own assignments (`$X = Join-Path $InstallDir 'y'`), so a
new write or read that this resolver cannot follow fails the test instead of passing unseen.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from pathlib import Path

import pytest
from cluster_support import containers, daemonset_scripts, manifests, pinned

from builder import psparse
from builder.artifacts import RenderedFile
from builder.config import NETWORK_MODES, Config, KubernetesSection, NetworkSection, NodeSection, mode_for, runtime_for
from builder.config.model import SigningSection
from builder.config.modes import BY_CLUSTER, BY_SCRIPTS
from builder.kversion import KubeVersion
from builder.node import cluster, render

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "hns-psm1-api.json"
HNS = json.loads(FIXTURE.read_text(encoding="utf-8"))
HNS_FUNCTIONS = {name.lower(): spec for name, spec in HNS["functions"].items()}
# hns.v2.psm1 of the same commit, imported with -Prefix V2: Get-HnsNetwork is called as Get-V2HnsNetwork.
HNS_V2 = json.loads((FIXTURE.parent / "hns-v2-psm1-api.json").read_text(encoding="utf-8"))
HNS_V2_FUNCTIONS = {name.lower().replace("-", "-v2", 1): spec for name, spec in HNS_V2["functions"].items()}
COMMON = {"erroraction", "warningaction", "verbose", "debug", "errorvariable", "outvariable",
          "informationaction", "pipelinevariable", "outbuffer", "warningvariable", "informationvariable"}
INSTALL = "<install>"
UNINSTALL = "uninstall.ps1"
UPGRADE = "upgrade.ps1"
# Variables that stand for the install folder (or the unpacked bundle, which holds the same files).
INSTALL_VARS = {"InstallDir", "target", "Dir", "BundleDir", "source"}


def bundle_binaries(cfg: Config, version: KubeVersion, runtime: str) -> set[str]:
    """What the other stages put in k/ beside the rendered files (build, fetch and the node kit)."""
    files = {"kubelet.exe", "kube-proxy.exe", "kubectl.exe", "hns.psm1", "hns.v2.psm1", "helper.psm1", "cni/wincni.exe",
             "manifest.json", "SHA256SUMS"}
    if mode_for(cfg.network.mode).cni_by == BY_SCRIPTS:
        files |= {"cni/win-bridge.exe", "cni/win-overlay.exe", "cni/host-local.exe"}
    if "kubeadm" in cfg.kubernetes.components:
        files.add("kubeadm.exe")
    if version.minor_key >= (1, 23):
        files.add("kube-log-runner.exe")
    if mode_for(cfg.network.mode).runs_flanneld:
        files.add("flanneld.exe")
    if cfg.node.bundle_runtime and runtime == "containerd":
        files |= {"containerd/containerd.exe", "containerd/containerd-shim-runhcs-v1.exe", "containerd/ctr.exe",
                  "crictl.exe"}
    return files


def make_config(mode: str, runtime: str | None, bundled: bool) -> Config:
    fixed_vni = mode_for(mode).vxlan_vni_fixed
    vni = fixed_vni.port if fixed_vni else 4096
    # The cluster's CNI names its network itself; the node's own modes take any name.
    name = mode_for(mode).default_network_name(vni) if mode_for(mode).cluster else "winnet"
    net = NetworkSection(mode=mode, cluster_cidr="10.200.0.0/16", service_cidr="10.100.0.0/16",
                         dns_service_ip="10.100.0.10", network_name=name, control_plane_ip="192.168.10.5",
                         vxlan_vni=vni)
    node = NodeSection(runtime=runtime, bundle_runtime=bundled, labels=(("example.com/pool", "win"),))
    kube = KubernetesSection(components=("kubelet", "kube-proxy", "kubectl", "kubeadm"))
    return Config(kubernetes=kube, network=net, node=node)


def cases() -> list[tuple[str, int, str, bool]]:
    out = []
    for mode in NETWORK_MODES:
        for minor in (16, 23, 26, 30, 37):
            if (1, minor) < mode_for(mode).since:
                continue
            runtimes = ["docker"] if minor < 18 else ["docker", "containerd"] if minor < 24 else ["containerd"]
            for runtime in (r for r in runtimes if r in mode_for(mode).runtimes):
                out.append((mode, minor, runtime, False))
                if runtime == "containerd":
                    out.append((mode, minor, runtime, True))
    return out


@dataclasses.dataclass
class Bundle:
    cfg: Config
    version: KubeVersion
    runtime: str
    files: dict[str, RenderedFile]

    @property
    def tracked(self) -> set[str]:
        return set(self.files) | bundle_binaries(self.cfg, self.version, self.runtime)

    def text(self, name: str) -> str:
        return self.files[name].data.decode("ascii").replace("\r\n", "\n")

    def script(self, name: str) -> str:
        """The script as PowerShell runs it: node-functions.ps1's functions it calls stand where it loads them."""
        text = self.text(name)
        return as_run(text, self.text(LIB)) if DOT_SOURCE in text else text

    @property
    def scripts(self) -> dict[str, str]:
        """Every script the operator or another script runs (the shared functions inside those that call them)."""
        return {d: self.script(d) for d in self.files if d.endswith(".ps1") and d != LIB}


LIB = render.NODE_FUNCTIONS
DOT_SOURCE = f". (Join-Path $PSScriptRoot '{LIB}')"
# A top-level function: its name, and its body (the lines between its first and its closing line).
FUNCTION_RE = re.compile(r"^function ([\w-]+)\b[^\n]*\{\n(.*?)^\}\n", re.MULTILINE | re.DOTALL)


def first_call(text: str, name: str) -> int:
    """Where `text` first names the command `name` (not a variable, not a longer name); -1 when it does not."""
    m = re.search(rf"(?<![\w$-]){re.escape(name)}(?![\w-])", text)
    return -1 if m is None else m.start()


@functools.cache
def as_run(script: str, lib: str) -> str:
    """`script` with the line that dot-sources `lib` replaced by what it defines that the script uses: the lib's
    statements outside functions, and each function the script calls (or a function it calls does), in the
    lib's order."""
    defs = {m.group(1): m.group(0) for m in FUNCTION_RE.finditer(lib)}
    used: set[str] = set()
    todo = [script]
    while todo:
        text = todo.pop()
        for name, definition in defs.items():
            if name not in used and first_call(text, name) >= 0:
                used.add(name)
                todo.append(definition)
    body = FUNCTION_RE.sub("", re.sub(r"<#.*?#>\n", "", lib, flags=re.DOTALL)).strip("\n")
    body += "\n" + "".join(d for n, d in defs.items() if n in used)
    return script.replace(DOT_SOURCE, body, 1)


def render_bundle(mode: str, minor: int, runtime: str, bundled: bool, signing: SigningSection | None = None) -> Bundle:
    version = KubeVersion(1, minor, 0)
    cfg = pinned(make_config(mode, runtime, bundled), [str(version)])
    if signing is not None:
        cfg = dataclasses.replace(cfg, signing=signing)
    assert runtime_for(cfg.node, version) == runtime
    files = {f.dest: f for f in render.render_bundle(cfg, str(version))}
    return Bundle(cfg, version, runtime, files)


# --------------------------------------------------------------------------- resolving paths


def code_lines(script: str) -> list[str]:
    """Script lines without the comment-based help block and line comments."""
    body = re.sub(r"<#.*?#>", "", script, flags=re.DOTALL)
    return [line for line in body.split("\n") if not line.lstrip().startswith("#")]


def assignments(script: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in code_lines(script):
        for m in re.finditer(r"(?:^\s*|\{ )\$(?:script:)?(\w+) = (.+?)(?: \}|\s*)$", line):
            found.setdefault(m.group(1), []).append(m.group(2))
    return found


def resolve(expr: str, assigned: dict[str, list[str]], depth: int = 0) -> set[str]:
    """Each path an expression can be: '<install>\\rel', 'outside:<text>' or 'unknown:<expr>'."""
    expr = expr.strip()
    if expr.startswith("(Join-Path ") and expr.endswith(")"):
        expr = expr[1:-1]
    if depth > 12:
        return {f"unknown:{expr}"}
    if re.fullmatch(r"\[System\.IO\.Path\]::GetFullPath\(\$(InstallDir|BundleDir)\)\.TrimEnd\('\\'\)", expr):
        return {INSTALL}
    if expr in OUTSIDE_EXPRS:
        return {f"outside:{expr}"}
    m = re.fullmatch(r"\((\$\w+) \+ '\.' \+ .+\)", expr)  # a sibling file: <path>.<time>.bak
    if m:
        return {p if not p.startswith(INSTALL) else p + ".<suffix>" for p in resolve(m.group(1), assigned, depth + 1)}
    m = re.fullmatch(r"Join-Path (\$[\w:]+|\(.+?\)) (.+)", expr)
    if m:
        child = child_name(m.group(2))
        return {b if b.startswith(("outside:", "unknown:")) else f"{b}\\{child}"
                for b in resolve(m.group(1), assigned, depth + 1)}
    m = re.fullmatch(r"\(Split-Path -Parent (.+)\)", expr)
    if m:
        return {p.rsplit("\\", 1)[0] if p.startswith(INSTALL + "\\") else p
                for p in resolve(m.group(1), assigned, depth + 1)}
    if re.match(r"\$env:\w+", expr):
        return {f"outside:{expr}"}
    m = re.fullmatch(r"\$(\w+)", expr)
    if m:
        name = m.group(1)
        if name in INSTALL_VARS:
            return {INSTALL}
        if name == "env:TEMP":
            return {"outside:%TEMP%"}
        if name not in assigned:
            return {f"unknown:{expr}"}
        out: set[str] = set()
        for value in assigned[name]:
            out |= resolve(value, assigned, depth + 1)
        return out
    if re.fullmatch(r"'[A-Za-z]:\\[^']*'", expr) or expr.startswith("$env:"):
        return {f"outside:{expr}"}
    return {f"unknown:{expr}"}


def child_name(text: str) -> str:
    text = text.strip()
    if re.fullmatch(r"'[^']*'", text):
        return text[1:-1]
    m = re.fullmatch(r"\(\$(\w+) \+ '([^']*)'\)", text)
    if m:
        return f"<{m.group(1)}>{m.group(2)}"
    m = re.fullmatch(r"\$(\w+)", text)
    if m:
        return f"<{m.group(1)}>"
    return f"<{text}>"


def as_pattern(rel: str) -> re.Pattern[str]:
    """An install-relative path with <Var> placeholders as a regex over bundle paths ('/' separated)."""
    parts = re.split(r"(<[^>]+>)", rel.replace("\\", "/"))
    return re.compile("".join("[^/]+" if p.startswith("<") else re.escape(p) for p in parts), re.IGNORECASE)


def relative(path: str) -> str:
    assert path.startswith(INSTALL)
    return path[len(INSTALL) + 1:]


# --------------------------------------------------------------------------- writes

# Writes that are the install itself, not run time: install.ps1 copies the verified bundle files.
INSTALL_COPY = "Copy-Item -LiteralPath (Join-Path $source $rel) -Destination $dest -Force"
WRITE_SITES = (
    re.compile(r"Set-Content -(?:Literal)?Path (\$\w+)"),
    re.compile(r"\[System\.IO\.File\]::WriteAll(?:Text|Bytes)\((\$\w+)"),
    re.compile(r"Write-ContainerdConfig (\$[\w.]+)"),
    re.compile(r"Copy-Item .*?-Destination (\$\w+|\(.+?\))"),
    re.compile(r"New-Item -ItemType (?:File|SymbolicLink) .*?-Path (\$\w+|'[^']+')"),
    re.compile(r"Get-ChildItem -LiteralPath (\$\w+) .*\| Remove-Item"),
    re.compile(r"Remove-Item -LiteralPath (\$\w+)"),
)
# Function parameters, by script, and what their callers pass.
PARAMETERS = {("join-node.ps1", "File"): ["$configFile"],
              ("install.ps1", "File"): ["$configPath", "$bundledConfig"],
              ("install.ps1", "Path"): ["$kubeconfigTarget"],
              ("join-node.ps1", "Path"): []}
# Targets outside the install folder by construction: containerd's own config (read from its service).
OUTSIDE_EXPRS = {"$ContainerdConfigTarget.Path"}


def runtime_writes(name: str, script: str) -> list[tuple[str, set[str]]]:
    assigned = assignments(script)
    for (where, param), value in PARAMETERS.items():
        if where == name:
            assigned.setdefault(param, []).extend(v for v in value if v[1:] in assigned)
    out = []
    for line in code_lines(script):
        if INSTALL_COPY in line:
            continue
        for site in WRITE_SITES:
            for m in site.finditer(line):
                target = m.group(1)
                paths = resolve(target, assigned)
                out.append((line.strip(), paths))
    return out


def check_writes(b: Bundle) -> list[str]:
    problems = []
    runtime_dirs = [d.replace("\\", "/") for d in render.RUNTIME_DIRS]
    for name, script in b.scripts.items():
        if name in (UNINSTALL, UPGRADE):  # they remove and swap the bundle's own files: check_uninstall, check_upgrade
            continue
        for line, paths in runtime_writes(name, script):
            for p in paths:
                if p.startswith("unknown:"):
                    problems.append(f"{name}: cannot follow the path written by: {line} ({p})")
                    continue
                if p.startswith("outside:"):
                    continue
                rel = relative(p).replace("<Kubeconfig>", b.cfg.node.kubeconfig)
                pattern = as_pattern(rel)
                hits = sorted(t for t in b.tracked if pattern.fullmatch(t) or t.lower().startswith(
                    rel.replace("\\", "/").lower() + "/"))
                if hits:
                    problems.append(f"{name}: writes {rel}, which manifest.json tracks ({hits[0]}): {line}")
                under = any(rel.replace("\\", "/").lower().startswith(d.lower() + "/") or
                            rel.replace("\\", "/").lower() == d.lower() for d in runtime_dirs)
                if not under and rel != b.cfg.node.kubeconfig:
                    problems.append(f"{name}: writes {rel}, outside the run-time folders {runtime_dirs}: {line}")
    return problems


# --------------------------------------------------------------------------- reads and started binaries


def install_paths(script: str) -> list[tuple[str, str]]:
    """Every install-folder path a script names (Join-Path on the install folder), resolved."""
    assigned = assignments(script)
    out = []
    for line in code_lines(script):
        for m in re.finditer(r"Join-Path (\$\w+) ('[^']*'|\(\$\w+ \+ '[^']*'\)|\$\w+)", line):
            for p in resolve(f"Join-Path {m.group(1)} {m.group(2)}", assigned):
                if p.startswith(INSTALL + "\\"):
                    out.append((line.strip(), relative(p)))
    return out


def check_reads(b: Bundle) -> list[str]:
    problems = []
    runtime_dirs = [d.replace("\\", "/").lower() for d in render.RUNTIME_DIRS]
    tracked = {t.lower() for t in b.tracked}
    tracked_dirs = {t.rsplit("/", 1)[0] for t in tracked if "/" in t}
    for name, script in b.scripts.items():
        for line, rel in install_paths(script):
            path = rel.replace("\\", "/").lower()
            if "<" in path:
                pattern = as_pattern(path)
                ok = any(pattern.fullmatch(t) for t in tracked) or any(
                    path.startswith(d + "/") for d in runtime_dirs) or path in ("<kubeconfig>", "<rel>")
            else:
                ok = path in tracked or path in tracked_dirs or path == "" or any(
                    path == d or path.startswith(d + "/") for d in runtime_dirs)
            if not ok:
                problems.append(f"{name}: names {rel}, which is neither in the bundle nor made by the flow: {line}")
    return problems


def started_binaries(script: str) -> list[tuple[str, set[str]]]:
    assigned = assignments(script)
    out = []
    for line in code_lines(script):
        m = re.search(r"(?:^|[;{(|]\s*)& (\$\w+|\(Join-Path .+?\)) @", line)
        if m:
            target = m.group(1)
            target = target[1:-1] if target.startswith("(") else target
            out.append((line.strip(), resolve(target, assigned)))
    return out


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize(("mode", "minor", "runtime", "bundled"), cases())
def test_node_contract(mode: str, minor: int, runtime: str, bundled: bool) -> None:
    b = render_bundle(mode, minor, runtime, bundled)
    for name in (LIB, *b.scripts):
        assert psparse.parse_errors(b.text(name)) == [], name
    assert check_shared_functions(b) == []
    assert check_writes(b) == []
    assert check_reads(b) == []
    for name, script in b.scripts.items():
        for line, paths in started_binaries(script):
            for p in paths:
                if p.startswith(INSTALL + "\\"):
                    assert relative(p).replace("\\", "/") in b.tracked, f"{name} starts {p}, not bundled: {line}"
    assert check_hns_calls(b) == []
    assert check_firewall(b) == []
    assert check_arguments_defined(b) == []
    assert check_install_strict(b) == []
    assert check_install_order(b) == []
    assert check_services(b) == []
    assert check_script_calls(b) == []
    assert check_readme(b) == []
    assert check_cluster_network(b) == []
    assert check_running_processes(b) == []
    assert check_overlay_host_route(b) == []
    assert check_pod_network_reuse(b) == []
    assert check_one_kubelet(b) == []
    assert check_secrets_private(b) == []
    assert check_uninstall(b) == []
    assert check_upgrade(b) == []


def check_shared_functions(b: Bundle) -> list[str]:
    """A script that calls a function of node-functions.ps1 loads it first; no script defines one again."""
    lib = b.text(LIB)
    shared = [m.group(1) for m in FUNCTION_RE.finditer(lib)]
    problems = [f"{LIB} runs {line!r}: it only defines functions" for line in code_lines(FUNCTION_RE.sub("", lib))
                if line.strip() and not line.startswith("$OrdinarySids = ")]
    for name in b.scripts:
        text = "\n".join(code_lines(b.text(name)))
        loaded = text.find(DOT_SOURCE)
        defined = {m.group(1) for m in FUNCTION_RE.finditer(text)}
        for fn in shared:
            if fn in defined:
                problems.append(f"{name} defines {fn} again")
            at = first_call(text, fn)
            if at >= 0 and not 0 <= loaded < at:
                problems.append(f"{name} calls {fn} before it loads {LIB}")
    return problems


def function_body(script: str, name: str) -> str | None:
    body = next((m.group(2) for m in FUNCTION_RE.finditer(script) if m.group(1) == name), None)
    return None if body is None else "\n".join(code_lines(body))


# What a service, the flanneld task or containerd keeps running (a pod's shim outlives containerd).
LONG_RUNNING = {"kubelet", "kube-proxy", "flanneld", "containerd", "containerd-shim-runhcs-v1"}


def check_running_processes(b: Bundle) -> list[str]:
    """install.ps1 copies over the bundle's executables: each one that keeps running is in its check."""
    body = function_body(b.script("install.ps1"), "Test-NotRunning") or ""
    named = set(re.findall(r"'([\w-]+)'", body))
    shipped = {t.rsplit("/", 1)[-1].removesuffix(".exe") for t in b.tracked if t.endswith(".exe")}
    missing = sorted((shipped & LONG_RUNNING) - named)
    return [f"install.ps1 copies {m}.exe, and does not check whether it runs" for m in missing]


def check_overlay_host_route(b: Bundle) -> list[str]:
    """An Overlay pod network the scripts create gets HNS's HostRoute policy (hns.v2.psm1, bundled), without
    which the host cannot reach its own pods and kubelet's probes time out."""
    problems = []
    for name, script in b.scripts.items():
        body = function_body(script, "New-PodNetwork") or ""
        if "New-HNSNetwork -Type Overlay" not in body:
            continue
        code = "\n".join(code_lines(script))
        if "Add-HostRoutePolicy (Assert-HnsNetwork $NetworkName)" not in body or "New-V2HnsHostRoutePolicy" not in (
                function_body(script, "Add-HostRoutePolicy") or ""):
            problems.append(f"{name}: the Overlay pod network gets no HostRoute policy")
        imported = re.findall(r"Import-Module \(Join-Path \$InstallDir '([\w.]+)'\) -Prefix 'V2'", code)
        if imported != ["hns.v2.psm1"] or "hns.v2.psm1" not in b.tracked:
            problems.append(f"{name}: calls HNS v2 without importing the bundled hns.v2.psm1 as V2 ({imported})")
    return problems


def check_pod_network_reuse(b: Bundle) -> list[str]:
    """An existing pod network is kept only while its subnet is the node's podCIDR; a stale one goes, its
    endpoints first (HNS keeps a network that has endpoints)."""
    problems = []
    for name, script in b.scripts.items():
        body = function_body(script, "New-PodNetwork") or ""
        if "New-HNSNetwork" not in body:
            continue
        keep = body.find("Test-HnsNetworkSubnet $existing $PodCidr")
        remove = body.find("Remove-HnsNetworkWithEndpoints")
        if not 0 <= keep < remove:
            problems.append(f"{name}: keeps an existing pod network without comparing its subnet with the podCIDR")
        fn = function_body(script, "Remove-HnsNetworkWithEndpoints") or ""
        endpoints, network = fn.find("-Method DELETE -Type endpoints"), fn.find("-Method DELETE -Type networks")
        if not 0 <= endpoints < network:
            problems.append(f"{name}: removes a pod network before its endpoints")
    return problems


def check_one_kubelet(b: Bundle) -> list[str]:
    """No script starts a kubelet beside the kubelet service: start-kubelet.ps1 registers the node with a
    kubelet of its own only when no kubelet service runs, and join-node.ps1 (kubeadm started the service)
    waits for the podCIDR before it sets up the network."""
    problems = []
    body = function_body(b.script("start-kubelet.ps1"), "Wait-PodCidr")
    if body is not None:
        guard, start = body.find("Get-Service -Name 'kubelet'"), body.find("Start-Process -FilePath $KubeletExe")
        if not 0 <= guard < start:
            problems.append("start-kubelet.ps1 starts a kubelet to register the node beside a kubelet service")
    join = b.scripts.get("join-node.ps1")
    if join is not None and "@networkArgs" in join:
        flow = in_run_order(join)
        if not 0 <= flow.find("Get-PodCidr $KubectlExe $KubeletKubeconfig") < flow.find("@networkArgs"):
            problems.append("join-node.ps1 sets up the network before the node has a podCIDR")
    return problems


def check_secrets_private(b: Bundle) -> list[str]:
    """Every folder and file that holds a secret is private (Administrators and SYSTEM) before one is written:
    install.ps1 writes the kubeconfig into a file made private first and makes state\\ private before any
    script writes there; join-node.ps1 makes kubeadm's folders private before kubeadm join, and every
    kubeadm path is below one of them."""
    problems = []
    install = b.script("install.ps1")
    write = function_body(install, "Write-PrivateFile") or ""
    if not 0 <= write.find("Set-PrivateAcl $Path") < write.find("WriteAllBytes($Path"):
        problems.append("install.ps1: Write-PrivateFile writes before it sets the ACL")
    kube_writes = [line for line, paths in runtime_writes("install.ps1", install)
                   if any(p == f"{INSTALL}\\<Kubeconfig>" for p in paths)]
    if kube_writes != ["New-Item -ItemType File -Force -Path $Path | Out-Null",
                       "[System.IO.File]::WriteAllBytes($Path, $Bytes)"]:
        problems.append(f"install.ps1: the kubeconfig is written other than by Write-PrivateFile: {kube_writes}")
    secrets = function_body(install, "Get-SecretPaths") or ""
    wanted = ["(Join-Path $InstallDir $Kubeconfig)", "(Join-Path $InstallDir 'state')"]
    if "kubeadm" in b.cfg.kubernetes.components:
        wanted += [f"'{render.KUBEADM_PATHS['kubeadm_dir']}'", f"'{render.KUBEADM_PATHS['kubeadm_kubelet_dir']}'"]
    problems += [f"install.ps1: {w} is not among the secret paths" for w in wanted if w not in secrets]
    private = install.find("if (Test-Path -LiteralPath $path) { Set-PrivateAcl $path }")
    for later in ("Write-PrivateFile $kubeconfigTarget", "@networkArgs", "@prepareArgs", "Install-BundledContainerd\n"):
        at = install.find(later)
        if at >= 0 and not 0 <= private < at:
            problems.append(f"install.ps1: {later.strip()} before the secrets' folders are private")
    join = b.scripts.get("join-node.ps1")
    if join is not None:
        folders = [render.KUBEADM_PATHS["kubeadm_dir"], render.KUBEADM_PATHS["kubeadm_kubelet_dir"]]
        made = join.find(f"foreach ($dir in @('{folders[0]}', '{folders[1]}')) {{ New-PrivateFolder $dir }}")
        for later in ("& $kubeadmExe @joinArgs", "Register-NodeService 'kubelet'", "New-Item -ItemType SymbolicLink"):
            if not 0 <= made < join.find(later):
                problems.append(f"join-node.ps1: {later} before kubeadm's folders are private")
        for key, path in render.KUBEADM_PATHS.items():
            if not any(path.lower().startswith(f.lower()) for f in folders):
                problems.append(f"join-node.ps1: {key} ({path}) is outside the private folders {folders}")
    return problems


CHANGES_RE = re.compile(r"(?:^\s*|[{;]\s+)(Remove-\w+|Stop-\w+|Unregister-\w+|& sc\.exe|& \$kubeadmExe|"
                        r"& \$containerdExe)\b")


def unguarded_changes(script: str) -> list[str]:
    """Lines that change the host outside an `if (... ShouldProcess(...)) {` block: -WhatIf would run them."""
    out, stack = [], []
    own = {m.lower() for m in re.findall(r"^function ([\w-]+)", script, re.MULTILINE)}
    for line in code_lines(script):
        stripped = line.strip()
        if stripped.startswith("}"):
            if stack:
                stack.pop()
            if stripped.endswith("{"):  # } else {
                stack.append(False)
            continue
        changes = [c for c in CHANGES_RE.findall(line) if c.lower() not in own]
        if changes and "ShouldProcess(" not in line and not any(stack):
            out.append(stripped)
        if stripped.endswith("{"):
            stack.append("ShouldProcess(" in line)
    return out


def check_uninstall(b: Bundle) -> list[str]:
    """uninstall.ps1 removes every service, task, firewall rule, HNS network and registry value the other
    scripts create, and changes nothing under -WhatIf."""
    un = b.script(UNINSTALL)
    problems = []
    others = {n: s for n, s in b.scripts.items() if n != UNINSTALL}
    services = {m.group(1) for s in others.values() for m in SERVICE_RE.finditer(s)}
    removed = set(re.findall(r"^Remove-NodeService '([\w-]+)'", un, re.MULTILINE))
    problems += [f"uninstall.ps1 leaves the service {s}" for s in sorted(services - removed)]
    if any("@('--register-service'" in s for s in others.values()) and "@('--unregister-service')" not in un:
        problems.append("uninstall.ps1 leaves the bundle's containerd service")
    tasks = {t for s in others.values() for t in re.findall(r"Register-ScheduledTask -TaskName '([\w-]+)'", s)}
    problems += [f"uninstall.ps1 leaves the scheduled task {t}" for t in sorted(tasks)
                 if f"Unregister-ScheduledTask -TaskName '{t}'" not in un]
    for s in others.values():
        for key in re.findall(r"-Path (?:'|\()'?HKLM:\\SYSTEM\\CurrentControlSet\\Services\\([\w-]*)", s):
            if key and key not in removed | {"containerd"}:
                problems.append(f"uninstall.ps1 leaves the registry key of the service {key}")
    rule = re.compile(r"'Name' = '(k8s-windows-bundle-[\w-]+)'")
    same = set(rule.findall(b.script("install.ps1"))) == set(rule.findall(un))
    if not same or "Remove-NetFirewallRule -Name $rule.Name" not in un:
        problems.append("uninstall.ps1 does not remove exactly install.ps1's firewall rules")
    # The node's scripts (or its flanneld) make the pod network and the vSwitch's External network.
    by_node = mode_for(b.cfg.network.mode).pod_network_by != BY_CLUSTER
    if by_node and "foreach ($name in @($NetworkName, 'External'))" not in un:
        problems.append("uninstall.ps1 leaves the HNS networks the scripts made")
    if "kubeadm" in b.cfg.kubernetes.components:
        for key in ("kubeadm_dir", "kubeadm_kubelet_dir"):
            if f"'{render.KUBEADM_PATHS[key]}'" not in un:
                problems.append(f"uninstall.ps1 leaves {render.KUBEADM_PATHS[key]}")
    problems += [f"uninstall.ps1 changes the host under -WhatIf: {line}" for line in unguarded_changes(un)]
    return problems


def start_order(b: Bundle) -> list[str]:
    """What install.ps1's flow starts, in its order: the bundle's containerd, the flanneld task, the services."""
    flow = in_run_order(b.script("install.ps1"))
    found = [(m.start(), m.group(1)) for m in SERVICE_RE.finditer(flow)]
    parts = (("\nInstall-BundledContainerd\n", "containerd"), ("Register-FlanneldTask $target", "task:flanneld"))
    for needle, part in parts:
        if needle in flow:
            found.append((flow.index(needle), part))
    return [part for _, part in sorted(found)]


def check_upgrade(b: Bundle) -> list[str]:
    """upgrade.ps1 stops in the reverse of the order install.ps1 starts things, moves only the files a
    bundle's manifest lists (every state path stays), and removes only its own staging folders."""
    up = b.script(UPGRADE)
    problems = []
    listed = re.search(r"^\$StartOrder = @\(@\((.*)\)\)$", up, re.MULTILINE)
    order = [p.strip("'") for p in listed.group(1).split(", ")] if listed else []
    if order != start_order(b):
        problems.append(f"upgrade.ps1 starts {order}, install.ps1 {start_order(b)}")
    stop = function_body(up, "Stop-NodeParts") or ""
    if "$order = @($StartOrder)\n    [array]::Reverse($order)\n    foreach ($part in $order) {" not in stop:
        problems.append("upgrade.ps1 does not stop in the reverse start order")
    bundle_files = function_body(up, "Get-BundleFiles") or ""
    if "foreach ($entry in @($Manifest.files))" not in bundle_files:
        problems.append("upgrade.ps1: the files it moves are not the manifest's")
    for m in re.finditer(r"(?:Move-BundleFiles|Copy-Verified) \S+ \S+ (.+)$", "\n".join(code_lines(up)), re.MULTILINE):
        if m.group(1) not in ("@($record.fromFiles)", "@($record.toFiles)", "$newFiles", "@($Record.fromFiles)",
                              "$newManifest"):
            problems.append(f"upgrade.ps1 moves files no manifest lists: {m.group(0)}")
    for target in re.findall(r"Remove-Item -LiteralPath (\S+)", up):
        if target not in ("$StagingDir", "$PreviousDir", "$dest"):
            problems.append(f"upgrade.ps1 removes {target}")
    return problems


def hns_calls(script: str) -> list[tuple[str, str, list[str]]]:
    defined = {m.lower() for m in re.findall(r"^function ([\w-]+)", script, re.MULTILINE)}
    out = []
    for raw in code_lines(script):
        line = re.sub(r'"[^"]*"', '""', raw)  # messages name cmdlets too
        for m in re.finditer(r"\b((?:Get|Set|New|Remove|Attach|Detach|Invoke)-(?:V2)?HNS\w*)\b([^|]*)", line,
                             re.IGNORECASE):
            name = m.group(1)
            if name.lower() in defined or line.lstrip().startswith("function "):
                continue
            out.append((line.strip(), name, re.findall(r"\s-(\w+)", m.group(2))))
    return out


def check_hns_calls(b: Bundle) -> list[str]:
    problems = []
    for name, script in b.scripts.items():
        for line, fn, params in hns_calls(script):
            spec = (HNS_V2_FUNCTIONS if fn.lower().split("-", 1)[1].startswith("v2") else HNS_FUNCTIONS).get(fn.lower())
            if spec is None:
                problems.append(f"{name}: calls {fn}, which hns.psm1 (or hns.v2.psm1 as V2) does not define: {line}")
                continue
            known = {p.lower() for p in spec["params"]} | (COMMON if spec["advanced"] else set())
            problems += [f"{name}: {fn} has no parameter -{p}: {line}" for p in params if p.lower() not in known]
            if "ErrorAction" not in params:
                problems.append(f"{name}: {fn} without -ErrorAction Stop (an HNS error would not stop the script): "
                                f"{line}")
    return problems


def check_firewall(b: Bundle) -> list[str]:
    """kubelet serves its API on 10250 and kube-proxy its health check on 10256; VXLAN needs its UDP port."""
    install = b.script("install.ps1")
    rules = set(re.findall(r"'Protocol' = '(TCP|UDP)'; 'Port' = (\d+)", install))
    wanted = {("TCP", "10250"), ("TCP", "10256")}
    for port in mode_for(b.cfg.network.mode).firewall:  # VXLAN's port, BGP, Geneve, an agent's own
        wanted.add((port.protocol, str(getattr(b.cfg.network, port.port_key) if port.port_key else port.port)))
    problems = [f"no firewall rule for {proto} {port}" for proto, port in sorted(wanted - rules)]
    if "New-NetFirewallRule -Name $rule.Name" not in install or "Get-NetFirewallRule -Name $rule.Name" not in install:
        problems.append("firewall rules are not named and created once")
    return problems


def check_arguments_defined(b: Bundle) -> list[str]:
    """Every `('--flag=' + $Var)` argument names a variable its script sets (StrictMode stops on others)."""
    problems = []
    for name, script in b.scripts.items():
        known = set(assignments(script)) | set(re.findall(r"\] \$(\w+)(?: =|,|\n|\))", script))
        known |= set(re.findall(r"\[(?:string|int|switch)\] \$(\w+)", script))
        for var in sorted(set(re.findall(r"\('--[\w-]+=' \+ \$(\w+)\)", script))):
            if var not in known:
                problems.append(f"{name}: an argument uses ${var}, which the script never sets")
    return problems


def check_install_strict(b: Bundle) -> list[str]:
    """install.ps1 is strict: no file beside the bundle's unless listed, hidden ones too; the run-time
    folders it leaves alone are exactly those the scripts write; the ACL before anything runs."""
    install = b.script("install.ps1")
    problems = []
    for needed in ("Get-ChildItem -LiteralPath $BundleDir -Recurse -File -Force",
                   "list it with -AllowExtraFiles", "[string[]] $AllowExtraFiles = @(),", "[switch] $CheckOnly,",
                   "\nSet-InstallAcl $target\n"):
        if needed not in install:
            problems.append(f"install.ps1 lacks: {needed!r}")
    dirs = re.search(r"\$RuntimeDirs = @\(@\((.*)\)\)", install)
    if dirs is None or [d.strip("'") for d in dirs.group(1).split(", ")] != list(render.RUNTIME_DIRS):
        problems.append("install.ps1's run-time folders differ from render.RUNTIME_DIRS")
    acl = install.find("\nSet-InstallAcl $target\n")
    for later in ("Register-NodeService '", "$registerArgs = @('--register-service'", "\nSet-FirewallRules\n"):
        at = install.find(later, acl + 1)
        if later in install and (acl < 0 or at < acl):
            problems.append(f"install.ps1: {later.strip()} before the install folder's ACL")
    return problems


def script_params(script: str) -> set[str]:
    block = script[script.index("Param(") + 6:]
    return set(re.findall(r"\] \$(\w+)", block[:block.index("\n)\n")]))


def check_script_calls(b: Bundle) -> list[str]:
    """A script run by another (install.ps1 -RegisterServices and join-node.ps1 run start-kubelet.ps1
    -NetworkOnly, start-kubeproxy.ps1 -PrepareOnly) gets only parameters it has: an unknown one stops
    the caller half-way through."""
    problems = []
    for name, script in b.scripts.items():
        for call in re.finditer(r"& \(Join-Path \$\w+ '([\w-]+\.ps1)'\)(?: @(\w+)| (-\w+.*))?$", script, re.MULTILINE):
            target, var, direct = call.groups()
            if target not in b.scripts:
                problems.append(f"{name}: runs {target}, which is not in this bundle")
                continue
            if var is None:  # the parameters on the line itself (or none)
                keys = set(re.findall(r"(?<!\S)-(\w+)", direct or ""))
            else:
                before = script[:call.start()]
                tables = re.findall(rf"\${var} (?:\+)?= @\{{ (.*) \}}\n", before)  # the table and what += adds
                if not tables:
                    problems.append(f"{name}: cannot read the parameters it passes to {target} (${var})")
                    continue
                keys = {kv.split(" = ")[0] for table in tables for kv in table.split("; ")}
            problems += [f"{name}: passes -{k} to {target}, which has no such parameter"
                         for k in sorted(keys - script_params(b.scripts[target]))]
    return problems


def first(script: str, needle: str) -> int:
    """Where a line that holds `needle` starts (line comments and help excluded); -1 when none does."""
    at = 0
    for line in script.split("\n"):
        if needle in line and not line.lstrip().startswith("#"):
            return at
        at += len(line) + 1
    return -1


def check_install_order(b: Bundle) -> list[str]:
    """Every file is verified before anything is unblocked, copied or run, and -CheckOnly stops right
    after; the host (containerd, firewall, services) changes only once the files are in place."""
    install = b.script("install.ps1")
    verified = first(install, "$Files = Test-BundleFiles $Manifest")
    problems = [] if verified >= 0 else ["install.ps1 does not verify the bundle with Test-BundleFiles"]
    check_only = first(install, "if ($CheckOnly) {")
    if not verified < check_only < first(install, "if (-not (Test-Administrator)) {"):
        problems.append("install.ps1: -CheckOnly does not stop between the verification and the host checks")
    for later in ("Unblock-File -LiteralPath", "Copy-Item -LiteralPath", "$Copied = $true", "Set-InstallAcl $target"):
        if not verified < first(install, later):
            problems.append(f"install.ps1: {later} before every file is verified")
    raw = b.text("install.ps1")  # where it loads the shared functions
    loads = first(raw, DOT_SOURCE)
    if not first(raw, "$Files = Test-BundleFiles $Manifest") < loads:
        problems.append(f"install.ps1 loads {LIB} before every file is verified")
    if b.cfg.signing.enabled and not 0 <= first(raw, "Test-BundleSignature -Root") < loads:
        problems.append(f"install.ps1 loads {LIB} before the signatures are checked")
    copied = first(install, "$Copied = $true")
    for host_change in ("\nSet-ContainerdConfig", "\nInstall-BundledContainerd", "\nSet-FirewallRules",
                        "if ($RegisterServices) { Register-NodeServices }"):
        at = install.find(host_change + ("\n" if host_change.startswith("\n") else ""))
        if at >= 0 and at < copied:
            problems.append(f"install.ps1: {host_change.strip()} before the files are copied")
    return problems


SERVICE_RE = re.compile(r"^\s*Register-NodeService '([\w-]+)' .*? (\$\w+|'[\w-]+')(?: -Update:\$\w+)?$", re.MULTILINE)


FLOW_STEPS = ("Register-NodeService '", "@networkArgs", "@prepareArgs", "Register-FlanneldTask ")


def in_run_order(script: str) -> str:
    """The script with each top-level function that registers a service or sets up the network moved
    to its last call (the main flow's; an earlier one is a shortcut such as -ResumeNetwork). The last
    defined first: a function it calls then finds its last call inside it."""
    found = list(FUNCTION_RE.finditer(script))
    steps = set(FLOW_STEPS)
    while True:  # a function that calls one that registers a service is a step of the flow too
        more = {m.group(1) + " " for m in found if any(step in m.group(2) for step in steps)} - steps
        if not more:
            break
        steps |= more
    for m in reversed(found):
        name, body = m.group(1), m.group(2)
        if not any(step in body for step in steps):
            continue
        script = script.replace(m.group(0), "")
        calls = [c for c in re.finditer(rf"^.*\b{re.escape(name)}\b.*$", script, re.MULTILINE)]
        if calls:
            last = calls[-1]
            script = script[:last.end()] + "\n" + body + script[last.end():]
    return script


def check_services(b: Bundle) -> list[str]:
    """kubelet depends on the runtime's service, kube-proxy on kubelet; kubelet is registered first. The
    services flow runs start-kubelet.ps1 -NetworkOnly after the flanneld task (which makes the network)
    and before the kubelet service, and start-kubeproxy.ps1 -PrepareOnly before the kube-proxy service."""
    problems = []
    wants = {"kubelet": "$RuntimeService", "kube-proxy": "'kubelet'"}
    mode = mode_for(b.cfg.network.mode)
    services = ["kubelet", "kube-proxy"] if mode.kube_proxy.on_node else ["kubelet"]
    for name in ("install.ps1", "join-node.ps1"):
        script = b.scripts.get(name)
        if script is None or "Register-NodeService '" not in script:
            continue
        script = in_run_order(script)
        registered = [(m.group(1), m.group(2), m.start()) for m in SERVICE_RE.finditer(script)]
        order = [service for service, _, _ in registered]
        if order != services:
            problems.append(f"{name}: registers {order}, not {' then '.join(services)}")
        problems += [f"{name}: the {service} service depends on {dep}, not {wants[service]}"
                     for service, dep, _ in registered if wants.get(service) != dep]
        at = {service: start for service, _, start in registered}
        network = first(script, "'start-kubelet.ps1') @networkArgs")
        prepare = first(script, "'start-kubeproxy.ps1') @prepareArgs")
        task = first(script, "Register-FlanneldTask ")
        if name == "install.ps1" and mode.pod_network_by != BY_CLUSTER and not 0 <= network < at.get("kubelet", -1):
            problems.append(f"{name}: the kubelet service is registered before the pod network is set up")
        if task >= 0 and not task < network:
            problems.append(f"{name}: start-kubelet.ps1 -NetworkOnly runs before the flanneld task makes the network")
        if "$SourceVip" in script and not 0 <= prepare < at.get("kube-proxy", -1):
            problems.append(f"{name}: the kube-proxy service is registered before its source VIP is reserved")
    return problems


# The containerd config install.ps1 writes: New-ContainerdConfig <version> <bin folder> <conf folder>.
CONTAINERD_DIRS_RE = re.compile(r"New-ContainerdConfig \(Get-ContainerdVersion [^)]+\) ('[^']*'|\(Join-Path [^)]+\)) "
                                r"('[^']*'|\(Join-Path [^)]+\))")
DIGEST_PINNED_RE = re.compile(r"^[a-z0-9.:/_-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$")


def host_folder(path: str) -> str:
    """A host folder as Windows sees it: a drive-less path on the system drive, case and slashes folded."""
    path = path.replace("/", "\\")
    if path.startswith("\\"):
        path = "C:" + path
    return path.rstrip("\\").lower()


def containerd_cni_dirs(install: str) -> set[tuple[str, str]]:
    """The (bin, conf) folders of every containerd config install.ps1 writes, as literal paths."""
    return {(host_folder(a.strip("'")), host_folder(c.strip("'"))) if a.startswith("'") else (a, c)
            for a, c in CONTAINERD_DIRS_RE.findall(install)}


def manifest_cni_dirs(b: Bundle) -> set[tuple[str, str]]:
    """The (bin, conf) host folders the cluster manifests put the CNI into: the hostPath volumes their
    pods mount at the CNI mount points, and the folders an operator's Installation names."""
    found = set()
    for objects in manifests(b.files).values():
        for o in objects:
            if o["kind"] == "Installation":
                nodes = o["spec"]["windowsNodes"]
                found.add((host_folder(nodes["cniBinDir"]), host_folder(nodes["cniConfigDir"])))
            if o["kind"] != "DaemonSet":
                continue
            volumes = o["spec"]["template"]["spec"]["volumes"]
            paths = {v["name"]: v["hostPath"]["path"] for v in volumes if "hostPath" in v}
            for c in containers([o]):
                at = {m["mountPath"]: paths.get(m["name"]) for m in c["volumeMounts"]}
                if at.get(cluster.CNI_CONF_MOUNT) or (at.get(cluster.CNI_BIN_MOUNT) and c["name"] != "kube-proxy"):
                    found.add((host_folder(at.get(cluster.CNI_BIN_MOUNT) or ""),
                               host_folder(at.get(cluster.CNI_CONF_MOUNT) or "")))
    return found


def check_cluster_network(b: Bundle) -> list[str]:
    """Where the cluster runs the network: the node runs no kube-proxy and no flanneld, containerd reads the
    CNI folders the manifests write, every image of a manifest is pinned by digest (to the configured
    pin), and the DaemonSets' scripts parse. Elsewhere: no cluster manifest."""
    mode = mode_for(b.cfg.network.mode)
    found = manifests(b.files)
    if mode.cluster is None:
        return [f"{dest}: a cluster manifest in a mode the node runs" for dest in found]
    problems: list[str] = []
    if "start-kubeproxy.ps1" in b.scripts or "start-flanneld.ps1" in b.scripts:
        problems.append("the bundle runs kube-proxy or flanneld on the node, and the cluster runs them")
    for name, script in b.scripts.items():
        if re.search(r"Register-NodeService 'kube-proxy'|'kube-proxy\.exe'\) @|Register-FlanneldTask ", script):
            problems.append(f"{name}: registers or starts kube-proxy or flanneld on the node")
    install = b.script("install.ps1")
    node = containerd_cni_dirs(install)
    written = manifest_cni_dirs(b)
    if len(node) != 1 or node != written:
        problems.append(f"containerd's CNI folders {sorted(node)} are not the folders the manifests write "
                        f"{sorted(written)}")
    pins = {p.split("@")[0]: p for p in b.cfg.images.pins}
    for dest, objects in found.items():
        for c in containers(objects):
            image = c["image"]
            if not DIGEST_PINNED_RE.match(image) or pins.get(image.split("@")[0]) != image:
                problems.append(f"{dest}: {c['name']} runs {image}, not pinned by digest to images.pins")
    for name, script in daemonset_scripts(b.files).items():
        problems += [f"{name}: {e}" for e in psparse.parse_errors(script)]
        # The kube-proxy image carries SDN's hns.psm1: its calls are checked like the node scripts'.
        problems += check_hns_calls(dataclasses.replace(b, files={
            f"{name}.ps1": RenderedFile(f"{name}.ps1", script.replace("\n", "\r\n").encode())}))
    if not found:
        problems.append("no cluster manifest in a mode the cluster runs")
    return problems


def check_readme(b: Bundle) -> list[str]:
    """The guide tells the operator to run only scripts the bundle has, with parameters they have."""
    readme = b.files["README.txt"].data.decode("ascii").replace("\r\n", "\n")
    problems = [f"README.txt names {name}, which the bundle does not have"
                for name in sorted(set(re.findall(r"\b([\w-]+\.ps1)\b", readme))) if name not in b.scripts]
    section = readme.split("4. CLUSTER VALUES BAKED INTO THE SCRIPTS")[1].split("Each is a parameter")[0]
    named = set(re.findall(r"^\s+-(\w+) \.", section, re.MULTILINE))
    missing = named - script_params(b.scripts["start-kubelet.ps1"])
    if not named or missing:
        problems.append(f"README.txt lists start-kubelet.ps1 parameters it does not have: {sorted(missing)}")
    return problems


def mutated(b: Bundle, dest: str, old: str, new: str) -> Bundle:
    data = b.files[dest].data.decode("ascii")
    assert old in data, (dest, old)
    files = dict(b.files, **{dest: dataclasses.replace(b.files[dest], data=data.replace(old, new, 1).encode())})
    return dataclasses.replace(b, files=files)


def test_the_order_checks_find_a_script_that_breaks_them() -> None:
    """Each check above can fail: a bundle changed to break its rule is reported."""
    b = render_bundle("flannel-vxlan", 30, "containerd", False)
    unverified = mutated(b, "install.ps1", "$Files = Test-BundleFiles $Manifest", "$Files = @()")
    assert "install.ps1 does not verify the bundle with Test-BundleFiles" in check_install_order(unverified)
    hasty = mutated(b, "install.ps1", "\r\n" + DOT_SOURCE + "\r\n", "\r\n")
    hasty = mutated(hasty, "install.ps1", "$Manifest = Read-Manifest", DOT_SOURCE + "\r\n$Manifest = Read-Manifest")
    assert check_install_order(hasty) == [f"install.ps1 loads {LIB} before every file is verified"]
    signing = SigningSection(enabled=True, thumbprint="A" * 40, subject="CN=test")
    signed = render_bundle("flannel-vxlan", 30, "containerd", False, signing)
    assert check_install_order(signed) == []
    unchecked = mutated(signed, "install.ps1", "\r\nTest-BundleSignature -Root $PSScriptRoot\r\n", "\r\n")
    assert check_install_order(unchecked) == [f"install.ps1 loads {LIB} before the signatures are checked"]
    early = mutated(b, "install.ps1", "\r\nSet-FirewallRules\r\n", "\r\n")
    early = mutated(early, "install.ps1", "$Copied = $true", "Set-FirewallRules\r\n$Copied = $true")
    assert check_install_order(early) == ["install.ps1: Set-FirewallRules before the files are copied"]
    loose = mutated(b, LIB, "$Arguments 'kube-proxy') 'kubelet'", "$Arguments 'kube-proxy') $RuntimeService")
    assert check_services(loose) == [f"{name}: the kube-proxy service depends on $RuntimeService, not 'kubelet'"
                                     for name in ("install.ps1", "join-node.ps1")]
    vip = mutated(b, "join-node.ps1", "& (Join-Path $InstallDir 'start-kubeproxy.ps1') @prepareArgs", "")
    assert check_services(vip) == ["join-node.ps1: the kube-proxy service is registered before its source VIP is "
                                   "reserved"]
    unloaded = mutated(b, "start-kubeproxy.ps1", DOT_SOURCE, "")
    assert "start-kubeproxy.ps1 calls Assert-FilesExist before it loads node-functions.ps1" in check_shared_functions(
        unloaded)
    again = mutated(b, "start-flanneld.ps1", DOT_SOURCE, DOT_SOURCE + "\r\nfunction Get-NodeAddress {\r\n}")
    assert check_shared_functions(again) == ["start-flanneld.ps1 defines Get-NodeAddress again"]
    runs = mutated(b, LIB, "function Test-Administrator {", "Stop-Service kubelet\r\nfunction Test-Administrator {")
    assert check_shared_functions(runs) == [f"{LIB} runs 'Stop-Service kubelet': it only defines functions"]
    guide = mutated(b, "README.txt", ".\\start-kubeproxy.ps1", ".\\AddRoutes.ps1")
    assert check_readme(guide) == ["README.txt names AddRoutes.ps1, which the bundle does not have"]


def test_the_cluster_network_check_finds_a_bundle_that_breaks_it() -> None:
    """A node that runs kube-proxy beside the cluster's, containerd on other folders, or an image named by
    tag: each is reported."""
    b = render_bundle("flannel-hostprocess-vxlan", 30, "containerd", False)
    assert check_cluster_network(b) == []
    proxy = mutated(b, "install.ps1", "    Register-NodeService 'kubelet'",
                    "    Register-NodeService 'kube-proxy' 'k' 'c' 'kubelet'\r\n    Register-NodeService 'kubelet'")
    assert check_cluster_network(proxy) == ["install.ps1: registers or starts kube-proxy or flanneld on the node"]
    moved = mutated(b, "install.ps1", "'C:\\etc\\cni\\net.d'", "'C:\\Program Files\\containerd\\cni\\conf'")
    assert [p.split(" [")[0] for p in check_cluster_network(moved)] == ["containerd's CNI folders"]
    digest = next(p for p in b.cfg.images.pins if "/kube-proxy:" in p).split("@")[1]
    by_tag = mutated(b, "cluster/kube-proxy-windows.yaml", "@" + digest, "")
    assert check_cluster_network(by_tag) == [
        "cluster/kube-proxy-windows.yaml: kube-proxy runs "
        "docker.io/sigwindowstools/kube-proxy:v1.30.0-calico-hostprocess, not pinned by digest to images.pins"]



def test_the_day_two_checks_find_a_bundle_that_breaks_them() -> None:
    """Each day-two check can fail: a bundle changed to break its rule is reported."""
    b = render_bundle("flannel-vxlan", 30, "containerd", True)
    unreversed = mutated(b, "upgrade.ps1", "[array]::Reverse($order)\r\n", "\r\n")
    assert check_upgrade(unreversed) == ["upgrade.ps1 does not stop in the reverse start order"]
    swapped = mutated(b, "upgrade.ps1", "'task:flanneld', 'kubelet'", "'kubelet', 'task:flanneld'")
    assert check_upgrade(swapped) == ["upgrade.ps1 starts ['containerd', 'kubelet', 'task:flanneld', 'kube-proxy'], "
                                      "install.ps1 ['containerd', 'task:flanneld', 'kubelet', 'kube-proxy']"]
    state = mutated(b, "upgrade.ps1", "Remove-Item -LiteralPath $StagingDir -Recurse -Force }",
                    "Remove-Item -LiteralPath $UpgradeDir -Recurse -Force }")
    assert check_upgrade(state) == ["upgrade.ps1 removes $UpgradeDir"]
    kept = mutated(b, "uninstall.ps1", "Remove-NodeService 'kubelet'", "")
    assert check_uninstall(kept) == ["uninstall.ps1 leaves the service kubelet"]
    task = mutated(b, "uninstall.ps1", "Unregister-ScheduledTask -TaskName 'flanneld'", "Unregister-ScheduledTask")
    assert check_uninstall(task) == ["uninstall.ps1 leaves the scheduled task flanneld"]
    whatif = mutated(b, "uninstall.ps1", "    if ($PSCmdlet.ShouldProcess(\"service $Name\", 'stop and delete')) {",
                     "    if ($true) {")
    assert "uninstall.ps1 changes the host under -WhatIf: & sc.exe @scArgs | Out-Null" in check_uninstall(whatif)
    shim = mutated(b, "install.ps1", "@('containerd', 'containerd-shim-runhcs-v1')", "@('containerd')")
    assert check_running_processes(shim) == ["install.ps1 copies containerd-shim-runhcs-v1.exe, and does not check "
                                             "whether it runs"]
    typo = mutated(b, "upgrade.ps1", "RegisterServices = $true; UpdateServices = $true", "UpdateService = $true")
    assert check_script_calls(typo) == [
        "upgrade.ps1: passes -UpdateService to install.ps1, which has no such parameter"]
    direct = mutated(b, "upgrade.ps1", "'install.ps1') -CheckOnly -InstallDir $Target", "'install.ps1') -Check")
    assert check_script_calls(direct) == ["upgrade.ps1: passes -Check to install.ps1, which has no such parameter"]
    late = mutated(b, "join-node.ps1", "foreach ($dir in @('C:\\etc\\kubernetes', 'C:\\var\\lib\\kubelet')) "
                   "{ New-PrivateFolder $dir }", "")
    assert "join-node.ps1: & $kubeadmExe @joinArgs before kubeadm's folders are private" in check_secrets_private(late)
