"""The node flows of issue 13 (and the node parts of issue 16), one test per defect.

Each test reads what a node would run (the rendered scripts and data files) and asserts the
behaviour the defect lacked; the node-contract check (test_node_contract.py) covers every mode,
runtime and minor with the general rules.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from builder import config
from builder.artifacts import RenderedFile
from builder.config import Config, KubernetesSection, NetworkSection, NodeSection, mode_for
from builder.config.flagtable import has_flag, uses_log_runner
from builder.errors import ConfigError
from builder.kversion import KubeVersion
from builder.node import cni, render

KUBEADM = ("kubelet", "kube-proxy", "kubectl", "kubeadm")


def bundle(mode: str = "host-gw", minor: int = 30, *, runtime: str | None = None, bundled: bool = False,
           kubeadm: bool = True, network_name: str = "winnet", labels: bool = True) -> dict[str, RenderedFile]:
    net = NetworkSection(mode=mode, cluster_cidr="10.200.0.0/16", service_cidr="10.100.0.0/16",
                         dns_service_ip="10.100.0.10", network_name=network_name, control_plane_ip="192.168.10.5")
    node = NodeSection(runtime=runtime, bundle_runtime=bundled,
                       labels=(("example.com/pool", "win"),) if labels else ())
    kube = KubernetesSection(components=KUBEADM if kubeadm else ("kubelet", "kube-proxy", "kubectl"))
    cfg = Config(kubernetes=kube, network=net, node=node)
    return {f.dest: f for f in render.render_bundle(cfg, f"v1.{minor}.0")}


def text(files: dict[str, RenderedFile], name: str) -> str:
    return files[name].data.decode("ascii").replace("\r\n", "\n")


# --------------------------------------------------------------------------- 1. containerd and the CNI plugin


def test_install_points_containerd_at_the_bundle_cni_folders() -> None:
    install = text(bundle(minor=30), "install.ps1")
    # containerd 1.x (config version 2) and 2.x (version 3), chosen by the installed containerd's version.
    for line in ("'version = 2',", "'[plugins.\"io.containerd.grpc.v1.cri\".cni]',", "\"  sandbox_image = $pause\",",
                 "'version = 3',", "\"[plugins.'io.containerd.cri.v1.runtime'.cni]\",",
                 "\"[plugins.'io.containerd.cri.v1.images'.pinned_images]\",", "\"  sandbox = $pause\",",
                 "$binKey = \"  bin_dirs = [$bin]\"", "\"  conf_dir = $conf\""):
        assert line in install, line
    assert "if ($Version -lt [version]'2.1') { $binKey = \"  bin_dir = $bin\" }" in install
    # Checked in preflight with the exact fix, written only with -ConfigureContainerd, then restarted.
    assert "[switch] $ConfigureContainerd," in install
    assert "run install.ps1 -ConfigureContainerd" in install
    assert "Restart-Service -Name 'containerd' -ErrorAction Stop" in install
    assert "(Join-Path $InstallDir 'cni') (Join-Path $InstallDir 'cni\\conf')" in install
    assert install.index("Test-ContainerdConfig\n") < install.index("$Copied = $true") < install.index(
        "\nSet-ContainerdConfig\n")


def test_bundled_containerd_is_registered_with_its_config() -> None:
    install = text(bundle(minor=30, bundled=True), "install.ps1")
    assert "$registerArgs = @('--register-service', '--config', $bundledConfig, '--log-file'," in install
    assert "$bundledConfig = Join-Path $target 'state\\containerd\\config.toml'" in install
    assert "Get-WindowsOptionalFeature -Online -FeatureName Containers" in install
    assert "ConfigureContainerd" not in install
    assert "ConfigureContainerd" not in text(bundle(minor=23, runtime="docker"), "install.ps1")


# --------------------------------------------------------------------------- 2. and 7. the live CNI config


@pytest.mark.parametrize("mode", ["host-gw", "overlay", "flannel-vxlan"])
def test_live_cni_config_is_written_outside_the_bundle(mode: str) -> None:
    files = bundle(mode)
    kubelet = text(files, "start-kubelet.ps1")
    assert "$CniConfDir = Join-Path $InstallDir 'cni\\conf'" in kubelet
    assert "Set-Content -LiteralPath $CniConfigPath -Value" in kubelet
    assert not any(d.startswith("cni/conf/") for d in files)
    # What the script reads is the shipped template, whatever -NetworkName says at run time (defect 7).
    assert "$CniTemplatePath = Join-Path $InstallDir 'cni\\cni-config.template.json'" in kubelet
    assert "$conf = Get-Content -Raw -LiteralPath $CniTemplatePath | ConvertFrom-Json" in kubelet
    assert cni.TEMPLATE in files
    assert "$conf.name = $NetworkName" in kubelet


# --------------------------------------------------------------------------- 3. kubeadm


@pytest.mark.parametrize(("minor", "api"), [(16, "v1beta2"), (22, "v1beta3"), (30, "v1beta3"), (31, "v1beta4"),
                                            (37, "v1beta4")])
def test_join_follows_kubeadms_windows_contract(minor: int, api: str) -> None:
    runtime = "docker" if minor < 24 else None
    join = text(bundle(minor=minor, runtime=runtime), "join-node.ps1")
    for arg in ("('--bootstrap-kubeconfig=' + $BootstrapKubeconfig)", "('--kubeconfig=' + $KubeletKubeconfig)",
                "('--config=' + $KubeletConfigFile)"):
        assert arg in join
    assert "$BootstrapKubeconfig = 'C:\\etc\\kubernetes\\bootstrap-kubelet.conf'" in join
    assert "$KubeletKubeconfig = 'C:\\etc\\kubernetes\\kubelet.conf'" in join
    assert "$KubeletConfigFile = 'C:\\var\\lib\\kubelet\\config.yaml'" in join
    assert "$KubeadmFlagsFile = 'C:\\var\\lib\\kubelet\\kubeadm-flags.env'" in join
    assert "Where-Object { $_ -match '^KUBELET_KUBEADM_ARGS=' }" in join
    assert "New-Item -ItemType SymbolicLink -Path 'C:\\var\\lib\\kubelet\\etc\\kubernetes\\pki'" in join
    # kube-proxy with the kubeconfig kubeadm wrote; nothing needs the bundle's kubeconfig.
    assert "$KubeconfigPath = $KubeletKubeconfig" in join
    assert not re.search(r"\$Kubeconfig\b", join)
    assert f"apiVersion = 'kubeadm.k8s.io/{api}'" in join


def test_join_token_never_reaches_a_command_line() -> None:
    join = text(bundle(minor=37), "join-node.ps1")
    assert "$joinArgs = @('join', '--config', $configFile)" in join
    assert "--token" not in join
    # Owner-only file, removed afterwards.
    assert "$acl.SetAccessRuleProtection($true, $false)" in join
    assert join.index("New-PrivateFile $configFile") < join.index("WriteAllText($configFile")
    assert "} finally {\n    Pop-Location\n    Remove-Item -LiteralPath $configDir -Recurse -Force" in join


def test_kubeadm_contract_flags_are_in_the_table() -> None:
    for flag in ("--bootstrap-kubeconfig", "--config", "--cert-dir"):
        assert has_flag("kubelet", flag, (1, 37), "containerd")


# --------------------------------------------------------------------------- 4. flannel


def test_flannel_modes_are_configurable_and_name_flannels_network(tmp_path: Path) -> None:
    path = tmp_path / "bundle.yaml"
    for mode, name in (("flannel-vxlan", "flannel.4096"), ("flannel-host-gw", "cbr0")):
        path.write_text(f"kubernetes:\n  source: release\n  version: v1.30.0\nnetwork:\n  mode: {mode}\n",
                        encoding="utf-8")
        cfg = config.load(config.Overrides(config=path, cache_dir=tmp_path / "c"), {}, tmp_path)
        assert cfg.network.network_name == name


def test_flannel_vxlan_bundle() -> None:
    files = bundle("flannel-vxlan", 30)
    assert json.loads(files["flannel/net-conf.json"].data) == {
        "Network": "10.200.0.0/16", "Backend": {"Type": "vxlan", "Name": "winnet", "VNI": 4096, "Port": 4789}}
    flannel = text(files, "start-flanneld.ps1")
    assert "$env:NODE_NAME = $NodeName" in flannel
    assert "'--kube-subnet-mgr'," in flannel and "('--net-config-path=' + $NetConf)" in flannel
    assert "& $FlanneldExe @flannelArgs" in flannel
    kubelet = text(files, "start-kubelet.ps1")
    assert "New-HNSNetwork -Type Overlay -Name $NetworkName" not in kubelet  # flanneld creates it
    assert "Wait-HnsNetwork $NetworkName" in kubelet
    proxy = text(files, "start-kubeproxy.ps1")
    assert "('--source-vip=' + $SourceVip)" in proxy and "'--feature-gates=WinOverlay=true'" in proxy
    assert "WinOverlay" not in text(bundle("flannel-vxlan", 34), "start-kubeproxy.ps1")
    assert "Register-FlanneldTask $target $NodeName $KubeconfigPath" in text(files, "install.ps1")
    conf = json.loads(files[cni.TEMPLATE].data)
    assert conf["type"] == "win-overlay" and conf["name"] == "winnet"


def test_flannel_host_gw_bundle() -> None:
    files = bundle("flannel-host-gw", 30)
    assert json.loads(files["flannel/net-conf.json"].data) == {
        "Network": "10.200.0.0/16", "Backend": {"Type": "host-gw", "Name": "winnet"}}
    assert "source-vip" not in text(files, "start-kubeproxy.ps1")
    assert "AddRoutes.ps1" not in files


def test_flannel_vxlan_needs_port_4789() -> None:
    net = NetworkSection(mode="flannel-vxlan", network_name="flannel.4096", vxlan_port=8472)
    with pytest.raises(ConfigError, match=r"network\.vxlan_port: flannel's Windows vxlan backend accepts port 4789"):
        render.render_bundle(Config(network=net), "v1.30.0")


def test_bare_overlay_says_who_programs_the_routes() -> None:
    files = bundle("overlay", 30)
    assert "programmed by your own agent" in text(files, "README.txt")
    assert "programmed by your own agent" in text(files, "install.ps1")


# --------------------------------------------------------------------------- 5. OutBoundNAT on overlay


@pytest.mark.parametrize("mode", ["overlay", "flannel-vxlan"])
def test_overlay_exempts_only_cluster_and_service_from_nat(mode: str) -> None:
    files = bundle(mode)
    conf = json.loads(files[cni.TEMPLATE].data)
    nat = next(p["value"] for p in conf["policies"] if p["value"]["Type"] == "OutBoundNAT")
    assert nat["ExceptionList"] == ["10.200.0.0/16", "10.100.0.0/16"]
    # The node fills in only the entries left empty: none here. It builds no policy itself.
    kubelet = text(files, "start-kubelet.ps1")
    assert "Type = 'OutBoundNAT'" not in kubelet
    assert "if (-not $e) { $MgmtSubnet }" in kubelet


# --------------------------------------------------------------------------- 6. HNS errors stop the script


@pytest.mark.parametrize("mode", ["host-gw", "overlay", "flannel-host-gw"])
def test_hns_calls_stop_on_error_and_networks_are_looked_up_again(mode: str) -> None:
    files = bundle(mode)
    for name in ("start-kubelet.ps1", "start-kubeproxy.ps1"):
        script = text(files, name)
        calls = re.findall(r"^\s*(?:\$\w+ = )?((?:New|Attach|Invoke|Get|Remove)-HNS\w+ .*)$", script,
                           re.MULTILINE | re.IGNORECASE)
        assert calls, name
        own = {f.lower() for f in re.findall(r"^function ([\w-]+)", script, re.MULTILINE)}
        for call in calls:
            if call.split(" ", 1)[0].lower() in own:
                continue
            for part in call.split("|"):
                if re.search(r"-HNS", part, re.IGNORECASE):
                    assert "-ErrorAction Stop" in part, f"{name}: {call}"
    kubelet = text(files, "start-kubelet.ps1")
    if mode in ("host-gw", "overlay"):
        assert "Assert-HnsNetwork $NetworkName | Out-Null" in kubelet
    assert "if (-not $network) { throw \"HNS did not create the network $Name" in kubelet


# --------------------------------------------------------------------------- 8. firewall


@pytest.mark.parametrize(("mode", "udp"), [("host-gw", False), ("overlay", True), ("flannel-vxlan", True)])
def test_install_creates_named_idempotent_firewall_rules(mode: str, udp: bool) -> None:
    install = text(bundle(mode), "install.ps1")
    assert "@{'Name' = 'k8s-windows-bundle-kubelet'; 'Protocol' = 'TCP'; 'Port' = 10250;" in install
    assert ("@{'Name' = 'k8s-windows-bundle-vxlan'; 'Protocol' = 'UDP'; 'Port' = 4789;" in install) == udp
    assert "if (Get-NetFirewallRule -Name $rule.Name -ErrorAction SilentlyContinue) {" in install
    assert "Set-NetFirewallRule -Name $rule.Name" in install and "New-NetFirewallRule -Name $rule.Name" in install


# --------------------------------------------------------------------------- 9. logs, labels, host-local, README


@pytest.mark.parametrize(("minor", "runner"), [(25, False), (26, True), (37, True)])
def test_services_keep_logs_from_1_26_through_kube_log_runner(minor: int, runner: bool) -> None:
    install = text(bundle(minor=minor), "install.ps1")
    assert ("$runner = Join-Path (Split-Path -Parent $Exe) 'kube-log-runner.exe'" in install) == runner
    assert ("('-log-file=' + (Join-Path $LogDir ($Name + '.log')))" in install) == runner
    assert ("('--log-dir=' + $LogDir)" in install) == (not runner)


def test_services_carry_the_node_labels() -> None:
    files = bundle(minor=30)
    assert "$NodeLabels = 'example.com/pool=win'" in text(files, "install.ps1")
    assert "('--node-labels=' + $NodeLabels)" in text(files, "install.ps1")
    assert "('--node-labels=' + $NodeLabels)" in text(files, "join-node.ps1")


def test_host_local_is_checked_with_the_main_plugin() -> None:
    kubelet = text(bundle("l3", 30), "start-kubelet.ps1")
    assert "Assert-FilesExist @($CniPluginExe, (Join-Path $CniBinDir 'host-local.exe'))" in kubelet
    assert "host-local.exe" not in text(bundle("l3", 23, runtime="docker"), "start-kubelet.ps1").split(
        "Import-Module")[0].split("$CniPluginExe = ")[1]


@pytest.mark.parametrize("minor", [23, 34, 35, 37])
def test_readme_lists_only_parameters_the_script_has(minor: int) -> None:
    files = bundle(minor=minor, runtime="docker" if minor < 24 else None)
    readme = text(files, "README.txt")
    section = readme.split("4. CLUSTER VALUES BAKED INTO THE SCRIPTS")[1].split("Each is a parameter")[0]
    named = re.findall(r"^\s+-(\w+) \.", section, re.MULTILINE)
    params = set(re.findall(r"\] \$(\w+)(?: =|,|\n)", text(files, "start-kubelet.ps1").split("\n)\n")[0]))
    assert named and set(named) <= params, set(named) - params
    assert ("-PauseImage" in section) == (minor < 35)


# --------------------------------------------------------------------------- issue 16: a strict install


def test_install_refuses_files_the_manifest_does_not_list() -> None:
    install = text(bundle(), "install.ps1")
    assert "Get-ChildItem -LiteralPath $BundleDir -Recurse -File -Force" in install
    assert "not part of the bundle (not in manifest.json): remove it, or list it with -AllowExtraFiles" in install
    assert "[string[]] $AllowExtraFiles = @()," in install
    assert render.RUNTIME_DIRS == ("logs", "cni\\conf", "state")
    assert "$RuntimeDirs = @(@('logs', 'cni\\conf', 'state'))" in install


def test_install_sets_the_folder_acl_before_services() -> None:
    install = text(bundle(minor=30, bundled=True), "install.ps1")
    acl = install.index("\nSet-InstallAcl $target\n")
    for later in ("Copy-Item -LiteralPath (Join-Path $source $rel)", "\nInstall-BundledContainerd\n",
                  "if ($RegisterServices) { Register-NodeServices }"):
        assert acl < install.index(later), later
    assert "'S-1-5-32-544' = 'FullControl'; 'S-1-5-18' = 'FullControl'; 'S-1-5-32-545' = 'ReadAndExecute'" in install
    assert "$acl.SetAccessRuleProtection($true, $false)" in install


def test_install_check_only_and_the_signature_hook() -> None:
    install = text(bundle(), "install.ps1")
    assert "[switch] $CheckOnly," in install
    check = install.index("if ($CheckOnly) {")
    assert install.index("$Files = Test-BundleFiles $Manifest") < check < install.index("Test-Administrator)")
    assert "    exit 0\n" in install[check:check + 200]
    template = (render.TEMPLATES / "install.ps1.j2").read_text(encoding="utf-8")
    hook = template.index('{% include "_signature_check.ps1.j2" %}')
    assert template.count('{% include "_signature_check.ps1.j2" %}') == 1
    assert hook < template.index("if ($CheckOnly) {") < template.index("Copy-Item -LiteralPath (Join-Path $source")


# --------------------------------------------------------------------------- issue 11: said once


def test_shared_powershell_is_written_once() -> None:
    templates = {p.name: p.read_text(encoding="utf-8") for p in render.TEMPLATES.glob("*.j2")}
    for fn in ("ConvertTo-CommandLine", "Get-NodeAddress", "Get-HnsNetworkByName", "Assert-FilesExist",
               "New-ServiceCommand", "New-SwitchNetwork"):
        defining = [n for n, t in templates.items() if f"function {fn}(" in t or f"function {fn} " in t]
        assert len(defining) == 1 and defining[0].startswith("_"), (fn, defining)
    for gone in ("Join-NativeArgs", "Get-ManagementAddress", "Get-PodNetwork "):
        assert not any(gone in t for t in templates.values()), gone


def test_version_dependent_choices() -> None:
    assert render.join_config_api((1, 21)) == "kubeadm.k8s.io/v1beta2"
    assert uses_log_runner((1, 26)) and not uses_log_runner((1, 25))
    assert KubeVersion(1, 30, 0).minor_key == (1, 30)


# --------------------------------------------------------------------------- review: the services flow


def _register_services(install: str) -> str:
    start = install.index("function Register-NodeServices {")
    return install[start:install.index("\n}\n", start)]


@pytest.mark.parametrize("mode", ["host-gw", "overlay", "flannel-vxlan", "flannel-host-gw"])
def test_register_services_sets_up_the_network_it_needs(mode: str) -> None:
    # The documented services flow: with flannel the pod network exists only once flanneld runs,
    # and flanneld (the task) is registered by -RegisterServices itself, so a start-kubelet.ps1
    # -NetworkOnly run before it could only time out. -RegisterServices runs it after the task.
    files = bundle(mode, kubeadm=False)
    body = _register_services(text(files, "install.ps1"))
    network = body.index("& (Join-Path $target 'start-kubelet.ps1') @networkArgs")
    assert "NetworkOnly = $true" in body
    assert network < body.index("Register-NodeService 'kubelet'")
    if mode.startswith("flannel"):
        assert body.index("Register-FlanneldTask $target") < network
    if mode_for(mode).kube_proxy.source_vip:
        prepare = body.index("& (Join-Path $target 'start-kubeproxy.ps1') @prepareArgs")
        assert "PrepareOnly = $true" in body
        assert network < prepare < body.index("Register-NodeService 'kube-proxy'")
    else:
        assert "@prepareArgs" not in body
    assert "does not exist yet: run start-kubelet.ps1 -NetworkOnly once" not in body
    # The guide's services flow no longer asks for -NetworkOnly before install.ps1.
    readme = text(files, "README.txt")
    flow = readme[readme.index("As services, without kubeadm:"):]
    assert flow.split("\n")[1].strip() == ".\\install.ps1 -RegisterServices"
    # host-gw: nothing else routes to the other nodes' pod subnets.
    assert (".\\AddRoutes.ps1" in flow[:flow.index("\ninstall.ps1 -RegisterServices ")]) == (mode == "host-gw")


def test_bundled_containerd_running_in_place_is_not_refused() -> None:
    # A second install.ps1 run (for example with -RegisterServices) in the unpacked folder finds the
    # bundle's own containerd running; it copies nothing and restarts containerd itself.
    install = text(bundle(minor=30, bundled=True), "install.ps1")
    check = install[install.index("function Test-NotRunning {"):install.index("Write-Host 'checking this host'")]
    assert "$names = @('kubelet', 'kube-proxy')" in check
    assert "if (-not $inPlace) { $names += 'containerd' }" in check
    assert "'containerd'))" not in check
    assert "Restart-Service -Name 'containerd' -ErrorAction Stop" in install


@pytest.mark.parametrize("minor", [22, 37])
def test_flanneld_task_starts_flanneld_again_when_it_stops(minor: int) -> None:
    # The task runs powershell.exe once: when flanneld exits (at boot, before the API server
    # answers) or the adapter has no address yet, nothing would start it again until a reboot.
    files = bundle("flannel-vxlan", minor=minor, kubeadm=True)
    flannel = text(files, "start-flanneld.ps1")
    assert "[switch] $KeepRunning" in flannel
    loop = flannel[flannel.index("while ($true) {"):]
    assert loop.index("New-SwitchNetwork $InterfaceName") < loop.index("$code = $LASTEXITCODE")
    assert "if (-not $KeepRunning) { throw }" in loop and "if (-not $KeepRunning) { exit $code }" in loop
    assert "Start-Sleep -Seconds 10" in loop
    for script in ("install.ps1", "join-node.ps1"):
        assert "'-KubeconfigPath', $KubeconfigFile, '-KeepRunning')" in text(files, script), script


def test_a_bundle_without_kubectl_is_refused_before_the_build(tmp_path: Path) -> None:
    # kubectl was optional in the configuration, but start-kubelet.ps1 stops without kubectl.exe
    # (it reads the node's podCIDR with it), also when join-node.ps1 runs it.
    assert "$KubectlExe = Join-Path $InstallDir 'kubectl.exe'" in text(bundle(kubeadm=True), "start-kubelet.ps1")
    path = tmp_path / "bundle.yaml"
    path.write_text("kubernetes:\n  components: [kubelet, kube-proxy, kubeadm]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"kubernetes\.components.*must include kubectl"):
        config.load(config.Overrides(config=path), {}, tmp_path)


@pytest.mark.parametrize("minor", [23, 37])
def test_kubeadm_warnings_on_stderr_do_not_stop_the_join(minor: int) -> None:
    # In a remote session Windows PowerShell turns a native command's stderr lines into error
    # records; with 'Stop' kubeadm's first warning would end join-node.ps1 half-way through.
    join = text(bundle(minor=minor), "join-node.ps1")
    call = join.index("& $kubeadmExe @joinArgs")
    assert join.rindex("$ErrorActionPreference = 'Continue'", 0, call) > join.rindex("try {", 0, call)
    after = join[call:]
    restored = after.index("$ErrorActionPreference = 'Stop'")
    assert after.index("$code = $LASTEXITCODE") < restored < after.index("} finally {")


def test_kubeadm_runs_from_the_drive_of_its_windows_paths() -> None:
    # kubeadm resolves /etc/kubernetes and /var/lib/kubelet on its working folder's drive: run from
    # D:\k (with -InstallDir D:\k) it would write D:\etc\kubernetes\bootstrap-kubelet.conf while the
    # kubelet service waits for C:\etc\kubernetes\... and the join times out.
    join = text(bundle(minor=37), "join-node.ps1")
    assert "$KubeletConfigFile = 'C:\\var\\lib\\kubelet\\config.yaml'" in join
    push = join.index("Push-Location -LiteralPath ((Split-Path -Qualifier $KubeletConfigFile) + '\\')")
    call = join.index("& $kubeadmExe @joinArgs")
    assert join.index("$kubeadmExe = (Resolve-Path -LiteralPath $Kubeadm).ProviderPath") < push < call
    assert call < join.index("} finally {\n    Pop-Location", call)


@pytest.mark.parametrize("mode", ["flannel-vxlan", "flannel-host-gw"])
def test_node_address_survives_the_flanneld_task_making_the_vswitch(mode: str) -> None:
    # -RegisterServices and join-node.ps1 start the flanneld task (which creates the first HNS
    # network, moving the host's address to a new virtual adapter) and right away run
    # start-kubelet.ps1, whose first step reads that address: it must wait out the move.
    files = bundle(mode)
    for name in ("start-kubelet.ps1", "install.ps1", "join-node.ps1", "start-flanneld.ps1"):
        script = text(files, name)
        body = script[script.index("function Get-NodeAddress("):]
        body = body[:body.index("\n}\n")]
        assert "for ($try = 0; $try -lt 30; $try++) {" in body, name
        assert body.index("if ($ip) { return $ip }") < body.index("Start-Sleep -Seconds 2") < body.index("throw"), name


@pytest.mark.parametrize(("minor", "bundled", "needs"), [(26, False, True), (30, True, True), (31, False, False),
                                                         (37, True, False)])
def test_kubeadm_before_1_31_finds_crictl(minor: int, bundled: bool, needs: bool) -> None:
    # kubeadm until 1.30 runs crictl.exe for a CRI runtime; its join preflight stops without it
    # (FileExisting-crictl). The bundled runtime ships crictl.exe in the install folder, not on PATH.
    join = text(bundle(minor=minor, bundled=bundled), "join-node.ps1")
    on_path = "$env:Path = (Resolve-Path -LiteralPath $InstallDir).ProviderPath + ';' + $env:Path"
    check = "if (-not (Get-Command -Name 'crictl.exe' -ErrorAction SilentlyContinue)) {"
    assert (on_path in join) == (needs and bundled)
    assert (check in join) == (needs and not bundled)
    if needs:
        first = join.index(on_path if bundled else check)
        assert first < join.index("Register-NodeService 'kubelet'") < join.index("& $kubeadmExe @joinArgs")
    assert "crictl" not in text(bundle(minor=23, runtime="docker"), "join-node.ps1")


def test_register_services_without_a_kubeconfig_stops_in_preflight() -> None:
    # A kubeadm bundle needs no kubeconfig for join-node.ps1, but -RegisterServices does: without one
    # it failed only after registering the flanneld task, inside start-kubelet.ps1 -NetworkOnly.
    install = text(bundle("flannel-vxlan", kubeadm=True), "install.ps1")
    check = install[install.index("function Test-Kubeconfig {"):install.index("function Test-NotRunning {")]
    assert "if ($RegisterServices) {" in check
    refused = check.index("Add-Failure \"no kubeconfig at ${target}: -RegisterServices needs")
    assert refused < check.index("Write-Warning")
    assert install.index("\nTest-Kubeconfig\n") < install.index("\n$Copied = $true\n")


@pytest.mark.parametrize("mode", ["overlay", "flannel-vxlan"])
def test_source_vip_is_reserved_in_the_runtimes_ipam_store(mode: str) -> None:
    # host-local's store (/var/lib/cni/networks) is on the drive of its working folder: run from
    # D:\k it would reserve the VIP in D:\var\lib\cni while pods are given addresses from C:'s store.
    proxy = text(bundle(mode), "start-kubeproxy.ps1")
    vip = proxy[proxy.index("function Get-SourceVip("):]
    push = vip.index("Push-Location -LiteralPath ($env:SystemDrive + '\\')")
    call = vip.index("& $ipam")
    assert vip.index("$ipam = (Resolve-Path -LiteralPath $ipam).ProviderPath") < push < call
    assert call < vip.index("} finally {\n        Pop-Location")
