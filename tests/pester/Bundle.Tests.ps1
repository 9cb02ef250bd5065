# Pester 5 tests of an expanded bundle. The release workflow expands the zip and sets
# $env:BUNDLE_ROOT to its k\ folder before running Invoke-Pester on tests/pester.

BeforeDiscovery {
    if (-not $env:BUNDLE_ROOT) { throw 'set BUNDLE_ROOT to the k\ folder of an expanded bundle' }
    $manifest = Get-Content -LiteralPath (Join-Path $env:BUNDLE_ROOT 'manifest.json') -Raw | ConvertFrom-Json
    $bundleParent = Split-Path -Parent $env:BUNDLE_ROOT
    $scripts = @(Get-ChildItem -LiteralPath $env:BUNDLE_ROOT -Recurse -File |
            Where-Object { $_.Extension -in @('.ps1', '.psm1', '.psd1') } |
            ForEach-Object { @{ Path = $_.FullName; Name = $_.Name } })
    $generated = @($manifest.files |
            Where-Object { $_.origin -eq 'generated' -and $_.path -match '\.(ps1|psm1|psd1)$' } |
            ForEach-Object { @{ Path = (Join-Path $bundleParent $_.path); Name = $_.path } })
}

Describe 'Every script in the bundle' {
    # Discovery's variables are gone when the tests run: the counts travel as test data.
    It 'has scripts at all' -ForEach @(@{ ScriptCount = $scripts.Count; GeneratedCount = $generated.Count }) {
        $ScriptCount | Should -BeGreaterThan 0
        $GeneratedCount | Should -BeGreaterThan 0
    }

    It '<Name> parses with no errors' -ForEach $scripts {
        $tokens = $null
        $errors = $null
        [System.Management.Automation.Language.Parser]::ParseFile($Path, [ref]$tokens, [ref]$errors) | Out-Null
        $found = @($errors | ForEach-Object { 'line {0}: {1}' -f $_.Extent.StartLineNumber, $_.Message })
        ($found -join [Environment]::NewLine) | Should -BeNullOrEmpty
    }
}

Describe 'Every generated script' {
    It '<Name> is ASCII with CRLF line ends' -ForEach $generated {
        $bytes = [System.IO.File]::ReadAllBytes($Path)
        if ($bytes.Length -ge 3 -and $bytes[0] -eq 0xEF -and $bytes[1] -eq 0xBB -and $bytes[2] -eq 0xBF) {
            # Authenticode signing (osslsigncode) marks a signed script with a UTF-8 byte order mark.
            $bytes = $bytes[3..($bytes.Length - 1)]
        }
        @($bytes | Where-Object { $_ -gt 127 }).Count | Should -Be 0
        $text = [System.Text.Encoding]::ASCII.GetString($bytes)
        ([regex]::Matches($text, "(?<!`r)`n")).Count | Should -Be 0
        ([regex]::Matches($text, "`r(?!`n)")).Count | Should -Be 0
    }
}

Describe 'install.ps1 -CheckOnly' {
    BeforeAll {
        # A copy per test, so that tampering never touches the bundle under test. Windows
        # PowerShell 5.1 runs it in its own process, as on a node: nothing is dot-sourced here.
        function Invoke-CheckOnly([string] $Root) {
            $script = Join-Path $Root 'install.ps1'
            $output = & powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File $script -CheckOnly 2>&1
            return [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = ($output | Out-String) }
        }

        function Copy-Bundle([string] $Name) {
            $dest = Join-Path $TestDrive $Name
            Copy-Item -LiteralPath $env:BUNDLE_ROOT -Destination $dest -Recurse
            return $dest
        }
    }

    It 'exits 0 for the bundle as built' {
        $result = Invoke-CheckOnly (Copy-Bundle 'intact')
        $result.Output | Write-Host
        $result.ExitCode | Should -Be 0
    }

    It 'fails when one byte of a generated script changed' {
        $root = Copy-Bundle 'tampered-script'
        $target = Join-Path $root 'start-kubelet.ps1'
        Add-Content -LiteralPath $target -Value '# changed after the build' -Encoding Ascii
        $result = Invoke-CheckOnly $root
        $result.Output | Write-Host
        $result.ExitCode | Should -Not -Be 0
        $result.Output | Should -Match 'start-kubelet\.ps1'
    }

    It 'refuses a changed node-functions.ps1 before it loads it' {
        $root = Copy-Bundle 'tampered-functions'
        Add-Content -LiteralPath (Join-Path $root 'node-functions.ps1') -Value "Write-Host 'LOADED-FUNCTIONS'" -Encoding Ascii
        $result = Invoke-CheckOnly $root
        $result.ExitCode | Should -Be 1
        $result.Output | Should -Match 'node-functions\.ps1'
        $result.Output | Should -Not -Match 'LOADED-FUNCTIONS'
    }

    It 'fails when a file that is not part of the bundle sits in the folder' {
        $root = Copy-Bundle 'extra-file'
        Set-Content -LiteralPath (Join-Path $root 'extra.ps1') -Value 'Write-Output 1' -Encoding Ascii
        $result = Invoke-CheckOnly $root
        $result.ExitCode | Should -Not -Be 0
        $result.Output | Should -Match 'extra\.ps1'
    }

    It 'fails when an executable was replaced' {
        $root = Copy-Bundle 'tampered-exe'
        [System.IO.File]::WriteAllBytes((Join-Path $root 'kubelet.exe'), [byte[]](77, 90, 0, 0))
        $result = Invoke-CheckOnly $root
        $result.ExitCode | Should -Not -Be 0
        $result.Output | Should -Match 'kubelet\.exe'
    }
}
