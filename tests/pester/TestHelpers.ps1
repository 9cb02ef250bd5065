# Helpers the Pester tests dot-source: the variants to test, and copies of the bundle to run in.
# ($env:BUNDLE_ROOT: the expanded bundle's k\ folder; $env:RENDER_ROOT: render-variants.sh's output.)

function Get-BundleVariant {
    # The bundle as built, then every <mode>__<runtime> folder render-variants.sh wrote.
    $manifest = Get-Content -LiteralPath (Join-Path $env:BUNDLE_ROOT 'manifest.json') -Raw | ConvertFrom-Json
    $variants = @(@{
            Label = 'bundle as built'; Mode = [string]$manifest.config.network.mode
            Runtime = [string]$manifest.config.node.runtime; Dir = ''
        })
    if ($env:RENDER_ROOT) {
        foreach ($dir in @(Get-ChildItem -LiteralPath $env:RENDER_ROOT -Directory)) {
            $mode, $runtime = $dir.Name -split '__', 2
            $variants += @{ Label = $dir.Name; Mode = $mode; Runtime = $runtime; Dir = $dir.FullName }
        }
    }
    return $variants
}

function New-BundleCopy([string] $Parent, [string] $VariantDir) {
    # A copy of the bundle with the variant's rendered files laid over it, and an empty file for
    # each binary a mode needs that the bundle lacks (nothing runs a binary in these tests).
    $root = Join-Path $Parent ('k-' + [guid]::NewGuid().ToString('N'))
    Copy-Item -LiteralPath $env:BUNDLE_ROOT -Destination $root -Recurse
    if ($VariantDir) {
        Get-ChildItem -LiteralPath $VariantDir -Force | Copy-Item -Destination $root -Recurse -Force
    }
    foreach ($exe in @('cni\wincni.exe', 'cni\win-bridge.exe', 'cni\win-overlay.exe', 'cni\host-local.exe',
            'flanneld.exe')) {
        $path = Join-Path $root $exe
        if (-not (Test-Path -LiteralPath $path)) {
            New-Item -ItemType File -Force -Path $path | Out-Null
        }
    }
    return $root
}

function New-ManifestEntry([string] $Root, [string] $Rel) {
    $file = Get-Item -LiteralPath (Join-Path $Root $Rel.Replace('/', '\')) -Force
    return [pscustomobject]@{
        path = 'k/' + $Rel; size = $file.Length; mode = '0644'; origin = 'generated'
        sha256 = (Get-FileHash -LiteralPath $file.FullName -Algorithm SHA256).Hash.ToLowerInvariant()
    }
}

function Update-BundleManifest([string] $Root) {
    # Re-seal a copy whose files were changed on purpose, as pack does: manifest.json lists every
    # file again with its size and SHA256 (sorted by path, ordinal), install.ps1 gets the digest of
    # every other entry, and SHA256SUMS (optional for install.ps1) goes.
    $manifestPath = Join-Path $Root 'manifest.json'
    $manifest = Get-Content -LiteralPath $manifestPath -Raw | ConvertFrom-Json
    $prefix = [System.IO.Path]::GetFullPath($Root).TrimEnd('\').Length + 1
    $rels = @(foreach ($file in @(Get-ChildItem -LiteralPath $Root -Recurse -File -Force)) {
        $rel = $file.FullName.Substring($prefix).Replace('\', '/')
        if ($rel -notin @('manifest.json', 'SHA256SUMS')) { $rel }
    })
    [Array]::Sort($rels, [System.StringComparer]::Ordinal)
    $text = ''
    foreach ($rel in $rels) {
        if ($rel -ne 'install.ps1') { $text += (New-ManifestEntry $Root $rel).sha256 + '  k/' + $rel + "`n" }
    }
    $sha = [System.Security.Cryptography.SHA256]::Create()
    $digest = -join ($sha.ComputeHash([System.Text.Encoding]::ASCII.GetBytes($text)) | ForEach-Object { $_.ToString('x2') })
    $install = Join-Path $Root 'install.ps1'
    $script = [System.IO.File]::ReadAllText($install) -replace "(?m)^\`$FilesDigest = '[0-9a-f]{64}'", "`$`$FilesDigest = '$digest'"  # `$`$: a literal $ in a replacement
    [System.IO.File]::WriteAllText($install, $script, [System.Text.Encoding]::ASCII)
    $manifest.files = @(foreach ($rel in $rels) { New-ManifestEntry $Root $rel })
    Remove-Item -LiteralPath (Join-Path $Root 'SHA256SUMS') -Force -ErrorAction SilentlyContinue
    [System.IO.File]::WriteAllText($manifestPath, ($manifest | ConvertTo-Json -Depth 30), [System.Text.Encoding]::ASCII)
}

function Reset-HnsState {
    $global:HnsCalls = [System.Collections.Generic.List[object]]::new()
    $global:HnsNetworks = [System.Collections.Generic.List[object]]::new()
    $global:HnsEndpoints = [System.Collections.Generic.List[object]]::new()
}

function Get-ScriptDefault([string] $Path, [string] $Parameter) {
    # The default value of one Param() entry of a generated script, read from its syntax tree.
    $tokens = $null
    $errors = $null
    $ast = [System.Management.Automation.Language.Parser]::ParseFile($Path, [ref]$tokens, [ref]$errors)
    $param = @($ast.ParamBlock.Parameters | Where-Object { $_.Name.VariablePath.UserPath -eq $Parameter })
    if ($param.Count -ne 1) { throw "$Path has no parameter -$Parameter" }
    return $param[0].DefaultValue.SafeGetValue()
}

function Set-HnsStub([string] $Dir) {
    # tests/pester's stand-ins in place of the bundle's hns.psm1 and hns.v2.psm1.
    Copy-Item -LiteralPath (Join-Path $PSScriptRoot 'HnsStub.psm1') -Destination (Join-Path $Dir 'hns.psm1') -Force
    Copy-Item -LiteralPath (Join-Path $PSScriptRoot 'HnsV2Stub.psm1') -Destination (Join-Path $Dir 'hns.v2.psm1') -Force
}

function Import-ScriptFunction([string] $Path, [string] $Name) {
    # One function of a generated script, defined in the caller's scope (read from the syntax tree):
    # a test of that function alone, without running the script.
    $tokens = $null
    $errors = $null
    $ast = [System.Management.Automation.Language.Parser]::ParseFile($Path, [ref]$tokens, [ref]$errors)
    $found = @($ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.FunctionDefinitionAst] -and $n.Name -eq $Name }, $true))
    if ($found.Count -ne 1) { throw "$Path defines $Name $($found.Count) times, not once" }
    return [scriptblock]::Create($found[0].Extent.Text)
}
