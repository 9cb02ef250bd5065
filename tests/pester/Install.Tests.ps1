# Pester 5 tests of the generated install.ps1 for each network mode and runtime (the bundle as
# built, and every render-variants.sh combination laid over a copy and re-sealed): it verifies
# the copy for real, installs into a test folder, creates the node's firewall rules and, with
# -RegisterServices, the kubelet and kube-proxy services. The host checks that need a real node
# (the container runtime, administrator, file permissions) and the cmdlets that change the host
# (firewall, services, scheduled tasks) are mocked; the assertions are the calls they received.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $variants = @(Get-BundleVariant)
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    # Stubs, so that Mock finds the commands the scripts define for themselves (the mocks take
    # precedence over the scripts' own functions of the same names).
    function Test-Administrator { return $true }
    function Test-Runtime { return }
    function Set-InstallAcl { return }
    function Set-PrivateAcl { return }
    function Install-BundledContainerd { return }
    function Register-FlanneldTask { return }
    function Get-PodCidr { return '' }
    # Native commands the scripts call by name: these functions take precedence over the
    # executables, so nothing reaches the host even where Pester could not mock an application.
    function sc.exe { $global:LASTEXITCODE = 0 }
    function netsh { $global:LASTEXITCODE = 0 }
}

Describe 'install.ps1, then start-kubelet.ps1 -NetworkOnly, then install.ps1 -RegisterServices' {
    BeforeEach {
        Reset-HnsState
        Mock Test-Administrator { return $true }
        Mock Test-Runtime { return }
        Mock Set-InstallAcl { return }
        Mock Set-PrivateAcl { return }
        Mock Install-BundledContainerd { return }
        Mock Register-FlanneldTask { return }
        Mock Get-PodCidr { return '10.244.7.0/24' }
        Mock Get-NetFirewallRule { return $null }
        Mock New-NetFirewallRule { return }
        Mock Set-NetFirewallRule { return }
        Mock Get-Service { return $null }
        Mock New-Service { return }
        Mock New-ItemProperty { return }
        Mock sc.exe { $global:LASTEXITCODE = 0 }
        Mock netsh { $global:LASTEXITCODE = 0 }
        Mock Get-NetIPAddress {
            [pscustomobject]@{ IPAddress = '10.0.0.5'; PrefixLength = 24; PrefixOrigin = 'Dhcp' }
        }
        Mock Get-NetAdapter { [pscustomobject]@{ Name = 'vEthernet (Ethernet 7)'; Status = 'Up' } }
        Mock Start-Sleep { return }
    }

    AfterEach {
        Remove-Module -Name @('hns', 'hns.v2') -Force -ErrorAction SilentlyContinue
    }

    It '<Label>: network mode <Mode>, runtime <Runtime>' -ForEach $variants {
        $bundle = New-BundleCopy $TestDrive $Dir
        Update-BundleManifest $bundle
        $target = Join-Path $TestDrive ('node-' + [guid]::NewGuid().ToString('N'))
        $kubeconfig = Join-Path $TestDrive 'kubeconfig'
        Set-Content -LiteralPath $kubeconfig -Value 'apiVersion: v1' -Encoding Ascii
        $install = Join-Path $bundle 'install.ps1'
        $options = @{ InstallDir = $target; KubeconfigSource = $kubeconfig; NodeName = 'node-1' }
        if ((Get-Command $install).Parameters.ContainsKey('SourceVip')) { $options.SourceVip = '10.244.7.3' }

        $global:LASTEXITCODE = 0
        & $install @options
        $LASTEXITCODE | Should -Be 0
        Test-Path -LiteralPath (Join-Path $target 'kubelet.exe') | Should -BeTrue
        Should -Invoke New-NetFirewallRule -ParameterFilter {
            $Name -eq 'k8s-windows-bundle-kubelet' -and $Protocol -eq 'TCP' -and "$LocalPort" -eq '10250'
        }
        Should -Invoke New-Service -Times 0 -Exactly

        # The pod network and the CNI config, as start-kubelet.ps1 leaves them before the services start.
        if ($Mode -like 'flannel*') {
            $name = Get-ScriptDefault (Join-Path $target 'start-kubelet.ps1') 'NetworkName'
            $global:HnsNetworks.Add([pscustomobject]@{ Name = $name; Id = 'flannel'; Type = 'Overlay' })
        }
        Set-HnsStub $target
        & (Join-Path $target 'start-kubelet.ps1') -InstallDir $target -InterfaceName 'Ethernet 7' -NodeName 'node-1' -NetworkOnly
        Remove-Module -Name @('hns', 'hns.v2') -Force -ErrorAction SilentlyContinue

        $global:LASTEXITCODE = 0
        & $install @options -RegisterServices
        $LASTEXITCODE | Should -Be 0
        $kubeletExe = Join-Path $target 'kubelet.exe'
        Should -Invoke New-Service -Times 1 -Exactly -ParameterFilter {
            $Name -eq 'kubelet' -and $BinaryPathName -like "*$kubeletExe*" -and $BinaryPathName -like '*--windows-service*'
        }
        Should -Invoke New-Service -Times 1 -Exactly -ParameterFilter {
            $Name -eq 'kube-proxy' -and $BinaryPathName -like '*kube-proxy.exe*' -and @($DependsOn) -contains 'kubelet'
        }
        if ($Mode -like 'flannel*') {
            Should -Invoke Register-FlanneldTask -Times 1 -Exactly
        }
    }
}
