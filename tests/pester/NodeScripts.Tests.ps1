# Pester 5 tests of single functions and early checks of the generated scripts, read from the
# bundle ($env:BUNDLE_ROOT) and from render-variants.sh's renders ($env:RENDER_ROOT): the source
# VIP kube-proxy keeps on an overlay, the containerd config install.ps1 writes for containerd 1.x
# and 2.x (the bundled containerd's too), join-node.ps1's refusal of a malformed token, which
# must not print it, and start-flanneld.ps1's order: the vSwitch network before flanneld, which gets
# its node name from NODE_NAME, and the routes AddRoutes.ps1 plans from the cluster's nodes.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $roots = @($env:BUNDLE_ROOT) + @(Get-BundleVariant | Where-Object { $_.Dir } | ForEach-Object { $_.Dir })
    $proxies = @(foreach ($root in $roots) {
            # The functions the scripts share: Get-SourceVip where kube-proxy needs a source VIP.
            $path = Join-Path $root 'node-functions.ps1'
            if ((Test-Path -LiteralPath (Join-Path $root 'start-kubeproxy.ps1')) -and
                (Select-String -LiteralPath $path -Pattern '^function Get-SourceVip' -Quiet)) {
                @{ Path = $path }
            }
        })
    $shared = @(foreach ($root in $roots) { @{ Path = (Join-Path $root 'node-functions.ps1') } })
    $installs = @(foreach ($root in $roots) {
            $path = Join-Path $root 'install.ps1'
            if ((Test-Path -LiteralPath $path) -and (Select-String -LiteralPath $path -Pattern '^function New-ContainerdConfig' -Quiet)) {
                @{ Path = $path }
            }
        })
    $joins = @(foreach ($root in $roots) {
            $path = Join-Path $root 'join-node.ps1'
            if (Test-Path -LiteralPath $path) { @{ Path = $path } }
        })
    $routes = @(foreach ($root in $roots) {
            $path = Join-Path $root 'AddRoutes.ps1'
            if (Test-Path -LiteralPath $path) { @{ Path = $path } }
        })
    # The renders only: their flanneld.exe is a placeholder (the bundle's own would really start).
    $flannels = @(Get-BundleVariant | Where-Object { $_.Dir -and $_.Mode -in @('flannel-vxlan', 'flannel-host-gw') } |
            ForEach-Object { @{ Label = $_.Label; Dir = $_.Dir } })
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
}

Describe 'start-kubeproxy.ps1: the source VIP' {
    It 'is reserved once and read back after (<Path>)' -ForEach $proxies {
        . (Import-ScriptFunction $Path 'Get-SourceVip')
        . (Import-ScriptFunction $Path 'Assert-FilesExist')
        $StateDir = Join-Path $TestDrive ('state-' + [guid]::NewGuid().ToString('N'))
        $CniBinDir = Join-Path $TestDrive 'no-cni'
        $NetworkName = 'vxlan0'
        $network = [pscustomobject]@{ Subnets = @([pscustomobject]@{ AddressPrefix = '10.244.7.0/24' }) }
        # No reservation and no host-local.exe: the error says what to do.
        { Get-SourceVip $network } | Should -Throw -ExpectedMessage '*source VIP*'
        New-Item -ItemType Directory -Force -Path $StateDir | Out-Null
        Set-Content -LiteralPath (Join-Path $StateDir 'sourceVip.json') -Value '{"address": "10.244.7.2"}' -Encoding Ascii
        Get-SourceVip $network | Should -Be '10.244.7.2'
    }
}

Describe 'node-functions.ps1: kubelet''s arguments' {
    It 'puts the caller''s identity after the node''s own, and adds the service flag with -Service (<Path>)' -ForEach $shared {
        . (Import-ScriptFunction $Path 'Get-KubeletArgs')
        # The variables the calling scripts set, which the arguments name.
        $NodeName = 'node-1'; $NodeIp = '10.0.0.5'; $PauseImage = 'pause'; $CniBinDir = 'C:\k\cni'
        $CniConfDir = 'C:\k\cni\conf'; $NodeLabels = ''; $LogDir = 'C:\k\logs'
        $plain = @(Get-KubeletArgs -Identity @('--kubeconfig=C:\k\config'))
        $service = @(Get-KubeletArgs -Identity @('--kubeconfig=C:\k\config') -Service)
        $plain[0] | Should -Be '--v=2'
        $plain[3] | Should -Be '--kubeconfig=C:\k\config'
        $plain | Should -Contain '--node-ip=10.0.0.5'
        if (Select-String -LiteralPath $Path -Pattern "'--windows-service=true'" -SimpleMatch -Quiet) {
            $service.Count | Should -Be ($plain.Count + 1)
            $service | Should -Contain '--windows-service=true'
        } else {
            $service.Count | Should -Be $plain.Count
        }
    }
}

Describe 'install.ps1: the containerd config' {
    It 'names the CNI folders in the layout of each containerd major (<Path>)' -ForEach $installs {
        . (Import-ScriptFunction $Path 'ConvertTo-TomlString')
        . (Import-ScriptFunction $Path 'New-ContainerdConfig')
        $PauseImage = 'registry.k8s.io/pause:3.10'
        $v1 = New-ContainerdConfig ([version]'1.7') 'C:\k\cni' 'C:\k\cni\conf'
        $v1 | Should -BeLike 'version = 2*'
        $v1 | Should -BeLike '*bin_dir = "C:\\k\\cni"*'
        $v2 = New-ContainerdConfig ([version]'2.1') 'C:\k\cni' 'C:\k\cni\conf'
        $v2 | Should -BeLike 'version = 3*'
        $v2 | Should -BeLike '*bin_dirs = ["C:\\k\\cni"]*'
        $v2 | Should -BeLike '*sandbox = "registry.k8s.io/pause:3.10"*'
    }
}

Describe 'join-node.ps1: the token' {
    It 'refuses a malformed token without printing it (<Path>)' -ForEach $joins {
        $secret = 'not-a-token-' + [guid]::NewGuid().ToString('N')
        $message = ''
        try {
            & $Path -Token $secret -CaCertHash ('sha256:' + ('a' * 64)) -ControlPlane '10.0.0.1:6443' -InstallDir $TestDrive
        } catch {
            $message = $_.Exception.Message
        }
        $message | Should -BeLike '*bootstrap token*'
        $message | Should -Not -BeLike "*$secret*"
    }
}

Describe 'start-flanneld.ps1' {
    BeforeEach {
        Reset-HnsState
        Mock Get-NetIPAddress { [pscustomobject]@{ IPAddress = '10.0.0.5'; PrefixLength = 24; PrefixOrigin = 'Dhcp' } }
        Mock Get-NetAdapter { [pscustomobject]@{ Name = 'vEthernet (Ethernet 7)'; Status = 'Up' } }
        Mock Start-Sleep { return }
    }

    AfterEach {
        Remove-Module -Name @('hns', 'hns.v2') -Force -ErrorAction SilentlyContinue
        Remove-Item -Path Env:NODE_NAME -ErrorAction SilentlyContinue
    }

    It '<Label>: makes the vSwitch network, then starts flanneld as NODE_NAME' -ForEach $flannels {
        $install = New-BundleCopy $TestDrive $Dir
        Set-HnsStub $install
        $kubeconfig = Join-Path $TestDrive 'kubeconfig'
        Set-Content -LiteralPath $kubeconfig -Value 'apiVersion: v1' -Encoding Ascii
        # flanneld.exe of the copy is an empty placeholder: starting it fails, after the steps before it.
        { & (Join-Path $install 'start-flanneld.ps1') -InstallDir $install -InterfaceName 'Ethernet 7' `
                -KubeconfigPath $kubeconfig -NodeName 'node-1' } | Should -Throw
        $switch = @($global:HnsCalls | Where-Object { $_.Call -eq 'New-HNSNetwork' -and $_.Name -eq 'External' })
        $switch.Count | Should -Be 1
        $switch[0].AdapterName | Should -Be 'Ethernet 7'
        $env:NODE_NAME | Should -Be 'node-1'
    }
}

Describe 'AddRoutes.ps1: the routes it plans' {
    It 'routes each other node with a podCIDR via its InternalIP, and skips the rest (<Path>)' -ForEach $routes {
        . (Import-ScriptFunction $Path 'Get-Field')
        . (Import-ScriptFunction $Path 'Get-RoutePlan')
        $nodes = @'
[{"metadata": {"name": "node-1"}, "spec": {"podCIDR": "10.244.1.0/24"},
  "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]}},
 {"metadata": {"name": "linux-1"}, "spec": {"podCIDR": "10.244.0.0/24"},
  "status": {"addresses": [{"type": "Hostname", "address": "linux-1"}, {"type": "InternalIP", "address": "10.0.0.2"}]}},
 {"metadata": {"name": "new-node"}, "spec": {}, "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.9"}]}},
 {"metadata": {"name": "odd-node"}, "spec": {"podCIDR": "10.244.5.0/24"}, "status": {"addresses": []}}]
'@ | ConvertFrom-Json
        $plan = Get-RoutePlan $nodes 'node-1'
        $plan.Own | Should -Be '10.244.1.0/24'
        @($plan.Routes).Count | Should -Be 1
        $plan.Routes[0].Cidr | Should -Be '10.244.0.0/24'
        $plan.Routes[0].NextHop | Should -Be '10.0.0.2'
    }
}
