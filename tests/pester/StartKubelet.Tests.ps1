# Pester 5 tests of the generated start-kubelet.ps1, run with -NetworkOnly in a copy of the
# bundle whose hns.psm1 is replaced by tests/pester/HnsStub.psm1; the host's network cmdlets and
# native commands are mocked. They assert what the node would see for the bundle's own network
# mode (manifest.json config.network.mode): the HNS networks created (type, prefix, gateway) and
# the CNI config written with the node's pod subnet.

BeforeAll {
    $manifest = Get-Content -LiteralPath (Join-Path $env:BUNDLE_ROOT 'manifest.json') -Raw | ConvertFrom-Json
    $script:Mode = [string]$manifest.config.network.mode
    $script:PodCidr = '10.244.7.0/24'

    # Stubs, so that Mock finds a command to replace (the script defines the real Get-PodCidr,
    # which asks kubectl.exe; the mock's alias takes precedence over that function).
    function Get-PodCidr { }
}

Describe 'start-kubelet.ps1 -NetworkOnly' {
    BeforeEach {
        $global:HnsCalls = [System.Collections.Generic.List[object]]::new()
        $global:HnsNetworks = [System.Collections.Generic.List[object]]::new()
        $global:HnsEndpoints = [System.Collections.Generic.List[object]]::new()

        $script:Install = Join-Path $TestDrive ('k-' + [guid]::NewGuid().ToString('N'))
        Copy-Item -LiteralPath $env:BUNDLE_ROOT -Destination $script:Install -Recurse
        Copy-Item -LiteralPath (Join-Path $PSScriptRoot 'HnsStub.psm1') -Destination (Join-Path $script:Install 'hns.psm1') -Force
        $script:Kubeconfig = Join-Path $TestDrive 'kubeconfig'
        Set-Content -LiteralPath $script:Kubeconfig -Value 'apiVersion: v1' -Encoding Ascii

        Mock Get-PodCidr { return '10.244.7.0/24' }
        Mock Get-NetIPAddress {
            [pscustomobject]@{ IPAddress = '10.0.0.5'; PrefixLength = 24; PrefixOrigin = 'Dhcp' }
        }
        Mock Get-NetAdapter { [pscustomobject]@{ Name = 'vEthernet (Ethernet 7)'; Status = 'Up' } }
        Mock Start-Sleep { return }
        Mock netsh { $global:LASTEXITCODE = 0 }
    }

    AfterEach {
        Remove-Module hns -Force -ErrorAction SilentlyContinue
    }

    It 'sets up the pod network and the CNI config, then stops' {
        if ($script:Mode -like 'flannel*') {
            # flanneld makes the pod network; the script only waits for it.
            $global:HnsNetworks.Add([pscustomobject]@{ Name = 'testnet'; Id = 'flannel'; Type = 'Overlay' })
        }
        $run = Join-Path $script:Install 'start-kubelet.ps1'
        & $run -InstallDir $script:Install -NetworkName 'testnet' -InterfaceName 'Ethernet 7' `
            -KubeconfigPath $script:Kubeconfig -NodeName 'node-1' -NetworkOnly

        $created = @($global:HnsCalls | Where-Object { $_.Call -eq 'New-HNSNetwork' })
        if ($script:Mode -like 'flannel*') {
            $created | Where-Object { $_.Name -eq 'testnet' } | Should -BeNullOrEmpty
        } else {
            $pod = @($created | Where-Object { $_.Name -eq 'testnet' })
            $pod.Count | Should -Be 1
            $pod[0].AddressPrefix | Should -Be $script:PodCidr
            $pod[0].Gateway | Should -Be '10.244.7.1'
            $pod[0].AdapterName | Should -Be 'Ethernet 7'
            $expectedType = if ($script:Mode -like '*overlay*') { 'Overlay' } else { 'L2Bridge' }
            $pod[0].Type | Should -Be $expectedType
        }

        # One CNI network config, named after the network, holding this node's pod subnet.
        $configs = @(Get-ChildItem -LiteralPath $script:Install -Recurse -Filter 'testnet.conf' -File)
        $configs.Count | Should -Be 1
        $conf = Get-Content -LiteralPath $configs[0].FullName -Raw | ConvertFrom-Json
        $conf.name | Should -Be 'testnet'
        $conf.ipam.subnet | Should -Be $script:PodCidr
        $bytes = [System.IO.File]::ReadAllBytes($configs[0].FullName)
        $bytes[0] | Should -Not -Be 0xEF  # no byte order mark: Go's JSON reader refuses one
    }
}
