# Pester 5 tests of the node's day two, in copies of the bundle: uninstall.ps1 removes what the
# other scripts made (and nothing under -WhatIf), upgrade.ps1 refuses what the version-skew policy
# forbids before it changes anything, and rolls back a failed upgrade; start-kubelet.ps1 replaces a
# pod network left with another subnet, its endpoints first. The cmdlets that would change the host
# (services, firewall, HNS: tests/pester/HnsStub.psm1) are mocked; the assertions are their calls and
# the files left in the test folder.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    # Stubs, so that Mock finds the commands (a mock takes precedence over a script's own function).
    function Test-Administrator { return $true }
    function Invoke-Kubectl { return @{ Code = 1; Out = '' } }
    function Test-NodeHealth { return '' }
    function sc.exe { $global:LASTEXITCODE = 0 }
    function Test-Runtime { return }
    function Test-TrustedOwner { return $true }
    function Set-InstallAcl { return }
    function Set-PrivateAcl { return }
    function Install-BundledContainerd { return }

    function New-InstalledCopy {
        # The bundle as if installed: a copy in its own folder, with a kubeconfig and state\.
        $target = New-BundleCopy $TestDrive ''
        Set-Content -LiteralPath (Join-Path $target 'kubeconfig') -Value 'apiVersion: v1' -Encoding Ascii
        New-Item -ItemType Directory -Force -Path (Join-Path $target 'state') | Out-Null
        Set-HnsStub $target
        return $target
    }
}

Describe 'uninstall.ps1' {
    BeforeEach {
        Reset-HnsState
        $target = New-InstalledCopy
        $global:TestTarget = $target
        $network = Get-ScriptDefault (Join-Path $target 'uninstall.ps1') 'NetworkName'
        foreach ($name in @($network, 'External')) {
            $global:HnsNetworks.Add([pscustomobject]@{ Name = $name; Id = [guid]::NewGuid().ToString() })
        }
        $global:HnsEndpoints.Add([pscustomobject]@{ Name = 'pod'; Id = 'ep-1'; VirtualNetwork = $global:HnsNetworks[0].Id })
        Mock Test-Administrator { return $true }
        Mock Get-Service { [pscustomobject]@{ Name = $Name; Status = 'Running' } } -ParameterFilter { $Name -in @('kubelet', 'kube-proxy') }
        Mock Get-Service { return $null } -ParameterFilter { $Name -notin @('kubelet', 'kube-proxy') }
        Mock Get-ItemProperty { [pscustomobject]@{ ImagePath = '"' + (Join-Path $global:TestTarget 'kubelet.exe') + '" --windows-service' } }
        Mock Stop-Service { return }
        Mock sc.exe { $global:LASTEXITCODE = 0 }
        Mock Get-ScheduledTask { return $null }
        Mock Get-Process { return @() }
        Mock Get-NetRoute { return @() }
        Mock Get-NetFirewallRule { [pscustomobject]@{ Name = $Name } }
        Mock Remove-NetFirewallRule { return }
        Mock Test-Path { return $false } -ParameterFilter { $LiteralPath -like 'C:\etc\kubernetes*' -or $LiteralPath -like 'C:\var\lib\kubelet*' }
    }

    AfterEach {
        Remove-Module -Name @('hns', 'hns.v2') -Force -ErrorAction SilentlyContinue
    }

    It 'removes the services, the HNS networks (endpoints first), the firewall rules and the folder' {
        Push-Location -LiteralPath $TestDrive
        try { & (Join-Path $target 'uninstall.ps1') -InstallDir $target } finally { Pop-Location }

        Should -Invoke sc.exe -Times 2 -Exactly
        Should -Invoke Remove-NetFirewallRule -ParameterFilter { $Name -eq 'k8s-windows-bundle-kubelet' }
        $deletes = @($global:HnsCalls | Where-Object { $_.Method -eq 'DELETE' } | ForEach-Object { $_.Type })
        $deletes[0] | Should -Be 'endpoints'
        @($deletes | Where-Object { $_ -eq 'networks' }).Count | Should -Be 2
        $global:HnsNetworks.Count | Should -Be 0
        Test-Path -LiteralPath $target | Should -BeFalse
    }

    It 'keeps the kubeconfig and state\ with -KeepState' {
        Push-Location -LiteralPath $TestDrive
        try { & (Join-Path $target 'uninstall.ps1') -InstallDir $target -KeepState } finally { Pop-Location }

        Test-Path -LiteralPath (Join-Path $target 'kubeconfig') | Should -BeTrue
        Test-Path -LiteralPath (Join-Path $target 'state') | Should -BeTrue
        Test-Path -LiteralPath (Join-Path $target 'kubelet.exe') | Should -BeFalse
    }

    It 'changes nothing with -WhatIf' {
        Push-Location -LiteralPath $TestDrive
        try { & (Join-Path $target 'uninstall.ps1') -InstallDir $target -WhatIf } finally { Pop-Location }

        Should -Invoke sc.exe -Times 0 -Exactly
        Should -Invoke Stop-Service -Times 0 -Exactly
        Should -Invoke Remove-NetFirewallRule -Times 0 -Exactly
        @($global:HnsCalls | Where-Object { $_.Method -eq 'DELETE' }).Count | Should -Be 0
        Test-Path -LiteralPath (Join-Path $target 'kubelet.exe') | Should -BeTrue
    }
}

Describe 'upgrade.ps1' {
    BeforeEach {
        $target = New-InstalledCopy
        # The installed release: the same bundle, one patch older.
        $manifestPath = Join-Path $target 'manifest.json'
        $manifest = Get-Content -LiteralPath $manifestPath -Raw | ConvertFrom-Json
        $version = [version](([string]$manifest.kubernetes.gitVersion).TrimStart('v') -replace '-.*', '')
        $older = 'v{0}.{1}.{2}' -f $version.Major, $version.Minor, [Math]::Max(0, $version.Build - 1)
        $manifest.kubernetes.gitVersion = $older
        [System.IO.File]::WriteAllText($manifestPath, ($manifest | ConvertTo-Json -Depth 30), [System.Text.Encoding]::ASCII)
        $bundle = New-BundleCopy $TestDrive ''
        Update-BundleManifest $bundle
        $global:TestServer = @{ serverVersion = @{ gitVersion = ('v{0}.{1}.{2}' -f $version.Major, $version.Minor, $version.Build) } } | ConvertTo-Json
        Mock Invoke-Kubectl { return @{ Code = 0; Out = $global:TestServer } }
        Mock Get-Service { return $null }
        Mock Get-ScheduledTask { return $null }
        Mock Get-Process { return @() }
        # What the new install.ps1, run in place, would change on a real host (as in Install.Tests.ps1).
        Mock Test-Administrator { return $true }
        Mock Test-Runtime { return }
        Mock Test-TrustedOwner { return $true }
        Mock Set-InstallAcl { return }
        Mock Set-PrivateAcl { return }
        Mock Install-BundledContainerd { return }
        Mock Get-NetFirewallRule { return $null }
        Mock New-NetFirewallRule { return }
        Mock Set-NetFirewallRule { return }
        Mock Start-Sleep { return }
    }

    It 'refuses a kubelet newer than the API server, before anything changes' {
        Mock Invoke-Kubectl { return @{ Code = 0; Out = '{"serverVersion": {"gitVersion": "v1.8.0"}}' } }
        $before = (Get-FileHash -LiteralPath (Join-Path $target 'manifest.json')).Hash

        & (Join-Path $bundle 'upgrade.ps1') -InstallDir $target
        $LASTEXITCODE | Should -Be 1
        (Get-FileHash -LiteralPath (Join-Path $target 'manifest.json')).Hash | Should -Be $before
        Test-Path -LiteralPath (Join-Path $target 'state\upgrade\upgrade.json') | Should -BeFalse
    }

    It 'puts the previous release back when the health check fails' {
        Mock Test-NodeHealth { return 'node node-1 has kubelet v0.0.0 and Ready False' }
        $before = (Get-FileHash -LiteralPath (Join-Path $target 'manifest.json')).Hash

        & (Join-Path $bundle 'upgrade.ps1') -InstallDir $target -NodeName 'node-1'
        $LASTEXITCODE | Should -Be 1
        (Get-FileHash -LiteralPath (Join-Path $target 'manifest.json')).Hash | Should -Be $before
        $record = Get-Content -LiteralPath (Join-Path $target 'state\upgrade\upgrade.json') -Raw | ConvertFrom-Json
        $record.status | Should -Be 'rolled back'
        Test-Path -LiteralPath (Join-Path $target 'kubeconfig') | Should -BeTrue
    }
}

Describe 'start-kubelet.ps1: a pod network left by an earlier join' {
    It 'is kept only while its subnet is the podCIDR, and removed endpoints first' {
        $script = Join-Path $env:BUNDLE_ROOT 'node-functions.ps1'  # start-kubelet.ps1 loads them from there
        . (Import-ScriptFunction $script 'Test-HnsNetworkSubnet')
        . (Import-ScriptFunction $script 'Remove-HnsNetworkWithEndpoints')
        Reset-HnsState
        Import-Module (Join-Path $PSScriptRoot 'HnsStub.psm1') -DisableNameChecking -Force
        $old = [pscustomobject]@{ Name = 'winnet'; Id = 'net-1'; Subnets = @([pscustomobject]@{ AddressPrefix = '10.244.3.0/24'; GatewayAddress = '10.244.3.1' }) }
        $global:HnsNetworks.Add($old)
        $global:HnsEndpoints.Add([pscustomobject]@{ Name = 'pod'; Id = 'ep-1'; VirtualNetwork = 'net-1' })

        Test-HnsNetworkSubnet $old '10.244.3.0/24' '10.244.3.1' | Should -BeTrue
        Test-HnsNetworkSubnet $old '10.244.7.0/24' '10.244.7.1' | Should -BeFalse
        Remove-HnsNetworkWithEndpoints $old
        @($global:HnsCalls | Where-Object { $_.Method -eq 'DELETE' } | ForEach-Object { $_.Type }) | Should -Be @('endpoints', 'networks')
        Remove-Module HnsStub -Force
    }
}
