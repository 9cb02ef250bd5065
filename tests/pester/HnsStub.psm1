# A stand-in for Microsoft's hns.psm1 in the Pester tests: the same function names and parameters
# start-kubelet.ps1 and uninstall.ps1 use, recording every call in $global:HnsCalls and keeping the networks and
# endpoints it was asked to create in $global:HnsNetworks / $global:HnsEndpoints.

function New-HNSNetwork {
    [CmdletBinding()]
    param(
        [string] $Type,
        [string] $Name,
        [string] $AddressPrefix,
        [string] $Gateway,
        [string] $AdapterName,
        [object[]] $SubnetPolicies,
        [hashtable] $NetworkSpecificParams
    )
    $global:HnsCalls.Add([pscustomobject]@{
            Call = 'New-HNSNetwork'; Type = $Type; Name = $Name; AddressPrefix = $AddressPrefix
            Gateway = $Gateway; AdapterName = $AdapterName
        })
    $network = [pscustomobject]@{
        Name = $Name; Id = [guid]::NewGuid().ToString(); Type = $Type
        Subnets = @([pscustomobject]@{ AddressPrefix = $AddressPrefix; GatewayAddress = $Gateway })
    }
    $global:HnsNetworks.Add($network)
    return $network
}

function Invoke-HNSRequest {
    [CmdletBinding()]
    param(
        [string] $Method,
        [string] $Type,
        [string] $Data,
        [string] $Id
    )
    $global:HnsCalls.Add([pscustomobject]@{ Call = 'Invoke-HNSRequest'; Method = $Method; Type = $Type; Id = $Id })
    if ($Method -eq 'DELETE') {
        $list = $global:HnsEndpoints
        if ($Type -eq 'networks') { $list = $global:HnsNetworks }
        foreach ($item in @($list | Where-Object { $_.Id -eq $Id })) { [void]$list.Remove($item) }
        return @()
    }
    if ($Type -eq 'networks') { return $global:HnsNetworks.ToArray() }
    if ($Type -eq 'endpoints') { return $global:HnsEndpoints.ToArray() }
    return @()
}

function New-HnsEndpoint {
    [CmdletBinding()]
    param(
        [string] $NetworkId,
        [string] $Name,
        [string] $IPAddress,
        [string] $Gateway,
        [string] $MacAddress
    )
    $global:HnsCalls.Add([pscustomobject]@{
            Call = 'New-HnsEndpoint'; NetworkId = $NetworkId; Name = $Name; IPAddress = $IPAddress; Gateway = $Gateway
        })
    $endpoint = [pscustomobject]@{ Name = $Name; Id = [guid]::NewGuid().ToString(); VirtualNetwork = $NetworkId }
    $global:HnsEndpoints.Add($endpoint)
    return $endpoint
}

function Attach-HnsHostEndpoint {
    [CmdletBinding()]
    param(
        [string] $EndpointID,
        [int] $CompartmentID
    )
    $global:HnsCalls.Add([pscustomobject]@{ Call = 'Attach-HnsHostEndpoint'; EndpointID = $EndpointID })
}

Export-ModuleMember -Function @('New-HNSNetwork', 'Invoke-HNSRequest', 'New-HnsEndpoint', 'Attach-HnsHostEndpoint')
