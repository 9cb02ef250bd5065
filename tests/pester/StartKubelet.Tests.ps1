# Pester 5 tests of the generated start-kubelet.ps1, run with -NetworkOnly in a copy of the
# bundle whose hns.psm1 is replaced by tests/pester/HnsStub.psm1; the host's network cmdlets and
# native commands are mocked. One test per network mode and runtime: the bundle's own scripts,
# and those tests/pester/render-variants.sh rendered for every other combination the version
# accepts ($env:RENDER_ROOT\<mode>__<runtime>\, laid over the copy). Each asserts what the node
# would see: the HNS pod network created (type, prefix, gateway, adapter), or for flannel modes
# left to flanneld, and one CNI config named after the network, holding the node's pod subnet.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $variants = @(Get-BundleVariant)
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    # A stub so that Mock finds a command to replace: the script loads the real Get-PodCidr (node-functions.ps1),
    # which asks kubectl.exe, and the mock takes precedence over that function.
    function Get-PodCidr { return '' }
    # netsh (called by name): this function takes precedence over the executable.
    function netsh { $global:LASTEXITCODE = 0 }
}

Describe 'start-kubelet.ps1 -NetworkOnly' {
    BeforeEach {
        Reset-HnsState
        Mock Get-PodCidr { return '10.244.7.0/24' }
        Mock Get-NetIPAddress {
            [pscustomobject]@{ IPAddress = '10.0.0.5'; PrefixLength = 24; PrefixOrigin = 'Dhcp' }
        }
        Mock Get-NetAdapter { [pscustomobject]@{ Name = 'vEthernet (Ethernet 7)'; Status = 'Up' } }
        Mock Start-Sleep { return }
        Mock netsh { $global:LASTEXITCODE = 0 }
    }

    AfterEach {
        Remove-Module -Name @('hns', 'hns.v2') -Force -ErrorAction SilentlyContinue
    }

    It '<Label>: network mode <Mode>, runtime <Runtime>' -ForEach $variants {
        $install = New-BundleCopy $TestDrive $Dir
        Set-HnsStub $install
        $kubeconfig = Join-Path $TestDrive 'kubeconfig'
        Set-Content -LiteralPath $kubeconfig -Value 'apiVersion: v1' -Encoding Ascii
        $flannel = $Mode -like 'flannel*'
        if ($flannel) {
            # flanneld makes the pod network; the script only waits for it.
            $global:HnsNetworks.Add([pscustomobject]@{ Name = 'testnet'; Id = 'flannel'; Type = 'Overlay' })
        }

        & (Join-Path $install 'start-kubelet.ps1') -InstallDir $install -NetworkName 'testnet' `
            -InterfaceName 'Ethernet 7' -KubeconfigPath $kubeconfig -NodeName 'node-1' -NetworkOnly

        $pod = @($global:HnsCalls | Where-Object { $_.Call -eq 'New-HNSNetwork' -and $_.Name -eq 'testnet' })
        if ($flannel) {
            $pod.Count | Should -Be 0
        } else {
            $pod.Count | Should -Be 1
            $pod[0].AddressPrefix | Should -Be '10.244.7.0/24'
            $pod[0].Gateway | Should -Be '10.244.7.1'
            $pod[0].AdapterName | Should -Be 'Ethernet 7'
            $expectedType = 'L2Bridge'
            if ($Mode -like '*overlay*') { $expectedType = 'Overlay' }
            $pod[0].Type | Should -Be $expectedType
            # An overlay the script makes gets HNS v2's HostRoute policy: the host reaches its own pods.
            $hostRoute = @($global:HnsCalls | Where-Object { $_.Call -eq 'New-V2HnsHostRoutePolicy' })
            $hostRoute.Count | Should -Be ([int]($expectedType -eq 'Overlay'))
        }

        # One CNI network config, named after the network, holding this node's pod subnet.
        $configs = @(Get-ChildItem -LiteralPath $install -Recurse -Filter 'testnet.conf' -File)
        $configs.Count | Should -Be 1
        $conf = Get-Content -LiteralPath $configs[0].FullName -Raw | ConvertFrom-Json
        $conf.name | Should -Be 'testnet'
        $conf.ipam.subnet | Should -Be '10.244.7.0/24'
        $bytes = [System.IO.File]::ReadAllBytes($configs[0].FullName)
        $bytes[0] | Should -Not -Be 0xEF  # no byte order mark: Go's JSON reader refuses one
    }
}
