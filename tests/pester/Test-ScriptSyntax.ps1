<#
.SYNOPSIS
Parses every .ps1, .psm1 and .psd1 under each -Root folder with PowerShell's own parser and exits 1 on any error.

.DESCRIPTION
Runs unchanged in Windows PowerShell 5.1 and in PowerShell 7, so the release workflow calls it
from both shells. Nothing is executed: ParseFile only reads the text.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)]
    [string[]]$Root
)

$files = @(foreach ($folder in $Root) {
        $found = @(Get-ChildItem -LiteralPath $folder -Recurse -File |
                Where-Object { $_.Extension -in @('.ps1', '.psm1', '.psd1') })
        if ($found.Count -eq 0) {
            Write-Host "no PowerShell files under $folder"
            exit 1
        }
        $found
    })
$failed = 0
foreach ($file in $files) {
    $tokens = $null
    $errors = $null
    [System.Management.Automation.Language.Parser]::ParseFile($file.FullName, [ref]$tokens, [ref]$errors) | Out-Null
    foreach ($e in $errors) {
        $failed++
        Write-Output ('{0}:{1}:{2}: {3}' -f $file.FullName, $e.Extent.StartLineNumber,
            $e.Extent.StartColumnNumber, $e.Message)
    }
}
Write-Output ('PowerShell {0}: {1} file(s) parsed, {2} error(s)' -f $PSVersionTable.PSVersion, $files.Count, $failed)
if ($failed -gt 0) { exit 1 }
exit 0
