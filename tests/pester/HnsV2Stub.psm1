# A stand-in for Microsoft's hns.v2.psm1 in the Pester tests: the functions start-kubelet.ps1 calls
# (imported with -Prefix V2), recording each call in $global:HnsCalls. A network's HNS v2 policies
# are those the tests added with New-HnsHostRoutePolicy.

function Get-HnsNetwork {
    [CmdletBinding()]
    param(
        [string] $Id
    )
    $global:HnsCalls.Add([pscustomobject]@{ Call = 'Get-V2HnsNetwork'; Id = $Id })
    $policies = @($global:HnsCalls | Where-Object { $_.Call -eq 'New-V2HnsHostRoutePolicy' -and $_.NetworkId -eq $Id } |
            ForEach-Object { [pscustomobject]@{ Type = 'HostRoute' } })
    return [pscustomobject]@{ Id = $Id; Policies = $policies }
}

function New-HnsHostRoutePolicy {
    [CmdletBinding()]
    param(
        [string] $NetworkId
    )
    $global:HnsCalls.Add([pscustomobject]@{ Call = 'New-V2HnsHostRoutePolicy'; NetworkId = $NetworkId })
}

Export-ModuleMember -Function @('Get-HnsNetwork', 'New-HnsHostRoutePolicy')
