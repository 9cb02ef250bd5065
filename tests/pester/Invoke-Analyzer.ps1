<#
.SYNOPSIS
Runs PSScriptAnalyzer over the scripts this project generates; exits 1 on any finding.

.DESCRIPTION
The files are taken from the bundle's manifest.json: those whose origin is 'generated'. Microsoft's
SDN modules (origin 'sdn') are upstream code, shipped byte for byte as pinned, and are not ours to lint.
With -RenderRoot, every script render-variants.sh rendered (each network mode and runtime) too.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)]
    [string]$Root,

    [Parameter(Mandatory = $true)]
    [string]$Settings,

    [string]$RenderRoot = ''
)

Import-Module PSScriptAnalyzer -RequiredVersion $env:PSSCRIPTANALYZER_VERSION
$manifest = Get-Content -LiteralPath (Join-Path $Root 'manifest.json') -Raw | ConvertFrom-Json
$paths = @($manifest.files |
        Where-Object { $_.origin -eq 'generated' -and $_.path -match '\.(ps1|psm1|psd1)$' } |
        ForEach-Object { Join-Path (Split-Path -Parent $Root) $_.path })
if ($RenderRoot) {
    $paths += @(Get-ChildItem -LiteralPath $RenderRoot -Recurse -File |
            Where-Object { $_.Extension -in @('.ps1', '.psm1', '.psd1') } |
            ForEach-Object { $_.FullName })
}
if ($paths.Count -eq 0) {
    Write-Output 'manifest.json names no generated script'
    exit 1
}
$findings = @(foreach ($path in $paths) { Invoke-ScriptAnalyzer -Path $path -Settings $Settings })
$findings | Format-Table -AutoSize -Property @('Severity', 'RuleName', 'ScriptName', 'Line', 'Message') | Out-String -Width 240 |
    Write-Output
Write-Output ('PSScriptAnalyzer: {0} script(s), {1} finding(s)' -f $paths.Count, $findings.Count)
if ($findings.Count -gt 0) { exit 1 }
exit 0
